"""Logging for every docbot command: the level, text or JSON lines on stderr, quiet third-party loggers."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import time
from collections.abc import Iterator
from typing import Any, Literal, TextIO

LogLevel = Literal["auto", "DEBUG", "INFO", "WARNING"]
LogFormat = Literal["text", "json"]

# Commands that run for a long time under a process manager: their log is how anyone knows what they do.
SERVICE_COMMANDS = frozenset({"run"})
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Loggers that say too much at INFO for a service log: pypdf reports every harmless quirk of real-world
# PDFs as a warning; APScheduler says "Running job" and "executed successfully" every few minutes.
_QUIETER = {"pypdf": logging.ERROR, "apscheduler": logging.WARNING, "faiss.loader": logging.WARNING}
# key=value pairs in a message, the value bare, 'single' or "double" quoted (as %r writes it).
_PAIR = re.compile(r"""(?<![\w.])([a-z_][a-z0-9_]*)=('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s,;]+)""")
_NUMBER = re.compile(r"(-?\d+(?:\.\d+)?)s?")
_RESERVED = frozenset({"time", "level", "logger", "message", "thread", "exception"})


def resolve_level(setting: LogLevel, verbosity: int, command: str) -> int:
    """The level for a command: the setting (auto = INFO for `run`, else WARNING), raised by -v / -vv."""
    if setting == "auto":
        level = logging.INFO if command in SERVICE_COMMANDS else logging.WARNING
    else:
        level = logging.getLevelNamesMapping()[setting]
    if verbosity >= 2:
        return logging.DEBUG
    if verbosity == 1:
        return min(level, logging.INFO)
    return level


@contextlib.contextmanager
def logging_to_stderr(level: int, log_format: LogFormat = "text") -> Iterator[None]:
    """Send records at `level` and above to stderr, as text lines or one JSON object per line, while the
    block runs; then put the logging configuration back (main() may run inside another program)."""
    root = logging.getLogger()
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    quieted = {name: logging.getLogger(name) for name in _QUIETER}
    saved = root.level, {name: logger.level for name, logger in quieted.items()}
    root.addHandler(handler)
    root.setLevel(level)
    if log_format == "json":  # a Python warning printed as plain text would break a line-per-object log
        logging.captureWarnings(True)
    for name, quieter in _QUIETER.items():
        quieted[name].setLevel(logging.NOTSET if level <= logging.DEBUG else max(level, quieter))
    try:
        yield
    finally:
        if log_format == "json":
            logging.captureWarnings(False)
        root.removeHandler(handler)
        root.setLevel(saved[0])
        for name, old_level in saved[1].items():
            quieted[name].setLevel(old_level)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record comes (it may be swapped, e.g. by a test)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


class TextFormatter(logging.Formatter):
    """`2026-12-07T16:15:20.123Z INFO bot.engine: event key=value ...`, times in UTC."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return utc_time(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, thread, the message's key=value pairs
    as fields of their own (numbers as numbers), and the traceback as `exception`."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        data: dict[str, Any] = {
            "time": utc_time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
            "thread": record.threadName,
        }
        for key, value in message_fields(message).items():
            if key not in _RESERVED:
                data.setdefault(key, value)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["exception"] = record.exc_text
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def utc_time(record: logging.LogRecord) -> str:
    """The record's time as ISO 8601 UTC with milliseconds."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{stamp}.{int(record.msecs):03d}Z"


def message_fields(message: str) -> dict[str, Any]:
    """The key=value pairs of a log message; quoted values unquoted, numbers and booleans typed."""
    return {key: _typed(value) for key, value in _PAIR.findall(message)}


def _typed(value: str) -> Any:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    if value in ("True", "False"):
        return value == "True"
    if value == "None":
        return None
    number = _NUMBER.fullmatch(value)
    if number:  # "12", "0.25", and seconds written as "1.5s"
        return float(number[1]) if "." in number[1] else int(number[1])
    return value
