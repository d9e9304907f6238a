from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from stalwart.ipc_logger import LoggerConfig, MasterLogger
from stalwart.ipc_logger._cli import ipc

_RUN_CLI = "import sys; from stalwart.ipc_logger._cli import ipc; sys.exit(ipc())"


def _wait_for_file_text(path: Path, text: str) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        content = path.read_text() if path.exists() else ""
        if text in content:
            return content
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared in {path}")


def test_master_send_status_round_trip_and_ctrl_c_stops_the_master(ipc_path: str, sock_dir: Path) -> None:
    out = sock_dir / "cli.log"
    master = subprocess.Popen(
        [sys.executable, "-c", _RUN_CLI, "master", "--path", ipc_path, "--file", str(out)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert master.stderr is not None
        assert "listening on" in master.stderr.readline()
        runner = CliRunner()
        sent = runner.invoke(
            ipc, ["send", "--path", ipc_path, "--level", "warning", "--name", "tool", "hello cli"]
        )
        assert 0 == sent.exit_code, sent.output
        assert "acknowledged" in sent.output
        content = _wait_for_file_text(out, "hello cli")
        assert "[WARNING] tool - hello cli" in content
        status = runner.invoke(ipc, ["status", "--path", ipc_path, "--json"])
        assert 0 == status.exit_code, status.output
        stats = json.loads(status.output)
        assert (1, "tool", "closed") == (
            stats["received"],
            stats["workers"][0]["name"],
            stats["workers"][0]["state"],
        )
        table = runner.invoke(ipc, ["status", "--path", ipc_path])
        assert "tool" in table.output
        assert "closed" in table.output
    finally:
        master.send_signal(signal.SIGINT)
        _, err = master.communicate(timeout=60)
    assert 0 == master.returncode
    assert "stopped: 1 received" in err


def test_status_without_a_master_fails_clearly(ipc_path: str) -> None:
    result = CliRunner().invoke(ipc, ["status", "--path", ipc_path, "--timeout", "0.3"])
    assert 1 == result.exit_code
    assert f"no master answered at {ipc_path}" in result.output


def test_send_without_a_master_fails_clearly(ipc_path: str) -> None:
    result = CliRunner().invoke(ipc, ["send", "--path", ipc_path, "--timeout", "0.3", "lost"])
    assert 1 == result.exit_code
    assert "did not acknowledge" in result.output


def test_master_on_a_taken_path_fails_clearly(ipc_path: str) -> None:
    with MasterLogger(LoggerConfig(path=ipc_path), []):
        result = CliRunner().invoke(ipc, ["master", "--path", ipc_path])
    assert 1 == result.exit_code
    assert "another master" in result.output


@pytest.mark.parametrize("command", ["master", "send", "status"])
def test_bad_path_is_reported_not_a_traceback(command: str) -> None:
    args = [command, "--path", "nope://x"] + (["msg"] if command == "send" else [])
    result = CliRunner().invoke(ipc, args)
    assert 1 == result.exit_code
    assert "scheme must be ipc:// or tcp://" in result.output
    assert isinstance(result.exception, SystemExit)
