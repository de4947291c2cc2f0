"""The slack_bolt App: a WebClient that retries rate limits and dropped connections, and the listeners."""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.slack.context import BotContext
from bot.slack.listeners import register_all
from config.settings import Settings

logger = logging.getLogger(__name__)

CLIENT_TIMEOUT_SECONDS = 30


class _ClientTokenNotice(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment by itself and then warns, at every start, that the
    client's token (the same one) wins: a warning a healthy bot should not print."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("As you gave `client` as well")


_CLIENT_TOKEN_NOTICE = _ClientTokenNotice()


def api_url(settings: Settings) -> str:
    """The Web API base URL with the trailing slash the SDK expects."""
    url = settings.slack_api_url.strip()
    return url if url.endswith("/") else url + "/"


def shown_url(url: str) -> str:
    """The URL without any user:password part, for logs and messages."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def make_web_client(
    settings: Settings, token: str | None = None, *, rate_limit_retries: bool = True
) -> WebClient:
    """A WebClient for settings.slack_api_url retrying 429 (after Retry-After, unless
    `rate_limit_retries` is off), 5xx and lost connections."""
    if token is None:
        if settings.slack_bot_token is None:
            raise ValueError("SLACK_BOT_TOKEN is not set")
        token = settings.slack_bot_token.get_secret_value()
    handlers: list[RetryHandler] = [
        ConnectionErrorRetryHandler(max_retry_count=3),
        ServerErrorRetryHandler(max_retry_count=2),
    ]
    if rate_limit_retries:
        handlers.insert(1, RateLimitErrorRetryHandler(max_retry_count=5))
    return WebClient(
        token=token, base_url=api_url(settings), timeout=CLIENT_TIMEOUT_SECONDS, retry_handlers=handlers
    )


def create_app(
    settings: Settings,
    ctx: BotContext,
    *,
    client: WebClient | None = None,
    listener_executor: Executor | None = None,
) -> App:
    """The Bolt app with docbot's listeners.

    Listeners run before the acknowledgement (process_before_response): an event is acked only once its
    question is committed to the SQLite queue, so a crash before the commit leaves it unacknowledged and
    Slack sends it again. Listeners therefore only touch SQLite and hand their Slack calls to
    ctx.notifier, keeping acks far inside Slack's 3 s. Pair it with SocketModeHandler(concurrency=1) so
    questions enter the queue in the order the connection delivered them. The listener executor (one
    thread by default) only runs lazy listeners.
    """
    bolt_logger = logging.getLogger("slack_bolt.App")
    if _CLIENT_TOKEN_NOTICE not in bolt_logger.filters:
        bolt_logger.addFilter(_CLIENT_TOKEN_NOTICE)
    app = App(
        client=client or make_web_client(settings),
        listener_executor=listener_executor or ThreadPoolExecutor(1, thread_name_prefix="docbot-intake"),
        process_before_response=True,
        ignoring_self_events_enabled=True,
        raise_error_for_unhandled_request=False,
    )
    register_all(app, ctx)

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> None:
        error_id = uuid.uuid4().hex[:10]
        logger.error(
            "listener failed error_id=%s event_id=%s",
            error_id,
            body.get("event_id", ""),
            exc_info=(type(error), error, error.__traceback__),
        )

    return app
