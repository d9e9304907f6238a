"""Helpers for crash-logger tests: run a script in a real child process and read its log."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

TIMEOUT = 30.0
_WRITER_PID = re.compile(r"writer pid (\d+)")


def process_gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (absent, or a zombie nobody reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    except ProcessLookupError:
        return True
    return state in {"Z", "X"}


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Poll ``predicate`` until true; fail the test naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


def only_log_file(log_dir: Path) -> Path:
    files = sorted(log_dir.glob("*/*.log"))
    assert 1 == len(files), files
    return files[0]


def writer_pid_of(text: str) -> int:
    match = _WRITER_PID.search(text)
    assert match is not None, text[:2000]
    return int(match.group(1))


def read_until(fd: int, expected: bytes, who: str) -> bytes:
    """Read ``fd`` until ``expected`` appears; return all read. Fails on timeout or end of file."""
    buffer = b""
    deadline = time.monotonic() + TIMEOUT
    while expected not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail(f"{who} never printed {expected!r}; got {buffer[-2000:]!r}")
        readable, _, _ = select.select([fd], [], [], remaining)
        if readable:
            chunk = os.read(fd, 65536)
            if not chunk:
                pytest.fail(f"{who} closed its output before printing {expected!r}; got {buffer[-2000:]!r}")
            buffer += chunk
    return buffer


class Child:
    """A Python script running in its own process, with its stdout readable line by line."""

    def __init__(self, script: Path, args: list[str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(script), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.stdout_text = ""

    def wait_line(self, expected: str) -> None:
        """Block until the child prints ``expected`` on a line of its own."""
        assert self.process.stdout is not None
        read_until(self.process.stdout.fileno(), expected.encode() + b"\n", "the child")

    def wait(self) -> tuple[int, str]:
        """Wait for the child to end; return its exit code and stderr (stdout: ``stdout_text``)."""
        out, err = self.process.communicate(timeout=TIMEOUT)
        self.stdout_text = out.decode(errors="replace")
        return self.process.returncode, err.decode(errors="replace")


@pytest.fixture
def run_script(tmp_path: Path) -> Iterator[Callable[..., Child]]:
    """Write ``source`` to a script in tmp_path and start it with ``args``."""
    children: list[Child] = []

    def start(source: str, *args: str) -> Child:
        script = tmp_path / f"child_{len(children)}.py"
        script.write_text(textwrap.dedent(source))
        child = Child(script, list(args))
        children.append(child)
        return child

    yield start
    for child in children:
        if child.process.poll() is None:
            child.process.kill()
            child.process.communicate(timeout=TIMEOUT)
