"""Chat webhook handlers: Discord, Slack, Telegram.

HTTP happens in each handler's own thread, so a slow or rate-limited service
never holds up the master's receive thread or the other handlers. Records
that arrive while a handler waits for its rate limit are merged into the next
message; messages longer than the service allows are split on line breaks.
"""

from __future__ import annotations

import abc
import collections
import email.utils
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
from stalwart.core import Level, Record
from stalwart.ipc_logger._errors import WebhookError
from stalwart.ipc_logger._format import RecordFormatter
from stalwart.ipc_logger._handlers import LogHandler

__all__ = [
    "DiscordLogHandler",
    "RateLimit",
    "SlackLogHandler",
    "TelegramLogHandler",
    "WebhookHandler",
    "WebhookStats",
    "split_message",
]

_log = logging.getLogger("stalwart.ipc_logger.webhooks")
_REPORT_INTERVAL_S = 10.0


class RateLimit:
    """A token bucket: at most ``requests`` per ``per_s`` seconds, bursting up to ``requests``.

    Args:
        requests: Requests allowed per window (also the burst size).
        per_s: The window, in seconds.
        clock: Monotonic time source (injectable for tests).

    Raises:
        WebhookError: If ``requests`` < 1 or ``per_s`` <= 0.

    """

    def __init__(self, requests: int, per_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if requests < 1 or per_s <= 0:
            raise WebhookError((requests, per_s), "rate limit needs requests >= 1 and per_s > 0")
        self._capacity = float(requests)
        self._rate = requests / per_s
        self._clock = clock
        self._tokens = float(requests)
        self._stamp = clock()
        self._blocked_until = 0.0

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        return now

    def delay(self) -> float:
        """Seconds to wait before the next request may go (0 when it may go now)."""
        now = self._refill()
        wait = 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self._rate
        return max(wait, self._blocked_until - now)

    def take(self) -> None:
        """Spend one request (call when :meth:`delay` is 0)."""
        self._refill()
        self._tokens -= 1.0

    def block_for(self, seconds: float) -> None:
        """Allow nothing for ``seconds`` (the service said Retry-After)."""
        self._blocked_until = max(self._blocked_until, self._clock() + seconds)


def split_message(text: str, limit: int) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` characters, at line breaks when possible.

    Args:
        text: The message.
        limit: The service's maximum message length.

    Returns:
        The pieces, in order; joined with newlines they give back ``text``
        (lines longer than ``limit`` are cut into several pieces).

    """
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.split("\n"):
        if len(line) > limit:
            if current:
                pieces.append("\n".join(current))
                current, size = [], 0
            cut = len(line) - len(line) % limit or len(line) - limit
            pieces.extend(line[start : start + limit] for start in range(0, cut, limit))
            line = line[cut:]
            if not line:
                continue
        added = len(line) + (1 if current else 0)
        if current and size + added > limit:
            pieces.append("\n".join(current))
            current, size, added = [], 0, len(line)
        current.append(line)
        size += added
    if current:
        pieces.append("\n".join(current))
    return [piece for piece in pieces if piece]


class WebhookStats(msgspec.Struct, frozen=True):
    """A webhook handler's counters.

    Attributes:
        posted: Messages the service accepted.
        records: Records contained in accepted messages.
        failed: Records in messages given up on (non-retryable error or retries exhausted).
        dropped: Records dropped because the handler's queue was full.
        retries: Requests repeated after a 429, a 5xx or a connection error.
        throttled: Times a message waited for the rate limit.

    """

    posted: int
    records: int
    failed: int
    dropped: int
    retries: int
    throttled: int


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class WebhookHandler(LogHandler):
    """Base class: post formatted records to an HTTP JSON endpoint from a background thread.

    Subclasses say where (``webhook_url``), what (:meth:`payload`), and their
    service's limits (:attr:`default_max_chars`, :attr:`default_rate_limit`).
    Retries on 429, 5xx and connection errors with exponential backoff
    (``backoff_s`` doubling up to ``max_backoff_s``), honouring
    ``Retry-After`` (the header, or ``retry_after`` in the JSON body as
    Discord and Telegram send it). Other HTTP errors are not retried.

    Args:
        webhook_url: The endpoint (``http://`` or ``https://``); a secret,
            never shown in reprs or logs.
        max_chars: Maximum message length (default: the service's).
        level: Minimum level (default WARNING: chat is for what needs eyes).
        rate_limit: ``(requests, per_seconds)`` (default: the service's).
        max_retries: Attempts after the first before a message is given up.
        backoff_s: First retry delay.
        max_backoff_s: Cap on the retry delay.
        timeout_s: HTTP timeout per request.
        queue_limit: Records waiting to be posted before new ones are dropped (counted).
        formatter: Text formatter (``None``: the master's ``str_format``).

    Raises:
        WebhookError: If the URL or a limit is invalid.

    """

    #: The service's maximum message length, in characters.
    default_max_chars = 2000
    #: The service's rate limit as ``(requests, per_seconds)``.
    default_rate_limit: tuple[int, float] = (1, 1.0)

    def __init__(
        self,
        webhook_url: str,
        *,
        max_chars: int | None = None,
        level: int = Level.WARNING,
        rate_limit: tuple[int, float] | None = None,
        max_retries: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        timeout_s: float = 10.0,
        queue_limit: int = 10_000,
        formatter: RecordFormatter | None = None,
    ) -> None:
        super().__init__(level=level, formatter=formatter)
        max_chars = self.default_max_chars if max_chars is None else max_chars
        rate_limit = self.default_rate_limit if rate_limit is None else rate_limit
        parsed = urllib.parse.urlsplit(webhook_url) if isinstance(webhook_url, str) else None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise WebhookError(self._redact(webhook_url), "URL must be http(s)://host/...")
        if max_chars < 1 or max_retries < 0 or queue_limit < 1 or backoff_s < 0:
            raise WebhookError(
                (max_chars, max_retries, queue_limit, backoff_s),
                "max_chars and queue_limit must be >= 1, max_retries and backoff_s >= 0",
            )
        self._url = webhook_url
        self._max_chars = max_chars
        self._limit = RateLimit(*rate_limit)
        self._max_retries = max_retries
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._timeout_s = timeout_s
        self._queue_limit = queue_limit
        self._pending: collections.deque[str] = collections.deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._deadline = float("inf")
        self._thread: threading.Thread | None = None
        self._posted = self._records = self._failed = self._dropped = self._retries = self._throttled = 0
        self._next_report = 0.0

    @staticmethod
    def _redact(url: object) -> str:
        """Webhook URLs are secrets: show only scheme and host in errors and reprs."""
        if not isinstance(url, str):
            return repr(url)
        parts = urllib.parse.urlsplit(url)
        return f"{parts.scheme}://{parts.hostname or ''}/…"

    @abc.abstractmethod
    def payload(self, text: str) -> dict[str, Any]:
        """Return the JSON body that posts ``text``."""

    # -- the master's side -----------------------------------------------------------------------

    def push(self, records: Sequence[Record]) -> None:
        """Queue the batch for posting; returns at once."""
        fmt = self.format
        texts = [fmt(record) for record in records]
        with self._cond:
            if self._stop.is_set():
                self._dropped += len(texts)
                return
            room = self._queue_limit - len(self._pending)
            if room < len(texts):
                self._dropped += len(texts) - max(room, 0)
                texts = texts[: max(room, 0)]
            self._pending.extend(texts)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"stalwart-webhook-{type(self).__name__}", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def stats(self) -> WebhookStats:
        """Return this handler's counters (see :class:`WebhookStats`)."""
        with self._cond:
            return WebhookStats(
                posted=self._posted,
                records=self._records,
                failed=self._failed,
                dropped=self._dropped,
                retries=self._retries,
                throttled=self._throttled,
            )

    def close(self, timeout_s: float = 10.0) -> None:
        """Post what is queued (within ``timeout_s``), then stop the thread.

        Records still queued when the time is up are counted as failed and logged.
        """
        with self._cond:
            self._deadline = time.monotonic() + timeout_s
            self._stop.set()
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout_s + 1.0)
        with self._cond:
            left = len(self._pending)
            self._pending.clear()
            self._failed += left
        if left:
            _log.warning("%r: %d records not posted before close timed out", self, left)

    # -- the handler's thread --------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stop.is_set():
                    self._cond.wait()
                if not self._pending:
                    return
                texts = list(self._pending)
                self._pending.clear()
            pieces = split_message("\n".join(texts), self._max_chars)
            # Attribute records to pieces for the counters (a record may straddle two pieces).
            per_piece = max(1, len(texts) // max(1, len(pieces)))
            for index, piece in enumerate(pieces):
                count = per_piece if index < len(pieces) - 1 else len(texts) - per_piece * (len(pieces) - 1)
                self._deliver(piece, max(count, 0))

    def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds``, in slices so a close deadline cuts it short; False once past it."""
        end = time.monotonic() + seconds
        while (now := time.monotonic()) < end:
            if now >= self._deadline:
                return False
            time.sleep(min(0.05, end - now))
        return time.monotonic() < self._deadline

    def _deliver(self, text: str, records: int) -> None:
        body = json.dumps(self.payload(text)).encode("utf-8")
        attempt = 0
        while True:
            delay = self._limit.delay()
            if delay > 0:
                with self._cond:
                    self._throttled += 1
                if not self._wait(delay):
                    self._give_up(records, "close timeout while rate limited")
                    return
            self._limit.take()
            try:
                self._post(body)
            except _Retryable as exc:
                if attempt >= self._max_retries:
                    self._give_up(records, f"{exc} (after {attempt + 1} attempts)")
                    return
                backoff = min(self._max_backoff_s, self._backoff_s * 2**attempt)
                wait = max(backoff, exc.retry_after or 0.0)
                if exc.retry_after is not None:
                    self._limit.block_for(exc.retry_after)
                attempt += 1
                with self._cond:
                    self._retries += 1
                if not self._wait(wait):
                    self._give_up(records, f"{exc}; close timeout before retry")
                    return
                continue
            except urllib.error.HTTPError as exc:
                self._give_up(records, f"HTTP {exc.code} {exc.reason}")
                return
            with self._cond:
                self._posted += 1
                self._records += records
            return

    def _post(self, body: bytes) -> None:
        request = urllib.request.Request(
            self._url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "stalwart-ipc-logger"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 429 or exc.code >= 500:
                raise _Retryable(f"HTTP {exc.code}", _retry_after(exc)) from exc
            raise
        except (urllib.error.URLError, OSError) as exc:
            raise _Retryable(f"connection error: {exc}", None) from exc

    def _give_up(self, records: int, reason: str) -> None:
        with self._cond:
            self._failed += records
            failed = self._failed
        now = time.monotonic()
        if now >= self._next_report:
            self._next_report = now + _REPORT_INTERVAL_S
            _log.error(
                "%r: gave up on a message of %d records: %s (%d failed so far)",
                self,
                records,
                reason,
                failed,
            )

    def __repr__(self) -> str:
        """Show the class and the service host (never the secret path)."""
        return f"{type(self).__name__}({self._redact(self._url)})"


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    """Return the wait a service asked for: Retry-After (seconds or date) or a JSON body field."""
    header = exc.headers.get("Retry-After") if exc.headers is not None else None
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            when = email.utils.parsedate_to_datetime(header) if header else None
            if when is not None:
                return max(0.0, when.timestamp() - time.time())
    try:
        body = json.loads(exc.read() or b"null")
    except (ValueError, OSError):
        return None
    if isinstance(body, dict):
        value = body.get("retry_after")
        if value is None and isinstance(body.get("parameters"), dict):
            value = body["parameters"].get("retry_after")
        if isinstance(value, (int, float)):
            return max(0.0, float(value))
    return None


class DiscordLogHandler(WebhookHandler):
    """Post records to a Discord webhook (``{"content": text}``, 2000 characters per message).

    Default rate limit: 5 messages per 10 s (Discord allows 30 per minute per
    channel); a 429 is retried after the ``retry_after`` Discord sends. The
    URL is a secret: it never appears in reprs or logs. Options: see
    :class:`WebhookHandler`.
    """

    default_max_chars = 2000
    default_rate_limit = (5, 10.0)

    def payload(self, text: str) -> dict[str, Any]:
        """Discord's webhook body."""
        return {"content": text}


class SlackLogHandler(WebhookHandler):
    """Post records to a Slack incoming webhook (``{"text": text}``, 4000 characters per message).

    Default rate limit: 1 message per second (Slack's incoming-webhook
    limit). The URL is a secret: it never appears in reprs or logs. Options:
    see :class:`WebhookHandler`.
    """

    default_max_chars = 4000
    default_rate_limit = (1, 1.0)

    def payload(self, text: str) -> dict[str, Any]:
        """Slack's webhook body."""
        return {"text": text}


class TelegramLogHandler(WebhookHandler):
    """Send records to a Telegram chat through a bot (``sendMessage``, 4096 characters per message).

    Default rate limit: 1 message per second (Telegram's per-chat limit).

    Args:
        bot_token: The bot token (a secret: never shown in logs).
        chat_id: The chat to post to.
        api_base: The Bot API root (override for a local Bot API server or tests).
        **options: See :class:`WebhookHandler`.

    """

    default_max_chars = 4096
    default_rate_limit = (1, 1.0)

    def __init__(
        self,
        bot_token: str,
        chat_id: int | str,
        api_base: str = "https://api.telegram.org",
        **options: Any,
    ) -> None:
        if not isinstance(bot_token, str) or not bot_token or "/" in bot_token:
            raise WebhookError("<bot_token>", "bot token must be a non-empty string without '/'")
        self.chat_id = chat_id
        super().__init__(f"{api_base.rstrip('/')}/bot{bot_token}/sendMessage", **options)

    def payload(self, text: str) -> dict[str, Any]:
        """Telegram's ``sendMessage`` body."""
        return {"chat_id": self.chat_id, "text": text, "disable_web_page_preview": True}

    def __repr__(self) -> str:
        """Show the chat id and API host (never the token)."""
        return f"TelegramLogHandler(chat_id={self.chat_id!r}, {self._redact(self._url)})"
