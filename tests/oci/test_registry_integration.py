"""Push and pull through a real OCI-distribution registry: Debian's `docker-registry` on loopback.

Each test starts its own registry (free port, storage in tmp_path, optional htpasswd auth) and
stops it afterwards. The binary is a system package (`make system-deps` installs it); if it is
missing these tests fail, they do not skip: a green run must mean a real registry was used.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from axle.oci import (
    ArtifactNotFound,
    Credentials,
    DigestMismatch,
    RegistryUnauthorized,
    build_artifact,
    pull,
    push,
    resolve,
)
from axle.oci.registry import RegistryClient
from tests.integration.registryproc import RegistryProcess, run_registry
from tests.oci.conftest import sample_manifests

pytestmark = pytest.mark.integration

Registry = RegistryProcess


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    with run_registry(tmp_path) as reg:
        yield reg


class Recorder(httpx.AsyncBaseTransport):
    """Passes requests through to the network, remembering method and path of each."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.calls: list[tuple[str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls.append((request.method, request.url.path))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def writes(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if c[0] in ("POST", "PUT", "PATCH")]


def art(revision: str = "llm@1", replicas: int = 1) -> Any:
    return build_artifact(sample_manifests(replicas), source="axle://team-a/llm", revision=revision)


async def test_push_then_pull_by_digest_matches_the_layout_store(
    registry: Registry, tmp_path: Path
) -> None:
    a = art()
    digest = await push(a, registry.url("team-a/llm"), "c1")
    layout_digest = await push(a, f"file://{tmp_path}/layout", "c1")
    assert digest == layout_digest == a.manifest_digest
    assert await pull(registry.url("team-a/llm"), digest) == sample_manifests()
    assert await pull(f"file://{tmp_path}/layout", digest) == sample_manifests()
    assert await resolve(registry.url("team-a/llm:c1")) == digest
    # The registry stored our exact bytes: its own digest header agrees.
    async with httpx.AsyncClient() as http:
        resp = await http.get(
            f"http://{registry.host}/v2/team-a/llm/manifests/c1",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        )
    assert resp.headers["docker-content-digest"] == digest
    assert resp.content == a.manifest_bytes


async def test_second_identical_push_uploads_nothing(registry: Registry) -> None:
    a = art()
    rec = Recorder()
    async with RegistryClient(registry.host, transport=rec) as client:
        first = await client.push("team-a/llm", a, "c1")
        assert first.uploaded == [*a.blobs, a.manifest_digest]
        assert ("POST", "/v2/team-a/llm/blobs/uploads/") in rec.writes()
        rec.calls.clear()
        second = await client.push("team-a/llm", a, "c1")
    assert second.uploaded == [] and second.tagged is False
    assert rec.writes() == []


async def test_existing_blobs_are_skipped(registry: Registry) -> None:
    a, b = art("llm@1"), art("llm@2")  # same objects: same layer and config, new manifest
    assert a.layer_digest == b.layer_digest
    await push(a, registry.url("team-a/llm"), "c1")
    rec = Recorder()
    async with RegistryClient(registry.host, transport=rec) as client:
        result = await client.push("team-a/llm", b, "c1")
    assert result.uploaded == [b.manifest_digest]
    assert rec.writes() == [("PUT", "/v2/team-a/llm/manifests/c1")]
    assert ("HEAD", f"/v2/team-a/llm/blobs/{b.layer_digest}") in rec.calls
    assert await resolve(registry.url("team-a/llm"), "c1") == b.manifest_digest
    assert await pull(registry.url("team-a/llm"), a.manifest_digest) == sample_manifests()


async def test_tampered_blob_in_the_registry_fails_the_pull(registry: Registry) -> None:
    a = art()
    digest = await push(a, registry.url("team-a/llm"), "c1")
    blob = registry.blob_file(a.layer_digest)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(DigestMismatch) as err:
        await pull(registry.url("team-a/llm"), digest)
    assert err.value.expected == a.layer_digest
    assert f"expected {a.layer_digest}, got sha256:" in str(err.value)


async def test_unknown_digest_and_tag_are_not_found(registry: Registry) -> None:
    await push(art(), registry.url("team-a/llm"), "c1")
    missing = art(replicas=7).manifest_digest
    with pytest.raises(ArtifactNotFound, match=f"{missing} not found in registry"):
        await pull(registry.url("team-a/llm"), missing)
    with pytest.raises(ArtifactNotFound):
        await resolve(registry.url("team-a/llm"), "nope")


def _htpasswd_line(user: str, password: str) -> str:
    """A bcrypt htpasswd entry (the only kind docker-registry accepts)."""
    tool = shutil.which("htpasswd")
    if tool:
        out = subprocess.run(
            [tool, "-nbB", user, password], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    try:
        import bcrypt
    except ImportError:
        pytest.skip(
            "registry auth test needs `htpasswd` (Debian package apache2-utils, installed by"
            " `make system-deps`) or the Python package bcrypt to write a bcrypt htpasswd file"
        )
    hashed: bytes = bcrypt.hashpw(password.encode(), bcrypt.gensalt())
    return f"{user}:{hashed.decode()}"


async def test_credentials_are_used_and_wrong_ones_get_401(tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(_htpasswd_line("axle", "s3cret") + "\n")
    a = art()
    with run_registry(tmp_path, htpasswd) as reg:
        good = Credentials(username="axle", password="s3cret")
        digest = await push(a, reg.url("team-a/llm"), "c1", credentials=good)
        assert await pull(reg.url("team-a/llm"), digest, credentials=good) == sample_manifests()

        wrong = Credentials(username="axle", password="guess")
        with pytest.raises(RegistryUnauthorized, match="returned 401") as err:
            await pull(reg.url("team-a/llm"), digest, credentials=wrong)
        assert str(err.value).startswith("artifact pull failed: registry 127.0.0.1:")
        assert "guess" not in str(err.value)
        with pytest.raises(RegistryUnauthorized, match=r"artifact push failed: .* returned 401"):
            await push(art("llm@2"), reg.url("team-a/llm"), "c2", credentials=wrong)
        with pytest.raises(RegistryUnauthorized, match="returned 401"):
            await pull(reg.url("team-a/llm"), digest)
