"""The registry client against scripted HTTP: auth challenges, error mapping, HTTP vs HTTPS."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from axle.oci import (
    ArtifactNotFound,
    Credentials,
    DigestMismatch,
    OciError,
    RegistryUnauthorized,
    RegistryUnavailable,
    build_artifact,
    pull,
)
from axle.oci.digests import sha256_digest
from axle.oci.registry import RegistryClient, use_http
from tests.oci.conftest import sample_manifests

A = build_artifact(sample_manifests(), source="s", revision="r")


class FakeRegistry:
    """An in-memory distribution API behind optional auth, for httpx.MockTransport."""

    def __init__(self, auth: Callable[[httpx.Request], httpx.Response | None] | None = None):
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, bytes] = {}
        self.auth = auth
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if self.auth is not None and (denied := self.auth(request)) is not None:
            return denied
        path = request.url.path
        parts = path.split("/")
        if path.endswith("/blobs/uploads/") and request.method == "POST":
            return httpx.Response(202, headers={"Location": "/v2/upload/123?state=x"})
        if path.startswith("/v2/upload/") and request.method == "PUT":
            digest = request.url.params["digest"]
            self.blobs[digest] = request.content
            return httpx.Response(201)
        if "blobs" in parts:
            data = self.blobs.get(parts[-1])
            if data is None:
                return httpx.Response(404)
            return httpx.Response(200, content=b"" if request.method == "HEAD" else data)
        if "manifests" in parts:
            ref = parts[-1]
            if request.method == "PUT":
                digest = sha256_digest(request.content)
                self.manifests[ref] = self.manifests[digest] = request.content
                return httpx.Response(201, headers={"Docker-Content-Digest": digest})
            body = self.manifests.get(ref)
            if body is None:
                return httpx.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN"}]})
            return httpx.Response(
                200,
                content=b"" if request.method == "HEAD" else body,
                headers={"Docker-Content-Digest": sha256_digest(body)},
            )
        return httpx.Response(400)


def client(fake: Any, creds: Credentials | None = None) -> RegistryClient:
    return RegistryClient(
        "reg.example:5000", credentials=creds, transport=httpx.MockTransport(fake)
    )


async def test_push_and_fetch_against_a_fake_registry() -> None:
    fake = FakeRegistry()
    async with client(fake) as c:
        result = await c.push("team/app", A, "v1")
        assert result.digest == A.manifest_digest
        assert await c.resolve("team/app", "v1") == A.manifest_digest
        pulled = await c.fetch("team/app", A.manifest_digest)
    assert pulled.manifests() == sample_manifests()
    assert str(fake.seen[0].url).startswith("https://reg.example:5000/v2/team/app/blobs/")
    put = next(r for r in fake.seen if r.url.path.startswith("/v2/upload/"))
    assert put.url.params["state"] == "x"  # the upload location's own query is kept


def _bearer_auth(request: httpx.Request) -> httpx.Response | None:
    if request.url.host == "auth.example":
        expected = "Basic " + base64.b64encode(b"robot:pw").decode()
        if request.headers.get("authorization") != expected:
            return httpx.Response(401)
        assert request.url.params["service"] == "reg"
        assert request.url.params["scope"] == "repository:team/app:pull,push"
        return httpx.Response(200, json={"token": "tok-1"})
    if request.headers.get("authorization") == "Bearer tok-1":
        return None
    return httpx.Response(
        401,
        headers={
            "WWW-Authenticate": 'Bearer realm="https://auth.example/token",service="reg",'
            'scope="repository:team/app:pull,push"'
        },
    )


async def test_bearer_challenge_exchanges_credentials_for_a_token() -> None:
    fake = FakeRegistry(auth=_bearer_auth)
    async with client(fake, Credentials(username="robot", password="pw")) as c:
        await c.push("team/app", A, "v1")
        assert (await c.fetch("team/app", A.manifest_digest)).manifests() == sample_manifests()
    token_requests = [r for r in fake.seen if r.url.host == "auth.example"]
    assert len(token_requests) == 1  # the token is reused for later requests


async def test_bearer_challenge_with_wrong_credentials_is_unauthorized() -> None:
    fake = FakeRegistry(auth=_bearer_auth)
    async with client(fake, Credentials(username="robot", password="no")) as c:
        with pytest.raises(RegistryUnauthorized, match=r"registry reg\.example:5000 returned 401"):
            await c.fetch("team/app", A.manifest_digest)


async def test_token_credential_is_sent_as_bearer() -> None:
    fake = FakeRegistry(auth=_bearer_auth)
    async with client(fake, Credentials(token="tok-1")) as c:
        await c.push("team/app", A, "v1")
    assert all(r.url.host != "auth.example" for r in fake.seen)


async def test_basic_challenge() -> None:
    good = "Basic " + base64.b64encode(b"u:p").decode()

    def auth(request: httpx.Request) -> httpx.Response | None:
        if request.headers.get("authorization") == good:
            return None
        return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})

    fake = FakeRegistry(auth=auth)
    async with client(fake, Credentials(username="u", password="p")) as c:
        await c.push("team/app", A, "v1")
    async with client(fake) as c:
        with pytest.raises(RegistryUnauthorized, match="credentials missing or refused"):
            await c.fetch("team/app", A.manifest_digest)


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (403, RegistryUnauthorized, r"returned 403 \(access denied\)"),
        (404, ArtifactNotFound, "not found in registry"),
        (429, RegistryUnavailable, "returned 429"),
        (503, RegistryUnavailable, "returned 503"),
        (400, OciError, "returned 400 for GET .*: MANIFEST_INVALID: bad media type"),
    ],
)
async def test_http_errors_map_to_oci_errors(
    status: int, error: type[OciError], message: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"errors": [{"code": "MANIFEST_INVALID", "message": "bad media type"}]}
        return httpx.Response(status, json=body)

    async with client(handler) as c:
        with pytest.raises(error, match=message):
            await c.fetch("team/app", A.manifest_digest)


async def test_a_registry_that_is_down_is_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RegistryUnavailable, match=f"cannot reach registry 127.0.0.1:{port}") as e:
        await pull(f"oci://127.0.0.1:{port}/team/app", A.manifest_digest)
    assert e.value.retryable


async def test_a_manifest_served_with_other_bytes_is_a_digest_mismatch() -> None:
    fake = FakeRegistry()
    async with client(fake) as c:
        await c.push("team/app", A, "v1")
        fake.manifests[A.manifest_digest] = A.manifest_bytes + b" "
        with pytest.raises(DigestMismatch, match="manifest digest mismatch"):
            await c.fetch("team/app", A.manifest_digest)


async def test_a_registry_that_rewrites_the_manifest_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "HEAD" and "/blobs/" in request.url.path:
            return httpx.Response(200)
        if request.method == "HEAD":
            return httpx.Response(404)
        return httpx.Response(201, headers={"Docker-Content-Digest": "sha256:" + "9" * 64})

    async with client(handler) as c:
        with pytest.raises(OciError, match="stored the manifest as sha256:9999"):
            await c.push("team/app", A, "v1")


def test_loopback_hosts_use_http_by_default() -> None:
    assert use_http("127.0.0.1:5000", None)
    assert use_http("localhost:5000", None)
    assert use_http("[::1]:5000", None)
    assert not use_http("registry.example.com", None)
    assert not use_http("10.0.0.5:30003", None)
    assert use_http("10.0.0.5:30003", True)
    assert not use_http("127.0.0.1:5000", False)


def test_credentials_never_print_secrets() -> None:
    text = repr(Credentials(username="u", password="hunter2", token="t0ken"))
    assert "hunter2" not in text and "t0ken" not in text and "'u'" in text


def test_credentials_from_docker_config() -> None:
    auth = base64.b64encode(b"robot:p:w").decode()
    config = {
        "auths": {
            "https://reg.example:5000/v1/": {"auth": auth},
            "other.example": {"username": "a", "password": "b"},
            "tok.example": {"registrytoken": "t"},
        }
    }
    got = Credentials.from_docker_config(json.dumps(config).encode(), "reg.example:5000")
    assert (got.username, got.password) == ("robot", "p:w")
    assert Credentials.from_docker_config(config, "other.example") == Credentials("a", "b")
    assert Credentials.from_docker_config(config, "tok.example") == Credentials(token="t")
    assert Credentials.from_docker_config(config, "nowhere") == Credentials()
    with pytest.raises(RegistryUnauthorized, match="not a Docker config JSON"):
        Credentials.from_docker_config(b"nope", "reg.example")
