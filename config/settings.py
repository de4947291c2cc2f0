"""One settings object: config/config.yml < .env < environment variables (DOCBOT_ prefix)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

DEFAULT_CONFIG_FILE = Path(__file__).with_name("config.yml")
ENV_PREFIX = "DOCBOT_"


class SettingsError(ValueError):
    """A setting has an invalid value; the message names the key and what is accepted."""


class Settings(BaseSettings):
    """Every knob docbot has. Built by `load_settings()`; never read the environment elsewhere."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="ignore",
        populate_by_name=True,
        validate_default=True,
    )

    # --- Documents and index ---
    data_dir: Path = Field(Path("data"), description="Watched folder of PDFs, searched recursively.")
    index_dir: Path = Field(Path("vectorstore/index"), description="Folder of the FAISS + SQLite index.")
    chunk_size: int = Field(500, ge=50, le=20000, description="Characters per chunk.")
    chunk_overlap: int = Field(50, ge=0, le=5000, description="Characters shared by neighbouring chunks.")
    k: int = Field(4, ge=1, le=50, description="Passages retrieved per question.")

    # --- Embeddings ---
    embedding_model: str = Field(
        "", description="sentence-transformers name or path; empty = the packaged all-MiniLM-L6-v2."
    )
    embedding_batch_size: int = Field(16, ge=1, le=1024, description="Chunks embedded per batch.")
    embedding_runtime: Literal["auto", "openvino", "torch"] = Field(
        "auto",
        description=(
            "openvino: int8 of the same weights, exported once per machine (about 3x torch's speed);"
            " torch: sentence-transformers; auto: openvino when it works, else torch."
        ),
    )
    embedding_cache_dir: Path | None = Field(
        None, description="Where the OpenVINO export is cached; empty = the `embeddings` folder of cache_dir."
    )
    cache_dir: Path | None = Field(
        None,
        description=(
            "Per-machine runtime files (the OpenVINO export, weight digests, model probe results);"
            " empty = the user cache, ~/.cache/docbot on Linux. Never inside the installed package."
        ),
    )

    # --- Language model ---
    model_path: Path = Field(
        Path("models/llama-2-7b-chat.Q4_K_M.gguf"), description="GGUF or GGML v3 .bin model file."
    )
    model_type: str = Field("llama", description="ctransformers model type.")
    # The names of models/registry.py's BACKENDS (a test keeps the two lists equal).
    llm_backend: Literal["auto", "ctransformers", "llama-cpp", "openai"] = Field(
        "auto",
        description=(
            "auto picks llama-cpp for GGUF when installed, else ctransformers; openai = an OpenAI-compatible"
            " server at llm_base_url (llama.cpp server, llama-cpp-python's server, Ollama, vLLM)."
        ),
    )
    llm_base_url: str = Field(
        "http://127.0.0.1:8080/v1", description="The server's API root (llm_backend openai), ending in /v1."
    )
    llm_model: str = Field("", description="The model name on the server; empty = the one model it lists.")
    llm_api_key: SecretStr | None = Field(
        None, description="Bearer token for the server (llm_backend openai); never logged."
    )
    llm_connect_timeout_seconds: float = Field(
        5.0, gt=0, le=600, description="Seconds to wait for a connection to the server."
    )
    llm_read_timeout_seconds: float = Field(
        120.0,
        gt=0,
        le=3600,
        description="Longest wait for the server's next piece of an answer (the first waits for the prompt).",
    )
    llm_retries: int = Field(
        3,
        ge=0,
        le=20,
        description="Retries of a server request on 429, 5xx, refused connections and broken streams.",
    )
    llm_retry_backoff_seconds: float = Field(
        0.5, ge=0, le=60, description="Wait before the first retry, doubled each time (Retry-After honoured)."
    )
    max_new_tokens: int = Field(256, ge=1, le=8192, description="Most tokens generated per answer.")
    temperature: float = Field(0.01, ge=0.0, le=5.0, description="Sampling temperature.")
    context_length: int = Field(4096, ge=128, le=131072, description="Model context window (tokens).")
    context_token_budget: int = Field(
        1200, ge=64, le=131072, description="Tokens of retrieved passages put into the prompt."
    )
    threads: int = Field(0, ge=0, le=512, description="CPU threads for generation; 0 = all cores.")
    batch_size: int = Field(512, ge=1, le=8192, description="Prompt tokens evaluated per batch.")
    seed: int = Field(42, description="Sampling seed.")
    ctransformers_lib: Literal["", "avx2", "avx", "basic"] = Field(
        "", description="ctransformers CPU library; empty probes the CPU."
    )
    prompt_file: Path | None = Field(
        None, description="File with a prompt template using {context} and {question}."
    )
    prompt_format: Literal["chat", "raw"] = Field(
        "chat",
        description=(
            "chat: the prompt is the user turn of the model's own chat template (GGUF"
            " tokenizer.chat_template; Llama-2-chat [INST] for GGML files), generation stops at its end"
            " of turn; raw: the tutorial's template as plain text."
        ),
    )
    label_passages: bool = Field(
        True, description="Head each passage in the prompt with its file and printed page."
    )
    repetition_penalty: float = Field(
        1.1, ge=1.0, le=3.0, description="Penalty on recently generated tokens."
    )
    grounding: Literal["abstain", "mark", "off"] = Field(
        "abstain",
        description=(
            "An answer whose numbers or names appear in none of its passages: abstain = shown as not found in"
            " the documents (with the passages); mark = shown with an 'unverified' warning; off = no check."
        ),
    )
    self_check: bool = Field(
        False,
        description=(
            "After an answer passes the grounding check, ask the model in the same conversation whether its"
            " passages state that answer (a few tokens: llama.cpp keeps the conversation cached); a 'no' is"
            " treated like an ungrounded answer."
        ),
    )
    llm_extra_buffers: Literal["auto", "on", "off"] = Field(
        "auto",
        description=(
            "llama.cpp's extra buffer types (weight repacking; AMX): auto = off on CPUs with AMX, where they"
            " crash on real models, else on."
        ),
    )
    llm_probe: bool = Field(
        True,
        description=(
            "Decode a few tokens in a child process before loading a model with llama-cpp (once per model,"
            " build and CPU), so a llama.cpp crash becomes a fallback or a message, not a dead bot."
        ),
    )
    generation_timeout_seconds: float = Field(
        600.0, gt=0, description="An answer is cut off (and marked so) after this long."
    )

    # --- Slack ---
    slack_bot_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("SLACK_BOT_TOKEN", "slack_bot_token"),
        description="Bot token (xoxb-...).",
    )
    slack_app_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("SLACK_APP_TOKEN", "slack_app_token"),
        description="App-level token with connections:write (xapp-...), for Socket Mode.",
    )
    slack_api_url: str = Field(
        "https://slack.com/api/",
        validation_alias=AliasChoices("SLACK_API_URL", "slack_api_url"),
        description="Slack Web API base URL (GovSlack, proxies, tests).",
    )
    stream_update_seconds: float = Field(
        1.0,
        ge=0,
        le=60,
        description="While an answer streams, at most one Slack message update per this long.",
    )
    reply_delivery: Literal["auto", "stream", "update"] = Field(
        "auto",
        description=(
            "How answers appear: stream = Slack's native text streaming (chat.startStream), update = one "
            "message rewritten with chat.update, auto = stream while the workspace accepts it."
        ),
    )
    stream_max_seconds: float = Field(
        240.0,
        gt=0,
        le=290,
        description="A native stream older than this goes on with chat.update (Slack closes one at ~5 min).",
    )
    thread_status: bool = Field(
        True,
        description=(
            "Show a status under the thread while a question waits or is read (assistant.threads.setStatus);"
            " where Slack refuses it the queue position is posted as a message."
        ),
    )
    status_refresh_seconds: float = Field(
        60.0,
        gt=0,
        le=100,
        description="A thread status is sent again at least this often (Slack drops one after 2 minutes).",
    )
    reaction_emoji: str = Field("eyes", description="Reaction added to a question when it is heard.")
    docs_base_url: str = Field("", description="If set, citations link to <url>/<file>#page=N.")
    allowed_channels: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Channel ids allowed to ask; empty = all."
    )
    allowed_users: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="User ids allowed to ask; empty = all."
    )
    allow_dms: bool = Field(True, description="Answer direct messages.")
    scopes: Annotated[dict[str, list[str]], NoDecode] = Field(
        default_factory=dict,
        description=(
            "Folder -> channel ids whose questions may retrieve its documents (JSON, or"
            " 'hr/=C1,C2;sales/=C3'); folders not listed are open to all; DMs see only unscoped folders."
        ),
    )
    queue_max: int = Field(100, ge=1, le=100000, description="Most questions waiting at once.")
    queue_per_user_max: int = Field(10, ge=1, le=100000, description="Most waiting questions per user.")
    answer_thread_replies: bool = Field(
        True,
        description="In channels, answer replies without @mention in threads begun by a question to the bot.",
    )
    feedback_buttons: bool = Field(
        True,
        description="Put 👍/👎 buttons under each final answer; votes and reasons go to feedback.sqlite3.",
    )
    shutdown_timeout_seconds: float = Field(
        20.0, gt=0, description="On SIGTERM, seconds the current answer may take before it is checkpointed."
    )

    # --- Watched folder ---
    reindex_minutes: float = Field(5.0, gt=0, description="Minutes between re-index runs.")
    settle_seconds: float = Field(
        5.0, ge=0, description="A file modified this recently is deferred to the next run."
    )
    notify_channel: str = Field("", description="Channel id told about index changes; empty = none.")

    # --- Operations ---
    log_level: Literal["auto", "DEBUG", "INFO", "WARNING"] = Field(
        "auto",
        description=(
            "Log level on stderr: auto = INFO for `docbot run`, WARNING for one-shot commands; -v raises it"
            " to INFO, -vv to DEBUG."
        ),
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="text: one key=value line per record; json: one JSON object per line."
    )
    health_port: int = Field(
        0,
        ge=0,
        le=65535,
        description=(
            "Port on 127.0.0.1 where `docbot run` serves GET /healthz (200 healthy, 503 not);"
            " 0 = off. `docbot health` asks it."
        ),
    )

    @field_validator("allowed_channels", "allowed_users", mode="before")
    @classmethod
    def _split_csv(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("scopes", mode="before")
    @classmethod
    def _parse_scopes(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            value = json.loads(text) if text.startswith("{") else _scope_rules(text)
        if isinstance(value, dict):
            cleaned = {str(folder).strip().removeprefix("./").strip("/"): v for folder, v in value.items()}
            if "" in cleaned:
                raise ValueError("a scope needs a folder (the data dir itself cannot be scoped)")
            return {folder + "/": _split(channels) for folder, channels in cleaned.items()}
        return value

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _any_case(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        text = value.strip()
        return text.lower() if text.lower() in ("auto", "text", "json") else text.upper()

    @field_validator("prompt_file", "embedding_cache_dir", "cache_dir", "llm_api_key", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value in ("", None) else value

    @property
    def runtime_cache_dir(self) -> Path:
        """cache_dir, or the user cache folder when it is not set."""
        from config.paths import user_cache_dir

        return self.cache_dir or user_cache_dir()

    @property
    def export_cache_dir(self) -> Path:
        """Where the OpenVINO export of the embedding model lives."""
        return self.embedding_cache_dir or self.runtime_cache_dir / "embeddings"

    @property
    def slack_configured(self) -> bool:
        """True when both Slack tokens are set."""
        return self.slack_bot_token is not None and self.slack_app_token is not None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = settings_cls.model_config.get("yaml_file") or DEFAULT_CONFIG_FILE
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file),
        )


def _scope_rules(text: str) -> dict[str, str]:
    """ "hr/=C1,C2;sales/=C3" as {"hr/": "C1,C2", "sales/": "C3"}."""
    rules = {}
    for rule in filter(None, (part.strip() for part in text.split(";"))):
        folder, sep, channels = rule.partition("=")
        if not sep:
            raise ValueError("expected folder=channel,channel;folder=channel")
        rules[folder] = channels
    return rules


def _split(channels: Any) -> Any:
    """Channel ids from "C1,C2" or a list."""
    if isinstance(channels, str):
        return [part.strip() for part in channels.split(",") if part.strip()]
    return channels


def env_name(field: str) -> str:
    """The environment variable that sets `field`."""
    info = Settings.model_fields[field]
    if isinstance(info.validation_alias, AliasChoices):
        first = info.validation_alias.choices[0]
        if isinstance(first, str):
            return first
    return ENV_PREFIX + field.upper()


def _describe(error: ErrorDetails) -> str:
    field = str(error["loc"][0]) if error["loc"] else "?"
    key = env_name(field) if field in Settings.model_fields else field
    ctx = error.get("ctx") or {}
    accepted = f"accepted values: {ctx['expected']}" if "expected" in ctx else error["msg"]
    given = error.get("input")
    shown = "(secret)" if "token" in field or "key" in field else repr(given)
    return f"{key} (config key '{field}'): {accepted}; got {shown}"


def _check_yaml_keys(path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: expected a mapping of settings")
    unknown = sorted(set(data) - set(Settings.model_fields))
    if unknown:
        raise SettingsError(f"{path}: unknown setting(s) {', '.join(unknown)}")


def load_settings(
    config_file: Path | None = None, env_file: Path | None = Path(".env"), **overrides: Any
) -> Settings:
    """Build the settings from config.yml, .env, the environment and explicit overrides."""
    path = Path(config_file or os.environ.get(ENV_PREFIX + "CONFIG") or DEFAULT_CONFIG_FILE)
    if not path.is_file():
        raise SettingsError(f"{ENV_PREFIX}CONFIG: config file not found: {path}")
    _check_yaml_keys(path)

    class _FromFile(Settings):
        model_config = SettingsConfigDict(yaml_file=path)

    env = env_file if env_file is not None and Path(env_file).is_file() else None
    clean = {key: value for key, value in overrides.items() if value is not None}
    try:
        return _FromFile(_env_file=env, **clean)
    except ValidationError as exc:
        raise SettingsError(
            "invalid settings:\n  " + "\n  ".join(_describe(e) for e in exc.errors())
        ) from exc


def environment_value(name: str) -> str | None:
    """Read one raw environment variable (config/ is the only package that reads the environment)."""
    return os.environ.get(name)
