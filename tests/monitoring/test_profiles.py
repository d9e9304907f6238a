"""Profiles build dictConfig dicts, apply idempotently and leave no files or threads behind."""

from __future__ import annotations

import gzip
import json
import logging
import logging.config
import logging.handlers
import os
import signal
import threading
from pathlib import Path

import pytest
import stalwart.monitoring
from stalwart.monitoring import (
    FEATURES,
    PROFILES,
    BufferedHandler,
    DatabaseHandler,
    HandlerOpenError,
    MetricsHandler,
    MonitoringConfigError,
    SetupInProgressError,
    build_config,
    get_logger,
    read_database,
    reconfigure_logging,
    setup_logging,
    with_correlation,
)


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def root_handler_names() -> list[str | None]:
    return [h.get_name() for h in logging.getLogger().handlers]


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_profile_builds_a_config_dictconfig_accepts(profile: str, tmp_path: Path) -> None:
    config = build_config(profile, log_dir=tmp_path)
    assert (1, False) == (config["version"], config["disable_existing_loggers"])
    assert PROFILES[profile]["level"] == config["root"]["level"]
    setup_logging(profile, log_dir=tmp_path)
    assert config["root"]["handlers"] == root_handler_names()


def test_build_config_has_no_side_effects(tmp_path: Path) -> None:
    build_config("production", log_dir=tmp_path / "not-created")
    assert not (tmp_path / "not-created").exists()


def test_level_and_features_override_the_profile(tmp_path: Path) -> None:
    config = build_config(
        "staging", level="debug", features={"database": False, "multiline": True}, log_dir=tmp_path
    )
    assert logging.DEBUG == config["root"]["level"]
    assert "database" not in config["handlers"]
    assert "multiline" == config["handlers"]["console"]["formatter"]


def test_unknown_profile_lists_the_valid_ones() -> None:
    with pytest.raises(
        MonitoringConfigError,
        match="unknown profile 'prod'; valid: development, production, staging, testing",
    ):
        build_config("prod")


def test_unknown_feature_lists_the_valid_ones() -> None:
    with pytest.raises(
        MonitoringConfigError, match=r"unknown feature 'websocket'; valid: .*rate_limiting"
    ) as info:
        build_config("development", features={"websocket": True})
    assert set(FEATURES) == set(info.value.valid)


def test_a_feature_switch_that_is_not_a_bool_is_refused() -> None:
    with pytest.raises(MonitoringConfigError, match="True"):
        build_config("development", features={"file": "false"})  # type: ignore[dict-item]


def test_unknown_level_is_rejected() -> None:
    with pytest.raises(MonitoringConfigError, match="unknown level 'LOUD'"):
        build_config("development", level="LOUD")


def test_production_writes_redacted_correlated_json_to_the_file(tmp_path: Path) -> None:
    setup_logging("production", log_dir=tmp_path, features={"console": False})
    logger = get_logger("test.profiles.prod")
    with with_correlation("req-77"):
        logger.warning("login failed password=%s", "hunter2", extra={"api_key": "k-123"})
    logger.info("below the production level")
    reconfigure_logging("testing", features={"console": False})  # closes (and flushes) the old handlers
    [line] = (tmp_path / "stalwart.log").read_text().splitlines()
    fields = json.loads(line)
    assert ("login failed password=***", "req-77", "***") == (
        fields["message"], fields["correlation_id"], fields["extra"]["api_key"],
    )  # fmt: skip
    assert "production" == fields["extra"]["environment"]


def test_production_buffers_the_file_and_keeps_metrics(tmp_path: Path) -> None:
    setup_logging("production", log_dir=tmp_path, features={"console": False})
    handlers = {h.get_name(): h for h in logging.getLogger().handlers}
    assert isinstance(handlers["buffer"], BufferedHandler)
    assert isinstance(handlers["metrics"], MetricsHandler)
    get_logger("test.profiles.metrics").error("boom")
    assert 1 == handlers["metrics"].snapshot().by_level["ERROR"]


def test_development_logs_to_the_database(tmp_path: Path) -> None:
    setup_logging("development", log_dir=tmp_path, features={"console": False, "file": False})
    [handler] = logging.getLogger().handlers
    assert isinstance(handler, DatabaseHandler)
    get_logger("test.profiles.dev").debug("debug is on in development")
    handler.flush()
    records = list(read_database(tmp_path / "logs.db"))
    assert [("debug is on in development", logging.DEBUG)] == [(r.message, r.level) for r in records]


def test_reconfigure_is_idempotent() -> None:
    first = reconfigure_logging("testing")
    names = root_handler_names()
    second = reconfigure_logging("testing")
    assert first == second
    assert names == root_handler_names()
    assert 1 == len(logging.getLogger().handlers)


def test_reconfiguring_50_times_leaves_no_open_file_or_thread(tmp_path: Path) -> None:
    # The first set-up closes the root handlers it replaces (pytest's own, here): count from after it.
    reconfigure_logging("testing", features={"console": False})
    fds = open_fds()
    threads = threading.active_count()
    profiles = ["development", "staging", "production"]
    for n in range(50):
        reconfigure_logging(profiles[n % 3], log_dir=tmp_path, features={"console": False})
        get_logger("test.profiles.churn").error("round %d", n)
    reconfigure_logging("testing", features={"console": False})
    assert threads == threading.active_count()
    assert fds == open_fds()
    rows = sum(1 for _ in (tmp_path / "stalwart.log").read_text().splitlines())
    archives = list(tmp_path.glob("stalwart.log.*.gz"))
    archived = 0
    for archive in archives:
        with gzip.open(archive) as stream:
            archived += len(stream.read().splitlines())
    assert 50 == rows + archived


def test_an_unwritable_database_fails_setup_with_our_error(tmp_path: Path) -> None:
    (tmp_path / "logs.db").mkdir()  # a directory where the database file should be
    from stalwart.monitoring import HandlerOpenError

    with pytest.raises(HandlerOpenError, match=r"logs.db"):
        setup_logging("development", log_dir=tmp_path, features={"console": False, "file": False})


def _messages(path: Path) -> list[str]:
    return [json.loads(line)["message"] for line in path.read_text().splitlines()]


def test_reconfiguring_leaves_the_handlers_of_other_loggers_open(tmp_path: Path) -> None:
    database = DatabaseHandler(tmp_path / "custom.db")
    custom = get_logger("test.profiles.custom")
    custom.setLevel(logging.INFO)
    custom.addHandler(database)
    custom.propagate = False
    custom.info("before reconfigure")
    reconfigure_logging("testing", features={"console": False})
    custom.info("after reconfigure")
    database.close()
    assert ["before reconfigure", "after reconfigure"] == [r.message for r in read_database(tmp_path / "custom.db")]
    assert 0 == database.stats().dropped


def test_a_failed_reconfigure_keeps_the_running_setup(tmp_path: Path) -> None:
    good, bad = tmp_path / "good", tmp_path / "bad"
    setup_logging("production", log_dir=good, features={"console": False})
    running = list(logging.getLogger().handlers)
    bad.mkdir()
    (bad / "logs.db").mkdir()  # the database cannot be opened: the new set-up cannot be built
    with pytest.raises(HandlerOpenError, match=r"logs\.db"):
        reconfigure_logging("development", log_dir=bad, features={"console": False})
    assert running == logging.getLogger().handlers
    get_logger("test.profiles.kept").error("still logging")
    reconfigure_logging("testing", features={"console": False})
    assert ["still logging"] == _messages(good / "stalwart.log")
    assert [0] == [h.dropped for h in running if isinstance(h, BufferedHandler)]


def test_the_old_handlers_take_records_until_the_new_ones_are_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class LoggingWhileBuilt(DatabaseHandler):
        """A handler whose construction takes long enough for another thread to log meanwhile."""

        def __init__(self, *args: object, **kwargs: object) -> None:
            get_logger("test.profiles.meanwhile").warning("logged while the new set-up is built")
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    setup_logging("production", log_dir=tmp_path, features={"console": False})
    buffer = next(h for h in logging.getLogger().handlers if isinstance(h, BufferedHandler))
    monkeypatch.setattr(stalwart.monitoring, "DatabaseHandler", LoggingWhileBuilt)
    reconfigure_logging("development", log_dir=tmp_path, features={"console": False, "file": False})
    assert ["logged while the new set-up is built"] == _messages(tmp_path / "stalwart.log")
    assert 0 == buffer.dropped


def test_a_log_file_that_cannot_be_opened_fails_setup_with_our_error(tmp_path: Path) -> None:
    (tmp_path / "stalwart.log").mkdir()  # a directory where the log file should be
    with pytest.raises(HandlerOpenError, match=r"stalwart\.log"):
        setup_logging("staging", log_dir=tmp_path, features={"console": False, "database": False})


def test_a_log_dir_that_is_a_file_fails_setup_with_our_error(tmp_path: Path) -> None:
    (tmp_path / "logs").write_text("not a directory")
    with pytest.raises(HandlerOpenError, match="log directory"):
        setup_logging("staging", log_dir=tmp_path / "logs", features={"console": False})


def test_a_home_relative_log_dir_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    setup_logging("staging", log_dir="~/app-logs", features={"console": False, "database": False})
    get_logger("test.profiles.home").warning("in the home directory")
    reconfigure_logging("testing", features={"console": False})
    assert ["in the home directory"] == _messages(tmp_path / "app-logs" / "stalwart.log")


def test_handlers_are_named_after_their_config_key_once_installed(tmp_path: Path) -> None:
    setup_logging("production", log_dir=tmp_path, features={"console": False})
    reconfigure_logging("production", log_dir=tmp_path, features={"console": False})
    assert ["buffer", "error_file", "metrics"] == root_handler_names()
    buffer = logging.getLogger().handlers[0]
    assert isinstance(buffer, BufferedHandler)
    assert buffer.target is not None
    assert "file" == buffer.target.get_name()


def _open_paths() -> list[str]:
    paths = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            paths.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue  # the descriptor listdir itself used
    return paths


def test_a_replaced_buffer_is_closed_before_its_file_so_the_file_stays_closed(tmp_path: Path) -> None:
    setup_logging("production", log_dir=tmp_path, features={"console": False})
    get_logger("test.profiles.held").warning("held in the buffer until the reconfigure")
    reconfigure_logging("testing", features={"console": False})
    assert ["held in the buffer until the reconfigure"] == _messages(tmp_path / "stalwart.log")
    assert [] == [path for path in _open_paths() if path.startswith(str(tmp_path))]


def test_the_target_of_a_replaced_buffer_is_closed_too(tmp_path: Path) -> None:
    # A set-up applied with dictConfig directly: its file handler is only reachable through the buffer.
    logging.config.dictConfig(build_config("production", log_dir=tmp_path, features={"console": False}))
    target = logging.FileHandler(tmp_path / "mine.log")
    logging.getLogger().addHandler(logging.handlers.MemoryHandler(10, target=target))
    get_logger("test.profiles.targets").warning("to both files")
    reconfigure_logging("testing", features={"console": False})
    assert ["to both files"] == _messages(tmp_path / "stalwart.log")
    assert "to both files\n" == (tmp_path / "mine.log").read_text()
    assert [] == [path for path in _open_paths() if path.startswith(str(tmp_path))]


class _CloseFails(logging.Handler):
    def close(self) -> None:
        super().close()
        raise OSError(28, "No space left on device")


def test_a_handler_that_fails_to_close_stops_neither_the_swap_nor_the_other_closes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = logging.FileHandler(tmp_path / "other.log")
    root = logging.getLogger()
    root.handlers = [_CloseFails(), other]
    reconfigure_logging("testing")
    assert ["console"] == root_handler_names()
    assert other.stream is None  # closed
    assert "could not close the replaced handler" in capsys.readouterr().err


def test_setup_logging_on_a_thread_already_inside_it_raises_instead_of_waiting_for_itself() -> None:
    inner: list[BaseException] = []

    class ReloadsOnClose(logging.Handler):
        """Stands in for a signal handler that reloads the set-up while a reload runs."""

        def close(self) -> None:
            super().close()
            try:
                reconfigure_logging("testing", features={"console": False})
            except SetupInProgressError as exc:
                inner.append(exc)

    def hung(signum: int, frame: object) -> None:
        raise TimeoutError("setup_logging waited for itself")

    logging.getLogger().handlers = [ReloadsOnClose()]
    previous = signal.signal(signal.SIGALRM, hung)  # a hang detector: fail, never hang the suite
    signal.alarm(20)
    try:
        reconfigure_logging("testing", features={"console": False})
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert 1 == len(inner)
    assert 0 == len(logging.getLogger().handlers)


def test_a_forked_child_can_set_up_logging_while_a_parent_thread_was_setting_it_up() -> None:
    closing, release = threading.Event(), threading.Event()

    class SlowToClose(logging.Handler):
        def close(self) -> None:
            super().close()
            closing.set()
            release.wait(30)

    logging.getLogger().handlers = [SlowToClose()]
    setup = threading.Thread(target=reconfigure_logging, args=("testing",), kwargs={"features": {"console": False}})
    setup.start()
    try:
        assert closing.wait(30)
        pid = os.fork()
        if pid == 0:  # the child: the parent's thread holds the set-up lock at the fork
            try:
                signal.alarm(20)
                reconfigure_logging("testing", features={"console": False})
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert 0 == os.waitstatus_to_exitcode(status)
    finally:
        release.set()
        setup.join(30)


def test_loggers_an_earlier_configuration_disabled_log_again() -> None:
    early = get_logger("test.profiles.disabled")
    logging.config.dictConfig({"version": 1})  # disable_existing_loggers defaults to True
    assert early.disabled
    setup_logging("testing", features={"console": False})
    assert not early.disabled


def test_a_handler_of_the_previous_setup_that_another_logger_uses_is_left_open(tmp_path: Path) -> None:
    setup_logging("development", log_dir=tmp_path, features={"console": False, "file": False})
    [database] = logging.getLogger().handlers
    assert isinstance(database, DatabaseHandler)
    audit = get_logger("test.profiles.audit")
    audit.addHandler(database)
    reconfigure_logging("testing", features={"console": False})
    audit.error("still written")
    database.close()
    assert ["still written"] == [r.message for r in read_database(tmp_path / "logs.db")]
    assert 0 == database.stats().dropped


def test_metrics_count_the_records_the_rate_limiter_holds_back(tmp_path: Path) -> None:
    setup_logging("staging", log_dir=tmp_path, features={"console": False, "database": False})
    metrics = next(h for h in logging.getLogger().handlers if isinstance(h, MetricsHandler))
    flood = get_logger("test.profiles.flood")
    for n in range(1000):
        flood.error("disk full %d", n)
    reconfigure_logging("testing", features={"console": False})
    assert 1000 == metrics.snapshot().by_level["ERROR"]
    written = [m for m in _messages(tmp_path / "stalwart.log") if m.startswith("disk full")]
    assert len(written) < 1000  # the file got the rate-limited share only
