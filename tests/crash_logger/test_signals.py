"""Signals are logged by name with their reason, then the prior behaviour proceeds."""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.synchronize
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest
from stalwart.crash_logger import setup_logging, summarize_log_file
from stalwart.crash_logger._signals import SignalLogger


@pytest.fixture
def sighup_restored() -> Iterator[None]:
    previous = signal.getsignal(signal.SIGHUP)
    yield
    signal.signal(signal.SIGHUP, previous)


@pytest.mark.usefixtures("sighup_restored")
def test_prior_python_handler_still_runs_after_the_log_line(tmp_path: Path) -> None:
    seen: list[int] = []

    def prior(signum: int, _frame: FrameType | None) -> None:
        seen.append(signum)

    signal.signal(signal.SIGHUP, prior)
    _, crash_logger = setup_logging("sig", log_dir=tmp_path, heartbeat_interval=0, log_system_info=False)
    try:
        signal.raise_signal(signal.SIGHUP)
    finally:
        crash_logger.cleanup()
    assert [signal.SIGHUP] == seen
    text = crash_logger.log_file.read_text()
    assert "Received signal SIGHUP (hangup: the controlling terminal closed" in text
    assert "passing it to the prior handler prior" in text
    assert prior == signal.getsignal(signal.SIGHUP)


@pytest.mark.usefixtures("sighup_restored")
def test_ignored_signal_is_logged_and_stays_ignored(tmp_path: Path) -> None:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    _, crash_logger = setup_logging("sig", log_dir=tmp_path, heartbeat_interval=0, log_system_info=False)
    try:
        signal.raise_signal(signal.SIGHUP)
    finally:
        crash_logger.cleanup()
    assert "Received signal SIGHUP" in crash_logger.log_file.read_text()
    assert "ignored, as before" in crash_logger.log_file.read_text()
    assert signal.SIG_IGN == signal.getsignal(signal.SIGHUP)


def test_nothing_is_installed_outside_the_main_thread() -> None:
    names: list[list[str]] = []
    thread = threading.Thread(target=lambda: names.append(SignalLogger(lambda _m: None).install()))
    thread.start()
    thread.join(30)
    assert [[]] == names


def _sleep_until_terminated(running: multiprocessing.synchronize.Event) -> None:
    running.set()
    time.sleep(60)


def test_forked_child_terminated_with_sigterm_logs_nothing_and_the_run_still_completes(tmp_path: Path) -> None:
    _, crash_logger = setup_logging("sig", log_dir=tmp_path, heartbeat_interval=0, log_system_info=False)
    try:
        fork = multiprocessing.get_context("fork")
        running = fork.Event()
        child = fork.Process(target=_sleep_until_terminated, args=(running,))
        child.start()
        # A signal that lands while the child is still inside fork() is lost by CPython.
        assert running.wait(30)
        child.terminate()  # SIGTERM: the child dies by the default action, as without a crash logger
        child.join(30)
        logging.getLogger("app").info("parent finished normally")
    finally:
        crash_logger.cleanup()
    assert -signal.SIGTERM == child.exitcode
    text = crash_logger.log_file.read_text()
    assert "Received signal" not in text
    assert "completed" == summarize_log_file(crash_logger.log_file).outcome


def test_a_handler_inherited_by_another_process_passes_the_signal_on_without_logging(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logged: list[str] = []
    seen: list[int] = []
    watcher = SignalLogger(logged.append)
    watcher._previous[signal.SIGHUP] = lambda signum, _frame: seen.append(signum)
    monkeypatch.setattr(os, "getpid", lambda: watcher._pid + 1)
    watcher._handle(signal.SIGHUP, None)
    assert [signal.SIGHUP] == seen
    assert [] == logged
