"""Logging: the level per command and setting, -v anywhere, text and JSON lines, nothing left behind."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.cli import build_parser, main
from bot.logging_setup import logging_to_stderr, message_fields, resolve_level
from config.settings import SettingsError


@pytest.mark.parametrize(
    ("setting", "verbosity", "command", "expected"),
    [
        ("auto", 0, "run", logging.INFO),  # a service speaks by default
        ("auto", 0, "search", logging.WARNING),  # a one-shot command keeps stderr for problems
        ("auto", 1, "search", logging.INFO),
        ("auto", 2, "run", logging.DEBUG),
        ("WARNING", 0, "run", logging.WARNING),
        ("WARNING", 1, "run", logging.INFO),
        ("DEBUG", 0, "status", logging.DEBUG),
        ("INFO", 0, "ingest", logging.INFO),
    ],
)
def test_level_for_each_setting_command_and_verbosity(
    setting: Any, verbosity: int, command: str, expected: int
) -> None:
    assert resolve_level(setting, verbosity, command) == expected


def test_dash_v_is_accepted_before_and_after_the_subcommand() -> None:
    parser = build_parser()
    after = parser.parse_args(["run", "-v"])
    before = parser.parse_args(["-v", "run"])
    both = parser.parse_args(["-v", "search", "-v", "q"])
    assert after.verbose + after.verbose_after == 1
    assert before.verbose + before.verbose_after == 1
    assert both.verbose + both.verbose_after == 2 and both.question == "q"


def test_log_settings_accept_any_case_and_reject_unknown_values(make_settings: Callable[..., Any]) -> None:
    settings = make_settings(log_level="debug", log_format="JSON")
    assert (settings.log_level, settings.log_format, settings.health_port) == ("DEBUG", "json", 0)
    assert make_settings().log_level == "auto"
    with pytest.raises(SettingsError, match="DOCBOT_LOG_LEVEL"):
        make_settings(log_level="loud")
    with pytest.raises(SettingsError, match="DOCBOT_HEALTH_PORT"):
        make_settings(health_port=70000)


def _emit(level: int, log_format: Any, emit: Callable[[logging.Logger], None]) -> str:
    stderr = io.StringIO()
    saved = sys.stderr
    sys.stderr = stderr
    try:
        with logging_to_stderr(level, log_format):
            emit(logging.getLogger("docbot.test"))
    finally:
        sys.stderr = saved
    return stderr.getvalue()


def test_text_lines_carry_utc_time_level_logger_and_key_values() -> None:
    text = _emit(logging.INFO, "text", lambda log: log.info("index opened files=%d chunks=%d", 3, 41))
    line = text.strip()
    assert text.count("\n") == 1
    assert line.endswith("INFO docbot.test: index opened files=3 chunks=41")
    assert line[:24].endswith("Z") and line[4] == "-" and line[10] == "T"


def test_json_lines_are_one_object_per_record_with_typed_fields() -> None:
    def emit(log: logging.Logger) -> None:
        log.debug("not shown")
        log.info("started mode=%s chunks=%d seconds=%.1f reason=%r ok=%s", "slack", 41, 2.5, "no model", True)
        try:
            raise ValueError("boom\nsecond line")
        except ValueError:
            log.exception("answer failed job=%d", 7)

    lines = _emit(logging.INFO, "json", emit).splitlines()
    assert len(lines) == 2  # the traceback stays inside its record's line
    started, failed = (json.loads(line) for line in lines)
    assert started["level"] == "INFO" and started["logger"] == "docbot.test"
    assert started["message"].startswith("started mode=slack")
    assert (started["mode"], started["chunks"], started["seconds"]) == ("slack", 41, 2.5)
    assert started["reason"] == "no model" and started["ok"] is True
    assert started["time"].endswith("Z")
    assert failed["level"] == "ERROR" and failed["job"] == 7
    assert "ValueError: boom" in failed["exception"]


def test_message_fields_leave_prose_alone() -> None:
    fields = message_fields("answered job=3 queued_for=1.5s path=/srv/x.pdf, then done")
    assert fields == {"job": 3, "queued_for": 1.5, "path": "/srv/x.pdf"}


def test_noisy_libraries_are_quieted_at_info_and_everything_is_put_back() -> None:
    root = logging.getLogger()
    before = (root.level, list(root.handlers), logging.getLogger("apscheduler").level)

    def emit(_: logging.Logger) -> None:
        logging.getLogger("apscheduler.executors.default").info("Running job")
        logging.getLogger("pypdf").warning("odd xref")
        logging.getLogger("bot.worker").info("worker started")

    text = _emit(logging.INFO, "text", emit)
    assert "worker started" in text and "Running job" not in text and "odd xref" not in text
    assert (root.level, list(root.handlers), logging.getLogger("apscheduler").level) == before


def test_main_logs_to_stderr_at_the_configured_level(
    make_settings: Callable[..., Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_settings()  # clears DOCBOT_* and SLACK_* from the environment
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOCBOT_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("DOCBOT_LOG_FORMAT", "json")
    monkeypatch.setattr("bot.cli.cmd_status", lambda settings, args: _log_and_return())
    assert main(["status", "-v"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [r["message"] for r in records] == ["status checked files=0"]
    assert records[0]["files"] == 0


def _log_and_return() -> int:
    logging.getLogger("bot.cli").info("status checked files=%d", 0)
    logging.getLogger("bot.cli").debug("not at -v")
    return 0


def test_a_proxy_password_in_the_api_url_is_not_logged() -> None:
    from bot.slack.app import shown_url

    assert shown_url("https://bot:s3cret@proxy.example/api/") == "https://***@proxy.example/api/"
    assert shown_url("https://slack.com/api/") == "https://slack.com/api/"
