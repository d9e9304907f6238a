"""``setup_logging`` / ``CrashLogger``: stdlib integration, hooks undone, forks, a dead writer, hangs."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from stalwart.crash_logger import CrashLoggerError, LogDirError, active_crash_logger, setup_logging

from .conftest import Child, only_log_file, process_gone, wait_for, writer_pid_of

QUIET = {"heartbeat_interval": 0.0, "log_system_info": False}


def test_records_from_any_stdlib_logger_land_in_the_file(tmp_path: Path) -> None:
    logger, crash_logger = setup_logging("app", log_dir=tmp_path, **QUIET)  # type: ignore[arg-type]
    try:
        logging.getLogger("some.library").debug("library detail %s", "x")
        logger.info("from the returned logger")
        logging.getLogger("extra.user").warning("with extra", extra={"job": 7})
    finally:
        crash_logger.cleanup()
    text = crash_logger.log_file.read_text()
    assert "| DEBUG    | " in text
    assert "| some.library | library detail x" in text
    assert "| app | from the returned logger" in text
    assert "| extra.user | with extra" in text


def test_message_that_cannot_be_formatted_is_logged_with_the_error(tmp_path: Path) -> None:
    # pytest's own capture handler re-raises formatting errors; the conftest fixture puts it back.
    logging.getLogger().handlers.clear()
    logger, crash_logger = setup_logging("app", log_dir=tmp_path, **QUIET)  # type: ignore[arg-type]
    try:
        logger.info("%d items", "many")
    finally:
        crash_logger.cleanup()
    text = crash_logger.log_file.read_text()
    assert "'%d items' % ('many',) [message formatting failed: TypeError" in text


def test_cleanup_undoes_every_hook_and_is_idempotent(tmp_path: Path) -> None:
    root = logging.getLogger()
    handlers_before = list(root.handlers)
    level_before = root.level
    excepthook_before = sys.excepthook
    sigterm_before = signal.getsignal(signal.SIGTERM)
    _, crash_logger = setup_logging("app", log_dir=tmp_path, log_level=logging.INFO, **QUIET)  # type: ignore[arg-type]
    assert crash_logger is active_crash_logger()
    assert logging.INFO == root.level
    crash_logger.cleanup()
    crash_logger.cleanup()
    assert handlers_before == root.handlers
    assert level_before == root.level
    assert excepthook_before is sys.excepthook
    assert sigterm_before == signal.getsignal(signal.SIGTERM)
    assert active_crash_logger() is None
    assert 1 == crash_logger.log_file.read_text().count("Clean shutdown")
    assert process_gone(crash_logger.writer_pid)


def test_log_level_filters_user_records_but_not_lifecycle_lines(tmp_path: Path) -> None:
    logger, crash_logger = setup_logging("app", log_dir=tmp_path, log_level=logging.WARNING, **QUIET)  # type: ignore[arg-type]
    try:
        logger.info("too low")
        logger.warning("high enough")
    finally:
        crash_logger.cleanup()
    text = crash_logger.log_file.read_text()
    assert "too low" not in text
    assert "high enough" in text
    assert "Crash-safe logging started" in text
    assert "Clean shutdown" in text


def test_second_setup_in_one_process_is_refused(tmp_path: Path) -> None:
    _, crash_logger = setup_logging("app", log_dir=tmp_path, **QUIET)  # type: ignore[arg-type]
    try:
        with pytest.raises(CrashLoggerError, match="already runs in this process"):
            setup_logging("again", log_dir=tmp_path, **QUIET)  # type: ignore[arg-type]
    finally:
        crash_logger.cleanup()


@pytest.mark.parametrize(
    ("option", "value"),
    [("heartbeat_interval", -1.0), ("hang_timeout", 0.0), ("fsync_every", 0), ("log_file_prefix", "a/b")],
)
def test_bad_options_are_refused_before_any_file_exists(option: str, value: object, tmp_path: Path) -> None:
    with pytest.raises(CrashLoggerError, match=option if option != "log_file_prefix" else "a/b"):
        setup_logging(log_dir=tmp_path, **{option: value})  # type: ignore[arg-type]
    assert [] == list(tmp_path.iterdir())


def test_log_dir_blocked_by_a_file_raises_log_dir_error_naming_it(tmp_path: Path) -> None:
    blocker = tmp_path / "logs"
    blocker.write_text("")
    with pytest.raises(LogDirError, match="logs") as caught:
        setup_logging(log_dir=blocker, **QUIET)  # type: ignore[arg-type]
    assert str(blocker) in caught.value.path


def test_fsync_every_record_still_writes_everything(tmp_path: Path) -> None:
    logger, crash_logger = setup_logging("app", log_dir=tmp_path, fsync_every=1, **QUIET)  # type: ignore[arg-type]
    try:
        for i in range(20):
            logger.info("synced %d", i)
    finally:
        crash_logger.cleanup()
    text = crash_logger.log_file.read_text()
    assert [f"synced {i}" for i in range(20)] == [
        line.rsplit(" | ", 1)[1] for line in text.splitlines() if "| synced " in line
    ]


def test_killed_writer_falls_back_to_direct_writes_and_says_so(tmp_path: Path) -> None:
    logger, crash_logger = setup_logging("app", log_dir=tmp_path, **QUIET)  # type: ignore[arg-type]
    try:
        logger.info("before the writer dies")
        wait_for(lambda: "before the writer dies" in crash_logger.log_file.read_text(), "first record")
        os.kill(crash_logger.writer_pid, signal.SIGKILL)
        crash_logger._writer.wait(30)
        logger.info("after the writer died")
    finally:
        crash_logger.cleanup()
    text = crash_logger.log_file.read_text()
    assert "log writer process is gone" in text
    assert "after the writer died" in text


FORKING = """
import logging, os, sys
from stalwart.crash_logger import setup_logging

log, crash_logger = setup_logging("fork", log_dir=sys.argv[1], heartbeat_interval=0, log_system_info=False)
print(crash_logger.writer_pid, flush=True)
read_end, write_end = os.pipe()
child = os.fork()
if child == 0:
    os.close(write_end)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # let the test's communicate() see end of file on our outputs
    os.dup2(devnull, 2)
    logging.getLogger("child").info("from the forked child %d", os.getpid())
    os.read(read_end, 1)  # returns once the parent is dead
    logging.getLogger("child").info("child outlived the parent")
    os._exit(0)
log.info("parent logged")
print("ready", flush=True)
os.kill(os.getpid(), 9)
"""


def test_forked_child_logs_to_the_same_file_without_keeping_the_writer_alive(
    tmp_path: Path, run_script: Callable[..., Child]
) -> None:
    child = run_script(FORKING, str(tmp_path))
    code, stderr = child.wait()
    assert -signal.SIGKILL == code, stderr
    # The forked child still runs (blocked on its pipe), yet the writer saw the parent die.
    wait_for(lambda: "ended without shutdown" in only_log_file(tmp_path).read_text(), "end line")
    text = only_log_file(tmp_path).read_text()
    assert "| child | from the forked child" in text
    assert "| fork | parent logged" in text
    wait_for(lambda: process_gone(writer_pid_of(text)), "writer exit")
    wait_for(lambda: "child outlived the parent" in only_log_file(tmp_path).read_text(), "child's last line")


HANGING = """
import sys, threading
from stalwart.crash_logger import crash_safe_log

@crash_safe_log(log_file_prefix="hang", log_dir=sys.argv[1], heartbeat_interval=0.1, hang_timeout=0.5)
def stuck_forever():
    print("ready", flush=True)
    threading.Event().wait(60)

stuck_forever()
"""


def test_hang_watchdog_dumps_every_threads_traceback(tmp_path: Path, run_script: Callable[..., Child]) -> None:
    child = run_script(HANGING, str(tmp_path))
    child.wait_line("ready")
    wait_for(
        lambda: any("main thread made no progress" in f.read_text() for f in tmp_path.glob("*/*.log")),
        "the hang report",
    )
    child.process.kill()
    child.wait()
    wait_for(lambda: "ended without shutdown" in only_log_file(tmp_path).read_text(), "end line")
    text = only_log_file(tmp_path).read_text()
    assert 'Thread "MainThread"' in text
    assert "in stuck_forever" in text
    assert 'Thread "stalwart-heartbeat"' in text
    # The crash line reports the last heartbeat, not "none received".
    end_line = next(line for line in text.splitlines() if "ended without shutdown" in line)
    assert "last heartbeat at none" not in end_line


ATEXIT = """
import logging, sys
from stalwart.crash_logger import setup_logging

log, _ = setup_logging("exit", log_dir=sys.argv[1], heartbeat_interval=0, log_system_info=False)
log.info("about to end by %s", sys.argv[2])
if sys.argv[2] == "uncaught":
    raise RuntimeError("nobody caught me")
"""


@pytest.mark.parametrize(
    ("how", "code", "expected"),
    [
        ("falling-off", 0, "normal interpreter exit (atexit), exit code 0 unless sys.exit()"),
        ("uncaught", 1, "normal interpreter exit (atexit), exit code 1"),
    ],
)
def test_atexit_logs_the_exit_without_an_explicit_cleanup(
    how: str, code: int, expected: str, tmp_path: Path, run_script: Callable[..., Child]
) -> None:
    child = run_script(ATEXIT, str(tmp_path), how)
    assert code == child.wait()[0]
    text = only_log_file(tmp_path).read_text()
    assert f"about to end by {how}" in text
    assert expected in text
    if how == "uncaught":
        assert "Uncaught exception in main thread: RuntimeError: nobody caught me" in text
    assert process_gone(writer_pid_of(text))


SUBPROCESS_OUTLIVES = """
import os, subprocess, sys
from stalwart.crash_logger import setup_logging

log, _ = setup_logging("exec", log_dir=sys.argv[1], heartbeat_interval=0, log_system_info=False)
sleeper = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(60)"],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=False,
)
print(sleeper.pid, flush=True)
log.info("started a long-lived subprocess")
os.kill(os.getpid(), 9)
"""


def test_subprocess_outliving_the_program_does_not_keep_the_writer_alive(
    tmp_path: Path, run_script: Callable[..., Child]
) -> None:
    child = run_script(SUBPROCESS_OUTLIVES, str(tmp_path))
    code, stderr = child.wait()
    sleeper_pid = int(child.stdout_text.split()[0])
    try:
        assert -signal.SIGKILL == code, stderr
        wait_for(lambda: "ended without shutdown" in only_log_file(tmp_path).read_text(), "end line")
        text = only_log_file(tmp_path).read_text()
        assert "started a long-lived subprocess" in text
        wait_for(lambda: process_gone(writer_pid_of(text)), "writer exit")
        assert not process_gone(sleeper_pid)
    finally:
        os.kill(sleeper_pid, signal.SIGKILL)


def test_failed_setup_leaves_no_writer_and_no_hooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import faulthandler

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise OSError("faulthandler refused")

    root = logging.getLogger()
    handlers_before = list(root.handlers)
    faulthandler_before = faulthandler.is_enabled()
    monkeypatch.setattr(faulthandler, "enable", refuse)
    with pytest.raises(OSError, match="faulthandler refused"):
        setup_logging("broken", log_dir=tmp_path, heartbeat_interval=0, log_system_info=False)
    assert handlers_before == root.handlers
    assert faulthandler_before == faulthandler.is_enabled()
    assert active_crash_logger() is None
    text = only_log_file(tmp_path).read_text()
    assert "Clean shutdown: setup failed: OSError: faulthandler refused" in text
    assert process_gone(writer_pid_of(text))
