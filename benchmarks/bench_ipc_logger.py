"""IPC logging benchmark: N worker processes x M records each, all into one file.

Compares, in one run:
  * ours: WorkerLogger -> ZeroMQ -> MasterLogger -> FileLogHandler (text lines);
  * stdlib: QueueHandler + multiprocessing.Queue + QueueListener -> FileHandler;
  * loguru: ``logger.add(file, enqueue=True)``.
Each implementation writes the same format to its own file. Throughput is
records delivered / seconds from "go" (all children started and waiting) to
"every record is in the file" (ours: every worker's shutdown acknowledged;
stdlib: QueueListener.stop() returned; loguru: logger.complete() returned).
Delivered records are counted from the file's lines.

Also measures the worker-side cost of one log call (median and p99 over
individually timed calls, in one worker process talking to a live master),
ours vs the stdlib QueueHandler call.

Targets: ours >= 10x the stdlib recipe's throughput with every record
delivered; our worker call <= 2 us median.

Run: hatch run bench:python benchmarks/bench_ipc_logger.py
         [--procs 4] [--records 50000] [--calls 50000]
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import multiprocessing
import multiprocessing.connection
import multiprocessing.synchronize
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable

from loguru import logger as loguru_logger
from stalwart.ipc_logger import FileLogHandler, LoggerConfig, MasterLogger, WorkerLogger

_FMT = "%(asctime)s [%(levelname)s] %(name)s - %(message)s"
_LOGURU_FMT = "{time:YYYY-MM-DD HH:mm:ss,SSS} [{level}] {extra[name]} - {message}"
_fork = multiprocessing.get_context("fork")


def _count_records(path: str) -> int:
    """Count the workers' lines (the master's own notices are not part of the load)."""
    with open(path, "rb") as handle:
        return sum(line.count(b"] worker-") for line in handle)


def _run_procs(
    target: Callable[..., None], args: tuple[object, ...], procs: int
) -> tuple[float, list[object]]:
    """Start children that wait for "go"; return the go time and the processes after they exit."""
    go = _fork.Event()
    children = [_fork.Process(target=target, args=(go, index, *args)) for index in range(procs)]
    for child in children:
        child.start()
    time.sleep(0.5)  # let every child reach go.wait(): startup is not what we measure
    start = time.perf_counter()
    go.set()
    for child in children:
        child.join()
        if child.exitcode != 0:
            raise SystemExit(f"benchmark child failed with exit code {child.exitcode}")
    return start, list(children)


# -- ours -----------------------------------------------------------------------------------------


def _ours_child(
    go: multiprocessing.synchronize.Event, index: int, config: LoggerConfig, records: int
) -> None:
    worker = WorkerLogger(config, f"worker-{index}")
    go.wait()
    info = worker.info
    for i in range(records):
        info(f"record {i} from worker {index}")
    worker.shutdown(timeout_s=120)


def bench_ours(directory: str, procs: int, records: int) -> tuple[float, int]:
    path = os.path.join(directory, "ours.log")
    config = LoggerConfig(path=f"ipc://{directory}/bench.sock")
    master = MasterLogger(config, [FileLogHandler(path)])
    start, _ = _run_procs(_ours_child, (config, records), procs)
    elapsed = time.perf_counter() - start  # every shutdown was acknowledged: all records are in the file
    master.shutdown()
    return elapsed, _count_records(path)


# -- stdlib QueueHandler + multiprocessing.Queue + QueueListener ----------------------------------


def _stdlib_child(go: multiprocessing.synchronize.Event, index: int, queue: object, records: int) -> None:
    log = logging.getLogger(f"worker-{index}")
    log.handlers[:] = [logging.handlers.QueueHandler(queue)]  # type: ignore[arg-type]
    log.propagate = False
    log.setLevel(logging.INFO)
    go.wait()
    for i in range(records):
        log.info("record %d from worker %d", i, index)


def bench_stdlib(directory: str, procs: int, records: int) -> tuple[float, int]:
    path = os.path.join(directory, "stdlib.log")
    queue: multiprocessing.Queue[logging.LogRecord] = _fork.Queue()
    file_handler = logging.FileHandler(path)
    file_handler.setFormatter(logging.Formatter(_FMT))
    listener = logging.handlers.QueueListener(queue, file_handler)
    listener.start()
    start, _ = _run_procs(_stdlib_child, (queue, records), procs)
    listener.stop()  # processes everything queued, then returns
    elapsed = time.perf_counter() - start
    file_handler.close()
    return elapsed, _count_records(path)


# -- loguru enqueue=True --------------------------------------------------------------------------


def _loguru_child(go: multiprocessing.synchronize.Event, index: int, records: int) -> None:
    log = loguru_logger.bind(name=f"worker-{index}")
    go.wait()
    for i in range(records):
        log.info("record {} from worker {}", i, index)


def bench_loguru(directory: str, procs: int, records: int) -> tuple[float, int]:
    path = os.path.join(directory, "loguru.log")
    loguru_logger.remove()
    sink = loguru_logger.add(path, format=_LOGURU_FMT, enqueue=True, level="INFO")
    start, _ = _run_procs(_loguru_child, (records,), procs)
    loguru_logger.complete()
    elapsed = time.perf_counter() - start
    loguru_logger.remove(sink)
    return elapsed, _count_records(path)


# -- worker-side call cost ------------------------------------------------------------------------


def _time_calls(call: Callable[[int], None], calls: int) -> list[int]:
    clock = time.perf_counter_ns
    overhead = min(-(clock() - clock()) for _ in range(1000))
    samples = []
    for i in range(calls):
        before = clock()
        call(i)
        samples.append(clock() - before - overhead)
    return samples


def _call_cost_child(conn: multiprocessing.connection.Connection, config: LoggerConfig, calls: int) -> None:
    worker = WorkerLogger(config, "call-cost")
    ours = _time_calls(lambda i: worker.info(f"record {i}"), calls)
    worker.shutdown(timeout_s=120)
    queue: multiprocessing.Queue[logging.LogRecord] = _fork.Queue()
    log = logging.getLogger("call-cost")
    log.handlers[:] = [logging.handlers.QueueHandler(queue)]
    log.propagate = False
    log.setLevel(logging.INFO)
    drainer = _fork.Process(target=_drain_queue, args=(queue, calls))
    drainer.start()
    stdlib = _time_calls(lambda i: log.info("record %d", i), calls)
    drainer.join()
    conn.send((ours, stdlib))


def _drain_queue(queue: multiprocessing.Queue[logging.LogRecord], count: int) -> None:
    for _ in range(count):
        queue.get()


def bench_call_cost(directory: str, calls: int) -> tuple[list[int], list[int]]:
    config = LoggerConfig(path=f"ipc://{directory}/calls.sock")
    master = MasterLogger(config, [FileLogHandler(os.path.join(directory, "calls.log"))])
    receiver, sender = _fork.Pipe(duplex=False)
    child = _fork.Process(target=_call_cost_child, args=(sender, config, calls))
    child.start()
    ours, stdlib = receiver.recv()
    child.join()
    master.shutdown()
    return ours, stdlib


def _quantile(samples: list[int], q: float) -> float:
    return statistics.quantiles(samples, n=100)[int(q * 100) - 1] / 1000 if q < 1 else max(samples) / 1000


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", type=int, default=4)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--calls", type=int, default=50_000)
    args = parser.parse_args()
    total = args.procs * args.records
    directory = tempfile.mkdtemp(prefix="swb", dir="/tmp")
    try:
        print(f"{args.procs} processes x {args.records:,} records = {total:,} records into one file each")
        results: dict[str, tuple[float, int]] = {}
        for name, bench in (
            ("ours", bench_ours),
            ("stdlib queue", bench_stdlib),
            ("loguru enqueue", bench_loguru),
        ):
            elapsed, delivered = bench(directory, args.procs, args.records)
            results[name] = (elapsed, delivered)
            print(
                f"  {name:<15} {delivered / elapsed:>12,.0f} rec/s   {elapsed:7.2f} s   "
                f"delivered {delivered:,}/{total:,}"
            )
        ours_rate = results["ours"][1] / results["ours"][0]
        for name in ("stdlib queue", "loguru enqueue"):
            elapsed, delivered = results[name]
            print(f"  ours / {name:<15} {ours_rate / (delivered / elapsed):6.1f}x")
        stdlib_rate = results["stdlib queue"][1] / results["stdlib queue"][0]
        met = ours_rate >= 10 * stdlib_rate and results["ours"][1] == total
        print(f"  target: ours >= 10x stdlib with every record delivered: {'MET' if met else 'MISSED'}")
        ours_calls, stdlib_calls = bench_call_cost(directory, args.calls)
        for name, samples in (("ours", ours_calls), ("stdlib QueueHandler", stdlib_calls)):
            print(
                f"  worker call, {name:<20} median {statistics.median(samples) / 1000:5.2f} us   "
                f"p99 {_quantile(samples, 0.99):6.2f} us"
            )
        median = statistics.median(ours_calls) / 1000
        print(
            f"  target: worker call <= 2 us median: {'MET' if median <= 2.0 else 'MISSED'} ({median:.2f} us)"
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
