"""Settings: config.yml defaults, .env and environment overrides, clear errors, hidden secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import DEFAULT_CONFIG_FILE, SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(("DOCBOT_", "SLACK_")):
            monkeypatch.delenv(name)


def test_defaults_match_the_tutorial_knobs() -> None:
    s = load_settings(env_file=None)
    assert (s.chunk_size, s.chunk_overlap, s.max_new_tokens, s.temperature) == (500, 50, 256, 0.01)
    assert s.k == 4 and s.llm_backend == "auto" and s.data_dir == Path("data")
    assert not s.slack_configured


def test_every_field_is_described() -> None:
    from config.settings import Settings

    missing = [name for name, f in Settings.model_fields.items() if not f.description]
    assert missing == []


def test_environment_overrides_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCBOT_DATA_DIR", "/srv/reports")
    monkeypatch.setenv("DOCBOT_LLM_BACKEND", "llama-cpp")
    monkeypatch.setenv("DOCBOT_K", "6")
    monkeypatch.setenv("DOCBOT_ALLOWED_CHANNELS", "C1, C2")
    s = load_settings(env_file=None)
    assert (s.data_dir, s.llm_backend, s.k, s.allowed_channels) == (
        Path("/srv/reports"),
        "llama-cpp",
        6,
        ["C1", "C2"],
    )


def test_dotenv_is_read_and_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / ".env"
    env.write_text("DOCBOT_K=7\nDOCBOT_CHUNK_SIZE=800\nSLACK_BOT_TOKEN=xoxb-from-dotenv\n")
    monkeypatch.setenv("DOCBOT_K", "3")
    s = load_settings(env_file=env)
    assert (s.k, s.chunk_size) == (3, 800)
    assert s.slack_bot_token is not None and s.slack_bot_token.get_secret_value() == "xoxb-from-dotenv"


def test_slack_tokens_use_conventional_names_and_stay_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret-1")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-secret-2")
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api/")
    s = load_settings(env_file=None)
    assert s.slack_configured and s.slack_api_url == "http://127.0.0.1:9/api/"
    assert "secret" not in repr(s) and "secret" not in str(s.model_dump())


def test_invalid_value_names_the_key_and_accepted_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCBOT_LLM_BACKEND", "gpu")
    with pytest.raises(SettingsError) as error:
        load_settings(env_file=None)
    message = str(error.value)
    assert "DOCBOT_LLM_BACKEND" in message and "'ctransformers'" in message and "'gpu'" in message


def test_invalid_number_names_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCBOT_CHUNK_SIZE", "lots")
    with pytest.raises(SettingsError, match="DOCBOT_CHUNK_SIZE"):
        load_settings(env_file=None)


def test_unknown_key_in_config_file_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text("chunk_sise: 400\n")
    with pytest.raises(SettingsError, match="chunk_sise"):
        load_settings(config_file=config, env_file=None)


def test_config_file_values_are_used(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text("chunk_size: 400\nk: 2\n")
    s = load_settings(config_file=config, env_file=None)
    assert (s.chunk_size, s.k, s.chunk_overlap) == (400, 2, 50)


def test_default_config_file_documents_every_key_it_sets() -> None:
    text = DEFAULT_CONFIG_FILE.read_text()
    for line in text.splitlines():
        if line and not line.startswith("#") and ":" in line:
            assert "#" in line, f"undocumented setting: {line}"
