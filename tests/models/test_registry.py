"""LLM backends are chosen by name from one registry; settings accept exactly its names."""

from __future__ import annotations

import importlib
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings
from models.chat import ChatModel
from models.registry import BACKENDS, backend_spec, load_chat_model


def test_settings_accept_exactly_the_registered_backends() -> None:
    accepted = typing.get_args(Settings.model_fields["llm_backend"].annotation)
    assert set(accepted) == set(BACKENDS)


def test_every_backend_names_a_loader_that_exists() -> None:
    for spec in BACKENDS.values():
        module, _, function = spec.loader.partition(":")
        assert callable(getattr(importlib.import_module(module), function)), spec.name
    assert [name for name, spec in BACKENDS.items() if not spec.local] == ["openai"]


def test_an_unknown_backend_is_refused_with_the_accepted_names() -> None:
    with pytest.raises(ValueError, match=r"unknown LLM backend 'gpu'; accepted: auto, llama-cpp, .*openai"):
        backend_spec("gpu")


def test_the_server_backend_is_loaded_without_a_model_file(make_settings: Callable[..., Any]) -> None:
    from models.openai_server import OpenAIServerChat

    settings = make_settings(
        llm_backend="openai",
        llm_base_url="http://127.0.0.1:9/v1",
        llm_model="qwen",
        llm_api_key="sk-abc",
        llm_retries=5,
    )
    assert not Path(settings.model_path).exists()
    model = load_chat_model(settings)
    assert isinstance(model, OpenAIServerChat) and isinstance(model, ChatModel)
    assert (model.base_url, model.config.model, model.config.retries) == ("http://127.0.0.1:9/v1", "qwen", 5)
    assert model.config.api_key == "sk-abc" and "sk-abc" not in repr(model)


def test_a_missing_model_file_means_retrieval_only_only_for_local_backends(
    make_settings: Callable[..., Any],
) -> None:
    from bot.engine import load_model

    llm, problem = load_model(make_settings(llm_backend="auto"))
    assert llm is None and problem is not None and "no model file" in problem
    llm, problem = load_model(make_settings(llm_backend="openai", llm_base_url="http://127.0.0.1:9/v1"))
    assert llm is not None and problem is None


@pytest.mark.parametrize(
    ("backend", "url", "on_this_cpu"),
    [
        ("auto", "http://gpu-box:8080/v1", True),
        ("llama-cpp", "http://gpu-box:8080/v1", True),
        ("openai", "http://127.0.0.1:8080/v1", True),  # the Procfile's llm: process shares the CPU
        ("openai", "http://localhost:11434/v1", True),
        ("openai", "http://gpu-box:8080/v1", False),
        ("openai", "https://10.0.0.7/v1", False),
    ],
)
def test_answers_hold_the_cpu_gate_only_when_computed_here(
    make_settings: Callable[..., Any], backend: str, url: str, on_this_cpu: bool
) -> None:
    from bot.engine import answers_use_this_cpu

    assert answers_use_this_cpu(make_settings(llm_backend=backend, llm_base_url=url)) is on_this_cpu
