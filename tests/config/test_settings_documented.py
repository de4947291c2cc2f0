"""Every setting has a line in config/config.yml (the Slack secrets and URL live in .env instead)."""

from __future__ import annotations

import yaml

from config.settings import DEFAULT_CONFIG_FILE, Settings

FROM_ENV_ONLY = {"slack_bot_token", "slack_app_token", "slack_api_url"}


def test_every_setting_is_in_config_yml_with_its_default() -> None:
    listed = yaml.safe_load(DEFAULT_CONFIG_FILE.read_text(encoding="utf-8"))
    assert sorted(set(Settings.model_fields) - set(listed) - FROM_ENV_ONLY) == []
    assert (listed["log_level"], listed["log_format"], listed["health_port"]) == ("auto", "text", 0)
