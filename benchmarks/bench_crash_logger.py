"""Crash-safe logging: per-call cost and records lost at SIGKILL, ours vs the anchors.

Anchors: stdlib ``logging.FileHandler`` (it flushes after every record) and a
loguru file sink with ``enqueue=True`` (a writer thread fed by a
multiprocessing queue). Targets: ours at most 2x the stdlib flushing
FileHandler per call, faster than loguru enqueue, and 0 records lost when the
process is SIGKILLed right after its last logging call.

Run: hatch run bench:python benchmarks/bench_crash_logger.py [--records N] [--rounds R]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from loguru import logger as loguru_logger
from stalwart.crash_logger import setup_logging

FORMAT = "%(asctime)s | %(levelname)-8s | %(processName)s:%(process)d | %(threadName)s | %(name)s | %(message)s"


def _time_calls(log: Callable[[str, int], None], records: int) -> float:
    start = time.perf_counter()
    for i in range(records):
        log("benchmark record number %d", i)
    return (time.perf_counter() - start) / records


def bench_ours(folder: Path, records: int) -> tuple[float, float]:
    logger, crash_logger = setup_logging(
        "bench", heartbeat_interval=0, log_system_info=False, log_dir=folder, handle_signals=False
    )
    logger.propagate = True
    per_call = _time_calls(logger.info, records)
    start = time.perf_counter()
    crash_logger.cleanup()
    drain = time.perf_counter() - start
    lines = crash_logger.log_file.read_text().count("benchmark record number")
    assert records == lines, (records, lines)
    return per_call, drain


def bench_stdlib(folder: Path, records: int) -> tuple[float, float]:
    handler = logging.FileHandler(folder / "stdlib.log")
    handler.setFormatter(logging.Formatter(FORMAT))
    logger = logging.getLogger("bench.stdlib")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        per_call = _time_calls(logger.info, records)
    finally:
        logger.removeHandler(handler)
        handler.close()
    return per_call, 0.0


def bench_loguru(folder: Path, records: int) -> tuple[float, float]:
    loguru_logger.remove()
    sink = loguru_logger.add(folder / "loguru.log", enqueue=True, level="DEBUG")
    try:
        per_call = _time_calls(lambda template, i: loguru_logger.info("benchmark record number {}", i), records)
        start = time.perf_counter()
        loguru_logger.complete()
    finally:
        loguru_logger.remove(sink)
    return per_call, time.perf_counter() - start


KILL_CHILD = {
    "ours": """
        import logging, os, signal, sys
        from stalwart.crash_logger import setup_logging
        log, _ = setup_logging("kill", heartbeat_interval=0, log_system_info=False, log_dir=sys.argv[1])
        for i in range(int(sys.argv[2])):
            log.info("benchmark record number %d", i)
        os.kill(os.getpid(), signal.SIGKILL)
    """,
    "stdlib FileHandler": """
        import logging, os, signal, sys
        handler = logging.FileHandler(os.path.join(sys.argv[1], "stdlib.log"))
        log = logging.getLogger("kill")
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        for i in range(int(sys.argv[2])):
            log.info("benchmark record number %d", i)
        os.kill(os.getpid(), signal.SIGKILL)
    """,
    "loguru enqueue": """
        import os, signal, sys
        from loguru import logger
        logger.remove()
        logger.add(os.path.join(sys.argv[1], "loguru.log"), enqueue=True)
        for i in range(int(sys.argv[2])):
            logger.info("benchmark record number {}", i)
        os.kill(os.getpid(), signal.SIGKILL)
    """,
}


def records_lost_at_sigkill(name: str, records: int) -> int:
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, "-c", textwrap.dedent(KILL_CHILD[name]), folder, str(records)], check=False)
        files = list(Path(folder).rglob("*.log"))
        if name == "ours":
            # The writer outlives the killed process by a moment: wait for its end line.
            deadline = time.monotonic() + 30
            while "ended without shutdown" not in files[0].read_text() and time.monotonic() < deadline:
                time.sleep(0.01)
        written = sum(f.read_text().count("benchmark record number") for f in files)
    return records - written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=10_000, help="records per timed round")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (median is reported)")
    parser.add_argument("--kill-records", type=int, default=2_000, help="records logged before SIGKILL")
    parser.add_argument("--kill-trials", type=int, default=5, help="SIGKILL trials per logger")
    args = parser.parse_args()

    benches = {"ours": bench_ours, "stdlib FileHandler": bench_stdlib, "loguru enqueue": bench_loguru}
    per_call: dict[str, list[float]] = {name: [] for name in benches}
    drain: dict[str, list[float]] = {name: [] for name in benches}
    with tempfile.TemporaryDirectory() as tmp:
        for round_number in range(args.rounds):
            for name, bench in benches.items():
                folder = Path(tmp) / f"{round_number}-{name.split()[0]}"
                folder.mkdir()
                call, tail = bench(folder, args.records)
                per_call[name].append(call)
                drain[name].append(tail)
    lost = {
        name: [records_lost_at_sigkill(name, args.kill_records) for _ in range(args.kill_trials)]
        for name in benches
    }

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.records} records x {args.rounds} rounds")
    kills = f"lost at SIGKILL ({args.kill_trials} x {args.kill_records})"
    print(f"{'':<20} {'per call (median)':>18} {'drain after loop':>17}  {kills}")
    for name in benches:
        print(
            f"{name:<20} {statistics.median(per_call[name]) * 1e6:>15.2f} us "
            f"{statistics.median(drain[name]) * 1e3:>14.1f} ms "
            f"  {sum(lost[name])} total, worst trial {max(lost[name])}"
        )
    ours = statistics.median(per_call["ours"])
    stdlib = statistics.median(per_call["stdlib FileHandler"])
    loguru = statistics.median(per_call["loguru enqueue"])
    print(f"ours / stdlib FileHandler = {ours / stdlib:.2f}x (target <= 2.0x)")
    print(f"ours / loguru enqueue     = {ours / loguru:.2f}x (target < 1.0x)")
    print(f"ours lost at SIGKILL      = {sum(lost['ours'])} (target 0)")


if __name__ == "__main__":
    main()
