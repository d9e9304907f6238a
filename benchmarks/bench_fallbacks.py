"""stalwart.fallbacks vs stdlib json / csv, all with the same atomic + fsync steps.

Run: hatch run bench:python benchmarks/bench_fallbacks.py [--records N] [--repeat R]

100,000 records shaped {id, name, email, score, tags[2], nested{a, b}}. Each
figure is the best of R runs (records per second). The stdlib anchors do exactly
what a durable write needs: unique temp file in the same directory, write,
fsync, os.replace, fsync the directory. The seed's figures are its *claims*
(printed as such), not measurements. "read_json(type=list[Struct])" is the
schema path (decoding into gc=False Structs); the other read_json figures are untyped.
"""

from __future__ import annotations

import argparse
import csv
import gc
import io
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from stalwart.fallbacks import read_csv, read_json, write_csv, write_json
from stalwart.fallbacks._readfile import gc_paused

#: What the seed document claims (records per second); never measured here.
SEED_CLAIMED_WRITE = 56_000
SEED_CLAIMED_READ = 78_000

#: Targets from the issue.
TARGET_WRITE_VS_STDLIB = 5.0
TARGET_READ_VS_STDLIB = 1.3
TARGET_VS_SEED_CLAIM = 10.0


def make_records(count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": i,
            "name": f"user {i}",
            "email": f"user{i}@example.com",
            "score": i * 0.25,
            "tags": ["alpha", "beta"],
            "nested": {"a": i % 7, "b": f"note {i}"},
        }
        for i in range(count)
    ]


def durable_replace(path: Path, payload: bytes) -> None:
    """The same atomic + durable steps stalwart takes, for the stdlib anchors."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def stdlib_json_write(records: list[dict[str, Any]], path: Path) -> None:
    durable_replace(path, json.dumps(records).encode("utf-8"))


def stdlib_json_read(path: Path) -> Any:
    with open(path, "rb") as handle:
        return json.load(handle)


def stdlib_json_read_gc_off(path: Path) -> Any:
    """json.load with the cyclic GC paused as read_json pauses it (shows what the trick is worth)."""
    with gc_paused():
        return stdlib_json_read(path)


def msgspec_write_unchecked(records: list[dict[str, Any]], path: Path) -> None:
    """The write ceiling: the fastest encoder, no type check at all, the same durable steps."""
    durable_replace(path, msgspec.json.encode(records))


class Nested(msgspec.Struct, gc=False):
    a: int
    b: str


class Row(msgspec.Struct, gc=False):
    id: int
    name: str
    email: str
    score: float
    tags: list[str]
    nested: Nested


_TYPED_DECODER = msgspec.json.Decoder(list[Row])
_UNTYPED_DECODER = msgspec.json.Decoder()


def msgspec_read_untyped(path: Path) -> Any:
    """The ceiling of a reader without a schema (read_json's case): plain dicts and lists, GC paused."""
    with open(path, "rb") as handle:
        raw = handle.read()
    with gc_paused():
        return _UNTYPED_DECODER.decode(raw)


def msgspec_read_typed(path: Path) -> list[Row]:
    """The read ceiling: msgspec decoding into schema-typed, untracked Structs, GC paused."""
    with open(path, "rb") as handle:
        raw = handle.read()
    with gc_paused():
        return _TYPED_DECODER.decode(raw)


def flatten(record: dict[str, Any]) -> dict[str, Any]:
    flat = {key: value for key, value in record.items() if not isinstance(value, (dict, list))}
    flat["tags"] = json.dumps(record["tags"])
    for key, value in record["nested"].items():
        flat[f"nested.{key}"] = value
    return flat


def stdlib_csv_write(records: list[dict[str, Any]], path: Path) -> None:
    buffer = io.StringIO(newline="")
    rows = [flatten(record) for record in records]
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    durable_replace(path, buffer.getvalue().encode("utf-8"))


def stdlib_csv_read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def timed(action: Callable[[], object]) -> float:
    """Seconds for one run of ``action``, including the young-generation GC pass it caused.

    A reader that pauses the GC only defers the collection of the objects it
    built: ``gc.collect(0)`` inside the timing charges that pass to whoever caused it.
    """
    gc.collect()
    start = time.perf_counter()
    action()
    gc.collect(0)
    return time.perf_counter() - start


def best_rates(count: int, repeat: int, actions: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Best records/s of each action over ``repeat`` rounds.

    Rounds interleave the actions, so a burst of load from other processes on a
    shared machine hits all of them rather than one.
    """
    best = dict.fromkeys(actions, float("inf"))
    for _ in range(repeat):
        for name, action in actions.items():
            best[name] = min(best[name], timed(action))
    return {name: count / seconds for name, seconds in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    count, repeat = args.records, args.repeat
    records = make_records(count)
    with tempfile.TemporaryDirectory(prefix="bench-fallbacks-") as tmp:
        base = Path(tmp)
        ours_json, std_json, raw_json = base / "ours.json", base / "std.json", base / "raw.json"
        ours_csv, std_csv = base / "ours.csv", base / "std.csv"
        write_json(records, ours_json)
        stdlib_json_write(records, std_json)
        msgspec_write_unchecked(records, raw_json)
        write_csv(records, ours_csv)
        stdlib_csv_write(records, std_csv)
        rates = best_rates(
            count,
            repeat,
            {
                "json write  stalwart write_json (backups=1)": lambda: write_json(records, ours_json),
                "json write  stalwart write_json (backups=0)": lambda: write_json(
                    records, ours_json, backups=0
                ),
                "json write  stdlib json + same durable steps": lambda: stdlib_json_write(records, std_json),
                "json write  msgspec, no type check (ceiling)": lambda: msgspec_write_unchecked(
                    records, raw_json
                ),
                "json read   stalwart read_json": lambda: read_json(ours_json),
                "json read   stalwart read_json(type=list[Struct])": lambda: read_json(ours_json, type=list[Row]),
                "json read   msgspec untyped, GC paused (ceiling)": lambda: msgspec_read_untyped(raw_json),
                "json read   msgspec typed Structs, gc=False (ceiling)": lambda: msgspec_read_typed(raw_json),
                "json read   stdlib json.load": lambda: stdlib_json_read(std_json),
                "json read   stdlib json.load, GC paused (context)": lambda: stdlib_json_read_gc_off(
                    std_json
                ),
                "csv  write  stalwart write_csv": lambda: write_csv(records, ours_csv),
                "csv  write  stdlib csv + same durable steps": lambda: stdlib_csv_write(records, std_csv),
                "csv  read   stalwart read_csv": lambda: read_csv(ours_csv),
                "csv  read   stdlib csv.DictReader": lambda: stdlib_csv_read(std_csv),
            },
        )
        assert read_json(ours_json) == records
        assert msgspec.to_builtins(read_json(ours_json, type=list[Row])) == records
        assert msgspec.to_builtins(msgspec_read_typed(raw_json)) == records
    print(f"{count:,} records, best of {repeat} interleaved rounds (records/s)")
    for name, rate in rates.items():
        print(f"  {name:<52} {rate:>12,.0f}")
    print(f"  {'seed claim: write (not measured)':<52} {SEED_CLAIMED_WRITE:>12,}")
    print(f"  {'seed claim: read (not measured)':<52} {SEED_CLAIMED_READ:>12,}")
    write = rates["json write  stalwart write_json (backups=1)"]
    read = rates["json read   stalwart read_json"]
    std_write = rates["json write  stdlib json + same durable steps"]
    std_read = rates["json read   stdlib json.load"]
    print("ratios (target in brackets):")
    checks = [
        ("json write vs stdlib json", write / std_write, TARGET_WRITE_VS_STDLIB),
        ("json read  vs stdlib json", read / std_read, TARGET_READ_VS_STDLIB),
        ("json write vs seed claim 56k", write / SEED_CLAIMED_WRITE, TARGET_VS_SEED_CLAIM),
        ("json read  vs seed claim 78k", read / SEED_CLAIMED_READ, TARGET_VS_SEED_CLAIM),
        (
            "json read (typed) vs seed claim 78k",
            rates["json read   stalwart read_json(type=list[Struct])"] / SEED_CLAIMED_READ,
            TARGET_VS_SEED_CLAIM,
        ),
        (
            "csv  write vs stdlib csv",
            rates["csv  write  stalwart write_csv"] / rates["csv  write  stdlib csv + same durable steps"],
            None,
        ),
        (
            "csv  read  vs stdlib csv",
            rates["csv  read   stalwart read_csv"] / rates["csv  read   stdlib csv.DictReader"],
            None,
        ),
    ]
    for name, ratio, target in checks:
        verdict = "" if target is None else (f"[>= {target}x] " + ("met" if ratio >= target else "MISSED"))
        print(f"  {name:<35} {ratio:6.2f}x  {verdict}")
    print("  (typed: the schema path, read_json(type=list[Row]) into gc=False Structs; untyped read_json above)")
    write_ceiling = rates["json write  msgspec, no type check (ceiling)"] / std_write
    read_ceiling = rates["json read   msgspec typed Structs, gc=False (ceiling)"] / SEED_CLAIMED_READ
    untyped_ceiling = rates["json read   msgspec untyped, GC paused (ceiling)"] / SEED_CLAIMED_READ
    print("ceilings, measured in this run (the fastest encoder / decoder, same machine and load):")
    print(
        f"  {'json write: msgspec, no type check + same durable steps, vs stdlib':<70}"
        f" {write_ceiling:6.2f}x  [target {TARGET_WRITE_VS_STDLIB}x]"
        + (" above the ceiling" if write_ceiling < TARGET_WRITE_VS_STDLIB else "")
    )
    print(
        f"  {'json read:  msgspec typed decode into gc=False Structs, vs seed claim':<70}"
        f" {read_ceiling:6.2f}x  [target {TARGET_VS_SEED_CLAIM}x]"
        + (" above the ceiling" if read_ceiling < TARGET_VS_SEED_CLAIM else "")
    )
    print(
        f"  {'json read:  msgspec untyped decode (no schema, as read_json), vs seed claim':<70}"
        f" {untyped_ceiling:6.2f}x  [target {TARGET_VS_SEED_CLAIM}x]"
        + (" above the ceiling" if untyped_ceiling < TARGET_VS_SEED_CLAIM else "")
    )


if __name__ == "__main__":
    main()
