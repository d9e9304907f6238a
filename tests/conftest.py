"""Shared fixtures for the whole suite.

Every test gets the global ``logging`` state back as it found it: root and
named loggers' handlers, filters, levels, ``propagate`` and ``disabled`` flags,
the record factory and the logger class. Handlers a test added are closed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pytest


@dataclass
class _LoggerState:
    handlers: list[logging.Handler]
    filters: list[logging.Filter | logging.Filterer]
    level: int
    propagate: bool
    disabled: bool


def _snapshot(logger: logging.Logger) -> _LoggerState:
    return _LoggerState(
        handlers=list(logger.handlers),
        filters=list(logger.filters),  # type: ignore[arg-type]
        level=logger.level,
        propagate=logger.propagate,
        disabled=logger.disabled,
    )


def _all_loggers() -> dict[str, logging.Logger]:
    loggers = {
        name: obj
        for name, obj in logging.Logger.manager.loggerDict.items()
        if isinstance(obj, logging.Logger)
    }
    loggers[""] = logging.getLogger()
    return loggers


@pytest.fixture(autouse=True)
def _restore_logging_state() -> Iterator[None]:
    """Put global logging back as it was after each test, closing handlers the test added."""
    before = {name: _snapshot(logger) for name, logger in _all_loggers().items()}
    factory = logging.getLogRecordFactory()
    logger_class = logging.getLoggerClass()
    disable_level = logging.root.manager.disable
    yield
    logging.setLogRecordFactory(factory)
    logging.setLoggerClass(logger_class)
    logging.disable(disable_level)
    for name, logger in _all_loggers().items():
        state = before.get(name)
        kept = state.handlers if state else []
        for handler in logger.handlers:
            if handler not in kept:
                handler.close()
        if state is None:
            logger.handlers.clear()
            logger.filters.clear()
            logger.setLevel(logging.NOTSET)
            logger.propagate = True
            logger.disabled = False
            continue
        logger.handlers[:] = state.handlers
        logger.filters[:] = state.filters
        logger.setLevel(state.level)
        logger.propagate = state.propagate
        logger.disabled = state.disabled
