"""Real processes sharing one store: no lost write, a killed process never blocks or damages it; fork."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from stalwart.shared_data import LockTimeout, SharedStore, StoreClosedError

# Generous bound for any wait on a child: the machine running the suite may be heavily loaded.
WAIT = 60.0


class Child:
    """A ``python -c`` child with line-based stdin/stdout; reads never block past :data:`WAIT`."""

    def __init__(self, script: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", script, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.strip())
        self._lines.put(None)

    def line(self) -> str:
        """Return the next stdout line; fail with the child's stderr if it ends or stays silent."""
        try:
            line = self._lines.get(timeout=WAIT)
        except queue.Empty:
            pytest.fail(f"child wrote nothing for {WAIT} s")
        if line is None:
            self.proc.wait(timeout=WAIT)
            assert self.proc.stderr is not None
            pytest.fail(f"child exited with {self.proc.returncode}; stderr:\n{self.proc.stderr.read()}")
        return line

    def rest(self) -> list[str]:
        """Return every line the child wrote and the test has not read yet, up to its exit."""
        lines: list[str] = []
        while (line := self._lines.get(timeout=WAIT)) is not None:
            lines.append(line)
        return lines

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def finish(self) -> None:
        """Wait for a clean exit."""
        assert 0 == self.proc.wait(timeout=WAIT), self.proc.stderr.read() if self.proc.stderr else ""

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=WAIT)


@pytest.fixture
def children() -> Iterator[list[Child]]:
    """Children started by a test; every one is killed and reaped at teardown."""
    started: list[Child] = []
    yield started
    for child in started:
        child.kill()
        for stream in (child.proc.stdin, child.proc.stdout, child.proc.stderr):
            if stream is not None:
                stream.close()


COUNTER = """
import sys
from stalwart.shared_data import SharedStore
path, mode, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = SharedStore(path, timeout=60)
print("ready", flush=True)
sys.stdin.readline()
for _ in range(count):
    if mode == "incr":
        store.incr("n")
    else:
        with store.transaction() as tx:
            tx["n"] = tx.get("n", 0) + 1
print("done", flush=True)
"""


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["incr", "transaction"])
def test_four_processes_2000_increments_each_lose_no_write(
    tmp_path: Path, children: list[Child], mode: str
) -> None:
    path = str(tmp_path / "count.db")
    SharedStore(path).close()
    children.extend(Child(COUNTER, path, mode, "2000") for _ in range(4))
    for child in children:
        assert "ready" == child.line()
    for child in children:  # released together so they contend for the lock
        child.send("go")
    for child in children:
        assert "done" == child.line()
        child.finish()
    with SharedStore(path) as store:
        assert 8000 == store.get("n")


HOLDER = """
import sys
from stalwart.shared_data import SharedStore
store = SharedStore(sys.argv[1])
with store.transaction() as tx:
    tx["n"] = 999
    tx["written_inside"] = True
    print("holding", flush=True)
    sys.stdin.readline()  # never answered: the test kills this process here
"""

BLOCKED_WRITER = """
import sys, time
from stalwart.shared_data import SharedStore
store = SharedStore(sys.argv[1], timeout=60)
print("ready", flush=True)
sys.stdin.readline()
value = store.incr("n")
print(f"{time.monotonic()!r} {value}", flush=True)
"""


def test_sigkilled_lock_holder_releases_the_lock_and_its_writes_vanish(
    tmp_path: Path, children: list[Child]
) -> None:
    path = str(tmp_path / "held.db")
    with SharedStore(path) as store:
        store.set("n", 1)
    holder = Child(HOLDER, path)
    writer = Child(BLOCKED_WRITER, path)
    children.extend([holder, writer])
    assert "holding" == holder.line()
    assert "ready" == writer.line()
    writer.send("go")  # it now waits for the holder's lock (up to 60 s)

    with SharedStore(path, timeout=0.2) as probe:
        # The lock really is held; readers are not blocked and see the value from before the transaction.
        with pytest.raises(LockTimeout):
            probe.set("probe", 1)
        assert 1 == probe.get("n")

    with SharedStore(path, timeout=60) as store:
        os.kill(holder.proc.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        mine = store.incr("n")
        elapsed = time.monotonic() - killed_at
        writer_done_at, writers = writer.line().split()
        # Without the kernel releasing the dead holder's lock this would wait out the 60 s timeout.
        assert elapsed < 1.0, f"the first write after the kill took {elapsed:.3f} s"
        assert float(writer_done_at) - killed_at < 5.0
        assert {2, 3} == {mine, int(writers)}
        assert 3 == store.get("n")
        assert "written_inside" not in store
    assert -signal.SIGKILL == holder.proc.wait(timeout=WAIT)


SAVER = """
import sys
from stalwart.shared_data import SharedStore
path, size = sys.argv[1], int(sys.argv[2])
store = SharedStore(path, timeout=60)
generation = 0
while True:
    generation += 1
    document = {f"key{i:05d}": {"generation": generation, "pad": "x" * 200} for i in range(size)}
    document["generation"] = generation
    store.save(document)
    print(generation, flush=True)
"""


def _assert_integrity(path: str) -> None:
    check = sqlite3.connect(path)
    try:
        assert [("ok",)] == check.execute("PRAGMA integrity_check").fetchall()
    finally:
        check.close()


def _assert_whole_document(path: str, size: int) -> int:
    """Check the store holds exactly one generation's full document; return that generation."""
    with SharedStore(path) as store:
        document = store.load()
    generation = document.pop("generation")
    assert size == len(document)
    assert {generation} == {value["generation"] for value in document.values()}
    return int(generation)


@pytest.mark.slow
def test_sigkill_during_save_leaves_the_old_or_the_new_document(
    tmp_path: Path, children: list[Child]
) -> None:
    path, size = str(tmp_path / "doc.db"), 3000
    with SharedStore(path) as store:
        store.save({**{f"key{i:05d}": {"generation": 0, "pad": ""} for i in range(size)}, "generation": 0})
    rng = random.Random(3)
    for _ in range(5):
        saver = Child(SAVER, path, str(size))
        children.append(saver)
        first_reported = int(saver.line())  # it is saving in a loop now
        # Not synchronisation: a random delay moves the kill to a different point of a save.
        time.sleep(rng.uniform(0, 0.08))
        saver.kill()
        last_reported = max([first_reported, *(int(line) for line in saver.rest())])
        generation = _assert_whole_document(path, size)
        # The kill may land after a commit and before its print, never undo a reported commit.
        assert generation in {last_reported, last_reported + 1}
        _assert_integrity(path)


def _incr_in_child(store: SharedStore, count: int) -> None:
    for _ in range(count):
        store.incr("n")
    store.set("child_pid", os.getpid())


def test_fork_child_inherits_a_store_and_both_processes_keep_using_it(tmp_path: Path) -> None:
    store = SharedStore(tmp_path / "fork.db")
    store.set("n", 0)
    assert 0 == store.get("n")  # the parent's connection is open when it forks
    child = multiprocessing.get_context("fork").Process(target=_incr_in_child, args=(store, 500))
    child.start()
    for _ in range(500):
        store.incr("n")
    child.join(WAIT)
    assert 0 == child.exitcode
    assert 1000 == store.get("n")
    assert child.pid == store.get("child_pid")
    with store.transaction() as tx:
        tx["after"] = "parent still writes"
    assert "parent still writes" == store.get("after")
    store.close()
    _assert_integrity(str(tmp_path / "fork.db"))


def _use_inherited_store(store: SharedStore, seen: multiprocessing.Queue[object]) -> None:
    try:
        store.get("n")
    except StoreClosedError as exc:
        seen.put(str(exc))
    else:
        seen.put("the store was usable")


def test_fork_while_another_thread_is_inside_a_transaction_makes_the_childs_store_refuse_use(
    tmp_path: Path,
) -> None:
    """SQLite cannot be used safely in that child; the store says so instead of hanging or corrupting."""
    store = SharedStore(tmp_path / "busy.db", timeout=0.5)
    store.set("n", 1)
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.transaction() as tx:
            tx["n"] = 100
            inside.set()
            release.wait(WAIT)

    holder = threading.Thread(target=hold)
    holder.start()
    assert inside.wait(WAIT)
    ctx = multiprocessing.get_context("fork")
    seen: multiprocessing.Queue[object] = ctx.Queue()
    child = ctx.Process(target=_use_inherited_store, args=(store, seen))
    child.start()  # waits the store's 0.5 s timeout for the busy thread, then forks anyway
    message = seen.get(timeout=WAIT)
    child.join(WAIT)
    release.set()
    holder.join(WAIT)
    assert 0 == child.exitcode
    assert "forked while this store was in use" in str(message)
    assert 100 == store.get("n")  # the parent's transaction committed normally
    store.close()
    _assert_integrity(str(tmp_path / "busy.db"))


def test_fork_inside_a_transaction_leaves_the_commit_to_the_parent(tmp_path: Path) -> None:
    store = SharedStore(tmp_path / "txfork.db")
    store.set("n", 1)
    with store.transaction() as tx:
        tx["n"] = 2
        pid = os.fork()
        if pid == 0:  # child: must leave through os._exit, whatever happens
            code = 1
            try:
                store.get("n")
            except StoreClosedError:
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        tx["m"] = 3
    assert 0 == os.waitstatus_to_exitcode(status)
    assert {"n": 2, "m": 3} == store.load()
    store.close()
    _assert_integrity(str(tmp_path / "txfork.db"))


def test_os_fork_inside_a_thread_heavy_parent_gives_the_child_a_working_store(tmp_path: Path) -> None:
    store = SharedStore(tmp_path / "osfork.db")
    store.set("n", 0)
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            store.get("n")

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        pid = os.fork()
        if pid == 0:  # child: must leave through os._exit, whatever happens
            code = 1
            try:
                for _ in range(200):
                    store.incr("n")
                code = 0 if store.get("n") >= 200 else 2
            finally:
                os._exit(code)
        for _ in range(200):
            store.incr("n")
        _, status = os.waitpid(pid, 0)
    finally:
        stop.set()
        thread.join(WAIT)
    assert 0 == os.waitstatus_to_exitcode(status)
    assert 400 == store.get("n")
    store.close()


def test_threads_sharing_one_store_lose_no_write(tmp_path: Path) -> None:
    store = SharedStore(tmp_path / "threads.db", timeout=60)

    def work() -> None:
        for _ in range(250):
            store.incr("n")
            with store.transaction() as tx:
                tx["m"] = tx.get("m", 0) + 1

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert (2000, 2000) == (store.get("n"), store.get("m"))
    store.close()


def test_two_store_objects_in_one_process_contend_like_processes(tmp_path: Path) -> None:
    path = tmp_path / "two.db"
    with SharedStore(path) as first, SharedStore(path, timeout=0.1) as second:
        with first.transaction() as tx:
            tx["a"] = 1
            with pytest.raises(LockTimeout) as caught:
                second.set("b", 2)
            assert str(path) == caught.value.path
            assert "0.1 s" in str(caught.value)
            assert second.get("a") is None  # uncommitted writes are invisible to others
        assert 1 == second.get("a")


def _open_new_store_at_once(
    path: str, start: multiprocessing.synchronize.Barrier, errors: multiprocessing.Queue[str]
) -> None:
    start.wait(WAIT)
    try:
        with SharedStore(path) as store:
            store.incr("opened")
    except Exception as exc:
        errors.put(f"{type(exc).__name__}: {exc}")
        raise


def test_processes_creating_the_same_new_store_at_once_all_open_it(tmp_path: Path) -> None:
    """The emptiness check and the creation are one locked step: no racer calls the new store foreign."""
    ctx = multiprocessing.get_context("fork")
    procs = 6
    for round_number in range(12):
        path = str(tmp_path / f"new-{round_number}.db")
        start = ctx.Barrier(procs)
        errors: multiprocessing.Queue[str] = ctx.Queue()
        children = [ctx.Process(target=_open_new_store_at_once, args=(path, start, errors)) for _ in range(procs)]
        for child in children:
            child.start()
        for child in children:
            child.join(WAIT)
        failures = []
        while not errors.empty():
            failures.append(errors.get(timeout=WAIT))
        assert ([], [0] * procs) == (failures, [child.exitcode for child in children])
        with SharedStore(path) as store:
            assert procs == store.get("opened")
