"""The LLM backends by name: settings' `llm_backend` picks one here, and a new backend is one module with a
`load(settings) -> ChatModel` function plus one line below."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from config.settings import Settings
    from models.chat import ChatModel


@dataclass(frozen=True)
class BackendSpec:
    """How to load one backend."""

    name: str
    loader: str  # "module:function", imported only when the backend is used
    local: bool  # runs in this process, on this machine's CPU, from settings.model_path
    description: str


BACKENDS: dict[str, BackendSpec] = {
    spec.name: spec
    for spec in (
        BackendSpec(
            "auto", "models.llm:load_llm", True, "llama-cpp for GGUF if installed, else ctransformers"
        ),
        BackendSpec("llama-cpp", "models.llm:load_llm", True, "llama-cpp-python in this process"),
        BackendSpec("ctransformers", "models.llm:load_llm", True, "ctransformers in this process"),
        BackendSpec(
            "openai",
            "models.openai_server:load_server_model",
            False,
            "an OpenAI-compatible server (llama.cpp server, Ollama, vLLM) at llm_base_url",
        ),
    )
}


def backend_spec(name: str) -> BackendSpec:
    """The backend called `name`; ValueError naming the accepted ones otherwise."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown LLM backend {name!r}; accepted: {', '.join(BACKENDS)}") from None


def load_chat_model(settings: Settings) -> ChatModel:
    """Load the configured backend (raises LLMLoadError / ModelFileError for local model problems)."""
    module, _, function = backend_spec(settings.llm_backend).loader.partition(":")
    model: ChatModel = getattr(importlib.import_module(module), function)(settings)
    return model
