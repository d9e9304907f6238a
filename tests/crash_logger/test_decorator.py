"""``@crash_safe_log`` end to end: every way a process can end leaves a complete, explained log."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from stalwart.crash_logger import crash_safe_log, summarize_log_file
from stalwart.crash_logger._errors import LogDirError

from .conftest import Child, only_log_file, process_gone, wait_for, writer_pid_of

N = 300

CHILD = """
import faulthandler, logging, os, resource, sys, time
from stalwart.crash_logger import crash_safe_log

resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a segfault must not write a core file
ending, log_dir, n = sys.argv[1], sys.argv[2], int(sys.argv[3])

@crash_safe_log(log_file_prefix="child", heartbeat_interval=0.05, log_dir=log_dir)
def work():
    log = logging.getLogger("child.work")
    for i in range(n):
        log.info("record %d of %d", i, n)
    if ending == "return":
        return "all done"
    if ending == "exception":
        raise ValueError("boom")
    if ending == "os_exit":
        os._exit(1)
    if ending == "segfault":
        faulthandler._sigsegv()
    print("ready", flush=True)  # the test now signals us from outside
    time.sleep(60)

work()
"""

# ending -> (how the test ends it, expected exit code, expected outcome, lines that must be there)
ENDINGS: dict[str, tuple[signal.Signals | None, int, str, tuple[str, ...]]] = {
    "return": (None, 0, "completed", ("Function work completed in", "returned 'all done'", "Clean shutdown")),
    "exception": (None, 1, "exception", ("Exception in work after", "ValueError: boom", "Clean shutdown")),
    "os_exit": (None, 1, "crashed-without-shutdown", ("ended without shutdown",)),
    "sigkill": (signal.SIGKILL, -signal.SIGKILL, "crashed-without-shutdown", ("ended without shutdown",)),
    "sigterm": (
        signal.SIGTERM,
        -signal.SIGTERM,
        "signal",
        ("Received signal SIGTERM (termination requested", "ended without shutdown"),
    ),
    "sigint": (
        signal.SIGINT,
        -signal.SIGINT,
        "signal",
        ("Received signal SIGINT (interrupt from the keyboard", "interrupted by KeyboardInterrupt", "Clean shutdown"),
    ),
    "segfault": (
        None,
        -signal.SIGSEGV,
        "crashed-without-shutdown",
        ("Native crash report (faulthandler)", "Fatal Python error: Segmentation fault", "ended without shutdown"),
    ),
}


def _end_line_written(log_dir: Path) -> Callable[[], bool]:
    def written() -> bool:
        files = list(log_dir.glob("*/*.log"))
        if not files:
            return False
        text = files[0].read_text()
        return "Clean shutdown" in text or "ended without shutdown" in text

    return written


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_every_record_and_the_ending_are_in_the_log_and_the_writer_is_gone(
    ending: str, tmp_path: Path, run_script: Callable[..., Child]
) -> None:
    sent, expected_code, expected_outcome, expected_lines = ENDINGS[ending]
    log_dir = tmp_path / "logs"
    child = run_script(CHILD, ending, str(log_dir), str(N))
    if sent is not None:
        child.wait_line("ready")
        child.process.send_signal(sent)
    code, stderr = child.wait()
    assert expected_code == code, stderr

    wait_for(_end_line_written(log_dir), "the run's end line")
    text = only_log_file(log_dir).read_text()
    records = [line for line in text.splitlines() if "| child.work | record " in line]
    assert [f"record {i} of {N}" for i in range(N)] == [line.rsplit(" | ", 1)[1] for line in records]
    for expected in expected_lines:
        assert expected in text
    summary = summarize_log_file(only_log_file(log_dir))
    assert expected_outcome == summary.outcome
    assert N <= summary.records
    writer_pid = writer_pid_of(text)
    wait_for(lambda: process_gone(writer_pid), f"writer pid {writer_pid} to exit")


def test_segfault_summary_names_the_native_crash(tmp_path: Path, run_script: Callable[..., Child]) -> None:
    log_dir = tmp_path / "logs"
    child = run_script(CHILD, "segfault", str(log_dir), "3")
    child.wait()
    wait_for(_end_line_written(log_dir), "the run's end line")
    text = only_log_file(log_dir).read_text()
    # Records logged before the crash come before its traceback.
    assert text.index("record 2 of 3") < text.index("Fatal Python error")
    assert "Segmentation fault" == summarize_log_file(only_log_file(log_dir)).detail


def test_async_function_is_logged_with_its_return_value(tmp_path: Path) -> None:
    @crash_safe_log(log_file_prefix="coro", log_dir=tmp_path, heartbeat_interval=0, log_system_info=False)
    async def compute(x: int) -> int:
        await asyncio.sleep(0)
        logging.getLogger("coro.inner").warning("inside %d", x)
        return x * 2

    assert 42 == asyncio.run(compute(21))
    text = only_log_file(tmp_path).read_text()
    assert "| coro.inner | inside 21" in text
    assert "Function test_async_function_is_logged_with_its_return_value.<locals>.compute completed" in text
    assert "returned 42" in text
    assert "completed" == summarize_log_file(only_log_file(tmp_path)).outcome


def test_async_exception_is_logged_and_reraised(tmp_path: Path) -> None:
    @crash_safe_log(log_file_prefix="coro", log_dir=tmp_path, heartbeat_interval=0, log_system_info=False)
    async def fail() -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError, match="missing"):
        asyncio.run(fail())
    text = only_log_file(tmp_path).read_text()
    assert "KeyError: 'missing'" in text
    assert "exception" == summarize_log_file(only_log_file(tmp_path)).outcome


def test_bare_decorator_uses_the_defaults_and_keeps_the_function_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    @crash_safe_log
    def plain() -> str:
        return "ok"

    assert "plain" == plain.__name__
    assert "ok" == plain()
    assert "execution_" in only_log_file(tmp_path / "logs").name


def test_nested_decorated_calls_share_one_log(tmp_path: Path) -> None:
    @crash_safe_log(log_file_prefix="inner", log_dir=tmp_path, heartbeat_interval=0, log_system_info=False)
    def inner() -> int:
        return 1

    @crash_safe_log(log_file_prefix="outer", log_dir=tmp_path, heartbeat_interval=0, log_system_info=False)
    def outer() -> int:
        return inner() + 1

    assert 2 == outer()
    text = only_log_file(tmp_path).read_text()
    assert "Starting test_nested_decorated_calls_share_one_log.<locals>.inner" in text
    assert 1 == text.count("Clean shutdown")


def test_unwritable_log_dir_raises_before_the_function_runs(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the log directory should be")
    calls: list[int] = []

    @crash_safe_log(log_dir=blocker)
    def never() -> None:
        calls.append(1)

    with pytest.raises(LogDirError, match="not-a-dir"):
        never()
    assert [] == calls
