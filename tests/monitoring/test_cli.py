"""The `stalwart monitor` commands: profiles, config, tail."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner
from stalwart.monitoring import DatabaseHandler, build_config
from stalwart.monitoring._cli import monitor


def test_config_prints_the_dict_build_config_makes() -> None:
    result = CliRunner().invoke(
        monitor,
        ["config", "staging", "--level", "DEBUG", "--feature", "database=off", "--log-dir", "/var/log/app"],
    )
    assert 0 == result.exit_code, result.output
    expected = json.loads(json.dumps(build_config("staging", "DEBUG", {"database": False}, "/var/log/app")))
    assert expected == json.loads(result.output)


def test_config_with_an_unknown_profile_fails_and_lists_the_valid_ones() -> None:
    result = CliRunner().invoke(monitor, ["config", "prod"])
    assert 1 == result.exit_code
    assert "valid: development, production, staging, testing" in result.output


def test_config_rejects_a_bad_feature_value() -> None:
    result = CliRunner().invoke(monitor, ["config", "testing", "--feature", "metrics=maybe"])
    assert 2 == result.exit_code
    assert "on/off" in result.output


def test_profiles_lists_every_profile() -> None:
    result = CliRunner().invoke(monitor, ["profiles"])
    assert 0 == result.exit_code
    assert ["development", "staging", "production", "testing", "features"] == [
        line.split(":")[0] for line in result.output.splitlines()
    ]


def _database_of(path: Path, count: int) -> None:
    """Write ``n=0`` ... ``n=<count - 1>`` through a DatabaseHandler to ``path``."""
    handler = DatabaseHandler(path)
    logger = logging.getLogger(f"test.cli.tail.{path.parent.name}")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    for n in range(count):
        logger.info("n=%d", n)
    handler.close()


def test_tail_prints_database_records_as_json_lines(tmp_path: Path) -> None:
    _database_of(tmp_path / "logs.db", 3)
    result = CliRunner().invoke(monitor, ["tail", str(tmp_path / "logs.db")])
    assert 0 == result.exit_code, result.output
    assert ["n=0", "n=1", "n=2"] == [json.loads(line)["message"] for line in result.output.splitlines()]


def test_tail_with_a_limit_prints_the_newest_records_oldest_first(tmp_path: Path) -> None:
    _database_of(tmp_path / "logs.db", 5)
    for option in ("--limit", "-n"):
        result = CliRunner().invoke(monitor, ["tail", str(tmp_path / "logs.db"), option, "2"])
        assert 0 == result.exit_code, result.output
        assert ["n=3", "n=4"] == [json.loads(line)["message"] for line in result.output.splitlines()]


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_tail_refuses_a_limit_below_one(tmp_path: Path, limit: str) -> None:
    _database_of(tmp_path / "logs.db", 1)
    result = CliRunner().invoke(monitor, ["tail", str(tmp_path / "logs.db"), "--limit", limit])
    assert 2 == result.exit_code
    assert "--limit" in result.output


def test_tail_of_a_missing_database_fails_clearly(tmp_path: Path) -> None:
    result = CliRunner().invoke(monitor, ["tail", str(tmp_path / "nope.db")])
    assert 1 == result.exit_code
    assert "no such database file" in result.output
