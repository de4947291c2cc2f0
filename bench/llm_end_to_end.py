"""Answer-latency benchmark b): one question end to end on the loopback fake Slack, mention to final answer,
docbot as shipped against the tutorial's configuration as a small Bolt app, pair by pair."""

from __future__ import annotations

import gc
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import (
    CORPUS,
    CORPUS_INDEX_DIR,
    TUTORIAL_INDEX_DIR,
    clean_environment,
    ensure_corpus_index,
    summarize,
)
from bench.llm_common import MANU, QUESTIONS, TUTORIAL_K, WORK_DIR, Plan, docbot_settings

if TYPE_CHECKING:
    from bench.tutorial import TutorialIndex
    from devtools.fake_slack import FakeSlack


logger = logging.getLogger(__name__)

# ----- end to end on the fake Slack -----


@dataclass(frozen=True)
class E2ERun:
    """Seconds from the mention to what the asker sees."""

    first_feedback_s: float
    first_token_s: float
    total_s: float
    prompt_tokens: int = 0
    answer_chars: int = 0


def fake_slack() -> AbstractContextManager[FakeSlack]:
    """A started loopback fake Slack."""
    from devtools.fake_slack import running_fake_slack

    return running_fake_slack()


def _calls_in_thread(fake: FakeSlack, method: str, ts: str) -> list[Any]:
    return [c for c in fake.calls(method) if c.args.get("thread_ts") == ts or c.args.get("timestamp") == ts]


def _wait(fake: FakeSlack, predicate: Callable[[], bool], timeout: float) -> None:
    fake.wait_for(lambda _: predicate(), timeout)


def _has_sources(call: Any) -> bool:
    return "Sources" in json.dumps(call.args, ensure_ascii=False)


class DocbotSide:
    """docbot as shipped: its engine on a copy of the corpus index, run_slack, streaming into the thread."""

    def __init__(self, fake: FakeSlack, model: Path, index_dir: Path, **overrides: Any) -> None:
        from bot.engine import open_engine

        self.fake = fake
        # The answer time limit (600 s) is a safety valve, not speed: on a busy machine it would cut the
        # answer short and flatter docbot, so here every answer runs to its 256 tokens.
        overrides.setdefault("generation_timeout_seconds", 3600.0)
        # Timed from the placeholder and its chat.updates, like the figures on docs/benchmarks.md; native
        # streaming (reply_delivery auto) shows the same tokens through chat.appendStream instead.
        overrides.setdefault("reply_delivery", "update")
        self.settings = docbot_settings(
            model,
            "auto",
            index_dir=index_dir,
            slack_bot_token=fake.bot_token,
            slack_app_token=fake.app_token,
            slack_api_url=fake.api_url,
            **overrides,
        )
        started = time.perf_counter()
        self.engine = open_engine(self.settings)
        self.load_s = time.perf_counter() - started
        if self.engine.llm is None:
            raise RuntimeError(f"docbot could not load the model: {self.engine.llm_problem}")
        self.stop_event = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-docbot", daemon=True)
        self.exit_code: int | None = None

    def _run(self) -> None:
        from bot.slack.runner import run_slack

        self.exit_code = run_slack(
            self.settings, self.engine.qa, self.engine.status, stop_event=self.stop_event
        )

    def config(self) -> dict[str, Any]:
        """What docbot ran with."""
        s = self.settings
        llm = self.engine.llm
        return {
            "backend": getattr(llm, "backend", None),
            "model": Path(s.model_path).name,
            "retrieval": f"hybrid, k={s.k}",
            "context_token_budget": s.context_token_budget,
            "max_new_tokens": s.max_new_tokens,
            "threads": s.threads or os.cpu_count(),
            "batch_size": s.batch_size,
            "context_length": s.context_length,
            "streaming": f"updates every {s.stream_update_seconds} s",
            "generation_timeout_seconds": s.generation_timeout_seconds,
            "model_load": "once at startup (not in the per-question time)",
            "startup_seconds": round(self.load_s, 2),
        }

    def start(self) -> None:
        """Connect to the fake."""
        self._thread.start()
        _wait(self.fake, lambda: self.fake.connection_count > 0, 30)
        self.fake.wait_connected()

    def ask(self, question: str, timeout: float) -> E2ERun:
        """Mention the bot and time the reaction, the first streamed words and the answer with sources."""
        fake = self.fake
        t0 = time.monotonic()
        _, ts = fake.mention(question)
        _wait(fake, lambda: any(_has_sources(c) for c in self._answer_calls(ts)), timeout)
        feedback = [c.at for c in fake.calls("reactions.add") if c.args.get("timestamp") == ts]
        posts = _calls_in_thread(fake, "chat.postMessage", ts)
        feedback += [posts[0].at] if posts else []
        reply_ts = str(posts[0].response.get("ts")) if posts else ""
        updates = [c for c in fake.calls("chat.update") if c.args.get("ts") == reply_ts]
        final = next(c for c in self._answer_calls(ts) if _has_sources(c))
        first_token = updates[0].at if updates else final.at
        return E2ERun(
            min(feedback) - t0, first_token - t0, final.at - t0, answer_chars=len(str(final.args.get("text")))
        )

    def _answer_calls(self, ts: str) -> list[Any]:
        posts = _calls_in_thread(self.fake, "chat.postMessage", ts)
        if not posts:
            return []
        reply_ts = str(posts[0].response.get("ts"))
        updates = [c for c in self.fake.calls("chat.update") if c.args.get("ts") == reply_ts]
        return sorted(posts + updates, key=lambda c: c.at)

    def stop(self) -> None:
        """Shut down like SIGTERM and close the index."""
        self.fake.hang_up()
        self.stop_event.set()
        self._thread.join(30)
        self.fake.accept_connections()
        self.engine.close()


class TutorialSide:
    """The tutorial's main.py behind a small Bolt app: reload the model, 2 dense chunks, 256 tokens, post."""

    def __init__(self, fake: FakeSlack, model: Path, index: TutorialIndex, new_tokens: int) -> None:
        self.fake = fake
        self.model = model
        self.index = index
        self.new_tokens = new_tokens
        self.prompt_tokens: list[int] = []
        self.load_seconds: list[float] = []
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="bench-tutorial")
        self._handler: Any = None

    def config(self) -> dict[str, Any]:
        """What the tutorial side ran with."""
        return {
            "backend": "ctransformers (AutoModelForCausalLM, the tutorial's config: max_new_tokens and "
            "temperature set, everything else at ctransformers' defaults, batch_size 8, threads -1)",
            "model": self.model.name,
            "retrieval": f"dense only (FAISS flat L2, MiniLM on torch), k={TUTORIAL_K}, 500/50 chunks",
            "max_new_tokens": self.new_tokens,
            "streaming": "none: the answer is posted when complete",
            "model_load": "on every question, as its main.py did (only the LLM is reloaded here)",
        }

    def answer(self, question: str) -> str:
        """What main.py's final_result did for one question."""
        from ctransformers import AutoModelForCausalLM

        from models.prompts import QA_TEMPLATE

        started = time.perf_counter()
        llm = AutoModelForCausalLM.from_pretrained(
            str(self.model), model_type="llama", max_new_tokens=self.new_tokens, temperature=0.01
        )
        self.load_seconds.append(time.perf_counter() - started)
        context = "\n\n".join(self.index.chunks(question, TUTORIAL_K))
        prompt = QA_TEMPLATE.format(context=context, question=question)
        self.prompt_tokens.append(len(llm.tokenize(prompt)))
        text = str(llm(prompt))
        del llm
        gc.collect()
        return text

    def start(self) -> None:
        """Connect a Bolt app whose app_mention listener answers like the tutorial."""
        from slack_bolt import App
        from slack_bolt.adapter.socket_mode.builtin import SocketModeHandler
        from slack_sdk import WebClient

        fake = self.fake
        app = App(
            client=WebClient(token=fake.bot_token, base_url=fake.api_url),
            listener_executor=self._executor,
            process_before_response=False,
        )

        @app.event("app_mention")
        def on_mention(event: dict[str, Any], client: Any) -> None:
            question = str(event.get("text", "")).split(">", 1)[-1].strip()
            text = self.answer(question)
            client.chat_postMessage(
                channel=event["channel"], thread_ts=event["ts"], text=f"{text}\n\nSources"
            )

        self._handler = SocketModeHandler(app, fake.app_token)
        self._handler.connect()
        _wait(fake, lambda: fake.connection_count > 0, 30)
        fake.wait_connected()

    def ask(self, question: str, timeout: float) -> E2ERun:
        """Mention the bot; everything the asker sees arrives with the answer."""
        fake = self.fake
        t0 = time.monotonic()
        _, ts = fake.mention(question)
        _wait(fake, lambda: bool(_calls_in_thread(fake, "chat.postMessage", ts)), timeout)
        post = _calls_in_thread(fake, "chat.postMessage", ts)[0]
        at = post.at - t0
        return E2ERun(at, at, at, self.prompt_tokens[-1], len(str(post.args.get("text"))))

    def stop(self) -> None:
        """Disconnect."""
        self.fake.hang_up()
        if self._handler is not None:
            self._handler.close()
        self._executor.shutdown(wait=True)
        self.fake.accept_connections()


def tutorial_index() -> TutorialIndex:
    """The tutorial's index of the corpus when another part saved one, else of the 20-F alone (kept)."""
    from bench.tutorial import TutorialIndex, load_or_build

    if (TUTORIAL_INDEX_DIR / "index.faiss").is_file():
        return TutorialIndex.load(TUTORIAL_INDEX_DIR)
    return load_or_build([CORPUS / MANU], WORK_DIR / "tutorial-index-manu")[0]


def docbot_index() -> Path:
    """A private copy of the shared corpus index (the bot keeps its question queue beside the index)."""
    ensure_corpus_index()
    index_dir = WORK_DIR / "docbot-index"
    shutil.rmtree(index_dir, ignore_errors=True)
    shutil.copytree(CORPUS_INDEX_DIR, index_dir, ignore=shutil.ignore_patterns("queue.sqlite3*"))
    return index_dir


def _docbot_prompt_tokens(side: DocbotSide, question: str) -> int:
    """Tokens of the prompt docbot built for `question` (same retrieval and budget as the answer)."""
    qa = side.engine.qa
    documents = qa._fit(qa.retriever.invoke(question))
    prompt = qa.prompt.format(context="\n\n".join(d.page_content for d in documents), question=question)
    return int(side.engine.llm.count_tokens(prompt)) + 1  # type: ignore[union-attr]


@dataclass(frozen=True)
class E2ESetup:
    """What the end-to-end pairs run on."""

    docbot_model: Path
    tutorial_model: Path
    docbot_index: Path
    tutorial_index: TutorialIndex
    questions: tuple[str, ...] = QUESTIONS
    docbot_overrides: dict[str, Any] = field(default_factory=dict)


def measure_end_to_end(
    setup: E2ESetup, plan: Plan, on_pair: Callable[[dict[str, Any]], object] | None = None
) -> dict[str, Any]:
    """Docbot/tutorial pairs, one question each, on two fake Slacks; who goes first alternates.

    `on_pair` gets the summary so far after each pair (so a long run can write what it has).
    """
    clean_environment()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):  # slack_sdk ignores NO_PROXY
        os.environ.pop(name, None)
    docbot_runs: list[E2ERun] = []
    tutorial_runs: list[E2ERun] = []
    timeout = 120 + plan.e2e_new_tokens * 3.0
    with fake_slack() as fake_d, fake_slack() as fake_t:
        docbot = DocbotSide(fake_d, setup.docbot_model, setup.docbot_index, **setup.docbot_overrides)
        tutorial = TutorialSide(fake_t, setup.tutorial_model, setup.tutorial_index, plan.e2e_new_tokens)
        docbot.start()
        tutorial.start()
        try:
            for pair in range(plan.e2e_pairs):
                question = setup.questions[pair % len(setup.questions)]
                order = ("docbot", "tutorial") if pair % 2 == 0 else ("tutorial", "docbot")
                for side in order:
                    if side == "docbot":
                        run = docbot.ask(question, timeout)
                        docbot_runs.append(
                            replace(run, prompt_tokens=_docbot_prompt_tokens(docbot, question))
                        )
                    else:
                        tutorial_runs.append(tutorial.ask(question, timeout))
                    latest = docbot_runs[-1] if side == "docbot" else tutorial_runs[-1]
                    logger.info("e2e pair=%d side=%s %s", pair, side, asdict(latest))
                if on_pair is not None:
                    on_pair(_pairs_summary(setup, docbot, tutorial, docbot_runs, tutorial_runs))
        finally:
            docbot.stop()
            tutorial.stop()
    return _pairs_summary(setup, docbot, tutorial, docbot_runs, tutorial_runs)


def _pairs_summary(
    setup: E2ESetup,
    docbot: DocbotSide,
    tutorial: TutorialSide,
    docbot_runs: list[E2ERun],
    tutorial_runs: list[E2ERun],
) -> dict[str, Any]:
    ratios = [d.total_s / t.total_s for d, t in zip(docbot_runs, tutorial_runs, strict=True)]
    return {
        "questions": [setup.questions[i % len(setup.questions)] for i in range(len(ratios))],
        "docbot": _e2e_summary(docbot_runs) | {"config": docbot.config()},
        "tutorial": _e2e_summary(tutorial_runs)
        | {"config": tutorial.config(), "model_load_seconds": summarize(tutorial.load_seconds, 2)},
        "total_ratio": summarize(ratios, 3),
    }


def _e2e_summary(runs: list[E2ERun]) -> dict[str, Any]:
    return {
        "first_feedback_seconds": summarize([r.first_feedback_s for r in runs], 3),
        "first_token_seconds": summarize([r.first_token_s for r in runs], 2),
        "total_seconds": summarize([r.total_s for r in runs], 2),
        "prompt_tokens": [r.prompt_tokens for r in runs],
        "answer_chars": [r.answer_chars for r in runs],
    }
