"""The ``stalwart ipc`` command group: run a master, send a record, query a running master."""

from __future__ import annotations

import datetime
import json
import signal
import sys
import threading
from types import FrameType

import click
import msgspec
from stalwart.core import Level
from stalwart.ipc_logger._config import DEFAULT_FORMAT, LoggerConfig, default_path
from stalwart.ipc_logger._control import request_status
from stalwart.ipc_logger._errors import IPCLoggerError
from stalwart.ipc_logger._handlers import FileLogHandler, LogHandler, StreamLogHandler
from stalwart.ipc_logger._master import MasterLogger, MasterStats
from stalwart.ipc_logger._worker import WorkerLogger

__all__ = ["ipc"]

_LEVELS = click.Choice([level.name for level in Level], case_sensitive=False)
_PATH_HELP = "Endpoint: ipc://FILE or tcp://HOST:PORT (default: ipc:// in the per-user runtime dir)."


@click.group("ipc")
def ipc() -> None:
    """Run an IPC log master, send a record, query a running master."""


@ipc.command("master")
@click.option("--path", default=default_path, show_default="per-user runtime dir", help=_PATH_HELP)
@click.option("--file", "file", type=click.Path(dir_okay=False), help="Append records here (else stdout).")
@click.option("--json-lines", is_flag=True, help="Write the file as JSON Lines instead of text.")
@click.option("--level", type=_LEVELS, default="INFO", show_default=True, help="base_level.")
@click.option("--format", "str_format", default=DEFAULT_FORMAT, show_default=True, help="Text format.")
def master_command(path: str, file: str | None, json_lines: bool, level: str, str_format: str) -> None:
    """Run a master until Ctrl+C (or SIGTERM), then drain and print its stats."""
    try:
        config = LoggerConfig(path=path, base_level=Level[level.upper()], str_format=str_format)
        handler: LogHandler = (
            FileLogHandler(file, json_lines=json_lines) if file else StreamLogHandler(sys.stdout)
        )
        master = MasterLogger(config, [handler])
    except IPCLoggerError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"stalwart ipc master listening on {master.endpoint} (Ctrl+C to stop)", err=True)
    stop = threading.Event()

    def _on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous_int = signal.signal(signal.SIGINT, _on_signal)
    previous_term = signal.signal(signal.SIGTERM, _on_signal)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous_term)
        master.shutdown()
    stats = master.stats()
    click.echo(
        f"stopped: {stats.received} received, {stats.delivered} delivered, {stats.lost} lost, "
        f"{stats.dropped} dropped, {stats.bad_frames} bad frames",
        err=True,
    )


@ipc.command("send")
@click.option("--path", default=default_path, show_default="per-user runtime dir", help=_PATH_HELP)
@click.option("--level", type=_LEVELS, default="INFO", show_default=True)
@click.option("--name", default="cli", show_default=True, help="Worker name shown by the master.")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for the ack.")
@click.argument("message")
def send_command(path: str, level: str, name: str, timeout: float, message: str) -> None:
    """Send MESSAGE as one record and wait until the master acknowledges it."""
    try:
        worker = WorkerLogger(LoggerConfig(path=path, base_level=Level.TRACE), name)
        worker.log(Level[level.upper()], message)
        worker.shutdown(timeout_s=timeout)
    except IPCLoggerError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"sent 1 record to {path} (acknowledged)")


def _when(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S")


def _print_stats(stats: MasterStats) -> None:
    click.echo(
        f"received {stats.received}  delivered {stats.delivered}  filtered {stats.filtered}  "
        f"dropped {stats.dropped}  lost {stats.lost} ({stats.gaps} gaps)  "
        f"bad frames {stats.bad_frames}"
    )
    for handler, count in stats.handler_errors.items():
        click.echo(f"handler errors: {handler}: {count}")
    if not stats.workers:
        click.echo("no workers seen yet")
        return
    click.echo(
        f"{'WORKER':<24} {'PID':>7} {'HOST':<16} {'STATE':<7} {'RECEIVED':>9} "
        f"{'LOST':>5} {'DROPPED':>7}  LAST SEEN"
    )
    for w in stats.workers:
        click.echo(
            f"{w.name[:24]:<24} {w.pid:>7} {w.host[:16]:<16} {w.state:<7} {w.received:>9} "
            f"{w.lost:>5} {w.dropped:>7}  {_when(w.last_seen)}"
        )


@ipc.command("status")
@click.option("--path", default=default_path, show_default="per-user runtime dir", help=_PATH_HELP)
@click.option("--timeout", type=float, default=5.0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the stats as JSON.")
def status_command(path: str, timeout: float, as_json: bool) -> None:
    """Print the stats and worker table of the master serving --path."""
    try:
        stats = request_status(path, timeout_s=timeout)
    except IPCLoggerError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(msgspec.to_builtins(stats), indent=2))
    else:
        _print_stats(stats)
