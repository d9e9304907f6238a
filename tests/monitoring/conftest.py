"""Fixtures shared by the monitoring tests."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

Attach = Callable[[logging.Handler, str], logging.Logger]


@pytest.fixture
def attach() -> Attach:
    """Return a function putting a handler alone on a non-propagating DEBUG logger of the given name.

    The suite-wide conftest restores loggers and closes added handlers after each test.
    """

    def _attach(handler: logging.Handler, name: str) -> logging.Logger:
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        return logger

    return _attach
