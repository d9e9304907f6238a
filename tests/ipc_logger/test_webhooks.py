from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stalwart.core import Record
from stalwart.ipc_logger import (
    DiscordLogHandler,
    LoggerConfig,
    LogHandler,
    MasterLogger,
    RateLimit,
    RecordFormatter,
    SlackLogHandler,
    TelegramLogHandler,
    WebhookError,
    WorkerLogger,
    split_message,
)

_PLAIN = RecordFormatter("%(message)s")


@dataclass
class _Server:
    url: str
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # Scripted answers (status, headers, body), used in order; then 200 "{}".
    answers: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def bodies(self) -> list[dict[str, Any]]:
        return [body for _, body in self.requests]


@pytest.fixture
def server() -> Iterator[_Server]:
    state = _Server(url="")
    state.release.set()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            state.release.wait(60)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                state.requests.append((self.path, body))
                status, headers, payload = state.answers.pop(0) if state.answers else (200, {}, b"{}")
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    state.release.set()
    httpd.shutdown()
    httpd.server_close()


def _records(count: int, size: int = 10, level: int = 40) -> list[Record]:
    return [
        Record(ts_ns=0, level=level, logger="app", message=f"{i:05d}" + "x" * (size - 5))
        for i in range(count)
    ]


def test_discord_posts_content_to_the_webhook_url(server: _Server) -> None:
    handler = DiscordLogHandler(f"{server.url}/api/webhooks/1/secret", formatter=_PLAIN)
    handler.push(_records(2))
    handler.close()
    assert [("/api/webhooks/1/secret", {"content": "00000xxxxx\n00001xxxxx"})] == server.requests
    assert (1, 2, 0) == (handler.stats().posted, handler.stats().records, handler.stats().failed)


def test_slack_posts_text(server: _Server) -> None:
    handler = SlackLogHandler(f"{server.url}/services/T/B/secret", formatter=_PLAIN)
    handler.push(_records(1))
    handler.close()
    assert [("/services/T/B/secret", {"text": "00000xxxxx"})] == server.requests


def test_telegram_sends_message_to_the_chat_through_the_bot_api(server: _Server) -> None:
    handler = TelegramLogHandler("123:ABC", chat_id=-42, api_base=server.url, formatter=_PLAIN)
    handler.push(_records(1))
    handler.close()
    expected = {"chat_id": -42, "text": "00000xxxxx", "disable_web_page_preview": True}
    assert [("/bot123:ABC/sendMessage", expected)] == server.requests


def test_messages_over_the_service_limit_are_chunked_in_order(server: _Server) -> None:
    handler = DiscordLogHandler(server.url, formatter=_PLAIN, rate_limit=(100, 1.0))
    records = _records(50, size=100)
    handler.push(records)
    handler.close()
    contents = [body["content"] for body in server.bodies()]
    assert len(contents) >= 3
    assert all(len(content) <= 2000 for content in contents)
    assert [r.message for r in records] == "\n".join(contents).split("\n")
    assert 50 == handler.stats().records


def test_records_below_the_handler_level_are_not_posted(server: _Server) -> None:
    handler = SlackLogHandler(server.url, formatter=_PLAIN)  # default level: WARNING
    assert 30 == handler.level


def test_429_is_retried_after_retry_after_and_500_with_backoff(server: _Server) -> None:
    server.answers = [
        (429, {"Retry-After": "0.05"}, b""),
        (429, {}, b'{"retry_after": 0.05}'),  # Discord puts it in the body
        (500, {}, b"oops"),
    ]
    handler = DiscordLogHandler(server.url, formatter=_PLAIN, backoff_s=0.01, rate_limit=(100, 1.0))
    handler.push(_records(1))
    handler.close()
    assert 4 == len(server.requests)
    assert (1, 3, 0) == (handler.stats().posted, handler.stats().retries, handler.stats().failed)


def test_client_errors_are_not_retried_and_count_as_failed(
    server: _Server, caplog: pytest.LogCaptureFixture
) -> None:
    server.answers = [(400, {}, b'{"message": "bad"}')]
    handler = SlackLogHandler(server.url, formatter=_PLAIN)
    handler.push(_records(3))
    handler.close()
    assert 1 == len(server.requests)
    assert (0, 3) == (handler.stats().posted, handler.stats().failed)
    assert any("HTTP 400" in r.getMessage() for r in caplog.records)


def test_retries_give_up_after_max_retries(server: _Server) -> None:
    server.answers = [(503, {}, b"")] * 3
    handler = SlackLogHandler(
        server.url, formatter=_PLAIN, max_retries=2, backoff_s=0.01, rate_limit=(100, 1.0)
    )
    handler.push(_records(2))
    handler.close()
    assert 3 == len(server.requests)
    assert (0, 2, 2) == (handler.stats().posted, handler.stats().failed, handler.stats().retries)


def test_rate_limit_makes_later_messages_wait(server: _Server) -> None:
    handler = DiscordLogHandler(server.url, formatter=_PLAIN, rate_limit=(1, 0.5), max_chars=25)
    handler.push(_records(6))  # 6 x 10 chars -> 3 messages of 2 lines
    handler.close()
    assert 3 == len(server.requests)
    assert handler.stats().throttled >= 2


def test_rate_limit_token_bucket_with_a_fake_clock() -> None:
    now = [100.0]
    limit = RateLimit(2, 1.0, clock=lambda: now[0])
    assert 0.0 == limit.delay()
    limit.take()
    limit.take()
    assert 0.5 == pytest.approx(limit.delay())
    now[0] += 0.5
    assert 0.0 == limit.delay()
    limit.block_for(3.0)
    assert 3.0 == pytest.approx(limit.delay())


class _Collecting(LogHandler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[Record] = []
        self.got_all = threading.Event()

    def push(self, records: Sequence[Record]) -> None:
        self.records.extend(records)
        if sum(r.logger == "w" for r in self.records) == 20:
            self.got_all.set()


def test_a_stuck_webhook_never_blocks_the_master_or_other_handlers(server: _Server, ipc_path: str) -> None:
    server.release.clear()  # the service hangs until we let it answer
    config = LoggerConfig(path=ipc_path, max_batch=2)
    webhook = SlackLogHandler(server.url, level=20, rate_limit=(100, 1.0))
    collecting = _Collecting()
    with MasterLogger(config, [webhook, collecting]), WorkerLogger(config, "w") as worker:
        for index in range(20):
            worker.info(f"m{index}")
        assert collecting.got_all.wait(60)
        server.release.set()
    posted = "\n".join(body["text"] for body in server.bodies()).split("\n")
    assert [f"m{i}" for i in range(20)] == [
        line.rsplit(" - ", 1)[1] for line in posted if "[INFO] w - " in line
    ]
    assert 0 == webhook.stats().failed


def test_bad_urls_and_tokens_raise_webhook_error_without_leaking_secrets() -> None:
    with pytest.raises(WebhookError, match="http"):
        DiscordLogHandler("ftp://example.com/secret-path")
    with pytest.raises(WebhookError, match="bot token"):
        TelegramLogHandler("", chat_id=1)
    assert "secret" not in repr(SlackLogHandler("https://hooks.slack.com/services/secret"))
    assert "TOKEN" not in repr(TelegramLogHandler("1:TOKEN", chat_id=5))


@given(text=st.text(alphabet="ab\n", max_size=200), limit=st.integers(min_value=1, max_value=30))
def test_split_message_respects_the_limit_and_keeps_every_character(text: str, limit: int) -> None:
    pieces = split_message(text, limit)
    assert all(0 < len(piece) <= limit for piece in pieces)
    assert text.replace("\n", "") == "".join(pieces).replace("\n", "")
