"""Every Slack id itbot defines (action ids, callback ids, block ids), in one place."""
from enum import Enum


class ActionId(str, Enum):
    ANSWER_SOLVED = "answer_solved"
    ANSWER_STUCK = "answer_still_stuck"
    OPEN_REQUEST = "open_request"
    CHOOSE_ARTICLE = "answer_choose_article"   # "did you mean A or B?": one per article, suffixed _0, _1
    CLAIM = "request_claim"
    RESOLVE = "request_resolve"
    ESCALATE = "request_escalate"
    REASSIGN = "request_reassign"
    APPROVE = "request_approve"
    DENY = "request_deny"


class CallbackId(str, Enum):
    IT_MODAL = "it_request_modal"
    REASSIGN_MODAL = "request_reassign_modal"
    SEND_TO_IT = "send_to_it"


class BlockId(str, Enum):
    DESCRIPTION = "description"
    URGENCY = "urgency"
    ASSIGNEE = "assignee"


class RunActionId(str, Enum):
    APPROVE = "run_approve"
    DENY = "run_deny"
    TASK_DONE = "run_task_done"
    TASK_CLAIM = "run_task_claim"
    STOP = "run_stop"


class RunCallbackId(str, Enum):
    ONBOARD_MODAL = "onboard_modal"
    OFFBOARD_MODAL = "offboard_modal"


class DigestActionId(str, Enum):
    DONE = "digest_task_done"


class GapActionId(str, Enum):
    DRAFT = "kb_gap_draft"   # value "team:key": post a "Draft a KB article" task card in the team's channel
