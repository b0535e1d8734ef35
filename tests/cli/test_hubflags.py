"""Every hub setting is a flag of `axle up`, and a flag wins over its environment variable."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from axle.cli.hubflags import hub_setting_options, settings_from_flags
from axle.cli.main import cli
from axle.settings import HubSettings


def _capture() -> tuple[click.Command, dict[str, HubSettings]]:
    seen: dict[str, HubSettings] = {}

    @click.command()
    @hub_setting_options
    def cmd(**flags: object) -> None:
        seen["settings"] = settings_from_flags(flags)

    return cmd, seen


def test_every_setting_has_a_flag() -> None:
    help_text = CliRunner().invoke(cli, ["up", "--help"]).output
    for name in HubSettings.model_fields:
        assert "--" + name.replace("_", "-") in help_text
        assert f"AXLE_{name.upper()}" in help_text


def test_flags_win_over_environment_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AXLE_PORT", "9999")
    monkeypatch.setenv("AXLE_LEASE_SECONDS", "7")
    cmd, seen = _capture()
    args = [
        "--port",
        "1234",
        "--no-controllers",
        "--data-dir",
        "/tmp/x",
        "--controller-concurrency",
        '{"project": 4}',
        "--max-body-bytes",
        "10",
    ]
    result = CliRunner().invoke(cmd, args)
    assert result.exit_code == 0, result.output
    s = seen["settings"]
    assert s.port == 1234  # flag over env
    assert s.lease_seconds == 7.0  # env when no flag
    assert s.controllers is False
    assert s.data_dir == Path("/tmp/x")
    assert s.controller_concurrency == {"project": 4}
    assert s.max_body_bytes == 10
    assert s.host == "127.0.0.1"  # default


def test_bad_json_flag_is_a_clear_error() -> None:
    cmd, _ = _capture()
    result = CliRunner().invoke(cmd, ["--controller-concurrency", "[1]"])
    assert result.exit_code == 2
    assert "must be a JSON object" in result.output
