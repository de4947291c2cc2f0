"""What the feedback buttons say back: the ephemeral acknowledgements and the "what was wrong?" modal."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient

from bot.feedback import MAX_REASON_CHARS, VoteResult

REASON_CALLBACK = "docbot_feedback_reason"
REASON_BLOCK, REASON_ACTION = "reason", "reason_text"
KINDS_BLOCK, KINDS_ACTION = "kinds", "reason_kinds"
# The usual ways an answer about documents goes wrong; picked with a tick, a sentence is optional.
REASON_KINDS = (
    ("wrong_fact", "A figure or fact is wrong"),
    ("wrong_page", "It cites the wrong page or document"),
    ("not_answered", "It does not answer the question"),
    ("missing_document", "The document I need is not indexed"),
)
_EMOJI = {"up": "👍", "down": "👎"}


@dataclass(frozen=True)
class ReasonContext:
    """Where a reason modal came from: the answer's job and the thread to acknowledge in."""

    job_id: int
    channel: str
    thread_ts: str

    def to_metadata(self) -> str:
        """The modal's private_metadata."""
        return json.dumps({"job": self.job_id, "channel": self.channel, "thread_ts": self.thread_ts})

    @staticmethod
    def from_metadata(text: str) -> ReasonContext | None:
        """Read private_metadata back; None when it is not ours."""
        try:
            data = json.loads(text or "{}")
            return ReasonContext(int(data["job"]), str(data["channel"]), str(data.get("thread_ts") or ""))
        except (ValueError, KeyError, TypeError):
            return None


def acknowledgement(result: VoteResult, *, form_opened: bool) -> str | None:
    """The ephemeral reply to a click (None for a redelivered click, which was answered already)."""
    emoji = _EMOJI[result.vote]
    if result.outcome == "redelivered":
        return None
    if result.outcome == "same":
        text = f"You already gave this answer a {emoji}."
    elif result.outcome == "changed":
        text = f"Changed your vote on this answer to {emoji}."
    elif result.vote == "up":
        text = "Thanks for the 👍 — glad it helped."
    else:
        text = "Thanks for the 👎 — noted."
    if result.vote == "down" and form_opened:
        text += " What was wrong? The form that just opened takes a reason (optional)."
    return text


REASON_THANKS = "Thanks — your reason is recorded with your 👎; it helps fix answers like this one."
REFUSED = "Sorry, I can only take feedback from people on my list."


def reason_modal(context: ReasonContext) -> dict[str, Any]:
    """The modal asking what was wrong with an answer (every field optional)."""
    return {
        "type": "modal",
        "callback_id": REASON_CALLBACK,
        "private_metadata": context.to_metadata(),
        "title": {"type": "plain_text", "text": "What was wrong?"},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Skip"},
        "blocks": [
            {
                "type": "input",
                "block_id": KINDS_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": "The answer…"},
                "element": {
                    "type": "checkboxes",
                    "action_id": KINDS_ACTION,
                    "options": [
                        {"text": {"type": "plain_text", "text": text}, "value": value}
                        for value, text in REASON_KINDS
                    ],
                },
            },
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": "In a sentence (optional)"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_ACTION,
                    "multiline": True,
                    "max_length": MAX_REASON_CHARS,
                    "placeholder": {
                        "type": "plain_text",
                        "text": "e.g. the guarantee is £750 million, p. 53",
                    },
                },
            },
        ],
    }


def reason_from_state(values: dict[str, Any]) -> str:
    """The reason a submitted modal gives: the ticked kinds, then the sentence ("" when nothing)."""
    picked = ((values.get(KINDS_BLOCK) or {}).get(KINDS_ACTION) or {}).get("selected_options") or []
    labels = dict(REASON_KINDS)
    kinds = [labels.get(str(o.get("value")), str(o.get("value"))) for o in picked if isinstance(o, dict)]
    sentence = str(((values.get(REASON_BLOCK) or {}).get(REASON_ACTION) or {}).get("value") or "").strip()
    return " — ".join(part for part in ("; ".join(kinds), sentence) if part)


def post_ephemeral(client: WebClient, channel: str, thread_ts: str, user: str, text: str) -> None:
    """Tell only `user`, in the answer's thread, what their click or reason did."""
    client.chat_postEphemeral(
        channel=channel,
        user=user,
        text=text,
        thread_ts=thread_ts or None,
        blocks=[{"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}],
    )
