from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from stalwart.core import __version__
from stalwart.core._cli import installed_distributions, main

PLUGIN_MODULE = '''
import click

@click.group("fake")
def fake():
    """A fake plugin group."""

@fake.command()
def hello():
    """Say hello."""
    click.echo("hello from the fake plugin")

not_a_command = 42
'''


def _fake_distribution(site: Path, entry_points: str) -> None:
    """Install a fake distribution 'stalwart-fake' by writing its files onto a path entry."""
    (site / "stalwart_fake_plugin.py").write_text(PLUGIN_MODULE)
    dist_info = site / "stalwart_fake-9.9.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: stalwart-fake\nVersion: 9.9.1\n"
    )
    (dist_info / "entry_points.txt").write_text(entry_points)


def _run_cli(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH", "")]))
    return subprocess.run(
        [sys.executable, "-m", "stalwart.core", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_version_lists_every_installed_stalwart_distribution() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert 0 == result.exit_code
    lines = result.output.splitlines()
    assert f"stalwart-core {__version__}" in lines
    assert [f"{name} {version}" for name, version in installed_distributions()] == lines


def test_plugin_from_entry_point_is_a_subcommand(tmp_path: Path) -> None:
    _fake_distribution(tmp_path, "[stalwart.cli]\nfake = stalwart_fake_plugin:fake\n")
    result = _run_cli(tmp_path, "fake", "hello")
    assert "" == result.stderr
    assert 0 == result.returncode
    assert "hello from the fake plugin\n" == result.stdout
    listing = _run_cli(tmp_path, "--version")
    assert "stalwart-fake 9.9.1" in listing.stdout.splitlines()
    assert "fake" in _run_cli(tmp_path, "--help").stdout


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("stalwart_no_such_module:cli", "ModuleNotFoundError"),
        ("stalwart_fake_plugin:missing", "AttributeError"),
        ("stalwart_fake_plugin:not_a_command", "not a click command"),
    ],
)
def test_broken_plugin_prints_one_line_warning_and_others_still_work(
    tmp_path: Path, target: str, reason: str
) -> None:
    _fake_distribution(
        tmp_path, f"[stalwart.cli]\nbroken = {target}\nfake = stalwart_fake_plugin:fake\n"
    )
    listing = _run_cli(tmp_path, "--help")
    assert 0 == listing.returncode
    warnings = listing.stderr.splitlines()
    assert 1 == len(warnings), listing.stderr
    assert warnings[0].startswith("warning: stalwart plugin 'broken'")
    assert reason in warnings[0]
    assert "Traceback" not in listing.stderr
    assert "fake" in listing.stdout
    assert "broken" not in listing.stdout
    still = _run_cli(tmp_path, "fake", "hello")
    assert (0, "hello from the fake plugin\n") == (still.returncode, still.stdout)


def test_invoking_a_broken_plugin_fails_cleanly(tmp_path: Path) -> None:
    _fake_distribution(tmp_path, "[stalwart.cli]\nbroken = stalwart_no_such_module:cli\n")
    result = _run_cli(tmp_path, "broken")
    assert 0 != result.returncode
    assert "Traceback" not in result.stderr
    assert "warning: stalwart plugin 'broken'" in result.stderr
    assert "No such command 'broken'" in result.stderr


def test_demo_runs() -> None:
    result = CliRunner().invoke(main, ["demo"])
    assert 0 == result.exit_code
    assert "demo" in result.output
