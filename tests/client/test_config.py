"""The contexts file and the precedence of file, environment and flags."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from axle.client.config import ConfigFile, Context, config_path, resolve_connection
from axle.client.errors import ConfigError


@pytest.fixture
def cfg(tmp_path: Path) -> ConfigFile:
    c = ConfigFile.load(tmp_path / "axle" / "config")
    c.set_context(Context("prod", "https://prod:8443", "prod-token", "team"), make_current=False)
    c.set_context(Context("local", "http://127.0.0.1:8080/", "local-token"))
    c.save()
    return ConfigFile.load(c.path)


def test_save_round_trip_and_private_mode(cfg: ConfigFile) -> None:
    assert stat.S_IMODE(cfg.path.stat().st_mode) == 0o600
    assert cfg.current_context == "local"
    assert cfg.contexts["prod"] == Context("prod", "https://prod:8443", "prod-token", "team")


def test_precedence(cfg: ConfigFile) -> None:
    conn = resolve_connection(env={}, config=cfg)
    assert (conn.server, conn.token, conn.namespace, conn.context) == (
        "http://127.0.0.1:8080",
        "local-token",
        "default",
        "local",
    )
    env = {"AXLE_SERVER": "http://env:1", "AXLE_TOKEN": "env-token"}
    conn = resolve_connection(env=env, config=cfg)
    assert (conn.server, conn.token) == ("http://env:1", "env-token")
    # An explicit --context beats the environment; --server/--token beat everything.
    conn = resolve_connection(context="prod", env=env, config=cfg)
    assert (conn.server, conn.token, conn.namespace) == ("https://prod:8443", "prod-token", "team")
    conn = resolve_connection(
        context="prod", server="http://flag:2", token="f", env=env, config=cfg
    )
    assert (conn.server, conn.token) == ("http://flag:2", "f")
    conn = resolve_connection(namespace="ns1", env=env, config=cfg)
    assert conn.namespace == "ns1"


def test_defaults_without_file(tmp_path: Path) -> None:
    env = {"AXLE_CONFIG": str(tmp_path / "none")}
    assert config_path(env) == tmp_path / "none"
    conn = resolve_connection(env=env)
    assert (conn.server, conn.token, conn.context) == ("http://127.0.0.1:8080", None, None)


def test_unknown_context_and_bad_file(cfg: ConfigFile, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match='"nope"'):
        resolve_connection(context="nope", env={}, config=cfg)
    with pytest.raises(ConfigError, match="no context exists"):
        cfg.use("nope")
    bad = tmp_path / "bad"
    bad.write_text("contexts:\n- name: x\n")
    with pytest.raises(ConfigError, match=r"contexts\[0\]"):
        ConfigFile.load(bad)
    bad.write_text("[1, 2")
    with pytest.raises(ConfigError, match="cannot read"):
        ConfigFile.load(bad)


def test_certificate_authority_belongs_to_its_server(tmp_path: Path) -> None:
    c = ConfigFile.load(tmp_path / "cfg")
    c.set_context(Context("tls", "https://hub:8080", "t", ca_file="/data/ca.crt"))
    c.save()
    c = ConfigFile.load(c.path)
    assert c.contexts["tls"].ca_file == "/data/ca.crt"
    assert resolve_connection(env={}, config=c).ca_file == "/data/ca.crt"
    elsewhere = resolve_connection(env={"AXLE_SERVER": "https://other:1"}, config=c)
    assert elsewhere.ca_file is None
