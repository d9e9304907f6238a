"""Atomic, durable replacement: crash safety, disk errors, permissions, symlinks, backups."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from stalwart.fallbacks import WriteError, _atomic, get_performance_stats, read_json, write_csv, write_json
from stalwart.fallbacks._atomic import atomic_write

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX process and permission semantics")


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_write_replaces_content_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    write_json({"v": 1}, path)
    write_json({"v": 2}, path)
    assert {"v": 2} == read_json(path)
    assert [] == _leftovers(tmp_path)


def test_json_and_csv_of_the_same_stem_never_share_a_temp_file(tmp_path: Path) -> None:
    write_json([{"a": 1}], tmp_path / "data.json")
    write_csv([{"a": 1}], tmp_path / "data.csv")
    assert [{"a": 1}] == read_json(tmp_path / "data.json")
    assert b"a\r\n1\r\n" == (tmp_path / "data.csv").read_bytes()


@pytest.mark.parametrize("failing", ["write", "fsync"])
@pytest.mark.parametrize("repeat", [1000, 400_000])  # 400k: over 1 MiB, written while the data is checked
def test_disk_full_raises_keeps_old_file_and_removes_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str, repeat: int
) -> None:
    path = tmp_path / "data.json"
    write_json({"v": "old"}, path)

    def disk_full(*_args: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, failing, disk_full)
    with pytest.raises(WriteError) as caught:
        write_json({"v": "new" * repeat}, path)
    monkeypatch.undo()
    assert str(path) == caught.value.path
    assert "No space left" in str(caught.value)
    assert {"v": "old"} == read_json(path)
    assert [] == _leftovers(tmp_path)


def test_permission_error_on_replace_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "data.json"
    write_json([1], path)

    def denied(*_args: Any) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", denied)
    with pytest.raises(WriteError, match="Permission denied"):
        write_json([2], path)
    monkeypatch.undo()
    assert [1] == read_json(path)
    assert [] == _leftovers(tmp_path)


def test_missing_directory_is_a_write_error(tmp_path: Path) -> None:
    with pytest.raises(WriteError):
        write_json([1], tmp_path / "no" / "such" / "dir.json")


@posix_only
def test_file_size_limit_in_a_child_process_raises_and_keeps_old_file(tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes the kernel refuse the write (EFBIG), a real disk-full stand-in."""
    path = tmp_path / "data.json"
    write_json({"v": "old"}, path)
    script = textwrap.dedent(
        f"""
        import resource, signal, sys
        from stalwart.fallbacks import WriteError, write_json
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        try:
            write_json({{"v": "x" * 100_000}}, {str(path)!r})
        except WriteError as exc:
            print("WriteError", exc)
            sys.exit(0)
        sys.exit(3)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert 0 == done.returncode, done.stderr
    assert "File too large" in done.stdout
    assert {"v": "old"} == read_json(path)
    assert [] == _leftovers(tmp_path)


@posix_only
def test_permissions_of_the_target_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    write_json([1], path)
    os.chmod(path, 0o640)
    write_json([2], path)
    assert 0o640 == stat.S_IMODE(os.stat(path).st_mode)


@posix_only
def test_new_file_gets_the_umask_mode_not_mkstemp_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_json([1], tmp_path / "new.json")
    finally:
        os.umask(old)
    assert 0o644 == stat.S_IMODE(os.stat(tmp_path / "new.json").st_mode)


@posix_only
def test_symlink_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    link = tmp_path / "link.json"
    write_json([1], real)
    link.symlink_to(real)
    write_json([2], link)
    assert link.is_symlink()
    assert [2] == read_json(real)


def test_backups_keep_n_generations_newest_first(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    for version in range(5):
        write_json({"v": version}, path, backups=3)
    assert {"v": 4} == read_json(path)
    assert [{"v": 3}, {"v": 2}, {"v": 1}] == [read_json(f"{path}.{n}") for n in (1, 2, 3)]
    assert not Path(f"{path}.4").exists()


def test_corrupt_current_file_never_overwrites_a_good_backup(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    write_json({"v": 1}, path, backups=2)
    write_json({"v": 2}, path, backups=2)  # .1 = v1
    path.write_bytes(b'{"v": 3, "trunc')  # damaged by something else
    skipped = get_performance_stats()["backups_skipped_invalid"]
    write_json({"v": 4}, path, backups=2)
    assert {"v": 4} == read_json(path)
    assert {"v": 1} == read_json(f"{path}.1")
    assert not Path(f"{path}.2").exists()
    assert skipped + 1 == get_performance_stats()["backups_skipped_invalid"]


def test_backup_rotation_validates_a_file_edited_in_place(tmp_path: Path) -> None:
    """The validity cache is keyed by inode+mtime+size, so an in-place edit is re-parsed."""
    path = tmp_path / "data.json"
    write_json([1, 2, 3], path, backups=1)
    with open(path, "r+b") as handle:  # same inode, new content: must not be trusted from cache
        handle.write(b"[9, ")
    write_json([4], path, backups=1)
    assert not Path(f"{path}.1").exists()


def test_durable_false_still_writes_atomically(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    write_json([1], path, durable=False)
    assert [1] == read_json(path)


def test_atomic_write_rejects_negative_backups(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="backups"):
        atomic_write(tmp_path / "x", (b"1",), fmt="json", backups=-1)


_KILL_WRITER = textwrap.dedent(
    """
    import sys
    from stalwart.fallbacks import write_json
    path = sys.argv[1]
    big = [{"id": i, "name": "x" * 40, "tags": ["a", "b"]} for i in range(60_000)]
    version = 0
    while True:
        version += 1
        print(version, flush=True)
        write_json({"version": version, "rows": big}, path, backups=1)
    """
)


@posix_only
@pytest.mark.slow
def test_sigkill_during_large_writes_always_leaves_old_or_new_version(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    write_json({"version": 0, "rows": []}, path)
    seen = []
    for round_number in range(4):
        child = subprocess.Popen(
            [sys.executable, "-c", _KILL_WRITER, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None
        # Kill it while it is inside a write: after it announced write number 1 + round_number.
        for _ in range(1 + round_number % 3):
            assert child.stdout.readline(), "writer died early"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
        data = read_json(path)
        assert set(data) == {"version", "rows"}
        assert data["version"] == 0 or len(data["rows"]) == 60_000
        seen.append(data["version"])
    # The next write cleans up the temp files the killed writers left behind.
    write_json({"version": -1, "rows": []}, path)
    assert [] == _leftovers(tmp_path)
    assert len(seen) == 4


_HALF_WRITER = textwrap.dedent(
    """
    import os, sys, time
    from stalwart.fallbacks import write_json
    real_write = os.write
    def half_then_hang(fd, data):
        view = memoryview(data)
        real_write(fd, view[: len(view) // 2])
        print("half", flush=True)
        time.sleep(600)
    os.write = half_then_hang
    write_json({"version": "new", "rows": ["y" * 100] * 1000}, sys.argv[1])
    """
)


@posix_only
def test_sigkill_with_the_temp_file_half_written_leaves_the_old_version(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    write_json({"version": "old", "rows": []}, path)
    child = subprocess.Popen(
        [sys.executable, "-c", _HALF_WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert "half" == child.stdout.readline().strip()
    assert 1 == len(_leftovers(tmp_path))  # the half-written temp file is there
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()
    assert {"version": "old", "rows": []} == read_json(path)
    write_json({"version": "next", "rows": []}, path)
    assert [] == _leftovers(tmp_path)


class _PausedChunks(list[bytes]):
    """Content that stops after its first chunk until released: a slow writer caught mid-write."""

    def __init__(self, first: bytes, rest: bytes) -> None:
        super().__init__([first, rest])
        self.started = threading.Event()
        self.release = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        yield self[0]
        self.started.set()
        assert self.release.wait(30), "never released"
        yield self[1]


@pytest.mark.parametrize("other", ["log.1", "log.2", "log~b", "log~w"])
def test_writes_to_log_never_remove_the_live_temp_file_of_another_target(tmp_path: Path, other: str) -> None:
    target = tmp_path / "log"
    neighbour = tmp_path / other
    content = _PausedChunks(b'{"neighbour": ', b"true}\n")
    errors: list[BaseException] = []

    def write_neighbour() -> None:
        try:
            atomic_write(neighbour, content, fmt="json")
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    thread = threading.Thread(target=write_neighbour)
    thread.start()
    try:
        assert content.started.wait(30)
        # Its temp file exists now; writes of "log" (and their backup links) run meanwhile.
        for version in range(3):
            write_json({"v": version}, target, backups=2, durable=False)
    finally:
        content.release.set()
        thread.join(30)
    assert [] == errors
    assert {"neighbour": True} == read_json(neighbour)
    assert {"v": 2} == read_json(target)
    assert [] == _leftovers(tmp_path)


def test_stale_temps_of_the_target_itself_are_removed(tmp_path: Path) -> None:
    path = tmp_path / "log"
    (tmp_path / ".log~wabcd1234.tmp").write_bytes(b"left by a killed writer")
    (tmp_path / ".log~babcd1234.tmp").write_bytes(b"left by a killed backup")
    (tmp_path / ".log.1~wabcd1234.tmp").write_bytes(b"another target's")
    write_json([1], path)
    assert [".log.1~wabcd1234.tmp"] == _leftovers(tmp_path)



def _main_thread_waits_in(function: str) -> bool:
    frame = sys._current_frames().get(threading.main_thread().ident or 0)
    while frame is not None:
        if frame.f_code.co_name == function:
            return True
        frame = frame.f_back
    return False


@posix_only
@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_signal_while_waiting_for_the_writer_thread_never_lets_it_touch_a_reused_fd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interrupt: type[BaseException]
) -> None:
    """A signal handler raises (Ctrl-C, SIGTERM -> SystemExit) while a >= 1 MiB write waits for its writer.

    The writer thread is held inside its write; a real signal interrupts the
    caller's wait for it. Once the interrupt reaches the caller, the writer's fd
    number goes to another file, as any open() would: that file must get neither
    the JSON nor the target's mode, and the target stays the old version.
    """
    assert threading.current_thread() is threading.main_thread()
    path = tmp_path / "data.json"
    write_json({"v": "old"}, path)
    os.chmod(path, 0o644)
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious\n")
    os.chmod(victim, 0o600)
    held, go, raised, caught = threading.Event(), threading.Event(), threading.Event(), threading.Event()
    finished = threading.Event()
    writer_fds: list[int] = []
    real_write_all = _atomic.write_all
    real_copy_permissions = _atomic._copy_permissions

    def held_write_all(fd: int, chunks: Any) -> int:
        if threading.current_thread().name == "stalwart-fallbacks-write":
            writer_fds.append(fd)
            held.set()
            assert go.wait(30)
        return real_write_all(fd, chunks)

    def copy_permissions_then_tell(fd: int, real_path: str) -> None:
        try:
            real_copy_permissions(fd, real_path)
        finally:
            if threading.current_thread().name == "stalwart-fallbacks-write":
                finished.set()  # the writer's last touch of another file (its fsync changes nothing)

    def handler(_signum: int, _frame: Any) -> None:
        if not raised.is_set():
            raised.set()
            raise interrupt

    def interrupter() -> None:
        assert held.wait(30)
        while not raised.is_set():  # signal only once the caller waits for the writer
            if _main_thread_waits_in("_fill_temp_while"):
                signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGUSR1)
            raised.wait(0.01)
        # A caller still waiting after the interrupt may let the writer finish; one
        # that let the interrupt through releases it itself, after reusing its fd.
        while not caught.wait(0.01):
            if _main_thread_waits_in("_wait_uninterruptibly"):
                go.set()
                return

    monkeypatch.setattr(_atomic, "write_all", held_write_all)
    monkeypatch.setattr(_atomic, "_copy_permissions", copy_permissions_then_tell)
    previous = signal.signal(signal.SIGUSR1, handler)
    helper = threading.Thread(target=interrupter)
    helper.start()
    try:
        with pytest.raises(interrupt):
            write_json({"v": "new" * 400_000}, path)
        caught.set()
        with pytest.raises(OSError, match="Bad file descriptor"):
            os.fstat(writer_fds[0])  # closed: nothing writes through it any more
        victim_fd = os.open(victim, os.O_RDWR)
        reused = victim_fd if victim_fd == writer_fds[0] else os.dup2(victim_fd, writer_fds[0])
        try:
            go.set()
            # Not Thread.join: an interrupted join marks a running thread as ended (bpo-45274).
            assert finished.wait(30)
        finally:
            os.close(victim_fd)
            if reused != victim_fd:
                os.close(reused)
    finally:
        caught.set()
        go.set()
        helper.join(30)
        signal.signal(signal.SIGUSR1, previous)
    monkeypatch.undo()
    assert b"precious\n" == victim.read_bytes()
    assert 0o600 == stat.S_IMODE(os.stat(victim).st_mode)
    assert {"v": "old"} == read_json(path)
    assert [] == _leftovers(tmp_path)


class _ThreadingWith:
    """The threading module as _atomic sees it, with some names replaced."""

    def __init__(self, **replaced: Any) -> None:
        self._replaced = replaced

    def __getattr__(self, name: str) -> Any:
        return self._replaced[name] if name in self._replaced else getattr(threading, name)


def _open_fds_under(directory: Path) -> list[str]:
    """The targets of this process's open file descriptors that lie in ``directory``."""
    found = []
    for entry in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{entry}")
        except OSError:
            continue  # closed meanwhile (the listing's own fd)
        if target.startswith(str(directory)):
            found.append(target)
    return found


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open fds through /proc")
def test_an_interrupt_while_the_writer_thread_is_built_leaks_no_file_descriptor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "data.json"
    write_json({"v": "old"}, path)

    def interrupted_event() -> threading.Event:
        raise KeyboardInterrupt("while building the Event")

    monkeypatch.setattr(_atomic, "threading", _ThreadingWith(Event=interrupted_event))
    with pytest.raises(KeyboardInterrupt, match="while building the Event"):
        write_json({"v": "new" * 400_000}, path)  # >= 1 MiB: written by a worker thread
    monkeypatch.undo()
    assert [] == _open_fds_under(tmp_path)
    assert {"v": "old"} == read_json(path)
    assert [] == _leftovers(tmp_path)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open fds through /proc")
def test_an_interrupt_right_after_the_caller_claims_the_writer_fd_leaks_nothing_and_keeps_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "data.json"
    write_json({"v": "old"}, path)
    real_rlock = threading.RLock
    first, second = KeyboardInterrupt("in start"), KeyboardInterrupt("after the claim")

    class ClaimInterrupted:
        """A claim whose first successful acquire by the caller is followed by an interrupt."""

        def __init__(self) -> None:
            self._lock = real_rlock()
            self._fired = False

        def acquire(self, blocking: bool = True) -> bool:
            got = self._lock.acquire(blocking)
            if got and not self._fired and threading.current_thread() is threading.main_thread():
                self._fired = True
                raise second  # as a signal handler would, once the C call returned
            return got

    class NeverStarts(threading.Thread):
        def start(self) -> None:
            raise first

    assert threading.current_thread() is threading.main_thread()
    monkeypatch.setattr(_atomic, "threading", _ThreadingWith(RLock=ClaimInterrupted, Thread=NeverStarts))
    with pytest.raises(KeyboardInterrupt, match="after the claim") as caught:
        write_json({"v": "new" * 400_000}, path)
    monkeypatch.undo()
    assert first is caught.value.__context__
    assert [] == _open_fds_under(tmp_path)
    assert {"v": "old"} == read_json(path)
    assert [] == _leftovers(tmp_path)
