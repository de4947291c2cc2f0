"""Token bytes -> text pieces: UTF-8 split across tokens, stop sequences, limits, stopping early."""

from __future__ import annotations

from collections.abc import Iterable

from models.text_stream import FinishReason, StreamResult, split_incomplete_utf8, stream_text


def _run(
    pieces: Iterable[bytes],
    *,
    max_new_tokens: int = 100,
    stop: list[str] | None = None,
    stop_after: int | None = None,
) -> tuple[list[str], StreamResult]:
    result = StreamResult()
    consumed = [0]

    def counted() -> Iterable[bytes]:
        for piece in pieces:
            consumed[0] += 1
            yield piece

    def should_stop() -> FinishReason | None:
        return "deadline" if stop_after is not None and consumed[0] >= stop_after else None

    out = list(
        stream_text(
            counted(), max_new_tokens=max_new_tokens, stop=stop or [], should_stop=should_stop, result=result
        )
    )
    return out, result


def test_split_incomplete_utf8() -> None:
    euro = "€".encode()  # 3 bytes
    assert split_incomplete_utf8(b"ab" + euro[:2]) == (b"ab", euro[:2])
    assert split_incomplete_utf8(b"ab" + euro) == (b"ab" + euro, b"")
    assert split_incomplete_utf8(euro[:1]) == (b"", euro[:1])
    assert split_incomplete_utf8(b"") == (b"", b"")
    smile = "😀".encode()
    assert split_incomplete_utf8(smile[:3]) == (b"", smile[:3])


def test_characters_split_across_tokens_arrive_whole() -> None:
    data = " 5 €".encode() + "😀".encode()
    pieces = [data[:3], data[3:5], data[5:6], data[6:9], data[9:]]
    out, result = _run(pieces)
    assert "".join(out) == " 5 €😀"
    assert all("\ufffd" not in piece for piece in out)
    assert result.finish_reason == "eos" and result.generated_tokens == 5


def test_stop_sequence_across_tokens_is_cut_and_never_shown() -> None:
    pieces = [b" The", b" answer", b" is 4", b"2.\nQue", b"stion:", b" next"]
    out, result = _run(pieces, stop=["\nQuestion:"])
    assert "".join(out) == " The answer is 42."
    assert not any("\n" in piece for piece in out)
    assert result.finish_reason == "stop"
    assert result.generated_tokens == 5  # the token after the stop sequence was never asked for


def test_text_that_only_looks_like_a_stop_start_is_released() -> None:
    out, result = _run([b" a\nQu", b"ick", b" fox"], stop=["\nQuestion:"])
    assert "".join(out) == " a\nQuick fox"
    assert out[0] == " a"  # "\nQu" was held back until it could no longer start the stop sequence
    assert result.finish_reason == "eos"


def test_earliest_of_several_stop_sequences_wins() -> None:
    out, result = _run([b"one [INST] two\nQuestion: three"], stop=["\nQuestion:", "[INST]"])
    assert "".join(out) == "one "
    assert result.finish_reason == "stop"


def test_stop_at_the_very_start_yields_nothing() -> None:
    out, result = _run([b"[INST]", b" more"], stop=["[INST]"])
    assert out == []
    assert result.finish_reason == "stop"


def test_max_new_tokens_counts_tokens_not_pieces() -> None:
    out, result = _run([b"a", b"b", b"c", b"d", b"e"], max_new_tokens=3)
    assert "".join(out) == "abc"
    assert result.finish_reason == "length" and result.generated_tokens == 3


def test_held_back_text_is_flushed_at_the_limit() -> None:
    out, result = _run([b"x", b"\nQue"], max_new_tokens=2, stop=["\nQuestion:"])
    assert "".join(out) == "x\nQue"
    assert result.finish_reason == "length"


def test_should_stop_ends_the_stream_between_tokens() -> None:
    out, result = _run([b"a", b"b", b"c", b"d"], stop_after=2)
    assert "".join(out) == "ab"
    assert result.finish_reason == "deadline" and result.generated_tokens == 2


def test_should_stop_before_any_token_reports_the_reason() -> None:
    out, result = _run([], stop_after=0)
    assert out == []
    assert result.finish_reason == "deadline"
