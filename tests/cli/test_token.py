"""`axle token create` adds a user the hub's authenticator accepts."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from axle.cli.main import cli
from axle.server.auth import TokenAuthenticator, ensure_admin_token


def test_created_token_authenticates_with_its_groups(tmp_path: Path) -> None:
    ensure_admin_token(tmp_path)
    result = CliRunner().invoke(
        cli,
        ["token", "create", "vera", "--group", "g1", "--group", "g2", "--data-dir", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    user = TokenAuthenticator.from_data_dir(tmp_path).authenticate(f"Bearer {token}")
    assert user.name == "vera"
    assert {"g1", "g2"} <= set(user.groups)


def test_refuses_a_dir_that_is_not_a_hub(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["token", "create", "vera", "--data-dir", str(tmp_path)])
    assert result.exit_code != 0
    assert "tokens.yaml does not exist" in result.output
