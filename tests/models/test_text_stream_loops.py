"""Loops in generated text: caught by is_looping, and a looping stream ends early with "repetition"."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from models.text_stream import StreamResult, is_looping, stream_text


@pytest.mark.parametrize(
    "text",
    [
        "The version is " + "10." * 10,
        " The answer is X. The answer is X. The answer is X.",
        "The answer is X. The answer is X. The answer is X. The answer is X.",
        "Total: 5 items\nfirst detail here\nTotal: 5 items\nsecond detail here\nTotal: 5 items\n",
        "ab" * 15,
    ],
)
def test_loops_are_caught(text: str) -> None:
    assert is_looping(text)


@pytest.mark.parametrize(
    "text",
    [
        "The version is " + "10." * 9,  # 27 characters of repeats: under the 30 a loop needs
        "Manchester United agreed a ten-year kit deal with adidas worth a minimum of £750 million. "
        "The deal began on 1 August 2015 and replaced the earlier agreement with Nike.",
        "1. Revenue rose by 5%.\n2. Costs rose by 3%.\n3. Profit fell by 2%.\n4. Debt was unchanged.\n",
        "Total: 5 items\nfirst detail here\nTotal: 5 items\n",  # a line said twice
        "ok\nok\nok\nok\n",  # short lines are not counted: 'ok' three times is an answer
        "very very very good",
        "",
    ],
)
def test_ordinary_text_is_not_a_loop(text: str) -> None:
    assert not is_looping(text)


def test_a_loop_must_end_the_text() -> None:
    assert not is_looping("10." * 12 + " That is the version number of the release we shipped.")


def test_whitespace_repeats_are_not_loops() -> None:
    assert not is_looping("The answer is 42." + " " * 60)


def _stream(pieces: list[bytes], max_new_tokens: int = 200) -> tuple[str, StreamResult]:
    result = StreamResult()
    asked = iter(pieces)

    def tokens() -> Iterator[bytes]:
        yield from asked

    text = "".join(
        stream_text(tokens(), max_new_tokens=max_new_tokens, stop=[], should_stop=lambda: None, result=result)
    )
    return text, result


def test_a_looping_stream_ends_with_repetition_well_before_the_limit() -> None:
    text, result = _stream([b" The", b" answer", b" is", b" X", b"."] * 40)
    assert result.finish_reason == "repetition"
    assert result.generated_tokens == 15  # the third copy's last token: the loop is seen at once
    assert text == " The answer is X." * 3


def test_a_stream_of_one_short_token_repeated_stops_at_thirty_characters() -> None:
    text, result = _stream([b"10", b"."] * 100)
    assert result.finish_reason == "repetition"
    assert result.generated_tokens == 20 and text == "10." * 10


def test_a_stream_repeating_a_line_stops_at_its_third_time() -> None:
    pieces = [
        b"Total: 5 items\n",
        b"first detail here\n",
        b"Total: 5 items\n",
        b"more\n",
        b"Total: 5 items\n",
    ]
    text, result = _stream([*pieces, b"never shown"])
    assert result.finish_reason == "repetition" and result.generated_tokens == 5
    assert "never shown" not in text


def test_a_numbered_list_streams_to_its_end() -> None:
    pieces = [f"{n}. Item number {n} is different.\n".encode() for n in range(1, 9)]
    text, result = _stream(pieces)
    assert result.finish_reason == "eos" and result.generated_tokens == 8
    assert text.endswith("8. Item number 8 is different.\n")


def test_a_loop_still_ends_at_the_token_limit_when_the_limit_comes_first() -> None:
    _, result = _stream([b" The", b" answer", b" is", b" X", b"."] * 40, max_new_tokens=12)
    assert result.finish_reason == "length" and result.generated_tokens == 12


def test_a_markdown_table_rule_is_not_a_loop() -> None:
    assert not is_looping("| year | revenue | margin |\n|----------|----------|----------|")
