"""A small, real, deterministic Answerer for the queue/worker/Slack tests (no model, no index)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from bot.answer import Answer, AnswerMode, Source, SourcesCallback, Timings, TokenCallback, Turn
from vectorstore.scopes import FileFilter

MANU = "manu-20f-2022-09-24.pdf"
DEFAULT_SOURCES = [
    Source(MANU, 53, "43", "minimum guarantee of £750 million payable by adidas over ten years", 0.9),
    Source(MANU, 75, "65", "the adidas agreement runs until 2025", 0.7),
]


class ScriptedAnswerer:
    """Streams the words of `text_for(question)` through on_token and cites `sources`.

    Hooks make timing deterministic without sleeps: `gate` must be set before answering starts,
    `after_sources()` runs once the sources are given, `after_token(text_so_far)` runs after each token
    (a test can wait there for Slack to show it).
    A question containing "explode" raises.
    """

    def __init__(
        self,
        *,
        text_for: Callable[[str], str] | None = None,
        sources: Sequence[Source] = DEFAULT_SOURCES,
        mode: AnswerMode = "llm",
        cut_off: bool = False,
        gate: threading.Event | None = None,
        after_token: Callable[[str], object] | None = None,
        after_sources: Callable[[], object] | None = None,
    ) -> None:
        self.text_for = text_for or (lambda q: f"Answer to: {q}")
        self.sources = list(sources)
        self.mode = mode
        self.cut_off = cut_off
        self.gate = gate
        self.after_token = after_token
        self.after_sources = after_sources
        self.calls: list[tuple[str, tuple[Turn, ...]]] = []
        self.started = threading.Event()
        self._lock = threading.Lock()

    def answer(
        self,
        question: str,
        history: Sequence[Turn] = (),
        on_token: TokenCallback | None = None,
        scope: FileFilter | None = None,
        on_sources: SourcesCallback | None = None,
    ) -> Answer:
        """Answer deterministically (citing only the sources `scope` allows), the sources first."""
        with self._lock:
            self.calls.append((question, tuple(history)))
        self.started.set()
        if self.gate is not None and not self.gate.wait(30):
            raise TimeoutError("test gate never opened")
        if "explode" in question:
            raise RuntimeError("the model fell over")
        text = self.text_for(question)
        cited = [s for s in self.sources if scope is None or scope(s.file)]
        if on_sources is not None and self.mode == "llm":
            on_sources(cited)
        if self.after_sources is not None:
            self.after_sources()
        so_far = ""
        if self.mode == "llm":
            for i, word in enumerate(text.split(" ")):
                token = word if i == 0 else " " + word
                so_far += token
                if on_token is not None:
                    on_token(token)
                if self.after_token is not None:
                    self.after_token(so_far)
        return Answer(
            question=question,
            text=text,
            mode=self.mode,
            sources=cited,
            timings=Timings(total=0.01),
            cut_off=self.cut_off,
        )

    def questions(self) -> list[str]:
        """Questions answered (or being answered), in order."""
        with self._lock:
            return [q for q, _ in self.calls]
