"""The feedback block goes at the end of an answer's last message, within Slack's block limit, and its
button values lead back to the job; the reason modal's metadata and state read back."""

from __future__ import annotations

from bot.answer import Answer, Source
from bot.feedback import VoteResult
from bot.slack.feedback_ui import ReasonContext, acknowledgement, reason_from_state, reason_modal
from bot.slack.render import (
    MAX_BLOCKS,
    SlackMessage,
    feedback_block,
    parse_feedback_value,
    render_answer,
    with_feedback,
)


def test_the_buttons_follow_the_last_part_of_an_answer() -> None:
    sources = [Source(f"doc{n}.pdf", n + 1, str(n + 1), "snippet " * 30, 0.5) for n in range(40)]
    parts = render_answer(Answer("q", "word " * 2000, "llm", sources))
    assert len(parts) > 1
    shown = with_feedback(parts, 12)
    assert shown[:-1] == parts[:-1] and shown[-1].text == parts[-1].text
    assert shown[-1].blocks == [*parts[-1].blocks, feedback_block(12)]


def test_a_full_last_message_gets_the_buttons_in_a_message_of_their_own() -> None:
    full = SlackMessage("x", [{"type": "divider"}] * MAX_BLOCKS)
    shown = with_feedback([full], 3)
    assert shown[0] == full and shown[1].blocks == [feedback_block(3)] and shown[1].text


def test_button_values_round_trip_and_strangers_are_refused() -> None:
    buttons = feedback_block(42)["elements"][0]
    assert parse_feedback_value(buttons["positive_button"]["value"]) == ("up", 42)
    assert parse_feedback_value(buttons["negative_button"]["value"]) == ("down", 42)
    for value in ("", "up", "up:", "maybe:4", "down:4x", "down:-1"):
        assert parse_feedback_value(value) is None, value


def test_the_modal_carries_where_it_came_from_and_reads_its_answers() -> None:
    where = ReasonContext(5, "C1", "1.5")
    modal = reason_modal(where)
    assert ReasonContext.from_metadata(modal["private_metadata"]) == where
    assert ReasonContext.from_metadata("not json") is None and ReasonContext.from_metadata('{"x": 1}') is None
    state = {
        "kinds": {"reason_kinds": {"selected_options": [{"value": "wrong_page"}, {"value": "not_answered"}]}},
        "reason": {"reason_text": {"value": "  p. 75 has it "}},
    }
    assert reason_from_state(state) == (
        "It cites the wrong page or document; It does not answer the question — p. 75 has it"
    )
    assert reason_from_state({}) == ""


def test_acknowledgements_say_what_the_click_did() -> None:
    assert acknowledgement(VoteResult("redelivered", "up"), form_opened=False) is None
    assert "👍" in str(acknowledgement(VoteResult("new", "up"), form_opened=False))
    down = str(acknowledgement(VoteResult("new", "down"), form_opened=True))
    assert "👎" in down and "form" in down
    assert "form" not in str(acknowledgement(VoteResult("new", "down"), form_opened=False))
    assert "Changed" in str(acknowledgement(VoteResult("changed", "down"), form_opened=False))
    assert "already" in str(acknowledgement(VoteResult("same", "up"), form_opened=False))
