"""Cross-process and cross-thread locking through ``<path>.lock``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from stalwart.fallbacks import LockTimeoutError, get_performance_stats, read_json, write_json
from stalwart.fallbacks._locking import file_lock

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX processes and signals")

_WRITER = textwrap.dedent(
    """
    import sys
    from stalwart.fallbacks import write_json
    path, writer, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    for seq in range(count):
        rows = [{"writer": writer, "seq": seq, "i": i, "text": "}, \\"x\\" ]"} for i in range(50)]
        write_json({"writer": writer, "seq": seq, "rows": rows}, path, backups=2)
    print("done", flush=True)
    """
)

_READER = textwrap.dedent(
    """
    import os, sys
    from stalwart.fallbacks import read_json
    path, stop = sys.argv[1], sys.argv[2]
    reads = 0
    while not os.path.exists(stop):
        data = read_json(path)  # raises on any torn or partial file
        assert len(data["rows"]) == 50 and all(r["seq"] == data["seq"] for r in data["rows"]), data
        reads += 1
    print(reads, flush=True)
    """
)


@posix_only
@pytest.mark.slow
def test_two_processes_times_200_writes_with_concurrent_readers_never_tear(tmp_path: Path) -> None:
    path = tmp_path / "shared.json"
    stop = tmp_path / "stop"
    write_json({"writer": -1, "seq": -1, "rows": [{"seq": -1}] * 50}, path)
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", _READER, str(path), str(stop)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path), str(n), "200"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    try:
        for writer in writers:
            out, _ = writer.communicate(timeout=120)
            assert 0 == writer.returncode
            assert "done" in out
    finally:
        stop.touch()
    read_counts = []
    for reader in readers:
        out, _ = reader.communicate(timeout=60)
        assert 0 == reader.returncode
        read_counts.append(int(out))
    final = read_json(path)
    assert 199 == final["seq"]
    assert all(count > 0 for count in read_counts)
    for backup in (f"{path}.1", f"{path}.2"):
        assert 50 == len(read_json(backup)["rows"])
    assert [] == [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


_HOLDER = textwrap.dedent(
    """
    import sys, time
    from stalwart.fallbacks._locking import file_lock
    with file_lock(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(600)
    """
)


@posix_only
def test_a_killed_lock_holder_does_not_block_other_writers(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    assert "locked" == holder.stdout.readline().strip()
    with pytest.raises(LockTimeoutError), file_lock(str(path), timeout=0.2):
        pass
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    holder.stdout.close()
    write_json([1], path, lock_timeout=30)
    assert [1] == read_json(path)


def test_the_lock_lives_beside_the_target_never_on_it(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    write_json([1], path)
    assert (tmp_path / "data.json.lock").exists()
    assert [1] == read_json(path)


def test_threads_writing_one_file_through_a_symlink_and_directly_serialize(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    link = tmp_path / "link.json"
    write_json({"n": -1}, real)
    link.symlink_to(real)
    errors: list[BaseException] = []
    waits_before = get_performance_stats()["lock_waits"]

    def work(worker: int) -> None:
        try:
            for n in range(40):
                write_json(
                    {"worker": worker, "n": n, "pad": ["x"] * 200},
                    link if worker % 2 else real,
                    durable=False,
                )
                assert "n" in read_json(real)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert [] == errors
    assert 39 == read_json(real)["n"]
    assert link.is_symlink()
    assert get_performance_stats()["lock_waits"] >= waits_before


@contextmanager
def _held_by_another_thread(path: str) -> Iterator[None]:
    """Hold the lock of ``path`` in a helper thread for the duration of the block."""
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with file_lock(path):
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(30)
    try:
        yield
    finally:
        release.set()
        holder.join(30)


def test_lock_timeout_between_threads(tmp_path: Path) -> None:
    path = str(tmp_path / "data.json")
    with _held_by_another_thread(path), pytest.raises(LockTimeoutError), file_lock(path, timeout=0.1):
        pass


def _write_in_child(path: str) -> None:
    write_json({"from": "child"}, path, lock_timeout=30)


@posix_only
def test_a_forked_child_does_not_inherit_a_held_thread_lock(tmp_path: Path) -> None:
    """The per-path lock registry is re-created after fork (a copied held lock would hang)."""
    import multiprocessing

    path = str(tmp_path / "data.json")
    child = multiprocessing.get_context("fork").Process(target=_write_in_child, args=(path,))
    with _held_by_another_thread(path):
        child.start()  # forked while another thread holds the lock of `path`
    # Leaving the block released the OS lock, the only thing the child waits for.
    child.join(60)
    assert 0 == child.exitcode
    assert {"from": "child"} == read_json(path)


_HOLDER_THAT_FORKS = textwrap.dedent(
    """
    import os, sys, threading, time
    from stalwart.fallbacks._locking import file_lock
    held = threading.Event()
    def long_write():
        with file_lock(sys.argv[1]):
            held.set()
            time.sleep(600)
    threading.Thread(target=long_write, daemon=True).start()
    held.wait(30)
    child = os.fork()  # e.g. multiprocessing starting a worker while a write runs
    if child == 0:
        time.sleep(600)
        os._exit(0)
    print(child, flush=True)
    time.sleep(600)
    """
)


@posix_only
def test_a_killed_lock_holder_does_not_block_writers_while_its_forked_child_lives(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER_THAT_FORKS, os.path.realpath(path)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    child = int(holder.stdout.readline())
    try:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        holder.stdout.close()
        write_json([1], path, lock_timeout=15)
        assert [1] == read_json(path)
        os.kill(child, 0)  # the child is still there: its copy of the lock fd was closed
    finally:
        os.kill(child, signal.SIGKILL)


@posix_only
def test_a_child_forked_inside_a_lock_block_does_not_release_the_parents_lock(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import fcntl, os, sys
        from stalwart.fallbacks._locking import file_lock
        path = sys.argv[1]
        with file_lock(path):
            child = os.fork()
            if child == 0:
                pass  # the child leaves the block too, then exits below
            else:
                os.waitpid(child, 0)
                probe = os.open(path + ".lock", os.O_RDWR)
                try:
                    fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    print("released by the child", flush=True)
                except BlockingIOError:
                    print("still held", flush=True)
        if child == 0:
            os._exit(0)
        """
    )
    path = os.path.realpath(tmp_path / "data.json")
    done = subprocess.run([sys.executable, "-c", script, path], capture_output=True, text=True, timeout=60)
    assert "still held" == done.stdout.strip(), done.stderr


_FORK_WHILE_A_LOCK_FILE_OPENS = textwrap.dedent(
    """
    import errno, os, sys, threading
    from stalwart.fallbacks._locking import file_lock
    path = sys.argv[1]
    opened, fork_started, fds = threading.Event(), threading.Event(), []
    real_open = os.open
    def open_then_linger(name, *args, **kwargs):
        fd = real_open(name, *args, **kwargs)
        if str(name).endswith(".lock") and not fds:
            fds.append(fd)
            opened.set()
            fork_started.wait(30)  # a fork that does not wait for us lands right here
        return fd
    os.open = open_then_linger
    def write():
        with file_lock(path):
            pass
    writer = threading.Thread(target=write)
    writer.start()
    opened.wait(30)
    os.register_at_fork(before=fork_started.set)  # runs before the package's own hook
    child = os.fork()
    if child == 0:
        try:
            os.fstat(fds[0])
            os.write(1, b"leaked\\n")
        except OSError as exc:
            os.write(1, b"closed\\n" if exc.errno == errno.EBADF else b"error\\n")
        os._exit(0)
    os.waitpid(child, 0)
    writer.join(30)
    """
)


@posix_only
def test_a_fork_while_another_thread_opens_a_lock_file_leaks_no_fd_into_the_child(tmp_path: Path) -> None:
    path = os.path.realpath(tmp_path / "data.json")
    done = subprocess.run(
        [sys.executable, "-c", _FORK_WHILE_A_LOCK_FILE_OPENS, path], capture_output=True, text=True, timeout=60
    )
    assert "closed" == done.stdout.strip(), done.stderr
