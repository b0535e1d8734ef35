"""Bearer-token authentication: the tokens file, its reload, the admin token, 401 cases."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml

from axle.errors import Unauthorized
from axle.server.auth import (
    AUTHENTICATED_GROUP,
    TokenAuthenticator,
    UserInfo,
    add_user,
    ensure_admin_token,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def write_tokens(data_dir: Path, users: list[dict[str, object]]) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "tokens.yaml").write_text(yaml.safe_dump({"users": users}))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_bearer_token_maps_to_user_with_groups(tmp_path: Path) -> None:
    write_tokens(tmp_path, [{"name": "alice", "token": "tok-alice", "groups": ["team-a"]}])
    auth = TokenAuthenticator.from_data_dir(tmp_path)
    user = auth.authenticate("Bearer tok-alice")
    assert user == UserInfo(name="alice", groups=("team-a", AUTHENTICATED_GROUP))
    # The scheme is case-insensitive, as in RFC 7235.
    assert auth.authenticate("bearer tok-alice").name == "alice"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dG9rLWFsaWNlOg==",
        "tok-alice",
        "Bearer tok-alice extra",
        "Bearer tok-alicE",
        "Bearer tok-alice2",
        "Bearer wrong",
    ],
)
def test_401_cases(tmp_path: Path, header: str | None) -> None:
    write_tokens(tmp_path, [{"name": "alice", "token": "tok-alice", "groups": []}])
    auth = TokenAuthenticator.from_data_dir(tmp_path)
    with pytest.raises(Unauthorized) as err:
        auth.authenticate(header)
    status = err.value.to_status()
    assert status["code"] == 401 and status["reason"] == "Unauthorized"
    assert status["message"] == "Unauthorized"


def test_missing_tokens_file_authenticates_nobody(tmp_path: Path) -> None:
    auth = TokenAuthenticator.from_data_dir(tmp_path)
    with pytest.raises(Unauthorized):
        auth.authenticate("Bearer anything")


def test_raw_tokens_are_not_kept_in_memory(tmp_path: Path) -> None:
    write_tokens(tmp_path, [{"name": "alice", "token": "tok-alice-secret", "groups": []}])
    auth = TokenAuthenticator.from_data_dir(tmp_path)
    assert "tok-alice-secret" not in repr(vars(auth))
    assert all(isinstance(k, bytes) and len(k) == 32 for k in auth._users)


def test_reload_follows_file_changes_at_most_once_per_second(tmp_path: Path) -> None:
    write_tokens(tmp_path, [{"name": "alice", "token": "tok-a", "groups": []}])
    clock = FakeClock()
    auth = TokenAuthenticator(tmp_path / "tokens.yaml", clock=clock)
    assert auth.authenticate("Bearer tok-a").name == "alice"

    write_tokens(tmp_path, [{"name": "bob", "token": "tok-b", "groups": ["g"]}])
    os.utime(tmp_path / "tokens.yaml", ns=(1, 1))  # a distinct mtime whatever the fs resolution
    clock.now += 0.5  # inside the check interval: a known token is not re-checked
    assert auth.authenticate("Bearer tok-a").name == "alice"

    clock.now += 0.6
    assert auth.authenticate("Bearer tok-b") == UserInfo("bob", ("g", AUTHENTICATED_GROUP))
    with pytest.raises(Unauthorized):
        auth.authenticate("Bearer tok-a")


def test_a_token_added_just_now_works_at_once(tmp_path: Path) -> None:
    write_tokens(tmp_path, [{"name": "alice", "token": "tok-a", "groups": []}])
    clock = FakeClock()
    auth = TokenAuthenticator(tmp_path / "tokens.yaml", clock=clock)
    assert auth.authenticate("Bearer tok-a").name == "alice"
    add_user(tmp_path, "carol", ["c"], token="tok-c")
    os.utime(tmp_path / "tokens.yaml", ns=(2, 2))
    # Still inside the periodic check interval, but a miss looks at the file at once.
    assert auth.authenticate("Bearer tok-c").name == "carol"
    with pytest.raises(Unauthorized):
        auth.authenticate("Bearer tok-nobody")


def test_broken_file_keeps_previous_users(tmp_path: Path) -> None:
    write_tokens(tmp_path, [{"name": "alice", "token": "tok-a", "groups": []}])
    clock = FakeClock()
    auth = TokenAuthenticator(tmp_path / "tokens.yaml", clock=clock)
    (tmp_path / "tokens.yaml").write_text("users: [ {name: alice, token: \n")
    clock.now += 2
    assert auth.authenticate("Bearer tok-a").name == "alice"


@pytest.mark.parametrize(
    "users",
    [
        [{"name": "a", "token": "same"}, {"name": "b", "token": "same"}],
        [{"name": "", "token": "t"}],
        [{"name": "a", "token": "has space"}],
        [{"name": "a", "token": "t", "role": "admin"}],
        [{"name": "a", "token": "t", "groups": "notalist"}],
    ],
)
def test_invalid_tokens_files_are_refused(tmp_path: Path, users: list[dict[str, object]]) -> None:
    write_tokens(tmp_path, users)
    auth = TokenAuthenticator.from_data_dir(tmp_path)
    with pytest.raises(Unauthorized):
        auth.authenticate("Bearer t")
    with pytest.raises(Unauthorized):
        auth.authenticate("Bearer same")


def test_removed_file_revokes_everybody(tmp_path: Path) -> None:
    write_tokens(tmp_path, [{"name": "alice", "token": "tok-a", "groups": []}])
    clock = FakeClock()
    auth = TokenAuthenticator(tmp_path / "tokens.yaml", clock=clock)
    (tmp_path / "tokens.yaml").unlink()
    clock.now += 2
    with pytest.raises(Unauthorized):
        auth.authenticate("Bearer tok-a")


def test_admin_token_created_private_and_stable(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    token = ensure_admin_token(data_dir)
    assert len(token) >= 32
    assert (data_dir / "admin-token").read_text().strip() == token
    assert mode(data_dir / "admin-token") == 0o600
    assert mode(data_dir / "tokens.yaml") == 0o600
    users = yaml.safe_load((data_dir / "tokens.yaml").read_text())["users"]
    assert users == [{"name": "admin", "token": token, "groups": ["system:masters"]}]
    assert ensure_admin_token(data_dir) == token  # a restart keeps the token
    user = TokenAuthenticator.from_data_dir(data_dir).authenticate(f"Bearer {token}")
    assert user.name == "admin" and "system:masters" in user.groups


def test_admin_token_repairs_tokens_file_and_mode(tmp_path: Path) -> None:
    (tmp_path / "admin-token").write_text("existing-admin-token\n")
    os.chmod(tmp_path / "admin-token", 0o644)
    write_tokens(
        tmp_path,
        [
            {"name": "admin", "token": "stale", "groups": ["ops"]},
            {"name": "alice", "token": "tok-a", "groups": []},
        ],
    )
    assert ensure_admin_token(tmp_path) == "existing-admin-token"
    assert mode(tmp_path / "admin-token") == 0o600
    users = {u["name"]: u for u in yaml.safe_load((tmp_path / "tokens.yaml").read_text())["users"]}
    assert users["admin"] == {
        "name": "admin",
        "token": "existing-admin-token",
        "groups": ["ops", "system:masters"],
    }
    assert users["alice"]["token"] == "tok-a"


def test_add_user_then_authenticate(tmp_path: Path) -> None:
    ensure_admin_token(tmp_path)
    token = add_user(tmp_path, "vera", ["viewers", "viewers", "x"])
    auth = TokenAuthenticator.from_data_dir(tmp_path)
    assert auth.authenticate(f"Bearer {token}") == UserInfo(
        "vera", ("viewers", "x", AUTHENTICATED_GROUP)
    )
    # Re-issuing replaces the user's token and groups.
    token2 = add_user(tmp_path, "vera", ["editors"], token="chosen-token")
    assert token2 == "chosen-token"
    names = [u["name"] for u in yaml.safe_load((tmp_path / "tokens.yaml").read_text())["users"]]
    assert names == ["admin", "vera"]
    assert mode(tmp_path / "tokens.yaml") == 0o600


def test_add_user_refuses_bad_input(tmp_path: Path) -> None:
    add_user(tmp_path, "a", [], token="tok-a")
    with pytest.raises(ValueError):
        add_user(tmp_path, "b", [], token="tok-a")
    with pytest.raises(ValueError):
        add_user(tmp_path, "", [])
    with pytest.raises(ValueError):
        add_user(tmp_path, "c", [], token="two words")


def test_reload_now(tmp_path: Path) -> None:
    auth = TokenAuthenticator(tmp_path / "tokens.yaml", clock=FakeClock())
    token = add_user(tmp_path, "late", ["g"])
    auth.reload()
    assert auth.authenticate(f"Bearer {token}").name == "late"
    # A forced reload re-reads even an unchanged file (its stamp is not consulted).
    (tmp_path / "tokens.yaml").write_text("users: []\n")
    auth.reload()
    with pytest.raises(Unauthorized):
        auth.authenticate(f"Bearer {token}")


def test_token_may_be_given_as_its_sha256(tmp_path: Path) -> None:
    import hashlib

    digest = hashlib.sha256(b"tok-bob").hexdigest()
    write_tokens(tmp_path, [{"name": "bob", "tokenSha256": digest, "groups": ["g"]}])
    auth = TokenAuthenticator.from_data_dir(tmp_path)
    assert auth.authenticate("Bearer tok-bob").name == "bob"
    with pytest.raises(Unauthorized):
        auth.authenticate(f"Bearer {digest}")  # the digest itself is not a token
    with pytest.raises(ValueError):  # add_user will not hand out bob's token to another user
        add_user(tmp_path, "mallory", [], token="tok-bob")


@pytest.mark.parametrize(
    "entry",
    [
        {"name": "a", "token": "t", "tokenSha256": "0" * 64},
        {"name": "a"},
        {"name": "a", "tokenSha256": "xyz"},
    ],
)
def test_exactly_one_token_form(tmp_path: Path, entry: dict[str, object]) -> None:
    write_tokens(tmp_path, [entry])
    auth = TokenAuthenticator.from_data_dir(tmp_path)
    with pytest.raises(Unauthorized):
        auth.authenticate("Bearer t")
