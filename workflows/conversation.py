"""Small talk: greetings, thanks and "what can you do", answered without opening anything."""
from __future__ import annotations

import re
from dataclasses import dataclass

from workflows.org import OrgConfig

_GREETING = re.compile(r"^\W*(hi|hello|hey|hiya|howdy|yo|good (morning|afternoon|evening)|morning|hallo|hola|bonjour|salut)\b", re.I)
_THANKS = re.compile(r"\b(thanks|thank you|thx|ty|cheers|merci|gracias|danke)\b", re.I)
_HELP = re.compile(r"^\W*(help|what can you do|who are you|menu|\?)\W*$", re.I)


@dataclass(frozen=True)
class Reply:
    text: str
    kind: str  # greeting | thanks | help


def capabilities(org: OrgConfig) -> str:
    return (f"I'm {org.bot_name}, {org.company}'s IT front door. Ask me \"how do I …\" questions, tell me when "
            f"something doesn't work and I'll get it to the right team, or use /it to open a request. "
            f"You can also reach {org.it_contact}.")


def small_talk(text: str, user_mention: str, org: OrgConfig) -> Reply | None:
    """A reply for greetings, thanks and help; None when the message needs real work."""
    stripped = text.strip()
    words = len(stripped.split())
    if _HELP.match(stripped):
        return Reply(capabilities(org), "help")
    if _GREETING.match(stripped) and words <= 4:
        return Reply(f"Hi {user_mention}! {capabilities(org)}", "greeting")
    if _THANKS.search(stripped) and words <= 6:
        return Reply(f"You're welcome, {user_mention}. I'm here whenever you need IT.", "thanks")
    return None
