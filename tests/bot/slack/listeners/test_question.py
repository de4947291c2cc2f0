"""Parsing and filtering of question events (the parts listeners share)."""

from __future__ import annotations

import pytest

from bot.slack.listeners.message import is_person_writing
from bot.slack.listeners.question import plain_text


@pytest.mark.parametrize(
    ("markup", "typed"),
    [
        ("<@UBOT> How much is the minimum guarantee?", "How much is the minimum guarantee?"),
        ("<@UBOT|docbot>   revenue &amp; profit &lt;2022&gt;", "revenue & profit <2022>"),
        ("ask <@U123> about <#C42|finance>", "ask @U123 about #finance"),
        ("see <https://example.com/r.pdf|the report> or <https://x.y>", "see the report or https://x.y"),
        ("<!here> what changed?", "@here what changed?"),
        ("<@UBOT>", ""),
    ],
)
def test_plain_text(markup: str, typed: str) -> None:
    assert plain_text(markup, "UBOT") == typed


@pytest.mark.parametrize(
    ("event", "answered"),
    [
        ({"user": "U1", "text": "q"}, True),
        ({"user": "U1", "text": "q", "subtype": "thread_broadcast"}, True),
        ({"user": "U1", "text": "q", "subtype": "file_share"}, True),
        ({"user": "UBOT", "text": "my own answer"}, False),
        ({"user": "U1", "bot_id": "B9", "text": "a bot"}, False),
        ({"subtype": "bot_message", "bot_id": "B9", "text": "a bot"}, False),
        ({"subtype": "message_changed", "message": {"user": "U1", "text": "edited"}}, False),
        ({"subtype": "message_deleted", "deleted_ts": "1.1"}, False),
        ({"user": "U1", "subtype": "channel_join", "text": "joined"}, False),
    ],
)
def test_only_new_messages_by_people_are_questions(event: dict[str, str], answered: bool) -> None:
    assert is_person_writing(event, "UBOT") is answered
