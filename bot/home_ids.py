"""Slack ids of the App Home tab (kept apart from bot/ids.py)."""
from enum import Enum


class HomeActionId(str, Enum):
    MORE = "home_more"          # value "section:page": show that section's next page
    FIRST = "home_first_page"   # value "section:0": back to that section's first page


HOME_PAGE_BLOCK = "home_page_"  # + section key: the block holding a section's paging buttons
