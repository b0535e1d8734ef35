"""Bootstrap tokens and spoke credentials: format, hashing, expiry, and no raw secret stored."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from axle.api import spoketokens as st

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_bootstrap_token_format_and_randomness() -> None:
    tokens = {st.new_bootstrap_token() for _ in range(50)}
    assert len(tokens) == 50
    for token in tokens:
        assert st.BOOTSTRAP_TOKEN_RE.match(token)
        token_id, secret = token.split(".")
        assert len(token_id) == 6 and len(secret) == 16
        assert st.parse_bootstrap_token(token) == (token_id, secret)


@pytest.mark.parametrize(
    "bad",
    ["", "abc.def", "ABCDEF.0123456789abcdef", "abcdef0123456789abcdef", "abcdef.0123456789abcde!"],
)
def test_malformed_tokens_are_rejected(bad: str) -> None:
    assert st.parse_bootstrap_token(bad) is None
    with pytest.raises(ValueError):
        st.bootstrap_secret("gpu-a", bad)


def test_bootstrap_secret_shape_never_holds_the_secret() -> None:
    token = "abc123.0123456789abcdef"
    obj = st.bootstrap_secret("gpu-a", token, ttl_seconds=600, now=NOW)
    assert obj["metadata"] == {
        "name": "bootstrap-token-abc123",
        "namespace": "axle-system",
        "labels": {"axle.dev/spoke": "gpu-a"},
    }
    assert obj["type"] == "axle.dev/bootstrap-token"
    assert "stringData" not in obj
    data = {k: base64.b64decode(v).decode() for k, v in obj["data"].items()}
    assert data == {
        "token-id": "abc123",
        "token-secret-sha256": hashlib.sha256(b"0123456789abcdef").hexdigest(),
        "spoke": "gpu-a",
        "expiration": "2026-01-02T03:14:05Z",
    }
    assert "0123456789abcdef" not in json.dumps(obj).replace(data["token-secret-sha256"], "")
    assert base64.b64encode(b"0123456789abcdef").decode() not in json.dumps(obj)


def test_verify_bootstrap_valid_wrong_and_expired() -> None:
    token = st.new_bootstrap_token()
    obj = st.bootstrap_secret("gpu-a", token, ttl_seconds=60, now=NOW)
    assert st.verify_bootstrap(obj, token, NOW) == "gpu-a"
    assert st.verify_bootstrap(obj, token, NOW + timedelta(seconds=59)) == "gpu-a"
    assert st.verify_bootstrap(obj, token, NOW + timedelta(seconds=60)) is None
    token_id, secret = token.split(".")
    other_secret = ("0" if secret[0] != "0" else "1") + secret[1:]
    assert st.verify_bootstrap(obj, f"{token_id}.{other_secret}", NOW) is None
    other = st.new_bootstrap_token()
    assert st.verify_bootstrap(obj, other, NOW) is None
    assert st.verify_bootstrap(obj, "garbage", NOW) is None
    assert st.verify_bootstrap({**obj, "type": "Opaque"}, token, NOW) is None
    broken = {**obj, "data": {**obj["data"], "expiration": base64.b64encode(b"soon").decode()}}
    assert st.verify_bootstrap(broken, token, NOW) is None


def test_verify_bootstrap_accepts_string_data_written_by_hand() -> None:
    token = "abc123.0123456789abcdef"
    obj = {
        "type": "axle.dev/bootstrap-token",
        "stringData": {
            "token-id": "abc123",
            "token-secret-sha256": hashlib.sha256(b"0123456789abcdef").hexdigest(),
            "spoke": "gpu-b",
            "expiration": "2026-01-02T05:00:00+02:00",
        },
    }
    assert st.verify_bootstrap(obj, token, NOW) is None  # 03:00Z, already past
    obj["stringData"]["expiration"] = "2026-01-02T04:00:00Z"
    assert st.verify_bootstrap(obj, token, NOW) == "gpu-b"


def test_ttl_must_be_positive() -> None:
    with pytest.raises(ValueError):
        st.bootstrap_secret("gpu-a", st.new_bootstrap_token(), ttl_seconds=0)


def test_credentials_and_their_secret() -> None:
    first, second = st.new_spoke_credential(), st.new_spoke_credential()
    assert first != second and len(first) > 40
    obj = st.credential_secret("gpu-a", first)
    assert obj["metadata"]["name"] == "spoke-credential-gpu-a"
    assert obj["metadata"]["namespace"] == "axle-system"
    assert obj["metadata"]["labels"] == {"axle.dev/spoke": "gpu-a"}
    assert obj["type"] == "axle.dev/spoke-credential"
    assert first not in json.dumps(obj)
    assert st.credential_entry(obj) == (hashlib.sha256(first.encode()).hexdigest(), "gpu-a")
    assert st.credential_entry({**obj, "type": "Opaque"}) is None
    assert st.credential_entry({**obj, "data": {}}) is None


def test_names() -> None:
    assert st.spoke_user("gpu-a") == "system:spoke:gpu-a"
    assert st.SPOKES_GROUP == "system:spokes"
    assert st.SPOKE_LEASE_NAME == "spoke-agent"
