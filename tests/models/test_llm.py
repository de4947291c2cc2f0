"""LocalLLM through the real ctransformers and llama-cpp-python, on tiny random-weight Llama files."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest
from langchain_core.callbacks import BaseCallbackHandler

from devtools.tiny_llama import write_tiny_gguf
from models.llm import (
    LocalLLM,
    ModelFileError,
    PromptTooLongError,
    llama_cpp_available,
    load_llm,
    resolve_backend,
)
from tests.models.conftest import CASES

PROMPT = "Question: what was the company revenue last year?\nHelpful answer:"


class TokenRecorder(BaseCallbackHandler):
    """Collects the tokens LangChain's callbacks deliver."""

    def __init__(self) -> None:
        self.tokens: list[str] = []

    def on_llm_new_token(self, token: str | list[str | dict[str, Any]], **kwargs: Any) -> None:
        assert isinstance(token, str)  # a text LLM streams text tokens
        self.tokens.append(token)


def _skip_unless_available(backend: str) -> None:
    if backend == "llama-cpp":
        pytest.importorskip("llama_cpp")


@pytest.fixture(scope="module", params=CASES, ids=[f"{fmt}-{backend}" for fmt, backend in CASES])
def tiny_llm(
    request: pytest.FixtureRequest, tiny_model_file: Callable[[str], Path], tiny_settings: Callable[..., Any]
) -> LocalLLM:
    fmt, backend = request.param
    _skip_unless_available(backend)
    return load_llm(tiny_settings(tiny_model_file(fmt), llm_backend=backend))


def _finish(llm: LocalLLM, prompt: str = PROMPT, **kwargs: Any) -> tuple[str, dict[str, Any]]:
    """Run _stream to the end: the text and the final chunk's generation_info."""
    chunks = list(llm._stream(prompt, **kwargs))
    info = chunks[-1].generation_info
    assert info is not None
    return "".join(c.text for c in chunks), info


def test_loads_through_the_requested_backend(tiny_llm: LocalLLM) -> None:
    text = tiny_llm.invoke(PROMPT)
    assert tiny_llm.context_length == 512
    assert isinstance(text, str) and len(text.split()) >= 3


def test_streamed_tokens_reach_callbacks_and_match_the_call(tiny_llm: LocalLLM) -> None:
    called = TokenRecorder()
    text = tiny_llm.invoke(PROMPT, config={"callbacks": [called]})
    streamed = TokenRecorder()
    pieces = list(tiny_llm.stream(PROMPT, config={"callbacks": [streamed]}))
    assert len(called.tokens) > 5
    assert "".join(called.tokens) == text
    assert "".join(pieces) == text
    assert streamed.tokens == called.tokens


def test_seed_decides_the_sample(tiny_llm: LocalLLM) -> None:
    answers = []
    for seed in (1, 2, 3, 1):
        seeded = tiny_llm.model_copy(update={"seed": seed})
        seeded._loaded = tiny_llm._loaded
        answers.append(seeded.invoke(PROMPT))
    assert answers[0] == answers[3]
    assert len(set(answers)) > 1


def test_max_new_tokens_is_respected(tiny_llm: LocalLLM) -> None:
    limited = tiny_llm.model_copy(update={"stop": []})
    limited._loaded = tiny_llm._loaded
    recorder = TokenRecorder()
    text = limited.invoke(PROMPT, config={"callbacks": [recorder]}, max_new_tokens=7)
    _, info = _finish(limited, max_new_tokens=7)
    # The tiny model never emits byte tokens, so each token arrives as its own piece.
    assert len(recorder.tokens) == 7
    assert info == {"finish_reason": "length", "prompt_tokens": info["prompt_tokens"], "generated_tokens": 7}
    assert limited.count_tokens(text) <= 7 + 2


def test_stop_argument_cuts_the_answer(tiny_llm: LocalLLM) -> None:
    full, _ = _finish(tiny_llm)
    # A stop sequence that straddles two tokens: the end of the third word and the start of the fourth.
    words = full.split(" ")
    stop = words[3][-1:] + " " + words[4][:2]
    expected = full[: full.index(stop)]
    text, info = _finish(tiny_llm, stop=[stop])
    assert text == expected
    assert info["finish_reason"] == "stop"
    assert tiny_llm.invoke(PROMPT, stop=[stop]) == expected


def test_default_stop_sequences_apply(tiny_llm: LocalLLM) -> None:
    full, _ = _finish(tiny_llm)
    stop = " " + full.split(" ")[5]
    with_default = tiny_llm.model_copy(update={"stop": [*tiny_llm.stop, stop]})
    with_default._loaded = tiny_llm._loaded
    assert with_default.invoke(PROMPT) == full[: full.index(stop)]


def test_count_tokens_uses_the_models_tokenizer(tiny_llm: LocalLLM) -> None:
    assert tiny_llm.count_tokens("") == 0
    # Whole words of the tiny vocabulary are one token each (after the first, which GGML may split).
    assert tiny_llm.count_tokens("of and to that") - tiny_llm.count_tokens("of") == 3
    assert tiny_llm.get_num_tokens("of and to that") == tiny_llm.count_tokens("of and to that")
    # Characters outside the vocabulary fall back to one token per UTF-8 byte; ctransformers' own
    # tokenize() would overflow its buffer here (it sizes it by characters).
    assert tiny_llm.count_tokens("😀" * 60) >= 240


def test_closing_the_stream_stops_generation(tiny_llm: LocalLLM) -> None:
    reference = tiny_llm.invoke(PROMPT, max_new_tokens=200)
    stream = tiny_llm.stream(PROMPT, max_new_tokens=200)
    assert isinstance(stream, Generator)  # so it can be closed
    first = [next(stream), next(stream)]
    stream.close()
    engine: Any = tiny_llm._loaded
    assert not engine.lock.locked()
    prompt_tokens = len(engine.tokenize(PROMPT, add_bos=True))
    evaluated = len(engine._llm._context) if engine.backend == "ctransformers" else engine._llama.n_tokens
    assert evaluated <= prompt_tokens + 2  # no token was evaluated after the consumer left
    assert reference.startswith("".join(first))
    # The backend's cache is consistent afterwards: the same prompt gives the same answer.
    assert tiny_llm.invoke(PROMPT, max_new_tokens=200) == reference


def test_past_deadline_stops_before_the_prompt_is_evaluated(tiny_llm: LocalLLM) -> None:
    tiny_llm.invoke("an unrelated prompt to replace the cached one")
    prompt = " ".join(["the company was there"] * 40)
    text, info = _finish(tiny_llm, prompt, deadline=time.monotonic())
    engine: Any = tiny_llm._loaded
    evaluated = len(engine._llm._context) if engine.backend == "ctransformers" else engine._llama.n_tokens
    assert text == ""
    assert info["finish_reason"] == "deadline"
    assert info["generated_tokens"] == 0
    assert evaluated < info["prompt_tokens"]


def test_cancel_during_generation_cuts_the_answer(tiny_llm: LocalLLM) -> None:
    cancel = threading.Event()

    class CancelAfterThree(TokenRecorder):
        def on_llm_new_token(self, token: str | list[str | dict[str, Any]], **kwargs: Any) -> None:
            super().on_llm_new_token(token, **kwargs)
            if len(self.tokens) == 3:
                cancel.set()

    limited = tiny_llm.model_copy(update={"stop": []})
    limited._loaded = tiny_llm._loaded
    recorder = CancelAfterThree()
    text = limited.invoke(PROMPT, config={"callbacks": [recorder]}, cancel=cancel, max_new_tokens=100)
    assert len(recorder.tokens) == 3
    assert text == "".join(recorder.tokens)
    cancel.clear()
    _, info = _finish(limited, cancel=cancel, max_new_tokens=5)
    assert info["finish_reason"] == "length"


def test_prompt_longer_than_the_context_is_refused(tiny_llm: LocalLLM) -> None:
    with pytest.raises(PromptTooLongError, match="512"):
        tiny_llm.invoke("the " * 600)


def test_answer_stops_when_the_context_is_full(tiny_llm: LocalLLM) -> None:
    prompt = "the " * (tiny_llm.context_length - 6)
    room = tiny_llm.context_length - len(tiny_llm._loaded.tokenize(prompt, add_bos=True))
    _, info = _finish(tiny_llm, prompt, max_new_tokens=100)
    assert 0 < info["generated_tokens"] <= room
    assert info["finish_reason"] in ("length", "stop")


def test_one_generation_at_a_time(tiny_llm: LocalLLM) -> None:
    holder = tiny_llm._stream(PROMPT)
    assert isinstance(holder, Generator)  # so it can be closed
    next(holder)  # this generator now holds the model
    started = threading.Event()
    result: list[str] = []

    def other() -> None:
        started.set()
        result.append(tiny_llm.invoke(PROMPT))

    thread = threading.Thread(target=other)
    thread.start()
    assert started.wait(10)
    thread.join(0.3)
    assert thread.is_alive() and not result  # blocked while the first generation is open
    holder.close()
    thread.join(30)
    assert not thread.is_alive() and result and result[0]


def test_auto_backend_choice(tiny_gguf: Path, tiny_ggml: Path) -> None:
    expected = "llama-cpp" if llama_cpp_available() else "ctransformers"
    assert resolve_backend(tiny_gguf, "auto") == expected
    assert resolve_backend(tiny_ggml, "auto") == "ctransformers"
    assert resolve_backend(tiny_gguf, "ctransformers") == "ctransformers"


def test_format_comes_from_the_magic_not_the_name(tmp_path: Path, tiny_gguf: Path, tiny_ggml: Path) -> None:
    gguf_named_bin = shutil.copy(tiny_gguf, tmp_path / "model.bin")
    ggml_named_gguf = shutil.copy(tiny_ggml, tmp_path / "model.gguf")
    assert resolve_backend(Path(ggml_named_gguf), "auto") == "ctransformers"
    expected = "llama-cpp" if llama_cpp_available() else "ctransformers"
    assert resolve_backend(Path(gguf_named_bin), "auto") == expected


def test_llama_cpp_refuses_ggml_with_a_clear_error(tiny_ggml: Path) -> None:
    with pytest.raises(ModelFileError, match="only be loaded by ctransformers") as caught:
        resolve_backend(tiny_ggml, "llama-cpp")
    assert str(tiny_ggml) in str(caught.value)


@pytest.mark.parametrize("backend", ["ctransformers", "llama-cpp", "auto"])
@pytest.mark.parametrize("damage", ["missing", "empty", "text", "truncated-header", "truncated-data"])
def test_bad_model_files_raise_model_file_error(
    tmp_path: Path, tiny_gguf: Path, tiny_settings: Callable[..., Any], backend: str, damage: str
) -> None:
    _skip_unless_available(backend)
    path = tmp_path / "broken.gguf"
    data = tiny_gguf.read_bytes()
    contents = {
        "empty": b"",
        "text": b"<html>404 Not Found</html>\n",
        "truncated-header": data[:2000],
        "truncated-data": data[: len(data) - 4096],
    }
    if damage != "missing":
        path.write_bytes(contents[damage])
    with pytest.raises(ModelFileError) as caught:
        load_llm(tiny_settings(path, llm_backend=backend))
    message = str(caught.value)
    assert str(path) in message and "\n" not in message


def test_truncated_ggml_raises_model_file_error(
    tmp_path: Path, tiny_ggml: Path, tiny_settings: Callable[..., Any]
) -> None:
    path = tmp_path / "broken.ggmlv3.bin"
    data = tiny_ggml.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated"):
        load_llm(tiny_settings(path, llm_backend="ctransformers"))


def test_model_is_loaded_once(tiny_gguf: Path, tiny_settings: Callable[..., Any]) -> None:
    first = load_llm(tiny_settings(tiny_gguf, llm_backend="ctransformers"))
    second = load_llm(tiny_settings(tiny_gguf, llm_backend="ctransformers", max_new_tokens=5))
    assert first._loaded is second._loaded
    assert second.max_new_tokens == 5


@pytest.mark.parametrize("quant", ["f16", "q8_0", "q4_0"])
@pytest.mark.parametrize("backend", ["ctransformers", "llama-cpp"])
def test_quantized_tiny_models_load(
    tmp_path: Path, tiny_settings: Callable[..., Any], quant: str, backend: str
) -> None:
    _skip_unless_available(backend)
    path = write_tiny_gguf(tmp_path / f"tiny-{quant}.gguf", quant=quant)
    llm = load_llm(tiny_settings(path, llm_backend=backend))
    assert len(llm.invoke(PROMPT, max_new_tokens=4).split()) >= 2


def test_importing_models_loads_no_backend() -> None:
    code = (
        "import sys, models.llm, models.prompts, models.download, models.model_file;"
        "heavy = {'ctransformers', 'llama_cpp', 'huggingface_hub', 'torch'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert run.stdout.strip() == "[]"


@pytest.mark.parametrize("backend", ["ctransformers", "llama-cpp"])
def test_well_formed_file_the_backend_cannot_load(
    tmp_path: Path, tiny_settings: Callable[..., Any], backend: str
) -> None:
    _skip_unless_available(backend)
    path = tmp_path / "other-arch.gguf"
    writer = gguf.GGUFWriter(str(path), "no-such-architecture")
    writer.add_tensor("x.weight", np.zeros((4, 32), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ModelFileError, match=f"{backend} could not load the model") as caught:
        load_llm(tiny_settings(path, llm_backend=backend))
    assert str(path) in str(caught.value)
