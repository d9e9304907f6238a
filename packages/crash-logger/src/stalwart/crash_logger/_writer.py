"""The log-writer process: reads frames from a pipe, writes and flushes each record to the file.

Run as ``python -m stalwart.crash_logger._writer`` by :func:`setup_logging`,
never imported by user code. It owns no write end of its input pipes, so end
of file on the record pipe means every writer is gone: the logging process
either shut down cleanly (it sent a shutdown frame first) or died. In the
second case the writer appends a CRITICAL "process N ended without
shutdown" line and exits; it never outlives its input.

A second pipe carries ``faulthandler`` output (native crash tracebacks). The
record pipe is always drained before that text is written, so records logged
before a crash come before its traceback in the file.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import select
import signal
import sys
import time
from collections.abc import Sequence

from stalwart.core import Record, RecordDecodeError, current_host, decode_batch
from stalwart.crash_logger._events import ENDED_WITHOUT_SHUTDOWN, LIFECYCLE_LOGGER, NATIVE_CRASH
from stalwart.crash_logger._format import format_record, format_timestamp
from stalwart.crash_logger._protocol import RECORDS, SHUTDOWN, FrameError, FrameReader

__all__ = ["LogWriter", "main"]

_READ_SIZE = 1 << 20
# After the record pipe closes, how long to wait for the rest of a native traceback.
_FAULT_DRAIN_SECONDS = 5.0


class LogWriter:
    """Turns frames into lines in the log file; one instance per writer process.

    Args:
        log_fd: Append-mode descriptor of the log file.
        watched_pid: Process id of the logging process, for the end-of-run line.
        fsync_every: ``fsync`` the file after at least this many records; ``None`` never
            (each record is still written to the OS, which survives a process crash).
    """

    def __init__(self, log_fd: int, watched_pid: int, fsync_every: int | None) -> None:
        """Set up an idle writer."""
        self._fd = log_fd
        self._watched_pid = watched_pid
        self._fsync_every = fsync_every
        self._reader = FrameReader()
        self._unsynced = 0
        self._in_native_text = False
        self._broken_stream = False
        self.records = 0
        self.shutdown_reason: str | None = None
        self.last_record_ns: int | None = None
        self.last_heartbeat_ns: int | None = None

    def _write(self, text: str) -> None:
        data = text.encode("utf-8", "backslashreplace")
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def _own_line(self, level: int, message: str) -> None:
        record = Record(
            ts_ns=time.time_ns(),
            level=level,
            logger=LIFECYCLE_LOGGER,
            message=message,
            kind="event",
            pid=os.getpid(),
            process="log-writer",
            thread_name="writer",
            host=current_host(),
        )
        self._write(format_record(record))
        self._in_native_text = False

    def _fsync(self) -> None:
        try:
            os.fsync(self._fd)
        except OSError as exc:
            # Some files (pipes, /dev/stdout) cannot be synced; that is not data loss.
            if exc.errno not in (errno.EINVAL, errno.EROFS, errno.ENOTSUP):
                raise
        self._unsynced = 0

    def feed_records(self, data: bytes) -> None:
        """Write every record completed by ``data``, in one write, then fsync if due."""
        if self._broken_stream:
            return
        try:
            frames = self._reader.feed(data)
        except FrameError as exc:
            self._broken_stream = True
            self._own_line(logging.CRITICAL, f"record stream corrupted, later records cannot be read: {exc}")
            return
        parts: list[str] = []
        count = 0
        for kind, payload in frames:
            if kind == SHUTDOWN:
                self.shutdown_reason = payload.decode("utf-8", "replace")
                continue
            if kind != RECORDS:
                continue
            try:
                records = decode_batch(payload)
            except RecordDecodeError as exc:
                parts.append(self._undecodable(exc))
                continue
            for record in records:
                parts.append(format_record(record))
                self.last_record_ns = record.ts_ns
                if record.kind == "heartbeat":
                    self.last_heartbeat_ns = record.ts_ns
            count += len(records)
        if parts:
            self._write("".join(parts))
            self._in_native_text = False
        self.records += count
        self._unsynced += count
        if self._fsync_every is not None and self._unsynced >= self._fsync_every:
            self._fsync()

    def _undecodable(self, exc: RecordDecodeError) -> str:
        return format_record(
            Record(
                ts_ns=time.time_ns(),
                level=logging.ERROR,
                logger=LIFECYCLE_LOGGER,
                message=f"undecodable record frame skipped: {exc}",
                pid=os.getpid(),
                process="log-writer",
                thread_name="writer",
            )
        )

    def feed_native(self, data: bytes) -> None:
        """Write raw ``faulthandler`` text, under a header line the first time in a burst."""
        if not self._in_native_text:
            self._own_line(logging.CRITICAL, f"{NATIVE_CRASH} from process {self._watched_pid}:")
            self._in_native_text = True
        self._write(data.decode("utf-8", "backslashreplace"))
        if self._fsync_every is not None:
            self._fsync()

    def finish(self) -> None:
        """Write the end-of-run line if the logging process did not shut down cleanly, then fsync."""
        if self.shutdown_reason is None:
            if self._reader.pending:
                self._own_line(
                    logging.ERROR, f"{self._reader.pending} bytes of a partial record frame at end of stream"
                )
            last = format_timestamp(self.last_record_ns) if self.last_record_ns else "none received"
            beat = format_timestamp(self.last_heartbeat_ns) if self.last_heartbeat_ns else "none received"
            self._own_line(
                logging.CRITICAL,
                f"process {self._watched_pid} {ENDED_WITHOUT_SHUTDOWN} "
                f"(killed, crashed or os._exit); last record at {last}, last heartbeat at {beat}, "
                f"{self.records} records received",
            )
        self._fsync()


def _read_available(fd: int) -> tuple[list[bytes], bool]:
    """Read everything currently in non-blocking ``fd``; return the chunks and whether EOF was seen."""
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(fd, _READ_SIZE)
        except BlockingIOError:
            return chunks, False
        if not chunk:
            return chunks, True
        chunks.append(chunk)


def run(writer: LogWriter, data_fd: int, fault_fd: int | None) -> None:
    """Copy both pipes into the log until the record pipe reaches end of file."""
    os.set_blocking(data_fd, False)
    if fault_fd is not None:
        os.set_blocking(fault_fd, False)
    data_open = True
    while data_open:
        watched = [data_fd] if fault_fd is None else [data_fd, fault_fd]
        readable, _, _ = select.select(watched, [], [])
        # Always drain records first: anything logged before a crash is already in this pipe.
        chunks, eof = _read_available(data_fd)
        for chunk in chunks:
            writer.feed_records(chunk)
        data_open = not eof
        if fault_fd is not None and fault_fd in readable:
            fault_chunks, fault_eof = _read_available(fault_fd)
            for chunk in fault_chunks:
                writer.feed_native(chunk)
            if fault_eof:
                os.close(fault_fd)
                fault_fd = None
    if fault_fd is not None and writer.shutdown_reason is None:
        # The process died; whatever faulthandler wrote is complete or arrives now.
        deadline = time.monotonic() + _FAULT_DRAIN_SECONDS
        while (remaining := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([fault_fd], [], [], remaining)
            if not readable:
                break
            fault_chunks, fault_eof = _read_available(fault_fd)
            for chunk in fault_chunks:
                writer.feed_native(chunk)
            if fault_eof:
                break
    writer.finish()


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="stalwart-crash-logger-writer")
    parser.add_argument("--data-fd", type=int, required=True)
    parser.add_argument("--fault-fd", type=int, default=None)
    parser.add_argument("--log-fd", type=int, required=True)
    parser.add_argument("--ready-fd", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--fsync-every", type=int, default=None)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the writer process.

    Returns:
        The process exit code.
    """
    args = _parse(argv)
    # Terminal and service-manager signals go to the logging process; the writer must
    # outlive it long enough to record its end, and it exits by itself on end of file.
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, signal.SIG_IGN)
    writer = LogWriter(args.log_fd, args.pid, args.fsync_every)
    os.write(args.ready_fd, b"R")
    os.close(args.ready_fd)
    run(writer, args.data_fd, args.fault_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
