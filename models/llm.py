"""The local Llama as a langchain-core LLM: backend choice, loading once per process, token streaming."""

from __future__ import annotations

import atexit
import dataclasses
import importlib.util
import logging
import os
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.llms import LLM
from langchain_core.outputs import GenerationChunk
from pydantic import ConfigDict, Field, PrivateAttr

from models.backends import Backend, LoadedModel, LoadOptions, Sampling, open_model
from models.chat import Generation, Message, Usage, split_conversation
from models.chat_format import RAW, ChatFormat, chat_format_for
from models.model_file import LLMLoadError, ModelFileError, detect_format, inspect_model_file
from models.text_stream import FinishReason, StreamResult, stream_text

if TYPE_CHECKING:
    from config.settings import Settings

__all__ = [
    "DEFAULT_STOP",
    "LLMLoadError",
    "LocalLLM",
    "ModelFileError",
    "PromptTooLongError",
    "load_llm",
    "resolve_backend",
    "unload_all",
]

logger = logging.getLogger(__name__)

# Where Llama-2-chat, prompted with the QA template, starts writing the next turn instead of stopping.
DEFAULT_STOP: tuple[str, ...] = ("\nQuestion:", "\nContext:", "[INST]", "</s>")


class PromptTooLongError(ValueError):
    """The prompt does not leave room for even one new token in the context window."""


def llama_cpp_available() -> bool:
    """True when llama-cpp-python is installed (checked without importing it)."""
    return importlib.util.find_spec("llama_cpp") is not None


def resolve_backend(model_path: Path, requested: str) -> Backend:
    """The backend for this file: auto = llama-cpp for GGUF when installed, else ctransformers."""
    fmt = detect_format(model_path)
    if requested == "ctransformers":
        return "ctransformers"
    if requested == "llama-cpp":
        if fmt != "gguf":
            raise ModelFileError(
                f"{model_path}: a GGML file can only be loaded by ctransformers; "
                "set DOCBOT_LLM_BACKEND=ctransformers (or auto), or use a GGUF model"
            )
        if not llama_cpp_available():
            raise LLMLoadError(
                "DOCBOT_LLM_BACKEND=llama-cpp but llama-cpp-python is not installed; "
                "install the 'llamacpp' extra or use ctransformers"
            )
        return "llama-cpp"
    if requested != "auto":
        raise ValueError(f"unknown LLM backend {requested!r}; accepted: auto, ctransformers, llama-cpp")
    return "llama-cpp" if fmt == "gguf" and llama_cpp_available() else "ctransformers"


class LocalLLM(LLM):
    """A local GGUF/GGML model with token streaming; one generation at a time per loaded model.

    The prompt it is given is the user's turn: it is put into the model's own chat format (the GGUF file's
    template, Llama-2-chat's [INST] for GGML files) unless that format is `raw`, the tutorial's way.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    backend: str = Field(description="ctransformers or llama-cpp.")
    model_path: str = Field(description="The model file.")
    max_new_tokens: int = Field(256, ge=1)
    temperature: float = Field(0.01, ge=0.0)
    top_k: int = 40
    top_p: float = 0.95
    repetition_penalty: float = 1.1
    seed: int = 42
    stop: list[str] = Field(default_factory=lambda: list(DEFAULT_STOP))
    system_prompt: str | None = Field(None, description="A system turn before the prompt (chat formats).")

    _loaded: LoadedModel = PrivateAttr()
    _chat: ChatFormat = PrivateAttr()

    def __init__(self, *, engine: LoadedModel, chat_format: ChatFormat = RAW, **data: Any) -> None:
        data.setdefault("backend", engine.backend)
        data.setdefault("model_path", str(engine.options.model_path))
        super().__init__(**data)
        self._loaded = engine
        self._chat = chat_format

    @property
    def chat_format(self) -> ChatFormat:
        """How prompts are put to the model."""
        return self._chat

    def render(self, prompt: str, previous: Sequence[tuple[str, str]] = ()) -> str:
        """The text the model is given for a user turn `prompt` after `previous` (user, answer) turns."""
        return self._chat.render(prompt, self.system_prompt, previous)

    @property
    def _llm_type(self) -> str:
        return f"docbot-{self.backend}"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "model_path": self.model_path,
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "seed": self.seed,
        }

    @property
    def context_length(self) -> int:
        """Tokens the model's context window holds."""
        return self._loaded.context_length

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in a prompt, by the model's own tokenizer (no BOS)."""
        return len(self._loaded.tokenize(text, add_bos=False))

    def get_num_tokens(self, text: str) -> int:
        """Tokens `text` takes, by the model's own tokenizer."""
        return self.count_tokens(text)

    def _call(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> str:
        return "".join(chunk.text for chunk in self._stream(prompt, stop, run_manager, **kwargs))

    def _stream(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[GenerationChunk]:
        """Yield text as it is generated.

        Keyword arguments: `max_new_tokens`; `previous`, (user, answer) turns before this one (still in
        llama.cpp's cache when they were the last generation); `deadline` (a time.monotonic() value) and
        `cancel` (a threading.Event) stop generation between prompt batches and between tokens. The last
        chunk is empty and carries generation_info: finish_reason (eos, stop, length, deadline, cancelled),
        prompt_tokens, generated_tokens.
        """
        generation = Generation()
        pieces = self._pieces(
            generation,
            self.render(prompt, kwargs.get("previous", ())),
            stop=stop or [],
            max_new_tokens=int(kwargs.get("max_new_tokens", self.max_new_tokens)),
            deadline=kwargs.get("deadline"),
            cancel=kwargs.get("cancel"),
        )
        try:
            for text in pieces:
                chunk = GenerationChunk(text=text)
                if run_manager is not None:
                    run_manager.on_llm_new_token(text, chunk=chunk)
                yield chunk
        finally:
            pieces.close()
        yield GenerationChunk(
            text="",
            generation_info={
                "finish_reason": generation.finish_reason,
                "prompt_tokens": generation.usage.prompt_tokens,
                "generated_tokens": generation.usage.completion_tokens,
            },
        )

    @property
    def backend_name(self) -> str:
        """The registry name of the engine (llama-cpp or ctransformers)."""
        return self.backend

    def stream_chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        stop: Sequence[str] = (),
        deadline: float | None = None,
        cancel: threading.Event | None = None,
    ) -> Generation:
        """The seam: the conversation in the model's chat format, streamed (see `_stream` for the rest)."""
        sys_text, previous, prompt = split_conversation(messages)
        text = self._chat.render(prompt, sys_text or self.system_prompt, previous)
        generation = Generation()
        return generation.bind(
            self._pieces(
                generation,
                text,
                stop=list(stop),
                max_new_tokens=self.max_new_tokens if max_tokens is None else max_tokens,
                deadline=deadline,
                cancel=cancel,
            )
        )

    def _pieces(
        self,
        generation: Generation,
        text: str,
        *,
        stop: list[str],
        max_new_tokens: int,
        deadline: float | None,
        cancel: threading.Event | None,
    ) -> Generator[str, None, None]:
        """Tokenize the rendered prompt, generate under the engine's lock and yield whole-character text."""
        stops = list(dict.fromkeys([*self.stop, *self._chat.stops, *stop]))
        engine = self._loaded
        chat = self._chat.template is not None
        bos = engine.special_text()[0]
        # Templates that write BOS themselves ({{ bos_token }}) must not get a second one from the tokenizer.
        add_bos = not (chat and bos and text.startswith(bos))
        tokens = engine.tokenize(text, add_bos=add_bos, special=chat)
        room = engine.context_length - len(tokens)
        if room < 1:
            raise PromptTooLongError(
                f"prompt is {len(tokens)} tokens; the context window holds {engine.context_length}"
            )

        def should_stop() -> FinishReason | None:
            if cancel is not None and cancel.is_set():
                return "cancelled"
            if deadline is not None and time.monotonic() >= deadline:
                return "deadline"
            return None

        sampling = Sampling(
            temperature=self.temperature,
            seed=self.seed,
            top_k=self.top_k,
            top_p=self.top_p,
            repetition_penalty=self.repetition_penalty,
        )
        result = StreamResult()
        generation.usage = Usage(prompt_tokens=len(tokens))
        with engine.lock:
            token_ids = engine.generate(tokens, sampling, should_stop)
            pieces = (engine.token_bytes(token) for token in token_ids)
            try:
                yield from stream_text(
                    pieces,
                    max_new_tokens=min(max_new_tokens, room),
                    stop=stops,
                    should_stop=should_stop,
                    result=result,
                )
            finally:
                token_ids.close()
                generation.finish_reason = result.finish_reason
                generation.usage = Usage(len(tokens), result.generated_tokens)
        logger.debug(
            "generation done finish_reason=%s prompt_tokens=%d generated_tokens=%d",
            result.finish_reason,
            len(tokens),
            result.generated_tokens,
        )


_MODELS: dict[tuple[Any, ...], LoadedModel] = {}
_MODELS_LOCK = threading.Lock()


def _load_options(settings: Settings) -> LoadOptions:
    return LoadOptions(
        model_path=Path(settings.model_path),
        model_type=settings.model_type,
        context_length=settings.context_length,
        threads=settings.threads or os.cpu_count() or 1,
        batch_size=settings.batch_size,
        seed=settings.seed,
        ctransformers_lib=settings.ctransformers_lib,
    )


def _probe_cache(settings: Settings) -> Path:
    return settings.runtime_cache_dir / "llm-probe.json"


def _extra_buffers(settings: Settings, backend: Backend) -> bool:
    """llama.cpp's extra buffer types for this model on this CPU, checked in a child process once."""
    from models.llama_probe import checked_extra_buffers, default_extra_buffers

    if backend != "llama-cpp":
        return False
    if not settings.llm_probe:
        return default_extra_buffers(settings.llm_extra_buffers)
    try:
        return checked_extra_buffers(settings.model_path, settings.llm_extra_buffers, _probe_cache(settings))
    except RuntimeError as exc:
        raise LLMLoadError(str(exc)) from exc


def loaded_model(settings: Settings) -> LoadedModel:
    """Check the model file, pick the backend and load it, once per process for the same file and options."""
    options = _load_options(settings)
    info = inspect_model_file(options.model_path, options.model_type)
    backend = resolve_backend(options.model_path, settings.llm_backend)
    options = dataclasses.replace(options, extra_buffers=_extra_buffers(settings, backend))
    stat = options.model_path.stat()
    key = (backend, options.model_path.resolve(), stat.st_size, stat.st_mtime_ns, options)
    with _MODELS_LOCK:
        engine = _MODELS.get(key)
        if engine is None:
            _close_at_exit()
            logger.info(
                "loading model path=%s format=%s backend=%s size=%d",
                info.path,
                info.format,
                backend,
                info.size,
            )
            engine = open_model(backend, options)
            _MODELS[key] = engine
    return engine


def chat_format_of(engine: LoadedModel, prompt_format: str) -> ChatFormat:
    """The model file's chat format (from its GGUF metadata), or raw when asked for."""
    if prompt_format == "raw":
        return RAW
    metadata = inspect_model_file(engine.options.model_path, engine.options.model_type).metadata
    bos, eos = engine.special_text()
    return chat_format_for(metadata, prompt_format="chat", bos_token=bos, eos_token=eos)


def load_llm(settings: Settings) -> LocalLLM:
    """The configured model as a LocalLLM; raises LLMLoadError (ModelFileError for file problems)."""
    engine = loaded_model(settings)
    chat = chat_format_of(engine, settings.prompt_format)
    logger.info("prompt format=%s model=%s", chat.name, settings.model_path.name)
    return LocalLLM(
        engine=engine,
        chat_format=chat,
        max_new_tokens=settings.max_new_tokens,
        temperature=settings.temperature,
        seed=settings.seed,
        repetition_penalty=settings.repetition_penalty,
    )


def unload_all() -> None:
    """Close and forget every loaded model (a LocalLLM still holding one can no longer generate)."""
    with _MODELS_LOCK:
        models = list(_MODELS.values())
        _MODELS.clear()
    for model in models:
        try:
            model.close()
        except Exception as exc:  # closing is best effort; the process is usually on its way out
            logger.debug("model close failed error=%s", exc)


_EXIT_HOOK: list[bool] = []


def _close_at_exit() -> None:
    """Close the loaded models before the interpreter tears its modules down (once per process)."""
    if not _EXIT_HOOK:
        atexit.register(unload_all)
        _EXIT_HOOK.append(True)
