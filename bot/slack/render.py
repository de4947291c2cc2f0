"""Answer -> Slack messages (Block Kit + text fallback): escaping, citations, splitting to Slack's limits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from bot.answer import Answer, Source, display_name
from bot.citations import ocr_mark, page_label

if TYPE_CHECKING:
    from bot.queue import Job

SECTION_LIMIT = 3000  # characters in one section block's text (and one context element's)
MARKDOWN_LIMIT = 10_000  # answer text per message: Slack allows 12,000 in markdown blocks, some say in all
MAX_BLOCKS = 50  # blocks in one message
TEXT_LIMIT = 3900  # fallback text per message; Slack truncates or rejects past about 4,000
SNIPPET_CHARS = 160
PARTIAL_LIMIT = 2800

RETRIEVAL_ONLY_NOTE = (
    ":mag: *Retrieval only — no generated answer.* The passages below match your question best."
)
RETRIEVAL_SNIPPET_CHARS = 400  # without a written answer the passages are the answer
RESTART_NOTE = "The bot is restarting; this question will be answered after the restart."
CUT_OFF_NOTE = ":warning: _The answer was cut off at the time limit; it is incomplete._"


@dataclass(frozen=True)
class SlackMessage:
    """One chat.postMessage / chat.update payload."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


def escape(text: str) -> str:
    """Escape &, < and > so text cannot ping (<!channel>, <@U..>) or forge links in Slack mrkdwn."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def markdown_text(text: str) -> str:
    """Model markdown kept (bold, lists, headings), but unable to ping, forge links or hide a URL.

    Character by character, so pieces of a stream can be converted on their own."""
    return escape(text).replace("[", "\\[")


def page_link(base_url: str, source: Source) -> str:
    """The URL that opens the cited page, or "" when no docs base URL is configured."""
    if not base_url:
        return ""
    return f"{base_url.rstrip('/')}/{quote(source.file, safe='/')}#page={source.page}"


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """Whitespace collapsed and cut at a word boundary."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0] or flat[:limit]
    return cut.rstrip(",;:.") + "…"


def group_sources(sources: Iterable[Source]) -> list[tuple[str, list[Source]]]:
    """Sources per file (files in order of first citation), one per page, pages ascending."""
    files: dict[str, dict[int, Source]] = {}
    for source in sources:
        files.setdefault(source.file, {}).setdefault(source.page, source)
    return [(name, [pages[p] for p in sorted(pages)]) for name, pages in files.items()]


def _link(url: str, text: str) -> str:
    return f"<{escape(url)}|{text}>" if url else text


def _file_lines(name: str, pages: list[Source], base_url: str, snippet_chars: int) -> list[str]:
    file_url = f"{base_url.rstrip('/')}/{quote(name, safe='/')}" if base_url else ""
    cites = ", ".join(_link(page_link(base_url, s), escape(page_label(s))) + ocr_mark(s) for s in pages)
    lines = [f"*{_link(file_url, escape(display_name(name)))}* — {cites}"]
    for s in pages:
        text = snippet(s.snippet, snippet_chars)
        if text:
            lines.append(f"> _p. {s.page}_ “{escape(text)}”")
    return lines


def _pack_lines(lines: list[str], limit: int = SECTION_LIMIT) -> list[str]:
    """Join lines into texts of at most `limit` characters without breaking a line."""
    texts: list[str] = []
    current = ""
    for line in lines:
        line = line[:limit]
        if current and len(current) + 1 + len(line) > limit:
            texts.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        texts.append(current)
    return texts


def source_texts(
    sources: Iterable[Source], base_url: str = "", *, snippet_chars: int = SNIPPET_CHARS
) -> list[str]:
    """Mrkdwn texts (each fits one section) listing the sources grouped per file; citations are never cut."""
    texts: list[str] = []
    for name, pages in group_sources(sources):
        texts.extend(_pack_lines(_file_lines(name, pages, base_url, snippet_chars)))
    return texts


_BREAKS = ("\n\n", "\n", ". ", " ")


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Split at paragraph, line, sentence or word boundaries into parts of at most `limit` characters."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = 0
        for mark in _BREAKS:
            at = window.rfind(mark)
            if at > limit // 3:
                cut = at + len(mark)
                break
        if cut == 0:
            cut = _safe_hard_cut(window)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


def _safe_hard_cut(window: str) -> int:
    """A cut that does not split an &amp;/&lt;/&gt; entity in half."""
    amp = window.rfind("&", max(0, len(window) - 5))
    return amp if amp > 0 and ";" not in window[amp:] else len(window)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _markdown(text: str) -> dict[str, Any]:
    return {"type": "markdown", "text": text}


def format_seconds(seconds: float) -> str:
    """Like "8.2 s" or "2 min 5 s"."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def footer_text(freshness: str | None, elapsed: float | None) -> str:
    """The context line under an answer: index freshness and time taken."""
    parts = []
    if freshness:
        parts.append(f"Index: {escape(freshness)}")
    if elapsed is not None:
        parts.append(f"answered in {format_seconds(elapsed)}")
    return " · ".join(parts)


def render_answer(
    answer: Answer,
    *,
    docs_base_url: str = "",
    freshness: str | None = None,
    elapsed: float | None = None,
    extra_blocks: Sequence[dict[str, Any]] = (),
) -> list[SlackMessage]:
    """The final answer as one or more thread messages that each fit Slack's limits: the answer as
    markdown, then the sources and footer as context blocks, then `extra_blocks` (see final_blocks)."""
    blocks = answer_blocks(answer) + source_blocks(
        answer, docs_base_url=docs_base_url, freshness=freshness, elapsed=elapsed
    )
    return pack_messages(blocks + list(extra_blocks))


def answer_blocks(answer: Answer) -> list[dict[str, Any]]:
    """The answer itself: markdown blocks (a retrieval-only note as a section), the cut-off note."""
    blocks: list[dict[str, Any]] = []
    if answer.mode == "retrieval-only":
        detail = escape(" ".join(answer.text.split()))
        note = f"{RETRIEVAL_ONLY_NOTE}\n_{detail}_" if detail else RETRIEVAL_ONLY_NOTE
        blocks.extend(_section(part) for part in split_text(note))
    else:
        body = markdown_text(answer.text.strip()) or "_I found nothing to say about that in the documents._"
        blocks.extend(_markdown(part) for part in split_text(body, MARKDOWN_LIMIT))
    if answer.cut_off:
        blocks.append(_context(CUT_OFF_NOTE))
    return blocks


def source_blocks(
    answer: Answer,
    *,
    docs_base_url: str = "",
    freshness: str | None = None,
    elapsed: float | None = None,
) -> list[dict[str, Any]]:
    """What follows the answer: the sources (one context block per file, split to fit), the footer."""
    blocks: list[dict[str, Any]] = []
    limit = RETRIEVAL_SNIPPET_CHARS if answer.mode == "retrieval-only" else SNIPPET_CHARS
    cites = source_texts(answer.sources, docs_base_url, snippet_chars=limit)
    if cites:
        heading = "*Sources*\n"
        if len(heading) + len(cites[0]) <= SECTION_LIMIT:
            cites[0] = heading + cites[0]
        else:
            blocks.append(_context(heading.strip()))
        blocks.extend(_context(text) for text in cites)
    else:
        blocks.append(_context("No passage in the index matched this question."))
    footer = footer_text(freshness, elapsed)
    if footer:
        blocks.append(_context(footer))
    return blocks


def no_final_blocks(job: Job, answer: Answer) -> list[dict[str, Any]]:
    """Blocks the final answer message ends with, after the sources and footer, in both deliveries
    (chat.stopStream's blocks, or the last chat.update/postMessage): none."""
    return []


def feedback_blocks(job: Job, answer: Answer) -> list[dict[str, Any]]:
    """The final answer ends with 👍/👎 buttons (`job.id` identifies the answer in their values)."""
    return [feedback_block(job.id)]


final_blocks = no_final_blocks  # the default of DeliveryOptions


def block_text(block: dict[str, Any]) -> str:
    """The visible text of a section, markdown or context block ("" for others)."""
    if block["type"] == "section":
        return str(block["text"]["text"])
    if block["type"] == "markdown":
        return str(block["text"])
    return "\n".join(str(e["text"]) for e in block.get("elements", []) if "text" in e)


def _markdown_size(block: dict[str, Any]) -> int:
    return len(block["text"]) if block["type"] == "markdown" else 0


def pack_messages(blocks: list[dict[str, Any]]) -> list[SlackMessage]:
    """Blocks in order, packed into messages within the block count, the markdown limit and (for text
    outside markdown) the fallback-text limit."""
    messages: list[SlackMessage] = []
    current: list[dict[str, Any]] = []
    size = markdown = 0
    for block in blocks:
        length = 0 if block["type"] == "markdown" else len(block_text(block)) + 2
        extra = _markdown_size(block)
        if current and (
            len(current) >= MAX_BLOCKS or size + length > TEXT_LIMIT or markdown + extra > MARKDOWN_LIMIT
        ):
            messages.append(_message(current))
            current, size, markdown = [], 0, 0
        current.append(block)
        size += length
        markdown += extra
    if current:
        messages.append(_message(current))
    return messages


def _message(blocks: list[dict[str, Any]]) -> SlackMessage:
    return SlackMessage(text=fallback_text(blocks), blocks=blocks)


def fallback_text(blocks: list[dict[str, Any]]) -> str:
    """The notification/fallback text of a message with these blocks, within Slack's limit."""
    texts = [block_text(b) for b in blocks]
    text = "\n\n".join(t for t in texts if t)
    if len(text) <= TEXT_LIMIT:
        return text
    # Keep the sources in the fallback: cut the answer's text, not the citations after it.
    tail = "\n\n".join(t for b, t in zip(blocks, texts, strict=True) if t and b["type"] != "markdown")
    head = "\n\n".join(t for b, t in zip(blocks, texts, strict=True) if t and b["type"] == "markdown")
    room = TEXT_LIMIT - len(tail) - 4
    if room < 200:
        return text[:TEXT_LIMIT]
    return (head[:room].rstrip() + "…\n\n" + tail)[:TEXT_LIMIT]


def render_partial(
    text: str, elapsed: float, sources: Sequence[Source] = (), *, docs_base_url: str = ""
) -> SlackMessage:
    """The message shown while the answer is still being written: what is written so far, a status line,
    and the pages retrieval found (shown as soon as they are known, before the model's first word)."""
    shown = markdown_text(text.strip())
    if len(shown) > PARTIAL_LIMIT:
        shown = split_text(shown, PARTIAL_LIMIT)[0] + "\n…"
    status = f":hourglass_flowing_sand: _Writing the answer… {format_seconds(elapsed)}_"
    blocks = [_markdown(shown), _context(status)] if shown else [_context(status)]
    # One message while streaming: the sources get what room the answer so far leaves.
    room = TEXT_LIMIT - len(shown) - len(status) - 16
    for i, cite in enumerate(source_texts(sources, docs_base_url)):
        cite = f"*Sources*\n{cite}" if i == 0 else cite
        if len(cite) + 2 > room or len(blocks) >= MAX_BLOCKS:
            break
        blocks.append(_context(cite))
        room -= len(cite) + 2
    fallback = shown or ("Writing the answer… (sources below)" if sources else "Writing the answer…")
    return SlackMessage(text=fallback, blocks=blocks)


def render_placeholder() -> SlackMessage:
    """The message posted when the worker starts on a question."""
    text = ":mag: _Looking through the documents…_"
    return SlackMessage(text="Looking through the documents…", blocks=[_context(text)])


def render_interrupted(partial: str) -> SlackMessage:
    """What a checkpointed answer shows while the bot restarts."""
    shown = markdown_text(partial.strip())
    if len(shown) > PARTIAL_LIMIT:
        shown = split_text(shown, PARTIAL_LIMIT)[0] + "\n…"
    blocks = ([_markdown(shown)] if shown else []) + [_context(f":arrows_counterclockwise: _{RESTART_NOTE}_")]
    return SlackMessage(text=RESTART_NOTE, blocks=blocks)


def render_apology(error_id: str) -> SlackMessage:
    """A short apology naming the error id that is in the log."""
    text = (
        f"Sorry, something went wrong while answering this question (error id {escape(error_id)}). "
        "Please try again; if it keeps failing, give the error id to whoever runs the bot."
    )
    return SlackMessage(text=text, blocks=[_section(f":warning: {text}")])


def render_notice(text: str) -> SlackMessage:
    """A plain note in place of an answer (e.g. no document indexed yet); `text` may use `code` spans."""
    shown = escape(text)
    return SlackMessage(text=shown, blocks=[_section(f":information_source: {shown}")])


# --- Feedback buttons (issue 15): appended to the last message of a final answer ---------------------

FEEDBACK_ACTION = "docbot_feedback"


def feedback_value(vote: str, job_id: int) -> str:
    """The button value a click sends back: the vote and the job it is about."""
    return f"{vote}:{job_id}"


def parse_feedback_value(value: str) -> tuple[str, int] | None:
    """(vote, job id) from a feedback button's value, or None when it is not one of ours."""
    vote, _, job = value.partition(":")
    if vote not in ("up", "down") or not job.isdigit():
        return None
    return vote, int(job)


def feedback_block(job_id: int) -> dict[str, Any]:
    """A context_actions block with 👍/👎 feedback buttons for the answer to job `job_id`."""
    return {
        "type": "context_actions",
        "block_id": f"docbot_feedback_{job_id}",
        "elements": [
            {
                "type": "feedback_buttons",
                "action_id": FEEDBACK_ACTION,
                "positive_button": {
                    "text": {"type": "plain_text", "text": "Good answer"},
                    "accessibility_label": "Mark this answer as good",
                    "value": feedback_value("up", job_id),
                },
                "negative_button": {
                    "text": {"type": "plain_text", "text": "Bad answer"},
                    "accessibility_label": "Mark this answer as wrong or unhelpful",
                    "value": feedback_value("down", job_id),
                },
            }
        ],
    }


def with_feedback(messages: list[SlackMessage], job_id: int) -> list[SlackMessage]:
    """The answer's messages with the feedback block at the end of the last one (or in a message of its own
    when the last is full)."""
    block = feedback_block(job_id)
    if not messages:
        return [SlackMessage(text="Was this answer useful?", blocks=[block])]
    last = messages[-1]
    if len(last.blocks) >= MAX_BLOCKS:
        return [*messages, SlackMessage(text="Was this answer useful?", blocks=[block])]
    return [*messages[:-1], SlackMessage(text=last.text, blocks=[*last.blocks, block])]


def stream_end_blocks(
    answer: Answer,
    *,
    docs_base_url: str = "",
    freshness: str | None = None,
    elapsed: float | None = None,
    extra_blocks: Sequence[dict[str, Any]] = (),
) -> list[dict[str, Any]]:
    """The blocks chat.stopStream attaches under a streamed answer: the cut-off note, the sources, the
    footer and `extra_blocks`."""
    blocks = [_context(CUT_OFF_NOTE)] if answer.cut_off else []
    blocks += source_blocks(answer, docs_base_url=docs_base_url, freshness=freshness, elapsed=elapsed)
    return blocks + list(extra_blocks)
