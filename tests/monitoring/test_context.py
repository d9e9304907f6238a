"""Correlation ids and bound context follow threads (with copied context) and asyncio tasks."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading

import pytest
from stalwart.monitoring import (
    CorrelationFilter,
    bind_context,
    current_context,
    get_correlation_id,
    new_correlation_id,
    with_correlation,
)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _logger(name: str) -> tuple[logging.Logger, _Collect]:
    handler = _Collect()
    handler.addFilter(CorrelationFilter())
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger, handler


def test_with_correlation_sets_and_restores_the_id() -> None:
    assert get_correlation_id() is None
    with with_correlation("outer") as outer:
        assert "outer" == outer
        with with_correlation("inner"):
            assert "inner" == get_correlation_id()
        assert "outer" == get_correlation_id()
    assert get_correlation_id() is None


def test_with_correlation_generates_an_id_when_none_given() -> None:
    with with_correlation() as generated:
        assert 32 == len(generated)
        assert generated == get_correlation_id()
    assert new_correlation_id() != new_correlation_id()


def test_with_correlation_rejects_a_non_string_id() -> None:
    with pytest.raises(TypeError, match="int"), with_correlation(42):  # type: ignore[arg-type]
        pass


def test_bind_context_nests_and_unbinds() -> None:
    with bind_context(user="ada", job=1):
        with bind_context(job=2, step="b"):
            assert {"user": "ada", "job": 2, "step": "b"} == dict(current_context())
        assert {"user": "ada", "job": 1} == dict(current_context())
    assert {} == dict(current_context())


def test_records_carry_the_id_and_bound_fields_but_explicit_extras_win() -> None:
    logger, handler = _logger("test.context.stamp")
    with with_correlation("req-1"), bind_context(user="ada", job=3):
        logger.info("hello", extra={"job": 99})
    logger.info("outside")
    first, second = handler.records
    assert "req-1" == vars(first)["correlation_id"]
    assert "ada" == vars(first)["user"]
    assert 99 == vars(first)["job"]
    assert vars(second)["correlation_id"] is None
    assert not hasattr(second, "user")


def test_threads_started_with_a_copied_context_keep_their_own_id() -> None:
    logger, handler = _logger("test.context.threads")
    barrier = threading.Barrier(8)

    def work(index: int) -> None:
        with with_correlation(f"t-{index}"):
            barrier.wait(timeout=30)  # all threads inside their scope at once
            for n in range(20):
                logger.info("n=%d", n, extra={"index": index})

    threads = [threading.Thread(target=contextvars.copy_context().run, args=(work, i)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert 160 == len(handler.records)
    assert all(vars(r)["correlation_id"] == f"t-{vars(r)['index']}" for r in handler.records)


def test_a_thread_inherits_the_id_when_run_in_a_copy_of_the_parents_context() -> None:
    seen: list[str | None] = []
    with with_correlation("parent"):
        context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(lambda: seen.append(get_correlation_id()),))
    thread.start()
    thread.join(30)
    assert ["parent"] == seen


def test_one_hundred_concurrent_asyncio_tasks_never_mix_their_ids() -> None:
    logger, handler = _logger("test.context.asyncio")

    async def request(index: int, start: asyncio.Event) -> None:
        with with_correlation(f"task-{index}"), bind_context(task=index):
            await start.wait()
            for step in range(5):
                logger.info("step %d", step)
                await asyncio.sleep(0)

    async def main() -> None:
        start = asyncio.Event()
        tasks = [asyncio.create_task(request(i, start)) for i in range(100)]
        await asyncio.sleep(0)
        start.set()  # every task is suspended inside its scope: they now interleave
        await asyncio.gather(*tasks)

    asyncio.run(main())
    assert 500 == len(handler.records)
    assert all(vars(r)["correlation_id"] == f"task-{vars(r)['task']}" for r in handler.records)
    assert 100 == len({vars(r)["correlation_id"] for r in handler.records})


def test_tasks_created_inside_a_scope_inherit_it() -> None:
    async def child() -> str | None:
        return get_correlation_id()

    async def main() -> str | None:
        with with_correlation("from-parent"):
            task = asyncio.create_task(child())
        return await task

    assert "from-parent" == asyncio.run(main())
