"""The hub's artifact store: tags, idempotent pushes, and registry failures in words a user
can act on (and a deployment that recovers when the registry comes back)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from axle.controllers.artifactstore import (
    MAX_TAG,
    ArtifactStore,
    LayoutJob,
    LayoutPushed,
    artifact_tag,
    push_in_worker,
)
from axle.errors import TemporaryError
from axle.oci import InvalidReference, resolve
from axle.oci.refs import TAG_RE
from axle.store.base import Store
from tests.controllers.deliveryfixtures import (
    NS,
    WD,
    deployment,
    phase_is,
    running_hub,
    setup,
    wd_status,
    work_of,
)
from tests.controllers.helpers import eventually
from tests.integration.registryproc import RegistryProcess, free_port
from tests.oci.conftest import sample_manifests
from tests.oci.test_registry_integration import _htpasswd_line


def test_tags_follow_the_oci_rules() -> None:
    assert artifact_tag("team-a", "llm-vllm", 3) == "team-a.llm-vllm.r3"
    long = artifact_tag("team-a", "x" * 300, 12)
    assert len(long) <= MAX_TAG and TAG_RE.match(long) and long.endswith(".r12")
    assert long != artifact_tag("team-a", "x" * 299, 12)
    odd = artifact_tag("team-a", "name:with/odd@chars", 1)
    assert TAG_RE.match(odd)


async def test_unchanged_push_writes_nothing_new(tmp_path: Path) -> None:
    store = ArtifactStore(f"file://{tmp_path / 'artifacts'}")
    first = await store.push(
        sample_manifests(), namespace=NS, name="llm", revision=1, source_revision="llm@1"
    )
    assert first.url == f"file://{tmp_path / 'artifacts' / NS / 'llm'}"
    assert await resolve(first.url, "team-a.llm.r1") == first.digest
    blobs = tmp_path / "artifacts" / NS / "llm" / "blobs" / "sha256"
    before = {p.name: p.stat().st_mtime_ns for p in blobs.iterdir()}
    index = (tmp_path / "artifacts" / NS / "llm" / "index.json").stat().st_mtime_ns
    again = await store.push(
        sample_manifests(), namespace=NS, name="llm", revision=1, source_revision="llm@1"
    )
    assert again == first
    assert {p.name: p.stat().st_mtime_ns for p in blobs.iterdir()} == before
    assert (tmp_path / "artifacts" / NS / "llm" / "index.json").stat().st_mtime_ns == index
    changed = await store.push(
        sample_manifests(2), namespace=NS, name="llm", revision=2, source_revision="llm@2"
    )
    assert changed.digest != first.digest


async def test_layout_pushes_skip_fsync_and_intact_checks_what_is_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", synced.append)
    store = ArtifactStore(f"file://{tmp_path / 'artifacts'}")
    pushed = await store.push(
        sample_manifests(), namespace=NS, name="llm", revision=1, source_revision="llm@1"
    )
    assert synced == []
    assert await store.intact(NS, "llm", pushed.digest)
    assert not await store.intact(NS, "other", pushed.digest)
    # A power loss took the manifest with it: not intact, and the next push restores it.
    manifest = tmp_path / "artifacts" / NS / "llm" / "blobs" / "sha256"
    (manifest / pushed.digest.removeprefix("sha256:")).unlink()
    assert not await store.intact(NS, "llm", pushed.digest)
    again = await store.push(
        sample_manifests(), namespace=NS, name="llm", revision=1, source_revision="llm@1"
    )
    assert again == pushed
    assert await store.intact(NS, "llm", pushed.digest)


async def test_a_registry_is_taken_at_its_word() -> None:
    store = ArtifactStore(f"oci://127.0.0.1:{free_port()}/axle", insecure=True)
    assert await store.intact(NS, "llm", "sha256:" + "1" * 64)


async def test_an_unreachable_registry_is_a_temporary_error() -> None:
    url = f"oci://127.0.0.1:{free_port()}/axle"
    store = ArtifactStore(url, insecure=True)
    with pytest.raises(TemporaryError) as info:
        await store.push(
            sample_manifests(), namespace=NS, name="llm", revision=1, source_revision="llm@1"
        )
    assert info.value.reason == "RegistryUnavailable"
    assert info.value.message.startswith("artifact push failed: cannot reach registry 127.0.0.1")
    assert info.value.message.endswith("(retrying)")


def test_a_malformed_store_url_fails_at_once() -> None:
    with pytest.raises(InvalidReference):
        ArtifactStore("ftp://nowhere/x")


@pytest.mark.integration
async def test_refused_credentials_say_what_to_check(tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(_htpasswd_line("axle", "s3cret") + "\n")
    registry = RegistryProcess(tmp_path / "reg", htpasswd).start()
    try:
        store = ArtifactStore(registry.url("axle"), insecure=True)
        with pytest.raises(TemporaryError) as info:
            await store.push(
                sample_manifests(), namespace=NS, name="llm", revision=1, source_revision="x@1"
            )
    finally:
        registry.stop()
    assert info.value.reason == "RegistryUnauthorized"
    assert "returned 401" in info.value.message
    assert "check the hub's access to the artifact store" in info.value.message


@pytest.mark.integration
async def test_registry_down_then_up(store: Store, tmp_path: Path) -> None:
    registry = RegistryProcess(tmp_path / "reg")
    url = registry.url("axle")
    try:
        async with running_hub(store, tmp_path, url) as hub:
            await setup(hub.store, ("s1",))
            await hub.store.create(WD, deployment())

            async def push_failed() -> dict[str, object] | None:
                status = await wd_status(hub.store)
                return status if "artifact push failed" in str(status.get("message")) else None

            status = await eventually(push_failed, within=30, what="the push failure")
            assert status["phase"] == "Pending"
            delivered = next(
                c
                for c in status["conditions"]  # type: ignore[attr-defined]
                if c["type"] == "Delivered"
            )
            assert delivered["reason"] == "RegistryUnavailable"
            assert await work_of(hub.store, "s1") is None
            registry.start()
            work = await eventually(
                lambda: work_of(hub.store, "s1"), within=30, what="delivery once it is up"
            )
            assert work["spec"]["artifact"]["url"] == url
            assert (
                await resolve(url, f"{NS}.app-web.r1", insecure=True)
                == (work["spec"]["artifact"]["digest"])
            )
            await eventually(lambda: phase_is(hub.store, "Deploying"), what="Deploying")
    finally:
        registry.stop()


INPUT = "sha256:" + "cd" * 32


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_only_a_layout_store_hands_its_pushes_to_the_render_worker(tmp_path: Path) -> None:
    args: dict[str, Any] = {
        "namespace": NS,
        "name": "llm",
        "revision": 2,
        "source_revision": "llm@2",
    }
    store = ArtifactStore(f"file://{tmp_path / 'artifacts'}")
    assert store.layout_job(**args, input_digest=INPUT) == LayoutJob(
        root=str(tmp_path / "artifacts" / NS / "llm"),
        tag=f"{NS}.llm.r2",
        source=f"axle://{NS}/llm",
        revision="llm@2",
        input_digest=INPUT,
        shared=str(tmp_path / "artifacts" / ".shared"),
    )
    registry = ArtifactStore(f"oci://127.0.0.1:{free_port()}/axle", insecure=True)
    assert registry.layout_job(**args) is None


async def test_a_worker_push_is_the_push_the_store_would_make(tmp_path: Path) -> None:
    args: dict[str, Any] = {
        "namespace": NS,
        "name": "llm",
        "revision": 1,
        "source_revision": "llm@1",
        "input_digest": INPUT,
    }
    here = ArtifactStore(f"file://{tmp_path / 'here'}")
    local = await here.push(sample_manifests(), **args)
    there = ArtifactStore(f"file://{tmp_path / 'there'}")
    job = there.layout_job(**args)
    assert job is not None
    pushed = push_in_worker(job, sample_manifests())
    assert pushed == LayoutPushed(digest=local.digest)
    taken = await there.push(sample_manifests(), **args, pushed=pushed)
    assert (taken.digest, taken.tag) == (local.digest, local.tag)
    assert taken.url == f"file://{tmp_path / 'there' / NS / 'llm'}"
    assert there.pushes == 1
    assert files(tmp_path / "there" / NS / "llm") == files(tmp_path / "here" / NS / "llm")


async def test_a_worker_push_that_failed_reads_as_the_stores_own_failure(tmp_path: Path) -> None:
    args: dict[str, Any] = {"namespace": NS, "name": "llm", "revision": 1, "source_revision": "x"}
    (tmp_path / "artifacts").write_text("a file where the store's directory should be")
    store = ArtifactStore(f"file://{tmp_path / 'artifacts'}")
    with pytest.raises(TemporaryError) as here:
        await store.push(sample_manifests(), **args)
    job = store.layout_job(**args)
    assert job is not None
    pushed = push_in_worker(job, sample_manifests())
    assert pushed.digest is None and pushed.error is not None
    with pytest.raises(TemporaryError) as there:
        await store.push(sample_manifests(), **args, pushed=pushed)
    assert there.value.message == here.value.message
    assert (there.value.reason, there.value.delay) == (here.value.reason, here.value.delay)
    assert "cannot write OCI layout" in there.value.message
    assert store.pushes == 0


async def test_a_push_the_worker_could_not_vouch_for_is_made_here(tmp_path: Path) -> None:
    store = ArtifactStore(f"file://{tmp_path / 'artifacts'}")
    pushed = await store.push(
        sample_manifests(),
        namespace=NS,
        name="llm",
        revision=1,
        source_revision="llm@1",
        pushed=LayoutPushed(),
    )
    assert await store.intact(NS, "llm", pushed.digest)
