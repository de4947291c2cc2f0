"""The `scopes` setting (DOCBOT_SCOPES): folder -> channels, from the environment (two forms) or YAML."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from config.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    "value",
    ["hr/=C1,C2;sales/=C3", " hr = C1 , C2 ; ./sales/ = C3 ", '{"hr": ["C1", "C2"], "/sales/": "C3"}'],
)
def test_env_forms(value: str, make_settings: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    make_settings()  # clears the caller's DOCBOT_ variables
    monkeypatch.setenv("DOCBOT_SCOPES", value)
    assert load_settings(env_file=None).scopes == {"hr/": ["C1", "C2"], "sales/": ["C3"]}


def test_default_is_no_scopes(make_settings: Callable[..., Any]) -> None:
    assert make_settings().scopes == {}


def test_yaml(tmp_path: Path, make_settings: Callable[..., Any]) -> None:
    make_settings()
    config = tmp_path / "config.yml"
    config.write_text('scopes:\n  "hr/payroll": [C0EXEC]\n  legal: "C0LAW, C0EXEC"\n')
    assert load_settings(config, env_file=None).scopes == {
        "hr/payroll/": ["C0EXEC"],
        "legal/": ["C0LAW", "C0EXEC"],
    }


@pytest.mark.parametrize(
    ("value", "why"),
    [("hr", "expected folder=channel"), ("=C1", "a scope needs a folder"), ("{oops", "double quotes")],
)
def test_bad_values_name_the_key(
    value: str, why: str, make_settings: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    make_settings()
    monkeypatch.setenv("DOCBOT_SCOPES", value)
    with pytest.raises(SettingsError) as caught:
        load_settings(env_file=None)
    assert "DOCBOT_SCOPES (config key 'scopes')" in str(caught.value) and why in str(caught.value)
