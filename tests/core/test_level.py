from __future__ import annotations

import logging

from stalwart.core import Level, level_name


def test_levels_match_stdlib_numbers() -> None:
    assert [5, 10, 20, 30, 40, 50] == [int(level) for level in Level]
    assert logging.WARNING == int(Level.WARNING)


def test_level_name_prefers_registered_names_then_enum_then_number() -> None:
    assert "INFO" == level_name(20)
    assert "TRACE" == level_name(5)
    assert "Level 7" == level_name(7)
    logging.addLevelName(7, "NOTICE7")
    try:
        assert "NOTICE7" == level_name(7)
    finally:
        del logging._levelToName[7]
        del logging._nameToLevel["NOTICE7"]
