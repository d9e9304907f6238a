"""Benchmark: read-modify-write increments from several processes, ours vs the anchors.

Each contender runs ``--procs`` processes doing ``--ops`` increments of one counter each,
released together through a barrier; we print ops/s, the final count (a correct store
ends at procs x ops) and our ratios. Then single-process ``get`` speed against diskcache.

Run: ``hatch run bench:python benchmarks/bench_shared_data.py`` (about 30-60 s).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import pickle
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import diskcache
from filelock import FileLock
from stalwart.shared_data import SharedStore

Step = Callable[[], None]


# --- the seed's manager, reimplemented here only (pickle file + polled open(lock, "x")) --------
class SeedManager:
    """The seed's CrossPlatformDataManager, as written in the seed document."""

    def __init__(self, filename: str) -> None:
        self.filename = Path(filename)
        self.lock_filename = Path(f"{filename}.lock")

    def _acquire_lock(self, timeout: float = 5) -> bool:
        start_time = time.time()
        while time.time() - start_time < timeout:
            try:
                with open(self.lock_filename, "x") as f:
                    f.write(str(os.getpid()))
                return True
            except FileExistsError:
                time.sleep(0.1)
        return False

    def _release_lock(self) -> None:
        try:  # noqa: SIM105 - the seed's code, verbatim
            self.lock_filename.unlink()
        except FileNotFoundError:
            pass

    def save_data(self, data: dict[str, Any]) -> None:
        if self._acquire_lock():
            try:
                with open(self.filename, "wb") as f:
                    pickle.dump(data, f)
            finally:
                self._release_lock()
        else:
            raise TimeoutError("Could not acquire lock for writing")

    def load_data(self, default: dict[str, Any] | None = None) -> dict[str, Any]:
        if not self.filename.exists():
            return default or {}
        try:
            with open(self.filename, "rb") as f:
                loaded: dict[str, Any] = pickle.load(f)
                return loaded
        except (OSError, pickle.UnpicklingError):
            return default or {}


# --- contenders: each builds its per-process increment step in the worker --------------------
def ours_incr(folder: str) -> Step:
    store = SharedStore(os.path.join(folder, "store.db"), timeout=60)

    def step() -> None:
        store.incr("n")

    return step


def ours_transaction(folder: str) -> Step:
    store = SharedStore(os.path.join(folder, "store.db"), timeout=60)

    def step() -> None:
        with store.transaction() as tx:
            tx["n"] = tx.get("n", 0) + 1

    return step


def diskcache_incr(folder: str) -> Step:
    cache = diskcache.Cache(folder, timeout=60)

    def step() -> None:
        cache.incr("n")

    return step


def diskcache_transact(folder: str) -> Step:
    cache = diskcache.Cache(folder, timeout=60)

    def step() -> None:
        with cache.transact():
            cache.set("n", cache.get("n", 0) + 1)

    return step


def filelock_pickle(folder: str) -> Step:
    path = os.path.join(folder, "data.pkl")
    lock = FileLock(path + ".lock")
    temp = f"{path}.{os.getpid()}.tmp"

    def step() -> None:
        with lock:
            try:
                with open(path, "rb") as f:
                    data = pickle.load(f)
            except FileNotFoundError:
                data = {}
            data["n"] = data.get("n", 0) + 1
            with open(temp, "wb") as f:
                pickle.dump(data, f)
            os.replace(temp, path)

    return step


def seed_manager(folder: str) -> Step:
    manager = SeedManager(os.path.join(folder, "module_stats.pkl"))

    def step() -> None:
        data = manager.load_data()
        data["n"] = data.get("n", 0) + 1
        manager.save_data(data)

    return step


def final_count(name: str, folder: str) -> int:
    if name.startswith("ours"):
        with SharedStore(os.path.join(folder, "store.db")) as store:
            return int(store.get("n", 0))
    if name.startswith("diskcache"):
        with diskcache.Cache(folder) as cache:
            return int(cache.get("n", 0))
    if name == "filelock+pickle+os.replace":
        with open(os.path.join(folder, "data.pkl"), "rb") as f:
            return int(pickle.load(f)["n"])
    data = SeedManager(os.path.join(folder, "module_stats.pkl")).load_data()
    return int(data.get("n", 0))


CONTENDERS: dict[str, Callable[[str], Step]] = {
    "ours incr": ours_incr,
    "ours transaction get+set": ours_transaction,
    "diskcache incr": diskcache_incr,
    "diskcache transact get+set": diskcache_transact,
    "filelock+pickle+os.replace": filelock_pickle,
    "seed manager": seed_manager,
}


@dataclass
class Outcome:
    name: str
    procs: int
    ops_done: int
    errors: dict[str, int]
    seconds: float
    final: int

    @property
    def ops_per_s(self) -> float:
        """Increments that completed without an exception, per second (a failed attempt is no increment)."""
        return (self.ops_done - sum(self.errors.values())) / self.seconds


def _worker(name: str, folder: str, ops: int, budget: float, barrier: Barrier, results: Any) -> None:
    step = CONTENDERS[name](folder)
    errors: dict[str, int] = {}
    barrier.wait()
    start = time.perf_counter()
    deadline = start + budget
    done = 0
    for _ in range(ops):
        try:
            step()
        # The seed fails in many ways (EOFError on a half-written pickle, TimeoutError); count them all.
        except Exception as exc:  # noqa: BLE001
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
        done += 1
        if time.perf_counter() > deadline:
            break
    results.put((done, errors, start, time.perf_counter()))


def run_contender(name: str, procs: int, ops: int, budget: float) -> Outcome:
    ctx = multiprocessing.get_context("fork")
    with tempfile.TemporaryDirectory(prefix="bench-shared-data-") as folder:
        CONTENDERS[name](folder)  # create the store / cache before the clock starts
        barrier = ctx.Barrier(procs)
        results = ctx.Queue()
        workers = [
            ctx.Process(target=_worker, args=(name, folder, ops, budget, barrier, results))
            for _ in range(procs)
        ]
        for worker in workers:
            worker.start()
        reports = [results.get(timeout=600) for _ in workers]
        for worker in workers:
            worker.join()
        errors: dict[str, int] = {}
        for _, worker_errors, _, _ in reports:
            for kind, count in worker_errors.items():
                errors[kind] = errors.get(kind, 0) + count
        seconds = max(r[3] for r in reports) - min(r[2] for r in reports)
        return Outcome(name, procs, sum(r[0] for r in reports), errors, seconds, final_count(name, folder))


def best_get_rate(get: Callable[[str], object], count: int) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(count):
            get("n")
        best = min(best, time.perf_counter() - start)
    return count / best


def bench_get(count: int) -> tuple[float, float, float, float]:
    """Single-process get of an int and of a small dict: ours vs diskcache, ops/s."""
    value = {"user": "ada", "scores": [1, 2, 3], "ok": True}
    with (
        tempfile.TemporaryDirectory(prefix="bench-get-") as folder,
        SharedStore(os.path.join(folder, "store.db")) as store,
        diskcache.Cache(folder) as cache,
    ):
        store.set("n", 42)
        cache.set("n", 42)
        ours_int, theirs_int = best_get_rate(store.get, count), best_get_rate(cache.get, count)
        store.set("n", value)
        cache.set("n", value)
        ours_dict, theirs_dict = best_get_rate(store.get, count), best_get_rate(cache.get, count)
    return ours_int, theirs_int, ours_dict, theirs_dict


def _verdict(ratio: float, target: float) -> str:
    return f"{ratio:6.2f}x  (target >= {target:g}x: {'met' if ratio >= target else 'MISSED'})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--ops", type=int, default=5000, help="increments per process")
    parser.add_argument("--seed-budget", type=float, default=10.0, help="seconds the seed manager may run")
    parser.add_argument("--gets", type=int, default=50_000, help="single-process gets per round")
    args = parser.parse_args()

    expected = args.procs * args.ops
    print(
        f"{args.procs} processes x {args.ops} read-modify-write increments of one key (expected {expected})"
    )
    print("ops/s counts increments that completed without an exception; final is the count left in the store")
    print(f"{'contender':<28} {'attempts':>9} {'seconds':>8} {'ops/s':>9} {'final':>7}  errors")
    outcomes: dict[str, Outcome] = {}
    for name in CONTENDERS:
        budget = args.seed_budget if name == "seed manager" else 600.0
        outcome = run_contender(name, args.procs, args.ops, budget)
        outcomes[name] = outcome
        errors = ", ".join(f"{kind} x{count}" for kind, count in sorted(outcome.errors.items())) or "-"
        print(
            f"{name:<28} {outcome.ops_done:>9} {outcome.seconds:>8.2f} {outcome.ops_per_s:>9.0f} "
            f"{outcome.final:>7}  {errors}"
        )
    seed = outcomes["seed manager"]
    if seed.ops_done < expected:
        print(
            f"(seed manager stopped after its {args.seed_budget:g} s budget; its final count is for "
            f"{seed.ops_done} attempted increments)"
        )

    def ratio(ours: str, theirs: str) -> float:
        return outcomes[ours].ops_per_s / outcomes[theirs].ops_per_s

    print("\nratios (ours / theirs, ops/s):")
    print(f"  ours incr        / diskcache incr       {_verdict(ratio('ours incr', 'diskcache incr'), 1.3)}")
    print(
        "  ours transaction / diskcache transact   "
        f"{_verdict(ratio('ours transaction get+set', 'diskcache transact get+set'), 1.5)}"
    )
    to_seed = ratio("ours transaction get+set", "seed manager")
    print(f"  ours transaction / seed manager         {_verdict(to_seed, 4)}")
    print(f"  ours incr        / seed manager         {ratio('ours incr', 'seed manager'):6.2f}x")
    print(
        f"  ours incr        / filelock+pickle       {ratio('ours incr', 'filelock+pickle+os.replace'):6.2f}x"
    )
    print(
        "  ours transaction / filelock+pickle       "
        f"{ratio('ours transaction get+set', 'filelock+pickle+os.replace'):6.2f}x"
    )

    ours_int, theirs_int, ours_dict, theirs_dict = bench_get(args.gets)
    print(f"\nsingle-process get, best of 3 x {args.gets}:")
    print(
        f"  int value:  ours {ours_int:>9.0f}/s  diskcache {theirs_int:>9.0f}/s  "
        f"{_verdict(ours_int / theirs_int, 1)}"
    )
    print(
        f"  dict value: ours {ours_dict:>9.0f}/s  diskcache {theirs_dict:>9.0f}/s  "
        f"{_verdict(ours_dict / theirs_dict, 1)}"
    )


if __name__ == "__main__":
    main()
