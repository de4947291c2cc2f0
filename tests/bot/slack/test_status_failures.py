"""Status replies say why the last re-index failed: its failed files with their reasons, capped, shown
safely and scoped like the index's own failures (`/docbot status` and the word `status`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bot.queue import QuestionQueue
from bot.slack.context import BotContext
from bot.slack.help import MAX_FAILED_SHOWN
from bot.slack.listeners.question import current_status
from bot.worker import Worker
from tests.bot.answerers import ScriptedAnswerer
from vectorstore.status import FailedFile, IndexStatus

DISK_FULL = "error: OperationalError: database or disk is full"


@pytest.fixture
def context(make_settings: Callable[..., Any]) -> Iterator[Callable[..., BotContext]]:
    made: list[tuple[QuestionQueue, ThreadPoolExecutor]] = []

    def build(run_failures: list[FailedFile] | None, **overrides: Any) -> BotContext:
        settings = make_settings(**overrides)
        queue = QuestionQueue.beside_index(settings.index_dir, max_size=5, per_user_max=5)
        pool = ThreadPoolExecutor(1)
        made.append((queue, pool))
        worker = Worker(queue, ScriptedAnswerer(), deliveries=None)  # type: ignore[arg-type]  # never started
        index = IndexStatus(files=2, chunks=10, failed=[FailedFile("old.pdf", "empty file")])
        return BotContext(
            settings,
            queue,
            worker,
            replies=None,  # type: ignore[arg-type]
            notifier=pool,
            index_status=lambda: index,
            run_failures=None if run_failures is None else (lambda: run_failures),
        )

    yield build
    for queue, pool in made:
        pool.shutdown()
        queue.close()


def test_the_last_runs_failures_are_listed_with_their_reasons(context: Callable[..., BotContext]) -> None:
    text = current_status(context([FailedFile("pensions.pdf", DISK_FULL)]), "C1")
    assert "*Files that could not be indexed (2):*" in text
    assert f"• pensions.pdf: {DISK_FULL}" in text
    assert "• old.pdf: empty file" in text


def test_a_file_failing_again_is_listed_once_with_the_latest_reason(
    context: Callable[..., BotContext],
) -> None:
    text = current_status(context([FailedFile("old.pdf", DISK_FULL)]), "C1")
    assert "(1):*" in text and f"• old.pdf: {DISK_FULL}" in text and "empty file" not in text


def test_without_a_scheduler_only_the_index_failures_show(context: Callable[..., BotContext]) -> None:
    text = current_status(context(None), "C1")
    assert "(1):*" in text and "• old.pdf: empty file" in text


def test_the_list_is_capped_names_are_safe_and_scopes_apply(context: Callable[..., BotContext]) -> None:
    many = [FailedFile(f"sales/q{n:02d}.pdf", DISK_FULL) for n in range(15)]
    hostile = FailedFile("hr/pay\n*New (1):* <!channel>.pdf", DISK_FULL)
    ctx = context([hostile, *many], scopes="hr/=CHR;sales/=CSALES")
    sales = current_status(ctx, "CSALES")
    assert "hr/" not in sales
    assert "(16):*" in sales  # 15 from the run and old.pdf, outside every scope
    assert sales.count(f": {DISK_FULL}") == MAX_FAILED_SHOWN and "• … and 6 more" in sales
    hr = current_status(ctx, "CHR")
    assert "sales/" not in hr
    assert "• hr/pay\\n*New (1):* &lt;!channel&gt;.pdf" in hr  # one line, no ping, markup inert
