"""An OpenAI-compatible chat-completions server behind the model seam (llama.cpp's llama-server,
llama-cpp-python's server, Ollama, vLLM, LocalAI): streamed through SSE over httpx.

Requests are retried with exponential backoff on 429 and 5xx answers, refused connections and streams
that break off; a stream retried after some text was already given skips that text (the same seed and
prompt give the same answer) and fails loudly if the server's second answer differs. The answer's
deadline bounds every wait, and closing the Generation closes the HTTP response, which tells the server
to stop generating.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import httpx

from models.chat import Generation, LLMUnavailableError, Message, Usage, estimate_tokens
from models.chat_format import END_OF_TURN, INVENTED_TURNS
from models.text_stream import FinishReason, StreamResult, stream_text

if TYPE_CHECKING:
    from config.settings import Settings

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_BACKOFF_SECONDS = 30.0
TOKENIZE_TIMEOUT_SECONDS = 10.0
# Where a model that missed its end of turn writes on; the server's own template handles the rest.
CLIENT_STOPS = (*END_OF_TURN, *INVENTED_TURNS)


@dataclass(frozen=True)
class ServerConfig:
    """Where the server is and how to talk to it."""

    base_url: str
    model: str = ""  # empty: the one model the server lists
    api_key: str | None = field(default=None, repr=False)
    connect_timeout: float = 5.0
    read_timeout: float = 120.0  # the longest wait for the next piece (the prompt is read before the first)
    retries: int = 3
    backoff: float = 0.5  # seconds before the first retry; doubled each time
    max_tokens: int = 256
    temperature: float = 0.01
    seed: int = 42


class _Retryable(Exception):
    """One attempt failed in a way another attempt may not."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class _Diverged(Exception):
    """A retried stream wrote something other than what the asker was already shown."""


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _transport_problem(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({_one_line(str(exc)) or 'connection refused'})"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    return f"the connection broke ({type(exc).__name__}: {_one_line(str(exc))})"


def _error_message(response: httpx.Response) -> str:
    """The server's own error text from a JSON error body, else the start of the body."""
    try:
        data = response.json()
    except ValueError:
        return _one_line(response.text, 120)
    error = data.get("error", data) if isinstance(data, dict) else data
    if isinstance(error, dict):
        error = error.get("message") or error.get("detail") or error
    if isinstance(data, dict) and "detail" in data and error is data:
        error = data["detail"]
    return _one_line(str(error), 160)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def sse_data(lines: Iterable[str]) -> Iterator[str]:
    """The data of each server-sent event (multi-line data joined; comments and other fields skipped)."""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if name == "data":
            data.append(value.removeprefix(" "))
    if data:
        yield "\n".join(data)


class OpenAIServerChat:
    """A model served over the OpenAI chat-completions API; several answers may stream at once."""

    backend_name = "openai"

    def __init__(self, config: ServerConfig, client: httpx.Client | None = None) -> None:
        self.config = config
        self._base = config.base_url.rstrip("/")
        self._client = client or httpx.Client(
            timeout=httpx.Timeout(config.read_timeout, connect=config.connect_timeout)
        )
        self._model = config.model
        self._lock = threading.Lock()
        self._tokenizer: Literal["unknown", "llama-cpp-python", "tokenize", "estimate"] = "unknown"

    def __repr__(self) -> str:
        return f"OpenAIServerChat(base_url={self._base!r}, model={self._model!r})"

    @property
    def base_url(self) -> str:
        """The API root (ending in /v1 for most servers)."""
        return self._base

    # --- Requests -----------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        return headers

    def _status_problem(self, response: httpx.Response) -> str:
        code = response.status_code
        if code in (401, 403):
            return f"the server refused the API key (HTTP {code}); check DOCBOT_LLM_API_KEY"
        if code == 404:
            return (
                f"HTTP 404 for {response.request.url}: is DOCBOT_LLM_BASE_URL the API root "
                f"(e.g. http://host:8080/v1)? {_error_message(response)}"
            )
        return f"HTTP {code}: {_error_message(response)}"

    def list_models(self) -> list[str]:
        """The model ids the server lists at /models."""
        try:
            response = self._client.get(f"{self._base}/models", headers=self._headers())
        except httpx.TransportError as exc:
            raise LLMUnavailableError(_transport_problem(exc)) from exc
        if response.status_code != 200:
            raise LLMUnavailableError(self._status_problem(response))
        try:
            data = response.json().get("data") or []
            return [str(item["id"]) for item in data]
        except (ValueError, AttributeError, KeyError, TypeError) as exc:
            raise LLMUnavailableError(f"{self._base}/models did not answer with a model list") from exc

    def model_name(self) -> str:
        """The configured model, or the one model the server lists when none is configured."""
        with self._lock:
            if self._model:
                return self._model
        served = self.list_models()
        if len(served) != 1:
            raise LLMUnavailableError(
                f"set DOCBOT_LLM_MODEL to one of the server's models: {', '.join(served) or '(none listed)'}"
            )
        with self._lock:
            self._model = served[0]
        return served[0]

    def check_ready(self) -> str | None:
        """None when the server lists the model and completes one token, else one line saying why not."""
        where = f"LLM server {self._base} not ready"
        try:
            served = self.list_models()
            model = self._model or self.model_name()
            if model not in served:
                listed = ", ".join(served) or "(none)"
                return (
                    f"{where}: it does not serve model '{model}' (it lists: {listed}); set DOCBOT_LLM_MODEL"
                )
            body = {
                "model": model,
                "messages": [{"role": "user", "content": "Say OK."}],
                "max_tokens": 1,
                "temperature": 0.0,
            }
            response = self._client.post(f"{self._base}/chat/completions", json=body, headers=self._headers())
        except LLMUnavailableError as exc:
            return f"{where}: {exc}"
        except httpx.TransportError as exc:
            return f"{where}: a one-token completion failed: {_transport_problem(exc)}"
        if response.status_code != 200:
            return f"{where}: a one-token completion failed: {self._status_problem(response)}"
        logger.info("llm server ready base_url=%s model=%s", self._base, model)
        return None

    # --- Token counting (a capability the server may or may not offer) ------------------------

    def count_tokens(self, text: str) -> int:
        """The server's own token count (llama-cpp-python's /extras/tokenize/count, llama-server's and
        vLLM's /tokenize), or about 4 characters a token where it offers none."""
        root = self._base.removesuffix("/v1")
        timeout = httpx.Timeout(TOKENIZE_TIMEOUT_SECONDS, connect=self.config.connect_timeout)
        attempts: list[tuple[Literal["llama-cpp-python", "tokenize"], str, dict[str, Any]]] = [
            ("llama-cpp-python", f"{root}/extras/tokenize/count", {"input": text}),
            ("tokenize", f"{root}/tokenize", {"content": text, "prompt": text, "model": self._model}),
        ]
        for kind, url, body in attempts:
            if self._tokenizer not in ("unknown", kind):
                continue
            try:
                response = self._client.post(url, json=body, headers=self._headers(), timeout=timeout)
            except httpx.TransportError:
                return estimate_tokens(text)  # this once: the server may be back for the next question
            if response.status_code == 200:
                data = response.json()
                count = data.get("count")
                if count is None:
                    count = len(data.get("tokens") or [])
                self._tokenizer = kind
                return int(count)
            if self._tokenizer == kind:
                return estimate_tokens(text)
        if self._tokenizer == "unknown":
            logger.info(
                "llm server offers no token count base_url=%s; estimating 4 chars a token", self._base
            )
            self._tokenizer = "estimate"
        return estimate_tokens(text)

    # --- Streaming ----------------------------------------------------------------------------

    def stream_chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        stop: Sequence[str] = (),
        deadline: float | None = None,
        cancel: threading.Event | None = None,
    ) -> Generation:
        """Stream the server's answer to the conversation (see the module docstring for retries)."""
        if not messages or messages[-1].role != "user":
            raise ValueError("a conversation must end with a user turn")
        generation = Generation()
        return generation.bind(
            self._stream(
                generation,
                [{"role": m.role, "content": m.content} for m in messages],
                self.config.max_tokens if max_tokens is None else max_tokens,
                list(stop),
                deadline,
                cancel,
            )
        )

    def _stream(
        self,
        generation: Generation,
        messages: list[dict[str, str]],
        max_tokens: int,
        stop: list[str],
        deadline: float | None,
        cancel: threading.Event | None,
    ) -> Generator[str, None, None]:
        def should_stop() -> FinishReason | None:
            if cancel is not None and cancel.is_set():
                return "cancelled"
            if deadline is not None and time.monotonic() >= deadline:
                return "deadline"
            return None

        state: dict[str, Any] = {"finish": None, "usage": None}
        result = StreamResult()
        raw = self._attempts(messages, max_tokens, stop, deadline, should_stop, state, cancel)
        try:
            yield from stream_text(
                (piece.encode("utf-8") for piece in raw),
                max_new_tokens=max_tokens,
                stop=[*CLIENT_STOPS, *stop],
                should_stop=should_stop,
                result=result,
            )
        finally:
            raw.close()  # closes the HTTP response: the server stops generating
            reason: FinishReason = result.finish_reason
            if reason == "eos" and state["finish"] == "length":
                reason = "length"
            generation.finish_reason = reason
            usage = state["usage"]
            if isinstance(usage, dict) and "completion_tokens" in usage:
                generation.usage = Usage(int(usage.get("prompt_tokens", 0)), int(usage["completion_tokens"]))
            else:
                prompt = estimate_tokens("\n".join(m["content"] for m in messages))
                generation.usage = Usage(prompt, result.generated_tokens, estimated=True)

    def _attempts(
        self,
        messages: list[dict[str, str]],
        max_tokens: int,
        stop: list[str],
        deadline: float | None,
        should_stop: Any,
        state: dict[str, Any],
        cancel: threading.Event | None,
    ) -> Generator[str, None, None]:
        """New text of the answer across attempts: retries, skipping what earlier attempts gave."""
        shown = ""
        attempt = 0
        while True:
            if should_stop():
                return
            try:
                with contextlib.closing(
                    self._one_attempt(messages, max_tokens, stop, deadline, state)
                ) as texts:
                    for text in texts:
                        if len(text) <= len(shown):
                            if not shown.startswith(text):
                                raise _Diverged()
                            continue
                        if not text.startswith(shown):
                            raise _Diverged()
                        new, shown = text[len(shown) :], text
                        yield new
                return
            except _Diverged:
                raise LLMUnavailableError(
                    f"the LLM server at {self._base} broke off an answer and wrote a different one when asked"
                    " again; the question can be asked again"
                ) from None
            except _Retryable as exc:
                if deadline is not None and time.monotonic() >= deadline:
                    return  # the answer's time is up: it ends where it got to, marked cut off
                attempt += 1
                if attempt > self.config.retries:
                    raise LLMUnavailableError(
                        f"the LLM server at {self._base} failed {attempt} times, last: {exc}"
                    ) from None
                delay = min(self.config.backoff * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS)
                if exc.retry_after is not None:
                    delay = min(max(delay, exc.retry_after), MAX_BACKOFF_SECONDS)
                if deadline is not None:
                    delay = min(delay, max(0.0, deadline - time.monotonic()))
                # INFO: a retry that works is routine; when the retries run out the caller gets one error.
                logger.info(
                    "llm server request failed attempt=%d reason=%s retry_in=%.2fs shown_chars=%d",
                    attempt,
                    exc,
                    delay,
                    len(shown),
                )
                if cancel is not None:
                    cancel.wait(delay)
                else:
                    time.sleep(delay)

    def _one_attempt(
        self,
        messages: list[dict[str, str]],
        max_tokens: int,
        stop: list[str],
        deadline: float | None,
        state: dict[str, Any],
    ) -> Generator[str, None, None]:
        """One streamed request; yields the whole text so far after each piece."""
        body: dict[str, Any] = {
            "model": self.model_name_or_retry(),
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": self.config.temperature,
            "seed": self.config.seed,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if stop:
            body["stop"] = stop[:4]  # OpenAI's own limit; the rest are cut here
        read = self.config.read_timeout
        if deadline is not None:
            read = max(0.01, min(read, deadline - time.monotonic() + 0.05))
        timeout = httpx.Timeout(read, connect=self.config.connect_timeout)
        text = ""
        state["finish"] = None
        try:
            with self._client.stream(
                "POST", f"{self._base}/chat/completions", json=body, headers=self._headers(), timeout=timeout
            ) as response:
                if response.status_code != 200:
                    response.read()
                    problem = self._status_problem(response)
                    if response.status_code in RETRY_STATUSES:
                        raise _Retryable(problem, _retry_after(response))
                    raise LLMUnavailableError(f"the LLM server at {self._base} refused: {problem}")
                for data in sse_data(response.iter_lines()):
                    if data.strip() == "[DONE]":
                        return
                    event = json.loads(data)
                    if "error" in event:
                        raise _Retryable(f"error event: {_one_line(json.dumps(event['error']), 160)}")
                    if event.get("usage"):
                        state["usage"] = event["usage"]
                    for choice in event.get("choices") or []:
                        piece = (choice.get("delta") or {}).get("content") or ""
                        if choice.get("finish_reason"):
                            state["finish"] = choice["finish_reason"]
                        if piece:
                            text += piece
                            yield text
                if state["finish"] is None:
                    raise _Retryable("the stream ended before the answer did")
        except httpx.TimeoutException as exc:
            if deadline is not None and time.monotonic() >= deadline:
                return
            raise _Retryable(_transport_problem(exc)) from exc
        except httpx.TransportError as exc:
            raise _Retryable(_transport_problem(exc)) from exc
        except json.JSONDecodeError as exc:
            raise _Retryable(f"a stream event was not JSON ({exc.msg})") from exc

    def model_name_or_retry(self) -> str:
        """The model's name; a server that cannot be asked yet is worth another try."""
        try:
            return self.model_name()
        except LLMUnavailableError as exc:
            raise _Retryable(str(exc)) from exc

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


def load_server_model(settings: Settings) -> OpenAIServerChat:
    """The configured server as a ChatModel (nothing is contacted until the readiness check)."""
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key is not None else None
    config = ServerConfig(
        base_url=settings.llm_base_url,
        model=settings.llm_model,
        api_key=key or None,
        connect_timeout=settings.llm_connect_timeout_seconds,
        read_timeout=settings.llm_read_timeout_seconds,
        retries=settings.llm_retries,
        backoff=settings.llm_retry_backoff_seconds,
        max_tokens=settings.max_new_tokens,
        temperature=settings.temperature,
        seed=settings.seed,
    )
    logger.info("llm backend=openai base_url=%s model=%s", config.base_url, config.model or "(the server's)")
    return OpenAIServerChat(config)
