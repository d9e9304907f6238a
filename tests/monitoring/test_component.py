"""ComponentFilter and LevelRangeFilter choose records by logger name and level."""

from __future__ import annotations

import logging

import pytest
from stalwart.monitoring import ComponentFilter, LevelRangeFilter, MonitoringConfigError, NamePatterns


def rec(name: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, "m", (), None)


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("db", "db", True),
        ("db", "db.pool", True),
        ("db", "dbx", False),
        ("app.*.io", "app.x.io", True),
        ("app.*.io", "app.x.io.read", True),
        ("app.*.io", "app.io", False),
        ("hw?", "hw1", True),
        ("hw[0-9]", "hwa", False),
        ("*", "anything.at.all", True),
    ],
)
def test_name_patterns_match_by_wildcard_and_descendants(pattern: str, name: str, expected: bool) -> None:
    assert expected == NamePatterns([pattern]).matches(name)


def test_component_filter_includes_and_exclusion_wins() -> None:
    f = ComponentFilter(include=["app.*", "db"], exclude=["app.noisy*"])
    assert [True, True, False, False] == [
        f.filter(rec("app.api")),
        f.filter(rec("db.pool")),
        f.filter(rec("app.noisy.loop")),
        f.filter(rec("other")),
    ]


def test_component_filter_without_include_keeps_everything_not_excluded() -> None:
    f = ComponentFilter(exclude=["urllib3"])
    assert (True, False) == (f.filter(rec("app")), f.filter(rec("urllib3.connectionpool")))


def test_component_filter_rejects_an_empty_pattern() -> None:
    with pytest.raises(MonitoringConfigError, match="logger pattern"):
        ComponentFilter(include=[""])


def test_level_range_keeps_only_levels_inside_the_range() -> None:
    f = LevelRangeFilter("INFO", "warning")
    assert [False, True, True, False] == [
        f.filter(rec("a", level)) for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)
    ]


def test_level_range_applies_only_to_its_components() -> None:
    f = LevelRangeFilter(min_level=logging.ERROR, components=["noisy"])
    assert (False, True, True) == (
        f.filter(rec("noisy.sub", logging.INFO)),
        f.filter(rec("noisy.sub", logging.ERROR)),
        f.filter(rec("quiet", logging.DEBUG)),
    )


def test_level_range_rejects_unknown_names_and_inverted_ranges() -> None:
    with pytest.raises(MonitoringConfigError, match=r"'LOUD'.*valid:.*WARNING"):
        LevelRangeFilter("LOUD")
    with pytest.raises(MonitoringConfigError, match="level range"):
        LevelRangeFilter("ERROR", "DEBUG")


def test_component_filter_from_dict_config() -> None:
    import logging.config

    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.name)

    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"only_db": {"()": "stalwart.monitoring.ComponentFilter", "include": ["t.db"]}},
            "handlers": {"c": {"()": Collect, "filters": ["only_db"]}},
            "loggers": {"t": {"handlers": ["c"], "level": "INFO", "propagate": False}},
        }
    )
    logging.getLogger("t.db.pool").info("x")
    logging.getLogger("t.web").info("y")
    assert ["t.db.pool"] == seen


def test_patterns_work_with_python_3_14_fnmatch_which_ends_with_backslash_z(monkeypatch: pytest.MonkeyPatch) -> None:
    # Python 3.14's fnmatch.translate ends its regex with \z (3.10-3.13: \Z), which older re cannot compile.
    import fnmatch

    real = fnmatch.translate
    monkeypatch.setattr(fnmatch, "translate", lambda pattern: real(pattern).removesuffix(r"\Z") + r"\z")
    patterns = NamePatterns(["db", "web.*"])
    assert (True, True, True, False) == tuple(patterns.matches(n) for n in ("db", "db.pool", "web.api", "dbx"))
