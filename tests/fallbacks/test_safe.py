"""The safe_* layer: honest True/False, causes logged, JSON Lines salvage; async variants."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from stalwart.fallbacks import (
    _atomic,
    _csvfile,
    _jsonfile,
    async_read_json,
    async_safe_read_csv,
    async_safe_read_json,
    async_safe_write_csv,
    async_safe_write_json,
    async_write_json,
    iter_jsonl,
    read_csv,
    read_json,
    safe_read_csv,
    safe_read_json,
    safe_write_csv,
    safe_write_json,
    write_csv,
    write_json,
)
from stalwart.fallbacks._atomic import resolve_target
from stalwart.fallbacks._locking import file_lock


def _no_space_to_replace(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """Make ``os.replace`` over ``path`` fail with ENOSPC (the write fails at its commit)."""
    real_replace = os.replace

    def no_space(source: Any, destination: Any) -> None:
        if str(destination) == str(path):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", no_space)


def test_safe_write_json_returns_true_when_written(tmp_path: Path) -> None:
    assert safe_write_json([{"a": 1}], tmp_path / "d.json") is True
    assert [{"a": 1}] == read_json(tmp_path / "d.json")


def test_failed_write_returns_false_and_salvages_records_to_jsonl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "d.json"
    _no_space_to_replace(monkeypatch, path)
    with caplog.at_level(logging.WARNING, logger="stalwart.fallbacks"):
        assert safe_write_json([{"a": 1}, {"b": b"x"}], path) is False
    assert not path.exists()
    assert [{"a": 1}, {"b": b"x"}] == list(iter_jsonl(f"{path}.jsonl"))
    assert "No space left" in caplog.text
    assert "appended 2 of 2 records" in caplog.text


def test_unencodable_records_are_left_out_of_the_salvage_and_said_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "d.json"
    with caplog.at_level(logging.WARNING, logger="stalwart.fallbacks"):
        assert safe_write_json([{"a": 1}, {"bad": object()}], path) is False
    assert [{"a": 1}] == list(iter_jsonl(f"{path}.jsonl"))
    assert "$[1]['bad']" in caplog.text
    assert "appended 1 of 2 records" in caplog.text


def test_salvage_log_names_the_unencodable_value_by_its_path_in_the_data(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "d.json"
    with caplog.at_level(logging.WARNING, logger="stalwart.fallbacks"):
        assert safe_write_json([{"a": 1}, {"b": object()}], path) is False
    salvage = [r.getMessage() for r in caplog.records if r.getMessage().startswith("record 1 cannot")]
    assert 1 == len(salvage)
    assert "at $[1]['b']:" in salvage[0]


def test_safe_read_json_returns_default_and_logs_when_missing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="stalwart.fallbacks"):
        assert "fallback" == safe_read_json(tmp_path / "none.json", default="fallback")
    assert "none.json" in caplog.text


def test_safe_read_json_returns_salvaged_data(tmp_path: Path) -> None:
    (tmp_path / "d.json").write_bytes(b'[{"a": 1}, {"a": 2')
    assert [{"a": 1}] == safe_read_json(tmp_path / "d.json")


def test_safe_csv_pair(tmp_path: Path) -> None:
    assert safe_write_csv([{"a": {"b": "1"}}], tmp_path / "d.csv") is True
    assert [{"a": {"b": "1"}}] == safe_read_csv(tmp_path / "d.csv")
    (tmp_path / "bad.csv").write_bytes(b"a\r\n1,2\r\n")
    assert safe_read_csv(tmp_path / "bad.csv") is None
    assert safe_write_csv([{"a": object()}], tmp_path / "x.csv") is False


def test_async_variants_run_off_the_event_loop_thread(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    loop_thread: list[int] = []
    ticks: list[int] = []

    async def ticker(stop: asyncio.Event) -> None:
        while not stop.is_set():
            ticks.append(1)
            await asyncio.sleep(0)

    async def main() -> Any:
        loop_thread.append(threading.get_ident())
        stop = asyncio.Event()
        tick_task = asyncio.create_task(ticker(stop))
        assert await async_safe_write_json([{"n": n} for n in range(20_000)], path) is True
        data = await async_safe_read_json(path)
        await async_write_json({"x": 1}, path)
        strict = await async_read_json(path)
        assert await async_safe_write_csv([{"a": "1"}], tmp_path / "d.csv") is True
        rows = await async_safe_read_csv(tmp_path / "d.csv")
        stop.set()
        await tick_task
        return data, strict, rows

    data, strict, rows = asyncio.run(main())
    assert 20_000 == len(data)
    assert {"x": 1} == strict
    assert [{"a": "1"}] == rows
    assert len(ticks) > 1  # the loop kept running while files were written


def test_safe_write_does_not_swallow_programming_errors(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        safe_write_json([1], tmp_path / "d.json", bogus_option=True)
    with pytest.raises(ValueError, match="nan must be"):
        safe_write_json([1], tmp_path / "d.json", nan="zero")


def test_safe_writes_return_false_and_log_for_a_lone_surrogate(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    name = b"caf\xe9.txt".decode("utf-8", "surrogateescape")  # what os.listdir gives for it
    with caplog.at_level(logging.WARNING, logger="stalwart.fallbacks"):
        assert False is safe_write_json({"files": [name]}, tmp_path / "d.json")
        assert False is safe_write_csv([{"f": name}], tmp_path / "d.csv")
    assert 2 == caplog.text.count("lone surrogate")
    assert not (tmp_path / "d.json").exists()


def test_safe_read_json_returns_a_document_with_an_escaped_lone_surrogate_as_is(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_bytes(b'{"last_file": "caf\\udce9.txt", "n": 1}')  # as stdlib json.dumps writes it
    assert {"last_file": "caf\udce9.txt", "n": 1} == safe_read_json(path)


def test_safe_read_json_of_an_array_cut_before_its_first_element_returns_the_default(tmp_path: Path) -> None:
    (tmp_path / "d.json").write_bytes(b'[{"a": ')
    marker = object()
    assert marker is safe_read_json(tmp_path / "d.json", default=marker)


def test_safe_write_csv_returns_false_for_rows_csv_cannot_hold(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="stalwart.fallbacks"):
        assert False is safe_write_csv([{}, {}], tmp_path / "d.csv")
        assert False is safe_write_csv([{"a": "1"}], tmp_path / "d.csv", fieldnames=["a", "a"])
        assert False is asyncio.run(async_safe_write_csv([{}], tmp_path / "d.csv"))
    assert 3 == caplog.text.count("safe_write_csv")
    assert not (tmp_path / "d.csv").exists()


def test_safe_read_json_returns_a_valid_empty_backup_of_a_damaged_file(tmp_path: Path) -> None:
    path = tmp_path / "q.json"
    write_json([], path, backups=1)
    write_json([], path, backups=1)
    path.write_bytes(b'[{"jo')
    assert [] == safe_read_json(path, default="DEFAULT")


def test_safe_read_json_of_an_intact_empty_array_returns_it(tmp_path: Path) -> None:
    (tmp_path / "d.json").write_bytes(b"[]")
    assert [] == safe_read_json(tmp_path / "d.json", default=None)


_UNDERLYING = ("write_json", "read_json", "safe_write_json", "safe_read_json", "safe_write_csv", "safe_read_csv")


def test_each_async_variant_lets_the_event_loop_run_while_it_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stalwart.fallbacks._safe as safe_module

    released = threading.Event()

    def gated(function: Any) -> Any:
        def wait_for_the_loop(*args: Any, **kwargs: Any) -> Any:
            # Only the running event loop sets ``released``: run on the loop's thread, this waits in vain.
            if not released.wait(30):
                raise AssertionError(f"{function.__name__} ran on the event loop thread and blocked it")
            return function(*args, **kwargs)

        return wait_for_the_loop

    for name in _UNDERLYING:
        monkeypatch.setattr(safe_module, name, gated(getattr(safe_module, name)))

    async def run(work: Any) -> Any:
        released.clear()
        task = asyncio.ensure_future(work)
        await asyncio.sleep(0)  # the variant starts; a blocking one never gives the loop back
        released.set()
        return await task

    async def main() -> list[Any]:
        return [
            await run(async_safe_write_json([{"n": 1}], tmp_path / "d.json")),
            await run(async_safe_read_json(tmp_path / "d.json")),
            await run(async_write_json({"x": 1}, tmp_path / "e.json")),
            await run(async_read_json(tmp_path / "e.json")),
            await run(async_safe_write_csv([{"a": "1"}], tmp_path / "d.csv")),
            await run(async_safe_read_csv(tmp_path / "d.csv")),
        ]

    results = asyncio.run(main())
    assert [True, [{"n": 1}], results[2], {"x": 1}, True, [{"a": "1"}]] == results
    assert 0 < results[2]


@pytest.mark.skipif(os.name != "posix", reason="RLIMIT_FSIZE is POSIX")
def test_a_salvage_that_hits_the_file_size_limit_too_leaves_no_partial_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    script = textwrap.dedent(
        f"""
        import logging, resource, signal
        logging.basicConfig(level=logging.WARNING, format="LOG %(message)s")
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))
        from stalwart.fallbacks import safe_write_json
        print("returned", safe_write_json([{{"id": i, "pad": "x" * 60}} for i in range(500)], {str(path)!r}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert "returned False" in done.stdout, done.stderr
    assert "failed too" in done.stderr
    assert not Path(f"{path}.jsonl").exists()  # the log says the salvage failed: nothing of it may be there


def test_safe_read_json_of_a_file_nested_too_deeply_returns_the_default_and_a_safe_write_replaces_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "deep.json"
    path.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    assert "default" == safe_read_json(path, default="default")
    assert safe_write_json([1], path) is True
    assert [1] == read_json(path)


def test_safe_read_json_that_finds_nothing_names_the_jsonl_a_failed_write_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "users.json"
    _no_space_to_replace(monkeypatch, path)
    assert safe_write_json([{"id": 1}], path) is False
    assert safe_write_json([{"id": 1}, {"id": 2}], path) is False
    monkeypatch.undo()
    # Append-only: each failed snapshot is there in full.
    assert [{"id": 1}, {"id": 1}, {"id": 2}] == list(iter_jsonl(f"{path}.jsonl"))
    with caplog.at_level(logging.ERROR, logger="stalwart.fallbacks"):
        assert "default" == safe_read_json(path, default="default")  # missing, no backup
        path.write_bytes(b"[")  # damaged, nothing to salvage
        assert "default" == safe_read_json(path, default="default")
    errors = [record.getMessage() for record in caplog.records if "nothing recoverable" in record.getMessage()]
    assert 2 == len(errors)
    assert all(f"{path}.jsonl" in message for message in errors), errors


def test_safe_read_json_that_finds_nothing_names_no_jsonl_when_there_is_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="stalwart.fallbacks"):
        assert safe_read_json(tmp_path / "users.json") is None
    assert "nothing recoverable" in caplog.text
    assert ".jsonl" not in caplog.text


_ASYNC_WRITERS = [
    pytest.param(async_write_json, "d.json", id="async_write_json"),
    pytest.param(async_safe_write_json, "d.json", id="async_safe_write_json"),
    pytest.param(async_safe_write_csv, "d.csv", id="async_safe_write_csv"),
]


def _write_old(path: Path) -> None:
    if path.suffix == ".csv":
        write_csv([{"v": "old"}], path)
    else:
        write_json([{"v": "old"}], path)


def _read(path: Path) -> Any:
    return read_csv(path) if path.suffix == ".csv" else read_json(path)


def _track_the_worker(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """Return events set when a write_json / write_csv worker enters atomic_write and when it has left it."""
    entered, left = threading.Event(), threading.Event()
    real = _atomic.atomic_write

    def tracked(*args: Any, **kwargs: Any) -> int:
        entered.set()
        try:
            return real(*args, **kwargs)
        finally:
            left.set()

    monkeypatch.setattr(_jsonfile, "atomic_write", tracked)
    monkeypatch.setattr(_csvfile, "atomic_write", tracked)
    return entered, left


def _held_after(monkeypatch: pytest.MonkeyPatch, name: str) -> tuple[threading.Event, threading.Event]:
    """Hold the writer right after ``_atomic.<name>`` returns; return (reached, proceed) events."""
    reached, proceed = threading.Event(), threading.Event()
    real = getattr(_atomic, name)

    def held(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        reached.set()
        if not proceed.wait(30):
            raise AssertionError("the test never let the writer go on")
        return result

    monkeypatch.setattr(_atomic, name, held)
    return reached, proceed


async def _cancel_while_held(task: asyncio.Future[Any], reached: threading.Event, proceed: threading.Event) -> None:
    assert await asyncio.to_thread(reached.wait, 30)
    task.cancel()
    for _ in range(3):
        await asyncio.sleep(0)  # yields only: the task takes its cancellation before the writer goes on
    proceed.set()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize(("writer", "name"), _ASYNC_WRITERS)
def test_cancelling_an_async_write_after_its_temp_file_is_written_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer: Any, name: str
) -> None:
    path = tmp_path / name
    _write_old(path)
    _, left = _track_the_worker(monkeypatch)
    reached, proceed = _held_after(monkeypatch, "_fill_temp")

    async def main() -> None:
        await _cancel_while_held(asyncio.ensure_future(writer([{"v": "new"}], path)), reached, proceed)
        assert await asyncio.to_thread(left.wait, 30)

    asyncio.run(main())
    assert [{"v": "old"}] == _read(path)
    assert [] == sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp"))
    assert not Path(f"{path}.1").exists()  # the commit point, backup rotation included, was never passed
    assert not Path(f"{path}.jsonl").exists()  # a cancelled write is no failed one: nothing salvaged


@pytest.mark.parametrize(("writer", "name"), _ASYNC_WRITERS)
def test_cancelling_an_async_write_that_waits_for_the_lock_stops_it_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer: Any, name: str
) -> None:
    path = tmp_path / name
    _write_old(path)
    entered, left = _track_the_worker(monkeypatch)

    async def main() -> None:
        with file_lock(resolve_target(path)):  # the writer cannot get past the lock while this holds it
            task = asyncio.ensure_future(writer([{"v": "new"}], path))
            assert await asyncio.to_thread(entered.wait, 30)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        assert await asyncio.to_thread(left.wait, 30)

    asyncio.run(main())
    assert [{"v": "old"}] == _read(path)
    assert not Path(f"{path}.jsonl").exists()


def test_cancelling_an_async_write_after_its_commit_point_says_the_write_completed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "d.json"
    _write_old(path)
    reached, proceed = _held_after(monkeypatch, "fsync_directory")  # called once os.replace is done

    async def main() -> None:
        await _cancel_while_held(asyncio.ensure_future(async_write_json([{"v": "new"}], path)), reached, proceed)

    with caplog.at_level(logging.WARNING, logger="stalwart.fallbacks"):
        asyncio.run(main())
    assert [{"v": "new"}] == read_json(path)  # too late to undo: CancelledError, and the new content
    assert "cancelled after its commit point: the write completed" in caplog.text
