"""Answer-latency benchmark a): per backend and quant, prompt and generation tokens/s straight on the library,
then the same prompt through docbot's LocalLLM and QAChain, run by run alternating (their overhead)."""

from __future__ import annotations

import gc
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import (
    CORPUS,
    summarize,
)
from bench.llm_common import (
    DIRECT_TEMPLATE,
    LEAD_WORDS,
    MANU,
    QUESTIONS,
    SAMPLING,
    GenRun,
    Plan,
    docbot_settings,
    time_stream,
)

if TYPE_CHECKING:
    from langchain_core.documents import Document


logger = logging.getLogger(__name__)

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

    def close(self) -> None:
        """Free a llama.cpp model now, not in its finaliser at interpreter exit (where that fails)."""
        if self.backend == "llama-cpp":
            self._llama.close()

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
        direct.close()
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


def overhead_context(chars: int) -> str:
    """A passage of the 20-F about `chars` long, for the fixed-prompt runs."""
    from bench.tutorial import load_pages

    text = " ".join(" ".join(d.page_content.split()) for d in load_pages(CORPUS / MANU)[52:54])
    return text[:chars]
