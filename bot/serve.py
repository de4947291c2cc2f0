"""`docbot run` and `docbot console`: check the setup in seconds, then load the models and serve.

`run` under a process manager (no terminal) with no Slack tokens is a broken deployment: it exits non-zero
with one line saying which tokens are missing and where to set them. Tokens are checked against Slack
(auth.test) and the health port is bound before any model loads, so a mistake costs seconds, not minutes.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from config.settings import Settings

if TYPE_CHECKING:
    from bot.engine import Engine
    from bot.health import HealthServer
    from ingest.cpu_gate import CpuGate
    from ingest.schedule import ReindexScheduler

logger = logging.getLogger(__name__)

EXIT_CONFIG = 2
EXIT_STARTUP = 1
TOKENS = ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN")


def missing_tokens(settings: Settings) -> list[str]:
    """The Slack token variables that are unset or blank."""
    values = (settings.slack_bot_token, settings.slack_app_token)
    return [name for name, value in zip(TOKENS, values, strict=True) if not _present(value)]


def _present(secret: SecretStr | None) -> bool:
    return secret is not None and bool(secret.get_secret_value().strip())


def no_tokens_reason(settings: Settings) -> str:
    """One line for a `run` that has no Slack tokens and no terminal to fall back on."""
    missing = missing_tokens(settings)
    names = " and ".join(missing)
    verb = "is" if len(missing) == 1 else "are"
    return (
        f"cannot run the Slack bot: {names} {verb} not set; put them in {Path.cwd() / '.env'} or the"
        " environment (README: 'Connect to Slack'), or use `docbot console` for a local chat"
    )


def no_slack_message(settings: Settings) -> str:
    """What `run` on a terminal without Slack tokens says before it opens the console."""
    return (
        f"Slack is not configured: {' and '.join(missing_tokens(settings))} not set. To answer in Slack,"
        " create the app from slack/manifest.yml (README: 'Connect to Slack') and put both tokens in .env."
        " Starting the local console chat instead (`docbot console` starts it directly)."
    )


def run_command(settings: Settings, *, interactive: bool, console_log_level: int | None = None) -> int:
    """`docbot run`: the Slack bot; without any token, the console on a terminal (logging at
    `console_log_level` from then on), else exit 2."""
    if len(missing_tokens(settings)) == len(TOKENS):
        if not interactive:
            print(f"docbot: {no_tokens_reason(settings)}", file=sys.stderr)
            return EXIT_CONFIG
        print(no_slack_message(settings), file=sys.stderr)
        if console_log_level is not None:
            logging.getLogger().setLevel(console_log_level)
        return console_command(settings)
    return _run_slack(settings)


def console_command(settings: Settings) -> int:
    """`docbot console`: the local chat over the same chain, re-indexing in the background."""
    from bot.console import run_console

    engine, gate, reindex = _start(settings, mode="console")
    try:
        return run_console(engine, reindex=reindex, cpu_gate=_answer_gate(settings, gate))
    finally:
        reindex.stop()
        engine.close()


def _run_slack(settings: Settings) -> int:
    from bot.slack.app import api_url, shown_url
    from bot.slack.runner import SlackStartupError, check_tokens

    started = time.perf_counter()
    logger.info("checking slack tokens api=%s", shown_url(api_url(settings)))
    try:
        bot_user = check_tokens(settings)
    except SlackStartupError as exc:
        print(f"docbot: {exc}", file=sys.stderr)
        return exc.exit_code
    logger.info("slack tokens valid bot_user=%s seconds=%.2f", bot_user, time.perf_counter() - started)
    health = None
    if settings.health_port:
        try:
            health = open_health_server(settings.health_port)
        except OSError as exc:
            from bot.health import health_port_problem

            print(f"docbot: {health_port_problem(settings.health_port, exc)}", file=sys.stderr)
            return EXIT_STARTUP
    try:
        return _serve_slack(settings, bot_user, health)
    finally:
        if health is not None:
            health.close()


def open_health_server(port: int) -> HealthServer:
    """The /healthz server, saying "starting" until the bot is up; raises OSError when the port is taken."""
    from bot.health import HealthServer, starting_probe

    return HealthServer(port, starting_probe(time.monotonic())).start()


def _serve_slack(settings: Settings, bot_user: str, health: HealthServer | None) -> int:
    from bot.slack.runner import run_slack

    engine, gate, reindex = _start(settings, mode="slack")
    try:
        return run_slack(
            settings,
            engine.qa,
            engine.status,
            cpu_gate=_answer_gate(settings, gate),
            reindex=reindex,
            bot_user=bot_user,
            health=health,
            documents=engine.store.document_sections,
        )
    finally:
        reindex.stop()
        engine.close()


def _answer_gate(settings: Settings, gate: CpuGate) -> CpuGate | None:
    """Answers hold the gate (re-indexing pauses) only when they are computed on this machine's CPU."""
    from bot.engine import answers_use_this_cpu

    return gate if answers_use_this_cpu(settings) else None


def _start(settings: Settings, *, mode: str) -> tuple[Engine, CpuGate, ReindexScheduler]:
    """Load the models and open the index, saying what was loaded and how long it took."""
    from bot.engine import open_engine
    from bot.reindex import build_reindexer
    from ingest.cpu_gate import CpuGate

    started = time.perf_counter()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    logger.info(
        "starting mode=%s data_dir=%s index_dir=%s", mode, settings.data_dir.resolve(), settings.index_dir
    )
    engine = open_engine(settings, load_llm=True)
    if engine.llm_not_ready:  # the bot still starts: the server may come up later
        print(f"docbot: {engine.llm_not_ready}", file=sys.stderr)
    gate = CpuGate()
    reindex = build_reindexer(engine, gate)
    status = engine.status()
    logger.info(
        "started mode=%s answers=%s files=%d chunks=%d seconds=%.1f",
        mode,
        engine.qa.mode,
        status.files,
        status.chunks,
        time.perf_counter() - started,
    )
    return engine, gate, reindex
