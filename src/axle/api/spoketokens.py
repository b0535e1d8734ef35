"""Spoke bootstrap tokens and spoke credentials: their format and the Secrets that record them.

A spoke joins with a one-time bootstrap token (kubeadm's `<id>.<secret>` shape: the id names
the Secret that records the token, the secret proves possession) and receives a long-lived
spoke credential in exchange. Both are recorded on the hub as Secrets in `axle-system` holding
only a SHA-256 of the secret part, never the secret itself, so that anyone who can read
Secrets there still cannot join a spoke or act as one.

Pure functions over plain dicts (no I/O, standard library only): the ComputePool controller
mints bootstrap tokens with them, the hub's join endpoint checks and consumes them, and the
spoke authenticator maps credentials back to spokes, all through this one module so that the
Secret layout has a single definition.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import string
from datetime import UTC, datetime, timedelta
from typing import Any

from axle.api.meta import SYSTEM_NAMESPACE

SPOKE_USER_PREFIX = "system:spoke:"
SPOKES_GROUP = "system:spokes"
SPOKE_LABEL = "axle.dev/spoke"
BOOTSTRAP_TOKEN_TYPE = "axle.dev/bootstrap-token"
SPOKE_CREDENTIAL_TYPE = "axle.dev/spoke-credential"
BOOTSTRAP_SECRET_PREFIX = "bootstrap-token-"
CREDENTIAL_SECRET_PREFIX = "spoke-credential-"
# The Lease in `spoke-<name>` the agent renews every leaseDurationSeconds / 3.
SPOKE_LEASE_NAME = "spoke-agent"

TOKEN_ID_LENGTH = 6
TOKEN_SECRET_LENGTH = 16
_ALPHABET = string.ascii_lowercase + string.digits
BOOTSTRAP_TOKEN_RE = re.compile(
    rf"^([a-z0-9]{{{TOKEN_ID_LENGTH}}})\.([a-z0-9]{{{TOKEN_SECRET_LENGTH}}})$"
)


def spoke_user(spoke: str) -> str:
    """The user name a spoke's credential authenticates as."""
    return f"{SPOKE_USER_PREFIX}{spoke}"


def sha256_hex(value: str) -> str:
    """Hex SHA-256 of a token: what the Secrets store in its place."""
    return hashlib.sha256(value.encode()).hexdigest()


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_bootstrap_token() -> str:
    """A fresh `<id>.<secret>` bootstrap token (6 + 16 lowercase alphanumerics)."""
    return f"{_random(TOKEN_ID_LENGTH)}.{_random(TOKEN_SECRET_LENGTH)}"


def parse_bootstrap_token(token: str) -> tuple[str, str] | None:
    """`(id, secret)` of a well-formed bootstrap token, None for anything else."""
    match = BOOTSTRAP_TOKEN_RE.match(token)
    return (match.group(1), match.group(2)) if match else None


def bootstrap_secret_name(token_id: str) -> str:
    """Name of the Secret recording the bootstrap token with this id."""
    return f"{BOOTSTRAP_SECRET_PREFIX}{token_id}"


def credential_secret_name(spoke: str) -> str:
    """Name of the Secret recording a spoke's credential."""
    return f"{CREDENTIAL_SECRET_PREFIX}{spoke}"


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def secret_field(secret_obj: dict[str, Any], key: str) -> str | None:
    """A decoded `data` value of a Secret (or a `stringData` one, as a client may send it)."""
    raw = (secret_obj.get("data") or {}).get(key)
    if isinstance(raw, str):
        try:
            return base64.b64decode(raw, validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return None
    plain = (secret_obj.get("stringData") or {}).get(key)
    return plain if isinstance(plain, str) else None


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime | None:
    """An RFC 3339 timestamp (`Z` or an offset) as an aware datetime; None if malformed."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def bootstrap_secret(
    spoke: str, token: str, *, ttl_seconds: int = 3600, now: datetime | None = None
) -> dict[str, Any]:
    """The Secret recording `token` as a one-time way for `spoke` to join, valid `ttl_seconds`.

    Raises ValueError for a malformed token or a non-positive ttl: these are programming
    errors of the caller, not user input.
    """
    parts = parse_bootstrap_token(token)
    if parts is None:
        raise ValueError("a bootstrap token is <6 lowercase alnum>.<16 lowercase alnum>")
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    token_id, token_secret = parts
    expiration = (now or datetime.now(UTC)) + timedelta(seconds=ttl_seconds)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": bootstrap_secret_name(token_id),
            "namespace": SYSTEM_NAMESPACE,
            "labels": {SPOKE_LABEL: spoke},
        },
        "type": BOOTSTRAP_TOKEN_TYPE,
        "data": {
            "token-id": _b64(token_id),
            "token-secret-sha256": _b64(sha256_hex(token_secret)),
            "spoke": _b64(spoke),
            "expiration": _b64(_rfc3339(expiration)),
        },
    }


def verify_bootstrap(
    secret_obj: dict[str, Any], token: str, now: datetime | None = None
) -> str | None:
    """The spoke `token` lets join, if `secret_obj` records it and it has not expired.

    None for a malformed token, a Secret of another type or id, a wrong secret, a missing or
    unreadable expiration, or an expired one. The hash comparison is constant-time.
    """
    parts = parse_bootstrap_token(token)
    if parts is None or secret_obj.get("type") != BOOTSTRAP_TOKEN_TYPE:
        return None
    token_id, token_secret = parts
    if secret_field(secret_obj, "token-id") != token_id:
        return None
    recorded = secret_field(secret_obj, "token-secret-sha256") or ""
    if not hmac.compare_digest(recorded.encode(), sha256_hex(token_secret).encode()):
        return None
    expiration = parse_rfc3339(secret_field(secret_obj, "expiration") or "")
    if expiration is None or expiration <= (now or datetime.now(UTC)):
        return None
    spoke = secret_field(secret_obj, "spoke")
    return spoke or None


def new_spoke_credential() -> str:
    """A fresh spoke credential: 256 random bits, URL-safe, prefixed so it is recognisable."""
    return f"axlespk_{secrets.token_urlsafe(32)}"


def credential_secret(spoke: str, token: str) -> dict[str, Any]:
    """The Secret recording `token` as `spoke`'s credential (its hash only)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": credential_secret_name(spoke),
            "namespace": SYSTEM_NAMESPACE,
            "labels": {SPOKE_LABEL: spoke},
        },
        "type": SPOKE_CREDENTIAL_TYPE,
        "data": {"token-sha256": _b64(sha256_hex(token)), "spoke": _b64(spoke)},
    }


def credential_entry(secret_obj: dict[str, Any]) -> tuple[str, str] | None:
    """`(token sha256, spoke)` recorded by a spoke-credential Secret; None for any other."""
    if secret_obj.get("type") != SPOKE_CREDENTIAL_TYPE:
        return None
    digest = secret_field(secret_obj, "token-sha256")
    spoke = secret_field(secret_obj, "spoke")
    if not digest or not spoke:
        return None
    return digest, spoke
