"""Protobuf bodies of the core kinds (what kubectl's `create` generators send) decode to the
JSON objects the API server would see."""

from __future__ import annotations

import httpx
import pytest

from axle.errors import BadRequest, UnsupportedMediaType
from axle.server.protobuf import MAGIC, decode_protobuf


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _ld(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _s(number: int, text: str) -> bytes:
    return _ld(number, text.encode())


def _entry(number: int, key: str, value: bytes) -> bytes:
    return _ld(number, _s(1, key) + _ld(2, value))


def _envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    return MAGIC + _ld(1, _s(1, api_version) + _s(2, kind)) + _ld(2, raw)


def _secret() -> bytes:
    meta = (
        _s(1, "s1")
        + _s(2, "")  # Go sends empty non-pointer strings; they mean "unset"
        + _s(3, "demo")
        + _ld(8, b"")  # zero time
        + _entry(11, "team", b"ml")
    )
    raw = _ld(1, meta) + _entry(2, "a", b"b") + _s(3, "Opaque")
    return _envelope("v1", "Secret", raw)


def test_decode_secret() -> None:
    assert decode_protobuf(_secret()) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s1", "namespace": "demo", "labels": {"team": "ml"}},
        "data": {"a": "Yg=="},
        "type": "Opaque",
    }


def test_decode_rolebinding_with_repeated_messages() -> None:
    subject = _s(1, "Group") + _s(2, "rbac.authorization.k8s.io") + _s(3, "g1")
    ref = _s(1, "rbac.authorization.k8s.io") + _s(2, "Role") + _s(3, "r1")
    raw = _ld(1, _s(1, "rb")) + _ld(2, subject) + _ld(2, subject) + _ld(3, ref)
    obj = decode_protobuf(_envelope("rbac.authorization.k8s.io/v1", "RoleBinding", raw))
    assert obj["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r1"}
    assert [s["name"] for s in obj["subjects"]] == ["g1", "g1"]


def test_refuses_other_kinds_and_garbage() -> None:
    with pytest.raises(UnsupportedMediaType):
        decode_protobuf(_envelope("apps/v1", "Deployment", b""))
    with pytest.raises(BadRequest):
        decode_protobuf(b"not protobuf")
    with pytest.raises(BadRequest):
        decode_protobuf(MAGIC + b"\x0a\xff")  # a length running past the end


async def test_create_with_a_protobuf_body(client: httpx.AsyncClient) -> None:
    ns = _envelope("v1", "Namespace", _ld(1, _s(1, "demo")))
    r = await client.post(
        "/api/v1/namespaces",
        content=ns,
        headers={"Content-Type": "application/vnd.kubernetes.protobuf"},
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        "/api/v1/namespaces/demo/secrets",
        content=_secret(),
        headers={"Content-Type": "application/vnd.kubernetes.protobuf"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["data"] == {"a": "Yg=="}
