"""CLI test fixtures: run `axle` through click's CliRunner against the fake hub (in-process
transport) with an isolated contexts file and environment."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from axle.cli import state
from axle.cli.main import cli
from tests.client.fakehub import FakeHub

Axle = Callable[..., Result]


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No ~/.axle/config or AXLE_* of the developer's shell leaks into a test."""
    for var in ("AXLE_SERVER", "AXLE_TOKEN", "AXLE_NAMESPACE", "AXLE_CONTEXT"):
        monkeypatch.delenv(var, raising=False)
    cfg = tmp_path / "axle-config"
    monkeypatch.setenv("AXLE_CONFIG", str(cfg))
    return cfg


@pytest.fixture
def fake(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    hub = FakeHub()
    monkeypatch.setattr(state, "TRANSPORT", hub.transport())
    monkeypatch.setenv("AXLE_SERVER", "http://fake.hub:8080")
    monkeypatch.setenv("AXLE_TOKEN", hub.token)
    return hub


@pytest.fixture
def axle() -> Axle:
    def invoke(*args: str, input: str | None = None) -> Result:
        try:
            return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
        finally:
            # `-v` configures the process-wide "axle" logger; a real CLI process ends here.
            logger = logging.getLogger("axle")
            logger.setLevel(logging.NOTSET)
            for handler in list(logger.handlers):
                logger.removeHandler(handler)

    return invoke
