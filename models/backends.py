"""The two inference backends (ctransformers, llama-cpp-python) behind one small token-level interface.

Both are imported only when a model is loaded. Each engine evaluates the prompt in batches itself so that a
deadline can stop a long prompt between batches, and yields one token at a time so that closing the
generator stops generation at once.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import threading
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from models.model_file import ModelFileError

logger = logging.getLogger(__name__)

Backend = Literal["ctransformers", "llama-cpp"]


@dataclass(frozen=True)
class LoadOptions:
    """How to open a model file; changing any of these means loading it again."""

    model_path: Path
    model_type: str
    context_length: int
    threads: int
    batch_size: int
    seed: int
    ctransformers_lib: str = ""
    extra_buffers: bool = False  # llama.cpp's extra buffer types (weight repacking, AMX); see llama_probe


@dataclass(frozen=True)
class Sampling:
    """Per-answer sampling parameters (defaults are ctransformers', which the tutorial used)."""

    temperature: float
    seed: int
    top_k: int = 40
    top_p: float = 0.95
    repetition_penalty: float = 1.1


class LoadedModel(Protocol):
    """A loaded model that tokenizes and generates token ids; one generation at a time (hold `lock`)."""

    backend: Backend
    options: LoadOptions
    lock: threading.Lock

    @property
    def context_length(self) -> int:
        """Tokens the context window holds."""
        ...

    def close(self) -> None:
        """Free the model's native memory; the model cannot be used afterwards."""
        ...

    def tokenize(self, text: str, *, add_bos: bool, special: bool = False) -> list[int]:
        """The model's own token ids for `text`; with `special`, control-token strings become those tokens."""
        ...

    def special_text(self) -> tuple[str, str]:
        """The BOS and EOS tokens as chat templates write them ("" where the backend cannot parse them)."""
        ...

    def token_bytes(self, token: int) -> bytes:
        """The bytes one token stands for (may be part of a UTF-8 character)."""
        ...

    def generate(
        self, prompt: Sequence[int], sampling: Sampling, should_stop: Callable[[], object]
    ) -> Generator[int, None, None]:
        """Evaluate the prompt, then yield sampled tokens until end-of-sequence or the caller stops."""
        ...


def _common_prefix(done: Sequence[int], prompt: Sequence[int]) -> int:
    """How many leading prompt tokens are already in the context (at least one is always re-evaluated)."""
    limit = min(len(done), len(prompt) - 1)
    n = 0
    while n < limit and done[n] == prompt[n]:
        n += 1
    return n


@functools.cache
def _probed_ctransformers_lib() -> str:
    """The CPU library ctransformers picks for this machine; probing takes about a second, so once."""
    from ctransformers.lib import find_library

    return str(find_library(None))


class CTransformersModel:
    """ctransformers 0.2.27: GGML v3 and GGUF through its bundled 2023 llama.cpp."""

    backend: Backend = "ctransformers"

    def close(self) -> None:
        """Nothing to do early: ctransformers frees the model in its own finaliser, which works at exit."""

    def __init__(self, options: LoadOptions) -> None:
        from ctransformers.llm import LLM, Config

        self.options = options
        self.lock = threading.Lock()
        config = Config(
            context_length=options.context_length,
            batch_size=options.batch_size,
            threads=options.threads,
            seed=options.seed,
            gpu_layers=0,
        )
        try:
            self._llm = LLM(
                str(options.model_path),
                options.model_type,
                config=config,
                lib=options.ctransformers_lib or _probed_ctransformers_lib(),
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelFileError(
                f"{options.model_path}: ctransformers could not load the model: {exc}"
            ) from exc

    @property
    def context_length(self) -> int:
        """Tokens the context window holds."""
        return int(self._llm.context_length)

    def tokenize(self, text: str, *, add_bos: bool, special: bool = False) -> list[int]:
        """The model's own token ids for `text` (ctransformers has no special-token parsing)."""
        data = text.encode("utf-8")
        # ctransformers sizes its output buffer by characters, but a character outside the vocabulary
        # becomes one token per byte: size it by bytes so the C side cannot write past it.
        buffer = (ctypes.c_int * (len(data) + 2))()
        n = self._llm.ctransformers_llm_tokenize(data, add_bos, buffer)
        return list(buffer[:n])

    def special_text(self) -> tuple[str, str]:
        """None: its tokenizer reads "<s>" as text; BOS comes from add_bos, and one turn needs no EOS."""
        return "", ""

    def token_bytes(self, token: int) -> bytes:
        """The bytes one token stands for."""
        return bytes(self._llm.ctransformers_llm_detokenize(token) or b"")

    def generate(
        self, prompt: Sequence[int], sampling: Sampling, should_stop: Callable[[], object]
    ) -> Generator[int, None, None]:
        """Evaluate the prompt in batches (reusing a cached prefix), then sample token by token."""
        llm = self._llm
        batch = self.options.batch_size
        threads = self.options.threads
        keep = _common_prefix(llm._context, prompt)
        llm._context = llm._context[:keep]
        todo = list(prompt[keep:])
        for start in range(0, len(todo), batch):
            if should_stop():
                return
            llm.eval(todo[start : start + batch], batch_size=batch, threads=threads)
        while True:
            token = llm.sample(
                top_k=sampling.top_k,
                top_p=sampling.top_p,
                temperature=sampling.temperature,
                repetition_penalty=sampling.repetition_penalty,
                last_n_tokens=64,
                seed=sampling.seed,
            )
            if llm.is_eos_token(token):
                return
            yield token
            llm.eval([token], batch_size=batch, threads=threads)


class LlamaCppModel:
    """llama-cpp-python: GGUF only."""

    backend: Backend = "llama-cpp"

    def __init__(self, options: LoadOptions) -> None:
        from llama_cpp import Llama

        from models.llama_probe import extra_buffers

        self.options = options
        self.lock = threading.Lock()
        try:
            with extra_buffers(options.extra_buffers):
                self._llama: Any = Llama(
                    model_path=str(options.model_path),
                    n_ctx=options.context_length,
                    n_batch=options.batch_size,
                    n_ubatch=options.batch_size,
                    n_threads=options.threads,
                    n_threads_batch=options.threads,
                    seed=options.seed,
                    verbose=False,
                )
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelFileError(f"{options.model_path}: llama-cpp could not load the model: {exc}") from exc

    @property
    def context_length(self) -> int:
        """Tokens the context window holds."""
        return int(self._llama.n_ctx())

    def tokenize(self, text: str, *, add_bos: bool, special: bool = False) -> list[int]:
        """The model's own token ids for `text`."""
        return list(self._llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special))

    def special_text(self) -> tuple[str, str]:
        """The BOS and EOS tokens' text ("<s>", "<|im_end|>")."""
        model = self._llama._model
        return model.token_get_text(model.token_bos()), model.token_get_text(model.token_eos())

    def close(self) -> None:
        """Free the model now rather than at interpreter exit, where llama-cpp's finaliser runs after the
        module globals it calls are gone (`TypeError: 'NoneType' object is not callable`). Idempotent."""
        self._llama.close()

    def token_bytes(self, token: int) -> bytes:
        """The bytes one token stands for."""
        return bytes(self._llama.detokenize([token]))

    def generate(
        self, prompt: Sequence[int], sampling: Sampling, should_stop: Callable[[], object]
    ) -> Generator[int, None, None]:
        """Evaluate the prompt in batches (reusing a cached prefix), then sample token by token."""
        llama = self._llama
        batch = self.options.batch_size
        llama.n_tokens = _common_prefix(llama.input_ids[: llama.n_tokens].tolist(), prompt)
        todo = list(prompt[llama.n_tokens :])
        for start in range(0, len(todo), batch):
            if should_stop():
                return
            llama.eval(todo[start : start + batch])
        llama.set_seed(sampling.seed)
        import llama_cpp

        vocab = llama._model.vocab
        # The whole prompt is in the cache now, so generate() samples at once without evaluating it again.
        tokens = llama.generate(
            list(prompt),
            top_k=sampling.top_k,
            top_p=sampling.top_p,
            min_p=0.0,
            temp=sampling.temperature,
            repeat_penalty=sampling.repetition_penalty,
        )
        try:
            for token in tokens:
                # End of generation: EOS, and the chat formats' end-of-turn tokens (<|im_end|>, <|eot_id|>).
                if llama_cpp.llama_vocab_is_eog(vocab, token):
                    return
                yield int(token)
        finally:
            tokens.close()


# The in-process engines by name; models/registry.py maps settings' llm_backend onto these.
ENGINES: dict[str, Callable[[LoadOptions], LoadedModel]] = {
    "ctransformers": CTransformersModel,
    "llama-cpp": LlamaCppModel,
}


def open_model(backend: Backend, options: LoadOptions) -> LoadedModel:
    """Load the model file with the chosen backend."""
    engine = ENGINES[backend](options)
    logger.info(
        "model loaded backend=%s path=%s context_length=%d threads=%d",
        backend,
        options.model_path,
        engine.context_length,
        options.threads,
    )
    return engine
