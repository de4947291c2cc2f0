"""`python -m bot run` (the Procfile's process) as a real subprocess against the loopback fake Slack."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO

from devtools.fake_slack import FakeSlack
from ingest.schedule import ScheduleState, read_state

REPO = Path(__file__).resolve().parents[1]


def bot_env(fake: FakeSlack, root: Path, **settings: str) -> dict[str, str]:
    """Environment for a bot on `root`/data and `root`/index talking to `fake`; DOCBOT_* overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCBOT_", "SLACK_"))}
    env |= {
        "PYTHONPATH": str(REPO),
        "DOCBOT_DATA_DIR": str(root / "data"),
        "DOCBOT_INDEX_DIR": str(root / "index"),
        "DOCBOT_MODEL_PATH": str(root / "no-model.gguf"),
        "DOCBOT_SETTLE_SECONDS": "0",
        "SLACK_BOT_TOKEN": fake.bot_token,
        "SLACK_APP_TOKEN": fake.app_token,
        "SLACK_API_URL": fake.api_url,
    }
    env |= {f"DOCBOT_{name.upper()}": value for name, value in settings.items()}
    return env


class BotProcess:
    """One run of the bot process; its stderr (the log) goes to `log`; `verbosity` None = no -v flag."""

    def __init__(
        self,
        fake: FakeSlack,
        env: dict[str, str],
        log: Path,
        *,
        cwd: Path,
        verbosity: str | None = "-v",
        preexec: Callable[[], None] | None = None,
    ) -> None:
        self.fake = fake
        self.log = log
        self.index_dir = Path(env["DOCBOT_INDEX_DIR"])
        self._out: IO[str] = log.open("a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", *([verbosity] if verbosity else []), "run"],
            env=env,
            cwd=cwd,
            stdout=self._out,
            stderr=self._out,
            preexec_fn=preexec,
        )

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_connected(self, opened_before: int, timeout: float = 120) -> None:
        """Wait until this process opened a Socket Mode connection (or died: then fail with its log)."""
        self.fake.wait_for(
            lambda f: (
                (f.connections_opened > opened_before and f.connection_count > 0)
                or self.proc.poll() is not None
            ),
            timeout,
        )
        assert self.proc.poll() is None, self.log_text()
        self.fake.wait_connected()

    def state(self) -> ScheduleState | None:
        return read_state(self.index_dir)

    def wait_runs(self, predicate: Callable[[ScheduleState], bool], timeout: float = 120) -> ScheduleState:
        """Wait for a re-index state (reindex.json) that satisfies `predicate`."""

        def ok(_: FakeSlack) -> bool:
            state = self.state()
            return (state is not None and predicate(state)) or self.proc.poll() is not None

        self.fake.wait_for(ok, timeout)
        assert self.proc.poll() is None, self.log_text()
        state = self.state()
        assert state is not None
        return state

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, like the process manager; returns the exit code."""
        try:
            self.fake.hang_up()  # reset the socket so the builtin client's close() returns at once
            self.proc.send_signal(signal.SIGTERM)
            return self.proc.wait(timeout)
        finally:
            self.fake.accept_connections()
            self.close()

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        self._out.close()
