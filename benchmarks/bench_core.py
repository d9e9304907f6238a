"""Core codec benchmark: our msgpack batch round trip vs pickling stdlib LogRecords.

Encodes and decodes N records (default 100,000) with ``encode_batch`` /
``decode_batch``, and pickles/unpickles the equivalent ``logging.LogRecord``
list (protocol 5, the fastest), in one process, best of R repeats each.
Prints records/s for both and the ratio. Target: ours >= 3x pickle.

Run: hatch run bench:python benchmarks/bench_core.py [--records N] [--repeat R]
"""

from __future__ import annotations

import argparse
import logging
import pickle
import time
from collections.abc import Callable

from stalwart.core import Record, decode_batch, encode_batch


def _make_log_records(count: int) -> list[logging.LogRecord]:
    logger = logging.getLogger("bench.core")
    records = []
    for i in range(count):
        record = logger.makeRecord(
            "bench.core",
            logging.INFO,
            __file__,
            42,
            "user %s did %d things",
            ("ada", i),
            None,
            func="handler",
            extra={"request_id": f"req-{i}", "attempt": i % 5},
        )
        records.append(record)
    return records


def _best_seconds(repeat: int, run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    log_records = _make_log_records(args.records)
    records = [Record.from_logging(r) for r in log_records]

    def ours() -> None:
        assert len(decode_batch(encode_batch(records))) == len(records)

    def stdlib_pickle() -> None:
        assert len(pickle.loads(pickle.dumps(log_records, protocol=5))) == len(log_records)

    ours_s = _best_seconds(args.repeat, ours)
    pickle_s = _best_seconds(args.repeat, stdlib_pickle)
    ours_rate = args.records / ours_s
    pickle_rate = args.records / pickle_s
    size_ours = len(encode_batch(records))
    size_pickle = len(pickle.dumps(log_records, protocol=5))
    print(f"records: {args.records:,}  (best of {args.repeat}; encode + decode round trip)")
    per_ours = size_ours / args.records
    per_pickle = size_pickle / args.records
    print(f"stalwart encode_batch/decode_batch : {ours_rate:>12,.0f} records/s  {per_ours:6.0f} B/record")
    print(f"pickle LogRecord list (protocol 5) : {pickle_rate:>12,.0f} records/s  {per_pickle:6.0f} B/record")
    print(f"ratio ours/pickle                  : {ours_rate / pickle_rate:12.2f}x  (target >= 3x)")


if __name__ == "__main__":
    main()
