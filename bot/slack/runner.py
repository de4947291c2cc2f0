"""Run the Slack bot: check both tokens, start queue, worker and Socket Mode; stop cleanly on SIGTERM."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from types import FrameType

from slack_bolt.adapter.socket_mode.builtin import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.answer import Answerer
from bot.empty_index import empty_index_message
from bot.feedback import FeedbackStore
from bot.health import BotVitals, HealthServer, health_port_problem, health_report
from bot.queue import QuestionQueue
from bot.slack.app import api_url, create_app, make_web_client, shown_url
from bot.slack.context import BotContext, ScheduleStatus
from bot.slack.delivery import DeliveryOptions, SlackDeliveries
from bot.slack.notices import ChangeNotifier
from bot.slack.render import feedback_blocks, no_final_blocks
from bot.slack.status import StatusBoard, StatusLine, queued_lines
from bot.slack.suggestions import SectionsFn, SuggestedPrompts
from bot.slack.thread import ThreadReplies, slack_error
from bot.worker import Worker
from config.settings import Settings, environment_value
from ingest.cpu_gate import CpuGate
from ingest.schedule import ReindexScheduler
from vectorstore.scopes import FolderScopes
from vectorstore.status import IndexStatus

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_STARTUP = 1
EXIT_TOKEN = 2
NOTIFIER_THREADS = 4
# The builtin client pings this often and reconnects after 5 failed pings; its default (10 s) leaves a
# silently dropped connection deaf for about a minute.
PING_INTERVAL_SECONDS = 3.0
MANIFEST_HINT = "create the Slack app from slack/manifest.yml (see the README)"
_REJECTED = {
    "invalid_auth": "is not valid",
    "not_authed": "is empty",
    "token_revoked": "has been revoked",
    "token_expired": "has expired",
    "account_inactive": "belongs to a deactivated app or workspace",
    "not_allowed_token_type": "is the wrong kind of token",
    "missing_scope": "lacks a required scope",
}


class SlackStartupError(Exception):
    """A one-line reason the bot cannot connect (which token failed, or Slack unreachable)."""

    def __init__(self, message: str, exit_code: int = EXIT_TOKEN) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _token(settings: Settings, name: str) -> str:
    secret = getattr(settings, name.lower())
    if secret is None or not secret.get_secret_value().strip():
        raise SlackStartupError(f"{name} is not set; {MANIFEST_HINT}")
    return str(secret.get_secret_value()).strip()


def _check_prefix(name: str, token: str, prefix: str) -> None:
    if not token.startswith(prefix):
        shown = token[:5] + "…"
        raise SlackStartupError(f"{name} must start with {prefix} (got {shown}); are the two tokens swapped?")


def _rejected(name: str, exc: SlackApiError, url: str) -> SlackStartupError:
    error = slack_error(exc)
    status = int(exc.response.status_code or 0)
    if error in _REJECTED or status in (401, 403):
        reason = _REJECTED.get(error, "was refused")
        return SlackStartupError(f"{name} {reason} (Slack said {error} at {url})")
    return SlackStartupError(f"Slack at {url} failed while checking {name}: {error}", EXIT_STARTUP)


def _startup_retries() -> list[RetryHandler]:
    return [ConnectionErrorRetryHandler(max_retry_count=1), RateLimitErrorRetryHandler(max_retry_count=2)]


def check_tokens(settings: Settings) -> str:
    """Verify the bot token (auth.test) and app token (apps.connections.open); returns the bot's user id."""
    bot_token = _token(settings, "SLACK_BOT_TOKEN")
    app_token = _token(settings, "SLACK_APP_TOKEN")
    _check_prefix("SLACK_BOT_TOKEN", bot_token, "xoxb-")
    _check_prefix("SLACK_APP_TOKEN", app_token, "xapp-")
    url = api_url(settings)
    shown = shown_url(url)
    for name in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET"):
        if environment_value(name):
            raise SlackStartupError(f"unset {name}: it switches slack_bolt to OAuth mode", EXIT_STARTUP)
    try:
        auth = WebClient(
            token=bot_token, base_url=url, timeout=30, retry_handlers=_startup_retries()
        ).auth_test()
    except SlackApiError as exc:
        raise _rejected("SLACK_BOT_TOKEN", exc, shown) from exc
    except OSError as exc:
        raise SlackStartupError(f"cannot reach Slack at {shown}: {exc}", EXIT_STARTUP) from exc
    try:
        client = WebClient(token=app_token, base_url=url, timeout=30, retry_handlers=_startup_retries())
        client.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        raise _rejected("SLACK_APP_TOKEN", exc, shown) from exc
    except OSError as exc:
        raise SlackStartupError(f"cannot reach Slack at {shown}: {exc}", EXIT_STARTUP) from exc
    return str(auth.get("user_id", ""))


@contextmanager
def _signals_set(stop: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT set `stop` (only the main thread may install handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: FrameType | None) -> None:
        logger.info("signal received signal=%s; stopping", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _close_socket_mode(handler: SocketModeHandler) -> None:
    """Stop receiving events; wakes the builtin client's message processor so close() does not wait on it."""
    client = handler.client
    client.closed = True
    client.message_queue.put(None)  # the processor skips None and sees `closed`
    handler.close()


def run_slack(
    settings: Settings,
    answerer: Answerer,
    index_status: Callable[[], IndexStatus],
    *,
    schedule_status: ScheduleStatus | None = None,
    stop_event: threading.Event | None = None,
    cpu_gate: CpuGate | None = None,
    reindex: ReindexScheduler | None = None,
    documents: SectionsFn | None = None,
    bot_user: str | None = None,
    health: HealthServer | None = None,
) -> int:
    """Connect to Slack in Socket Mode and answer questions until SIGTERM/SIGINT or `stop_event`.

    With `reindex`, the scheduler is started once the tokens check out, its notices go to the notify
    channel (when set), and it is stopped first on the way out. The worker holds `cpu_gate` (if any) for
    each answer. With `documents` (the index's sections per file), opening the bot's Messages tab shows a
    suggested question per document, rebuilt after each re-index that changed the index. Votes on answers
    go to feedback.sqlite3 beside the queue. `bot_user` means the caller has checked the tokens already.
    /healthz is served from `health`, or from a server of its own on settings.health_port. Returns 0 after
    a clean stop, 2 when a token is missing or rejected, 1 when Slack cannot be reached or the health port
    cannot be used.
    """
    stop = stop_event or threading.Event()
    if bot_user is None:
        try:
            bot_user = check_tokens(settings)
        except SlackStartupError as exc:
            print(f"docbot: {exc}", file=sys.stderr)
            logger.error("slack startup failed reason=%s", exc)
            return exc.exit_code
    own_health = None
    if health is None and settings.health_port:
        try:
            health = own_health = HealthServer(settings.health_port, lambda: {"healthy": False}).start()
        except OSError as exc:
            print(f"docbot: {health_port_problem(settings.health_port, exc)}", file=sys.stderr)
            return EXIT_STARTUP
    queue = QuestionQueue.beside_index(
        settings.index_dir, max_size=settings.queue_max, per_user_max=settings.queue_per_user_max
    )
    feedback = FeedbackStore.beside_index(settings.index_dir, model=settings.model_path.name, prune=True)
    suggestions = SuggestedPrompts(documents) if documents is not None else None
    client = make_web_client(settings)
    replies = ThreadReplies(client)
    try:
        replies.team_id()  # asked now, not in the first answer's way
    except Exception as exc:
        logger.warning("team id unknown error=%s", slack_error(exc))
    scopes = FolderScopes.from_mapping(settings.scopes) if settings.scopes else None
    waiting: list[Worker] = []  # the board asks the worker for estimates; both need the other

    def queued() -> list[StatusLine]:
        return queued_lines(queue, waiting[0].estimate_seconds) if waiting else []

    status = StatusBoard(
        make_web_client(settings, rate_limit_retries=False),
        refresh_seconds=settings.status_refresh_seconds,
        waiting=queued,
        enabled=settings.thread_status,
    )
    deliveries = SlackDeliveries(
        replies,
        settings.reply_delivery,
        DeliveryOptions(
            docs_base_url=settings.docs_base_url,
            freshness=lambda: index_status().freshness(),
            update_interval=settings.stream_update_seconds,
            stream_max_seconds=settings.stream_max_seconds,
            status=status,
            final_blocks=feedback_blocks if settings.feedback_buttons else no_final_blocks,
        ),
    )
    minutes = settings.reindex_minutes if reindex is not None else None

    def empty_index_note() -> str | None:
        """What to say instead of answering while no document is indexed (None: answer as usual)."""
        try:
            index = index_status()
        except Exception:
            logger.exception("index status failed")
            return None
        if index.chunks:
            return None
        return empty_index_message(
            settings.data_dir,
            "slack",
            reindex_minutes=minutes,
            failed=len(index.failed),
            indexing=reindex is not None and reindex.state().running_since is not None,
        )

    worker = Worker(
        queue,
        answerer,
        deliveries,
        cpu_gate=cpu_gate,
        scopes=scopes,
        on_taken=status.poke,
        feedback=feedback if settings.feedback_buttons else None,
        empty_index_note=empty_index_note,
    )
    waiting.append(worker)
    intake = ThreadPoolExecutor(1, thread_name_prefix="docbot-intake")
    notifier = ThreadPoolExecutor(NOTIFIER_THREADS, thread_name_prefix="docbot-notify")
    if reindex is not None and schedule_status is None:
        schedule_status = reindex.status
    run_failures = reindex.failures if reindex is not None else None
    ctx = BotContext(
        settings,
        queue,
        worker,
        replies,
        notifier,
        index_status,
        schedule_status,
        run_failures,
        feedback=feedback,
        suggestions=suggestions,
        status=status,
    )
    handler: SocketModeHandler | None = None
    started = time.monotonic()

    def vitals() -> dict[str, object]:
        current = worker.current()
        return health_report(
            BotVitals(
                slack_connected=handler is not None and handler.client.is_connected(),
                worker_alive=worker.is_alive(),
                queue_depth=queue.snapshot().pending,
                answering_for_seconds=current[1] if current is not None else None,
                stuck_after_seconds=stuck_after(settings),
                reindex=reindex.state() if reindex is not None else None,
                uptime_seconds=time.monotonic() - started,
            )
        )

    if health is not None:
        health.set_probe(vitals)
    try:
        with _signals_set(stop):
            app = create_app(settings, ctx, client=client, listener_executor=intake)
            worker.start()
            status.start()
            if reindex is not None:
                if settings.notify_channel:
                    visible = scopes.filter_for(settings.notify_channel) if scopes is not None else None
                    reindex.add_listener(ChangeNotifier(client, settings.notify_channel, visible))
                if suggestions is not None:
                    reindex.add_listener(suggestions.after_reindex)
                reindex.start()
            handler = SocketModeHandler(
                app, _token(settings, "SLACK_APP_TOKEN"), concurrency=1, ping_interval=PING_INTERVAL_SECONDS
            )
            handler.connect()
            logger.info("slack connected bot_user=%s api=%s", bot_user, shown_url(api_url(settings)))
            stop.wait()
            logger.info("stopping: no new events; finishing the current answer")
    except Exception as exc:
        print(f"docbot: could not start the Slack connection: {exc}", file=sys.stderr)
        logger.exception("slack run failed")
        return EXIT_STARTUP
    finally:
        if health is not None:
            health.set_probe(stopping_probe)
        if reindex is not None:
            reindex.stop()
        _shutdown(handler, intake, notifier, worker, queue, settings.shutdown_timeout_seconds)
        feedback.close()
        if own_health is not None:
            own_health.close()
        status.stop()
    return EXIT_OK


def stuck_after(settings: Settings) -> float:
    """Seconds after which an answer still running means a hung worker: the generation time limit stops
    answers, but prompt evaluation is not interruptible, so allow it twice over and a minute."""
    return settings.generation_timeout_seconds * 2 + 60


def stopping_probe() -> dict[str, object]:
    """The /healthz report while the bot shuts down."""
    return {"healthy": False, "status": "stopping", "problems": ["stopping"]}


def _shutdown(
    handler: SocketModeHandler | None,
    intake: ThreadPoolExecutor,
    notifier: ThreadPoolExecutor,
    worker: Worker,
    queue: QuestionQueue,
    timeout: float,
) -> None:
    if handler is not None:
        try:
            _close_socket_mode(handler)
        except Exception:
            logger.exception("closing the socket mode connection failed")
    intake.shutdown(wait=True)
    notifier.shutdown(wait=True)
    finished = worker.stop(timeout)
    queue.close()
    logger.info("stopped current_answer_finished=%s", finished)
