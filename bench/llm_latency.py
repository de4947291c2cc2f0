"""Part 2 of `make bench`: answer latency on a Llama-2-7B-sized model, docbot against the tutorial.

    .venv/bin/python -m bench.llm_latency [--quick]

No real weights can be downloaded here, so bench/big_gguf.py writes random-weight GGUF files with
Llama-2-7B's exact shape (Q4_0 standing in for docbot's default Q4_K_M download, Q8_0 as the tutorial used);
per token they cost what the real model costs. Their output never ends early, so every run generates
exactly the requested number of tokens on both sides.

a) Per backend and quant: prompt and generation tokens/s straight on the library (no docbot code), then the
   same prompt through docbot's LocalLLM (load_llm) and bot/qa.py's QAChain, run by run alternating.
b) One question end to end on the loopback fake Slack (devtools/fake_slack.py), mention to final answer:
   docbot as shipped (run_slack + its engine on the corpus index: llama-cpp on Q4_0, k=4 hybrid, its
   context budget, streaming) against the tutorial's configuration run as a small Bolt app here
   (ctransformers on Q8_0 reloaded per question, 2 dense chunks of 500 characters, 256 new tokens, nothing
   posted until the answer is complete). Pairs alternate; each pair asks its own question.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.big_gguf import BigModel, benchmark_words, write_big_gguf
from bench.common import (
    BENCH_OUT,
    CORPUS,
    CORPUS_INDEX_DIR,
    TUTORIAL_INDEX_DIR,
    Goal,
    Section,
    clean_environment,
    docbot_settings_overrides,
    ensure_corpus_index,
    fmt_summary,
    summarize,
    write_results,
)

if TYPE_CHECKING:
    from langchain_core.documents import Document

    from bench.tutorial import TutorialIndex
    from devtools.fake_slack import FakeSlack

logger = logging.getLogger(__name__)

PART = "llm_latency"
MANU = "manu-20f-2022-09-24.pdf"
WORK_DIR = BENCH_OUT / "llm-latency"
# Real questions about the Manchester United 20-F from tests/eval; pair i asks QUESTIONS[i].
QUESTIONS = (
    "How much is the minimum guarantee payable by adidas?",
    "How many seats are there at Old Trafford?",
    "What does the cheapest adult membership at Manchester United cost per season?",
    "How much does UEFA pay a club for reaching the Champions League quarter-finals?",
    "Who coaches Manchester United's women's side?",
)
# A different first word for each direct-measurement run, so that no side reuses the previous prompt's
# cache beyond <s> (all three sides reuse a common prefix the same way: the libraries do it natively).
# All are in devtools/tiny_llama.py's COMMON_WORDS, so each is one token in big_gguf's vocabulary.
LEAD_WORDS = ("time", "water", "number", "people", "house", "world", "school", "money")
DIRECT_TEMPLATE = "{question}\n\n{context}\n\nAnswer:"
SAMPLING = {"temperature": 0.01, "top_k": 40, "top_p": 0.95, "repetition_penalty": 1.1}
TUTORIAL_NEW_TOKENS = 256
TUTORIAL_K = 2
E2E_GOAL = 0.4
OVERHEAD_GOAL = 0.03


@dataclass(frozen=True)
class Plan:
    """How much to run; the full plan fits about 15 minutes on 2 cores."""

    combos: tuple[tuple[str, str], ...] = (
        ("llama-cpp", "q4_0"),
        ("ctransformers", "q4_0"),
        ("llama-cpp", "q8_0"),
        ("ctransformers", "q8_0"),
    )
    direct_prompt_chars: int = 250
    direct_new_tokens: int = 12
    direct_runs: int = 1  # 3 end-to-end pairs take most of the 15 minutes on 2 cores
    e2e_pairs: int = 3
    e2e_new_tokens: int = 256
    quick: bool = False


QUICK = Plan(
    combos=(("llama-cpp", "q4_0"), ("ctransformers", "q4_0")),
    direct_prompt_chars=200,
    direct_new_tokens=8,
    direct_runs=1,
    e2e_pairs=1,
    e2e_new_tokens=32,
    quick=True,
)


# ----- one generation, timed -----


@dataclass(frozen=True)
class GenRun:
    """One timed generation: tokens in and out, seconds to the first new token and in all."""

    prompt_tokens: int
    new_tokens: int
    first_s: float
    total_s: float

    @property
    def prompt_tps(self) -> float:
        """Prompt tokens per second (time to the first new token, which includes sampling it)."""
        return self.prompt_tokens / self.first_s if self.first_s > 0 else 0.0

    @property
    def gen_tps(self) -> float:
        """New tokens per second after the first."""
        span = self.total_s - self.first_s
        return (self.new_tokens - 1) / span if self.new_tokens > 1 and span > 0 else 0.0


def time_stream(pieces: Iterator[Any], limit: int, count: Callable[[Any], int] = lambda _: 1) -> GenRun:
    """Consume a stream of generated pieces (up to `limit` counted tokens), timing the first and the last.

    `prompt_tokens` is left 0 for the caller to fill in; the clock starts when this is called, so create
    the generator lazily (generators run nothing until the first next()).
    """
    started = time.perf_counter()
    first: float | None = None
    produced = 0
    for piece in pieces:
        n = count(piece)
        if n and first is None:
            first = time.perf_counter()
        produced += n
        if produced >= limit:
            break
    ended = time.perf_counter()
    return GenRun(0, produced, (first or ended) - started, ended - started)


# ----- the libraries directly -----


@dataclass(frozen=True)
class LoadParams:
    """The load options every side of the overhead comparison shares (docbot's defaults)."""

    context_length: int
    threads: int
    batch_size: int
    seed: int


class DirectModel:
    """A model opened straight with its library, generating with the same sampling docbot uses."""

    def __init__(self, backend: str, path: Path, params: LoadParams) -> None:
        self.backend = backend
        started = time.perf_counter()
        if backend == "llama-cpp":
            from llama_cpp import Llama

            self._llama: Any = Llama(
                model_path=str(path),
                n_ctx=params.context_length,
                n_batch=params.batch_size,
                n_ubatch=params.batch_size,
                n_threads=params.threads,
                n_threads_batch=params.threads,
                seed=params.seed,
                verbose=False,
            )
        else:
            from ctransformers import AutoModelForCausalLM

            self._ct: Any = AutoModelForCausalLM.from_pretrained(
                str(path),
                model_type="llama",
                context_length=params.context_length,
                batch_size=params.batch_size,
                threads=params.threads,
                seed=params.seed,
            )
        self.load_s = time.perf_counter() - started

    def tokenize(self, prompt: str) -> list[int]:
        """The prompt's tokens with <s>."""
        if self.backend == "llama-cpp":
            return list(self._llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=False))
        return list(self._ct.tokenize(prompt, add_bos_token=True))

    def run(self, prompt: str, new_tokens: int) -> GenRun:
        """Generate `new_tokens` tokens after `prompt`, timed."""
        tokens = self.tokenize(prompt)
        if self.backend == "llama-cpp":
            eos = self._llama.token_eos()
            stream: Iterator[int] = self._llama.generate(
                tokens,
                top_k=SAMPLING["top_k"],
                top_p=SAMPLING["top_p"],
                min_p=0.0,
                temp=SAMPLING["temperature"],
                repeat_penalty=SAMPLING["repetition_penalty"],
            )
        else:
            eos = -1  # ctransformers' generate stops at end-of-sequence itself
            stream = self._ct.generate(
                tokens,
                top_k=SAMPLING["top_k"],
                top_p=SAMPLING["top_p"],
                temperature=SAMPLING["temperature"],
                repetition_penalty=SAMPLING["repetition_penalty"],
            )
        run = time_stream(stream, new_tokens, lambda t: 0 if t == eos else 1)
        close = getattr(stream, "close", None)
        if close is not None:
            close()
        return replace(run, prompt_tokens=len(tokens))


# ----- docbot's chain -----


def _static_retriever(documents: list[Document]) -> Any:
    """Stands in for the retriever (QAChain only calls invoke): always `documents`, one fixed prompt."""
    from langchain_core.runnables import RunnableLambda

    return RunnableLambda(lambda _query: list(documents))


def docbot_settings(model: Path, backend: str, **overrides: Any) -> Any:
    """docbot's settings on the corpus index with this model; everything else at its defaults."""
    from config.settings import load_settings

    values = docbot_settings_overrides() | {"model_path": model, "llm_backend": backend}
    return load_settings(**(values | overrides))


@dataclass
class ComboResult:
    """Direct, LocalLLM and QAChain runs of one backend and quant."""

    backend: str
    quant: str
    load_s: dict[str, float] = field(default_factory=dict)
    direct: list[GenRun] = field(default_factory=list)
    local_llm: list[GenRun] = field(default_factory=list)
    qa_chain: list[GenRun] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Medians with min/max of each side, and docbot's overhead pair by pair."""
        out: dict[str, Any] = {"backend": self.backend, "quant": self.quant, "load_seconds": self.load_s}
        for name, runs in (
            ("direct", self.direct),
            ("local_llm", self.local_llm),
            ("qa_chain", self.qa_chain),
        ):
            out[name] = {
                "prompt_tokens": runs[0].prompt_tokens,
                "new_tokens": [r.new_tokens for r in runs],
                "prompt_tokens_per_second": summarize([r.prompt_tps for r in runs], 2),
                "generation_tokens_per_second": summarize([r.gen_tps for r in runs], 2),
                "first_token_seconds": summarize([r.first_s for r in runs], 3),
                "total_seconds": summarize([r.total_s for r in runs], 3),
            }
        for name, runs in (("local_llm", self.local_llm), ("qa_chain", self.qa_chain)):
            ratios = [r.total_s / d.total_s - 1 for r, d in zip(runs, self.direct, strict=True)]
            out[f"{name}_overhead"] = summarize(ratios, 4)
        return out


def _direct_prompt(context: str, run: int) -> tuple[str, str]:
    question = f"{LEAD_WORDS[run % len(LEAD_WORDS)]}: {QUESTIONS[0]}"
    return question, DIRECT_TEMPLATE.format(question=question, context=context)


class GenerationLog(logging.Handler):
    """Collects docbot's own count of generated tokens ("generation done" debug lines of models.llm)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.generated: list[int] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("generation done") and isinstance(record.args, tuple):
            self.generated.append(int(str(record.args[2])))

    @contextmanager
    def attached(self) -> Iterator[GenerationLog]:
        """Listen to models.llm at debug level while inside."""
        source = logging.getLogger("models.llm")
        level = source.level
        source.addHandler(self)
        source.setLevel(logging.DEBUG)
        try:
            yield self
        finally:
            source.removeHandler(self)
            source.setLevel(level)


def measure_combo(model: Path, backend: str, quant: str, context: str, plan: Plan) -> ComboResult:
    """Alternate direct / LocalLLM / QAChain runs of the same prompts on one backend and quant."""
    from models.llm import load_llm, unload_all

    settings = docbot_settings(model, backend, max_new_tokens=plan.direct_new_tokens)
    params = LoadParams(
        settings.context_length, settings.threads or os.cpu_count() or 1, settings.batch_size, settings.seed
    )
    result = ComboResult(backend, quant)
    direct = DirectModel(backend, model, params)
    result.load_s["direct"] = round(direct.load_s, 2)
    started = time.perf_counter()
    llm = load_llm(settings)
    result.load_s["docbot"] = round(time.perf_counter() - started, 2)
    chain = _fixed_chain(llm, context, settings.context_length)
    try:
        # One short untimed run per side first: the first evaluation after a load allocates buffers.
        direct.run("Warm up.", 2)
        _ = "".join(llm.stream("Warm up.", max_new_tokens=2))
        chain.answer("Warm up.")
        with GenerationLog().attached() as log:
            for run in range(plan.direct_runs * 3):
                question, prompt = _direct_prompt(context, run)
                n_prompt = len(direct.tokenize(prompt))
                side = run % 3
                if side == 0:
                    result.direct.append(direct.run(prompt, plan.direct_new_tokens))
                elif side == 1:
                    timed = time_stream(llm.stream(prompt), 10**9, lambda piece: 1 if piece else 0)
                    result.local_llm.append(
                        replace(timed, prompt_tokens=n_prompt, new_tokens=log.generated[-1])
                    )
                else:
                    timed = _time_chain(chain, question)
                    result.qa_chain.append(
                        replace(timed, prompt_tokens=n_prompt, new_tokens=log.generated[-1])
                    )
                logger.info("combo=%s/%s run=%d side=%d done", backend, quant, run, side)
    finally:
        del direct, chain, llm
        unload_all()
        gc.collect()
    return result


def _fixed_chain(llm: Any, context: str, budget: int) -> Any:
    """docbot's QAChain answering from one fixed passage with the direct runs' prompt template."""
    from langchain_core.documents import Document
    from langchain_core.prompts import PromptTemplate

    from bot.qa import QAChain, QAOptions

    doc = Document(page_content=context, metadata={"file": MANU, "page": 53})
    return QAChain(
        _static_retriever([doc]),
        PromptTemplate.from_template(DIRECT_TEMPLATE),
        llm,
        count_tokens=llm.count_tokens,
        options=QAOptions(context_token_budget=budget),
    )


def _time_chain(chain: Any, question: str) -> GenRun:
    answer = chain.answer(question, on_token=lambda _: None)
    first = answer.timings.first_token or answer.timings.total
    return GenRun(0, 0, first, answer.timings.total)


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


# ----- the whole part -----


def big_models(quants: set[str]) -> dict[str, BigModel]:
    """The random Llama-2-7B-shaped files, vocabulary from the 20-F's words (written once, then reused)."""
    words = benchmark_words()
    return {quant: write_big_gguf(quant, words=words) for quant in sorted(quants)}


def overhead_context(chars: int) -> str:
    """A passage of the 20-F about `chars` long, for the fixed-prompt runs."""
    from bench.tutorial import load_pages

    text = " ".join(" ".join(d.page_content.split()) for d in load_pages(CORPUS / MANU)[52:54])
    return text[:chars]


def run(plan: Plan) -> Path:
    """Run part 2; write bench/results/llm_latency.json after the end-to-end pairs and after each backend."""
    started = time.perf_counter()
    load_before = os.getloadavg()
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    models = big_models({q for _, q in plan.combos} | {"q4_0", "q8_0"})
    setup = E2ESetup(models["q4_0"].path, models["q8_0"].path, docbot_index(), tutorial_index())
    overrides = {} if plan.e2e_new_tokens == 256 else {"max_new_tokens": plan.e2e_new_tokens}
    e2e = measure_end_to_end(
        replace(setup, docbot_overrides=overrides),
        plan,
        on_pair=lambda partial: _write(plan, models, [], partial, started, load_before),
    )
    path = _write(plan, models, [], e2e, started, load_before)
    context = overhead_context(plan.direct_prompt_chars)
    combos: list[dict[str, Any]] = []
    for backend, quant in plan.combos:
        combos.append(measure_combo(models[quant].path, backend, quant, context, plan).summary())
        path = _write(plan, models, combos, e2e, started, load_before)
    return path


def _write(
    plan: Plan,
    models: dict[str, BigModel],
    combos: list[dict[str, Any]],
    e2e: dict[str, Any],
    started: float,
    load_before: tuple[float, float, float],
    results_dir: Path | None = None,
) -> Path:
    data = {
        "plan": asdict(plan),
        "complete": len(combos) == len(plan.combos),
        "models": {
            q: {"file": m.path.name, "bytes": m.path.stat().st_size, "write_seconds": round(m.seconds, 1)}
            for q, m in models.items()
        },
        "backends": combos,
        "end_to_end": e2e,
        "seconds": round(time.perf_counter() - started, 1),
        # Other people's work on this shared machine slows both sides; pairs alternate so ratios hold.
        "load_average_1m": {"start": round(load_before[0], 2), "end": round(os.getloadavg()[0], 2)},
    }
    return write_results(
        PART,
        data,
        title="Answer latency on a Llama-2-7B-sized model",
        goals=_goals(combos, e2e),
        sections=_sections(combos, e2e, plan),
        chart={
            "answer_seconds": {
                "unit": "s",
                "tutorial": e2e["tutorial"]["total_seconds"],
                "docbot": e2e["docbot"]["total_seconds"],
            }
        },
        quick=plan.quick,
        results_dir=results_dir,
    )


def _goals(combos: list[dict[str, Any]], e2e: dict[str, Any]) -> list[Goal]:
    worst = max(
        (max(c["local_llm_overhead"]["median"], c["qa_chain_overhead"]["median"]) for c in combos),
        default=None,
    )
    ratio = e2e["total_ratio"]
    where = ", ".join(f"{c['backend']} {c['quant'].upper()}" for c in combos)
    return [
        Goal(
            "docbot's chain adds little to the model's own time",
            f"under {OVERHEAD_GOAL:.0%}",
            "not measured in this run"
            if worst is None
            else f"worst median {worst:+.1%} (LocalLLM and QAChain; {where})",
            None if worst is None else worst < OVERHEAD_GOAL,
            "" if worst is None or worst < OVERHEAD_GOAL else _why_overhead(combos),
        ),
        Goal(
            "answer time, docbot vs tutorial (mention to final answer)",
            f"at most {E2E_GOAL}x",
            f"{ratio['median']:.2f}x ({ratio['min']:.2f}–{ratio['max']:.2f}), {ratio['runs']} pairs",
            ratio["median"] <= E2E_GOAL,
            "" if ratio["median"] <= E2E_GOAL else _why_slower(e2e),
        ),
    ]


def _why_overhead(combos: list[dict[str, Any]]) -> str:
    """An over-goal overhead next to the others, and how many runs it rests on."""
    medians = [c[key]["median"] for c in combos for key in ("local_llm_overhead", "qa_chain_overhead")]
    runs = min(c["local_llm_overhead"]["runs"] for c in combos)
    default = next((c for c in combos if c["backend"] == "llama-cpp" and c["quant"] == "q4_0"), None)
    shipped = (
        ""
        if default is None
        else f"; on docbot's default (llama-cpp Q4_0) {default['local_llm_overhead']['median']:+.1%} / "
        f"{default['qa_chain_overhead']['median']:+.1%}"
    )
    return (
        f"overheads range from {min(medians):+.1%} to {max(medians):+.1%} over the same code with "
        f"{runs} run(s) per side: the spread of a single run is wider than the goal{shipped}"
    )


def _why_slower(e2e: dict[str, Any]) -> str:
    d, t = e2e["docbot"], e2e["tutorial"]
    docbot_tokens = statistics.median(d["prompt_tokens"])
    tutorial_tokens = statistics.median(t["prompt_tokens"])
    return (
        f"docbot's prompt is {docbot_tokens:.0f} tokens (k=4 within its 1,200-token budget) against the "
        f"tutorial's {tutorial_tokens:.0f} (k=2) and both generate 256 tokens: the rest has to come from "
        "llama-cpp Q4_0 against ctransformers Q8_0 tokens/s (see the table above)"
    )


def _sections(combos: list[dict[str, Any]], e2e: dict[str, Any], plan: Plan) -> list[Section]:
    backends = Section(
        "Tokens per second by backend (random Llama-2-7B-shaped GGUF)",
        header=[
            "backend",
            "quant",
            "prompt tok/s",
            "generation tok/s",
            "LocalLLM overhead",
            "QAChain overhead",
        ],
    )
    for c in combos:
        d = c["direct"]
        backends.rows.append(
            [
                c["backend"],
                c["quant"].upper(),
                fmt_summary(d["prompt_tokens_per_second"]),
                fmt_summary(d["generation_tokens_per_second"]),
                _pct(c["local_llm_overhead"]),
                _pct(c["qa_chain_overhead"]),
            ]
        )
    prompt_tokens = combos[0]["direct"]["prompt_tokens"] if combos else "?"
    backends.notes.append(
        f"Prompts of {prompt_tokens} tokens, {plan.direct_new_tokens} new tokens, "
        f"{plan.direct_runs} run(s) per side, alternating direct / LocalLLM / QAChain; overhead compares "
        "each docbot run's total with the direct run of the same round. Threads, batch and context: "
        "docbot's defaults."
    )
    missing = [f"{b} {q.upper()}" for b, q in plan.combos[len(combos) :]]
    if missing:
        backends.notes.append("Not measured in this run: " + ", ".join(missing) + ".")
    d, t = e2e["docbot"], e2e["tutorial"]
    e2e_section = Section(
        "One question end to end on the loopback Slack (seconds)",
        header=["", "first visible feedback", "first streamed token", "final answer"],
        rows=[
            ["docbot (llama-cpp, Q4_0, k=4 hybrid, streaming)"]
            + [fmt_summary(d[k]) for k in ("first_feedback_seconds", "first_token_seconds", "total_seconds")],
            ["tutorial (ctransformers, Q8_0 reloaded, k=2 dense)"]
            + [fmt_summary(t[k]) for k in ("first_feedback_seconds", "first_token_seconds", "total_seconds")],
        ],
        notes=[
            f"docbot/tutorial total, pair by pair: {fmt_summary(e2e['total_ratio'], 'x', 2)}.",
            f"Prompt tokens: docbot {d['prompt_tokens']}, tutorial {t['prompt_tokens']}; "
            f"{plan.e2e_new_tokens} new tokens on both sides.",
            "Q4_0 stands in for docbot's default download (Q4_K_M); the files have random weights with "
            "Llama-2-7B's exact shape, so each token costs what the real model's does.",
        ],
    )
    return [backends, e2e_section]


def _pct(summary: dict[str, Any]) -> str:
    return f"{summary['median']:+.1%} ({summary['min']:+.1%}…{summary['max']:+.1%})"


def main(argv: list[str] | None = None) -> None:
    """Command line: run the part and print where the results went."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer and shorter runs (a smoke test)")
    parser.add_argument("--pairs", type=int, help="end-to-end docbot/tutorial pairs (default 3)")
    parser.add_argument("--direct-runs", type=int, help="runs per side of each backend/quant (default 1)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    plan = QUICK if args.quick else Plan()
    if args.pairs:
        plan = replace(plan, e2e_pairs=args.pairs)
    if args.direct_runs:
        plan = replace(plan, direct_runs=args.direct_runs)
    path = run(plan)
    print(json.dumps({"results": str(path)}))


if __name__ == "__main__":
    main()
