"""Bearer-token authentication of hub requests, from a tokens file in the data directory.

The hub's users are the entries of `DATA_DIR/tokens.yaml` (mode 0600)::

    users:
      - name: admin                 # the user name RBAC subjects of kind User match
        token: 3q2-...              # the bearer token (any non-empty string without spaces)
        groups: [system:masters]    # RBAC subjects of kind Group match these
      - name: alice
        token: Zr9...
        groups: [team-a-viewers]
      - name: bob                   # or only the token's SHA-256 (hex), so that the file
        tokenSha256: 9f86d08...     # does not hold the secret itself
        groups: [team-a-editors]

`axle up` creates it with the `admin` user (group `system:masters`, which RBAC allows
everything) whose token it also writes to `DATA_DIR/admin-token` (mode 0600) so that the
operator can `cat` it; `add_user` appends users. Every authenticated user is also in group
`system:authenticated`, as in Kubernetes, which is what lets any user read discovery.

Why shaped so:
- The file is re-read when it changes (its mtime, size or inode differ), checked at most once a
  second, so adding a user needs no hub restart and costs a request nothing measurable.
- Only SHA-256 digests of the tokens are kept in memory, in a dict keyed by digest. A lookup
  hashes the presented token first, so the only comparison made is of digests, and its timing
  reveals nothing usable about a valid token (a timing attack would have to find SHA-256
  preimages byte by byte).
- A tokens file that fails to parse keeps the previous users (and logs why) rather than locking
  everybody out while someone edits it by hand.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from axle.errors import Unauthorized

log = logging.getLogger(__name__)

TOKENS_FILE = "tokens.yaml"
ADMIN_TOKEN_FILE = "admin-token"
ADMIN_USER = "admin"
MASTERS_GROUP = "system:masters"
AUTHENTICATED_GROUP = "system:authenticated"
# How often, at most, the tokens file is stat()ed for changes.
RELOAD_CHECK_SECONDS = 1.0


@dataclass(frozen=True)
class UserInfo:
    """Who made a request: the user name and every group it belongs to."""

    name: str
    groups: tuple[str, ...]


class _UserEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    token: str | None = Field(default=None, min_length=1)
    tokenSha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    groups: list[str] = Field(default_factory=list)

    @field_validator("token")
    @classmethod
    def _no_whitespace(cls, value: str | None) -> str | None:
        if value is not None and any(c.isspace() for c in value):
            raise ValueError("a token may not contain whitespace")
        return value

    @model_validator(mode="after")
    def _one_token(self) -> _UserEntry:
        if (self.token is None) == (self.tokenSha256 is None):
            raise ValueError(f"user {self.name!r} needs exactly one of token, tokenSha256")
        return self

    def digest(self) -> bytes:
        if self.token is not None:
            return _digest(self.token)
        assert self.tokenSha256 is not None
        return bytes.fromhex(self.tokenSha256)


class _TokensFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: list[_UserEntry] = Field(default_factory=list)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def _parse_tokens(text: str, source: Path) -> dict[bytes, UserInfo]:
    """The users of a tokens file, keyed by token digest; ValueError says what is wrong."""
    raw: Any = yaml.safe_load(text) if text.strip() else {}
    if raw is None:
        raw = {}
    try:
        parsed = _TokensFile.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"{source}: {exc}") from exc
    users: dict[bytes, UserInfo] = {}
    for entry in parsed.users:
        digest = entry.digest()
        if digest in users:
            raise ValueError(
                f"{source}: users {users[digest].name!r} and {entry.name!r} share a token"
            )
        groups = tuple(dict.fromkeys([*entry.groups, AUTHENTICATED_GROUP]))
        users[digest] = UserInfo(name=entry.name, groups=groups)
    return users


class TokenAuthenticator:
    """Maps `Authorization: Bearer <token>` headers to users, following the tokens file."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.monotonic,
        check_interval: float = RELOAD_CHECK_SECONDS,
    ) -> None:
        self._path = path
        self._clock = clock
        self._check_interval = check_interval
        self._users: dict[bytes, UserInfo] = {}
        self._stamp: tuple[int, int, int] | None = None
        self._next_check = float("-inf")
        # authenticate() may run on several threads (sync routes); one reload at a time.
        self._lock = threading.Lock()
        self._maybe_reload(force=True)

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> TokenAuthenticator:
        return cls(Path(data_dir) / TOKENS_FILE)

    @property
    def path(self) -> Path:
        return self._path

    def authenticate(self, authorization_header: str | None) -> UserInfo:
        """The user a request's `Authorization` header names; `Unauthorized` otherwise."""
        token = _bearer_token(authorization_header)
        if token is None:
            raise Unauthorized("Unauthorized")
        self._maybe_reload()
        # Keyed by SHA-256 digest: the lookup compares digests, never the secret itself, so
        # its timing cannot be used to guess a token byte by byte.
        user = self._users.get(_digest(token))
        if user is None:
            # A token just added (`axle token create`) must work at once: on a miss, look at
            # the file now rather than at the next periodic check. Only a changed file is
            # re-read, so a stream of bad tokens costs one stat() each.
            self._maybe_reload(check_now=True)
            user = self._users.get(_digest(token))
        if user is None:
            raise Unauthorized("Unauthorized")
        return user

    def reload(self) -> None:
        """Re-read the tokens file now (tests, and a CLI that just added a user)."""
        self._maybe_reload(force=True)

    def _maybe_reload(self, *, force: bool = False, check_now: bool = False) -> None:
        now = self._clock()
        if not (force or check_now) and now < self._next_check:
            return
        with self._lock:
            if not (force or check_now) and now < self._next_check:
                return
            self._next_check = now + self._check_interval
            try:
                st = self._path.stat()
            except FileNotFoundError:
                if self._stamp is not None or force:
                    self._users = {}
                    self._stamp = None
                return
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
            if stamp == self._stamp and not force:
                return
            try:
                users = _parse_tokens(self._path.read_text(encoding="utf-8"), self._path)
            except (OSError, ValueError, yaml.YAMLError) as exc:
                log.error("tokens file not reloaded, keeping the previous users: %s", exc)
                self._stamp = stamp  # do not re-parse the same broken file every second
                return
            self._users = users
            self._stamp = stamp
            log.info("loaded %d user(s) from %s", len(users), self._path)


def _bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    token = rest.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


# --- writing the tokens file -------------------------------------------------------------


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """Serialise read-modify-write of tokens.yaml across processes (axle up, the CLI)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / f".{TOKENS_FILE}.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _read_users(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    _parse_tokens(text, path)  # refuse to rewrite a file we cannot understand
    raw = yaml.safe_load(text) or {}
    return [dict(u) for u in raw.get("users") or []]


def _write_private(path: Path, text: str) -> None:
    """Write a file atomically with mode 0600 (temp file in the same dir, then rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _write_users(path: Path, users: list[dict[str, Any]]) -> None:
    _write_private(path, yaml.safe_dump({"users": users}, sort_keys=False))


def _upsert(users: list[dict[str, Any]], name: str, token: str, groups: list[str]) -> None:
    for entry in users:
        if entry.get("name") == name:
            entry.pop("tokenSha256", None)
            entry["token"] = token
            entry["groups"] = groups
            return
    users.append({"name": name, "token": token, "groups": groups})


def ensure_admin_token(data_dir: Path) -> str:
    """The admin token, created on first use; tokens.yaml is made to hold user `admin`.

    `DATA_DIR/admin-token` is the source of truth: an existing one is kept (a restarted hub
    keeps its admin token) and tightened to mode 0600; tokens.yaml gets or corrects the
    `admin` entry with that token and group `system:masters`, keeping its other groups.
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    token_path = data_dir / ADMIN_TOKEN_FILE
    with _locked(data_dir):
        token = ""
        if token_path.exists():
            os.chmod(token_path, 0o600)
            token = token_path.read_text(encoding="utf-8").strip()
        if not token:
            token = secrets.token_urlsafe(32)
            _write_private(token_path, token + "\n")
        tokens_path = data_dir / TOKENS_FILE
        users = _read_users(tokens_path)
        current = next((u for u in users if u.get("name") == ADMIN_USER), None)
        groups = list(dict.fromkeys([*(current or {}).get("groups", []), MASTERS_GROUP]))
        if current is None or current.get("token") != token or current.get("groups") != groups:
            _upsert(users, ADMIN_USER, token, groups)
            _write_users(tokens_path, users)
        elif tokens_path.exists():
            os.chmod(tokens_path, 0o600)
    return token


def add_user(
    data_dir: Path, name: str, groups: list[str] | tuple[str, ...], *, token: str | None = None
) -> str:
    """Add (or re-issue) user `name` with `groups` in tokens.yaml; returns its token."""
    if not name:
        raise ValueError("a user needs a name")
    token = token or secrets.token_urlsafe(32)
    if _bearer_token(f"Bearer {token}") != token:
        raise ValueError("a token may not contain whitespace")
    data_dir = Path(data_dir)
    with _locked(data_dir):
        tokens_path = data_dir / TOKENS_FILE
        users = _read_users(tokens_path)
        digest = _digest(token).hex()
        if any(
            (u.get("token") == token or str(u.get("tokenSha256") or "").lower() == digest)
            and u.get("name") != name
            for u in users
        ):
            raise ValueError("that token is already another user's")
        _upsert(users, name, token, list(dict.fromkeys(groups)))
        _write_users(tokens_path, users)
    return token
