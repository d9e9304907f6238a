from __future__ import annotations

import os

import pytest
from stalwart.core import Level
from stalwart.ipc_logger import ConfigError, LoggerConfig, default_path
from stalwart.ipc_logger._config import parse_path


def test_defaults_follow_the_issue() -> None:
    config = LoggerConfig()
    assert Level.INFO == config.base_level
    assert 0.1 == config.flush_interval_s
    assert 1000 == config.max_batch
    assert 60.0 == config.heartbeat_interval_s
    assert 1.0 == config.heartbeat_grace_s
    assert "block" == config.overflow
    assert "%(asctime)s [%(levelname)s] %(name)s - %(message)s" == config.str_format


def test_default_path_is_ipc_in_a_per_user_runtime_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str]
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert f"ipc://{tmp_path}/stalwart.sock" == default_path()
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert f"stalwart-{os.getuid()}/stalwart.sock" in default_path()


@pytest.mark.parametrize(
    "path",
    [
        "/tmp/x.sock",
        "http://host:1",
        "ipc://",
        "ipc:///dir/",
        "tcp://host",
        "tcp://host:99999",
        "tcp://:5",
        "ipc://@abstract",
        "tcp://127.0.0.1 :5555",
        "tcp://999.1.1.1:5555",
        "tcp://1.2.3:5555",
        "tcp://bad_host!:5555",
        "tcp://-lead.example:5555",
        "tcp://[not:v6:zz]:5555",
    ],
)
def test_bad_path_raises_config_error_naming_it(path: str) -> None:
    with pytest.raises(ConfigError, match="path") as info:
        LoggerConfig(path=path)
    assert path == info.value.value


def test_ipc_path_longer_than_a_unix_socket_allows_is_rejected() -> None:
    path = "ipc:///tmp/" + "x" * 200
    with pytest.raises(ConfigError, match="Unix sockets allow"):
        LoggerConfig(path=path)


def test_tcp_path_parses_host_and_port() -> None:
    endpoint = parse_path("tcp://127.0.0.1:5555")
    assert ("tcp", "", "127.0.0.1", 5555) == tuple(endpoint)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("flush_interval_s", 0),
        ("max_batch", 0),
        ("queue_limit", -1),
        ("heartbeat_interval_s", -1.0),
        ("heartbeat_grace_s", -0.5),
        ("overflow", "drop_oldest"),
        ("str_format", ""),
    ],
)
def test_out_of_range_option_raises_config_error_naming_the_key(key: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        LoggerConfig(path="ipc:///tmp/x.sock", **{key: value})  # type: ignore[arg-type]
    assert key == info.value.key


@pytest.mark.parametrize(
    ("path", "host"),
    [
        ("tcp://127.0.0.1:5555", "127.0.0.1"),
        ("tcp://log-master.internal.example:1", "log-master.internal.example"),
        ("tcp://localhost:0", "localhost"),
        ("tcp://*:5555", "*"),
        ("tcp://[::1]:5555", "::1"),
    ],
)
def test_good_tcp_hosts_are_accepted(path: str, host: str) -> None:
    assert host == LoggerConfig(path=path).endpoint.host
