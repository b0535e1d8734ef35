"""The OCI layout store: round trips, no-op pushes, concurrent writers, tampering."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from axle.oci import (
    ArtifactNotFound,
    DigestMismatch,
    InvalidArtifact,
    InvalidReference,
    OciError,
    build_artifact,
    fetch,
    pull,
    push,
    push_detailed,
    resolve,
)
from axle.oci.layout import has_layout_artifact, layout_tags, push_layout
from tests.oci.conftest import sample_manifests

ROOT = Path(__file__).resolve().parents[2]


def art(replicas: int = 1, revision: str = "llm@1") -> Any:
    return build_artifact(sample_manifests(replicas), source="axle://team-a/llm", revision=revision)


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every file and directory under root with its inode, mtime and size."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            st = os.stat(os.path.join(dirpath, name))
            out[os.path.relpath(os.path.join(dirpath, name), root)] = (
                st.st_ino,
                st.st_mtime_ns,
                st.st_size,
            )
    st = os.stat(root)
    out["."] = (st.st_ino, st.st_mtime_ns, 0)
    return out


async def test_round_trip_through_a_layout_dir(tmp_path: Path) -> None:
    a = art()
    url = f"file://{tmp_path}/store"
    digest = await push(a, url, "c1")
    assert digest == a.manifest_digest
    assert await pull(url, digest) == sample_manifests()
    assert await pull(f"oci-layout://{tmp_path}/store:c1", digest) == sample_manifests()
    assert await resolve(url, "c1") == digest
    assert await resolve(f"{url}:c1") == digest
    pulled = await fetch(url, digest)
    assert pulled.manifest_bytes == a.manifest_bytes
    assert pulled.annotations["org.opencontainers.image.revision"] == "llm@1"


async def test_layout_follows_the_oci_image_spec(tmp_path: Path) -> None:
    a = art()
    await push(a, f"file://{tmp_path}", "c1")
    assert json.loads((tmp_path / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((tmp_path / "index.json").read_text())
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert index["manifests"] == [
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": a.manifest_digest,
            "size": len(a.manifest_bytes),
            "annotations": {"org.opencontainers.image.ref.name": "c1"},
        }
    ]
    blobs = {p.name for p in (tmp_path / "blobs" / "sha256").iterdir()}
    assert blobs == {d.removeprefix("sha256:") for d in [a.manifest_digest, *a.blobs]}
    for p in (tmp_path / "blobs" / "sha256").iterdir():
        assert p.stat().st_mode & 0o777 == 0o644


async def test_unchanged_push_writes_nothing(tmp_path: Path) -> None:
    url = f"file://{tmp_path}"
    first = await push_detailed(art(), url, "c1")
    assert first.tagged and len(first.uploaded) == 3
    before = snapshot(tmp_path)
    again = await push_detailed(art(), url, "c1")
    assert again.digest == first.digest
    assert again.uploaded == [] and again.tagged is False
    assert snapshot(tmp_path) == before


async def test_only_new_content_is_written(tmp_path: Path) -> None:
    url = f"file://{tmp_path}"
    a = art()
    await push(a, url, "c1")
    before = snapshot(tmp_path)
    # Same objects, new revision: only the manifest is new, the layer and config are shared.
    b = art(revision="llm@2")
    result = await push_detailed(b, url, "c1")
    assert result.uploaded == [b.manifest_digest] and result.tagged
    after = snapshot(tmp_path)
    for digest in a.blobs:
        key = f"blobs/sha256/{digest.removeprefix('sha256:')}"
        assert after[key] == before[key]
    assert layout_tags(tmp_path) == {"c1": b.manifest_digest}
    # The old manifest stays readable by digest: a spoke may still be applying it.
    assert await pull(url, a.manifest_digest) == sample_manifests()
    # Another tag for existing content writes the index only.
    extra = await push_detailed(b, url, "c2")
    assert extra.uploaded == [] and extra.tagged
    assert layout_tags(tmp_path) == {"c1": b.manifest_digest, "c2": b.manifest_digest}


async def test_tampered_blob_fails_the_pull(tmp_path: Path) -> None:
    a = art()
    digest = await push(a, f"file://{tmp_path}", "c1")
    layer = tmp_path / "blobs" / "sha256" / a.layer_digest.removeprefix("sha256:")
    data = bytearray(layer.read_bytes())
    data[len(data) // 2] ^= 0xFF
    layer.write_bytes(bytes(data))
    with pytest.raises(DigestMismatch) as err:
        await pull(f"file://{tmp_path}", digest)
    assert err.value.expected == a.layer_digest
    assert f"expected {a.layer_digest}, got sha256:" in str(err.value)


async def test_tampered_manifest_fails_the_pull(tmp_path: Path) -> None:
    a = art()
    digest = await push(a, f"file://{tmp_path}", "c1")
    path = tmp_path / "blobs" / "sha256" / digest.removeprefix("sha256:")
    path.write_bytes(path.read_bytes().replace(b"llm@1", b"llm@9"))
    with pytest.raises(DigestMismatch, match=f"manifest digest mismatch: expected {digest}"):
        await pull(f"file://{tmp_path}", digest)


async def test_a_damaged_blob_is_rewritten_by_the_next_push(tmp_path: Path) -> None:
    a = art()
    await push(a, f"file://{tmp_path}", "c1")
    layer = tmp_path / "blobs" / "sha256" / a.layer_digest.removeprefix("sha256:")
    layer.write_bytes(b"truncated")
    result = await push_detailed(a, f"file://{tmp_path}", "c1")
    assert result.uploaded == [a.layer_digest]
    assert await pull(f"file://{tmp_path}", a.manifest_digest) == sample_manifests()


def test_a_torn_blob_of_the_same_size_is_rewritten_too(tmp_path: Path) -> None:
    # What a power loss may leave of an unsynced write: the right length, the wrong bytes.
    a = art()
    push_layout(a, tmp_path, "c1", durable=False)
    layer = tmp_path / "blobs" / "sha256" / a.layer_digest.removeprefix("sha256:")
    layer.write_bytes(b"\0" * layer.stat().st_size)
    assert not has_layout_artifact(tmp_path, a.manifest_digest)
    result = push_layout(a, tmp_path, "c1", durable=False)
    assert result.uploaded == [a.layer_digest] and result.tagged is False
    assert has_layout_artifact(tmp_path, a.manifest_digest)


def test_only_a_durable_push_fsyncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    push_layout(art(), tmp_path / "fast", "c1", durable=False)
    assert synced == []
    assert json.loads((tmp_path / "fast" / "oci-layout").read_text()) == {
        "imageLayoutVersion": "1.0.0"
    }
    assert has_layout_artifact(tmp_path / "fast", art().manifest_digest)
    for p in (tmp_path / "fast" / "blobs" / "sha256").iterdir():
        assert p.stat().st_mode & 0o777 == 0o644
    push_layout(art(), tmp_path / "safe", "c1")
    # oci-layout, config, layer, manifest, index.json
    assert len(synced) == 5


def test_an_unreadable_index_is_started_afresh_only_without_durability(tmp_path: Path) -> None:
    a, b = art(), art(replicas=2)
    push_layout(a, tmp_path, "c1", durable=False)
    (tmp_path / "index.json").write_bytes(b'{"schemaVer')  # torn by a power loss
    with pytest.raises(InvalidArtifact, match=r"index\.json is not JSON"):
        push_layout(b, tmp_path, "c2")
    result = push_layout(b, tmp_path, "c2", durable=False)
    assert result.tagged
    # The lost tag was a label: its content is still there, by digest.
    assert layout_tags(tmp_path) == {"c2": b.manifest_digest}
    assert has_layout_artifact(tmp_path, a.manifest_digest)


def test_has_layout_artifact_checks_every_blob(tmp_path: Path) -> None:
    a = art()
    assert not has_layout_artifact(tmp_path / "none", a.manifest_digest)
    push_layout(a, tmp_path, "c1", durable=False)
    assert has_layout_artifact(tmp_path, a.manifest_digest)
    assert not has_layout_artifact(tmp_path, "sha256:" + "1" * 64)
    (tmp_path / "blobs" / "sha256" / a.config_digest.removeprefix("sha256:")).unlink()
    assert not has_layout_artifact(tmp_path, a.manifest_digest)


async def test_missing_things_are_not_found(tmp_path: Path) -> None:
    digest = "sha256:" + "1" * 64
    with pytest.raises(ArtifactNotFound, match="is not an OCI layout"):
        await pull(f"file://{tmp_path}/nothing", digest)
    await push(art(), f"file://{tmp_path}", "c1")
    with pytest.raises(ArtifactNotFound, match=f"manifest {digest} not found in OCI layout"):
        await pull(f"file://{tmp_path}", digest)
    with pytest.raises(ArtifactNotFound, match="tag 'nope' not found"):
        await resolve(f"file://{tmp_path}", "nope")
    a = art()
    (tmp_path / "blobs" / "sha256" / a.layer_digest.removeprefix("sha256:")).unlink()
    with pytest.raises(ArtifactNotFound, match="layer"):
        await pull(f"file://{tmp_path}", a.manifest_digest)


async def test_reference_mistakes_are_refused(tmp_path: Path) -> None:
    a = art()
    d = a.manifest_digest
    with pytest.raises(InvalidReference, match="names no digest"):
        await push(a, f"file://{tmp_path}@{d}", "c1")
    with pytest.raises(InvalidReference, match="names tag 'x'"):
        await push(a, f"file://{tmp_path}:x", "c1")
    with pytest.raises(InvalidReference, match="invalid tag"):
        await push(a, f"file://{tmp_path}", "bad/tag")
    with pytest.raises(InvalidReference, match="another digest"):
        await pull(f"file://{tmp_path}@sha256:{'2' * 64}", d)
    with pytest.raises(InvalidReference, match="invalid manifest digest"):
        await pull(f"file://{tmp_path}", "latest")
    with pytest.raises(InvalidReference, match="no tag given"):
        await resolve(f"file://{tmp_path}")
    assert not (tmp_path / "index.json").exists()


async def test_concurrent_pushes_in_threads_keep_every_tag(tmp_path: Path) -> None:
    artifacts = [art(replicas=i) for i in range(20)]
    url = f"file://{tmp_path}"
    digests = await asyncio.gather(*(push(a, url, f"t{i}") for i, a in enumerate(artifacts)))
    assert layout_tags(tmp_path) == {f"t{i}": d for i, d in enumerate(digests)}


@pytest.mark.integration
def test_concurrent_pushes_from_processes_keep_every_tag(tmp_path: Path) -> None:
    script = (
        "import asyncio, sys\n"
        "from axle.oci import build_artifact, push\n"
        "from tests.oci.conftest import sample_manifests\n"
        "w = int(sys.argv[1])\n"
        "async def main():\n"
        "    for i in range(15):\n"
        "        a = build_artifact(sample_manifests(w * 100 + i), source='s', revision='r')\n"
        f"        await push(a, 'file://{tmp_path}', f'w{{w}}-{{i}}')\n"
        "asyncio.run(main())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(w)], cwd=ROOT, env=env)
        for w in range(6)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0] * 6
    tags = layout_tags(tmp_path)
    assert len(tags) == 90
    for w in range(6):
        for i in range(15):
            expected = build_artifact(sample_manifests(w * 100 + i), source="s", revision="r")
            assert tags[f"w{w}-{i}"] == expected.manifest_digest
    leftovers = [p for p in tmp_path.rglob(".tmp-*")]
    assert leftovers == []


def tree(root: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every path under root with its mode and, for files, its bytes."""
    out: dict[str, tuple[int, bytes | None]] = {}
    for path in sorted(root.rglob("*")):
        mode = path.stat().st_mode & 0o777
        out[str(path.relative_to(root))] = (mode, path.read_bytes() if path.is_file() else None)
    return out


@pytest.mark.parametrize("durable", [False, True])
def test_a_new_layout_holds_what_the_general_path_writes(tmp_path: Path, durable: bool) -> None:
    a = art()
    # A layout that does not exist yet is written in one piece and renamed into place; one
    # whose directory exists goes through the general path. Same files, bytes and modes.
    new = push_layout(a, tmp_path / "ns" / "new", "ns.wd.r1", durable=durable)
    (tmp_path / "existing").mkdir()
    general = push_layout(a, tmp_path / "existing", "ns.wd.r1", durable=durable)
    assert new == general
    assert new.uploaded == [*a.blobs, a.manifest_digest] and new.tagged
    assert tree(tmp_path / "ns" / "new") == tree(tmp_path / "existing")
    assert sorted(p.name for p in (tmp_path / "ns").iterdir()) == ["new"]  # no temporary left
    # And it is a layout like any other: pushes into it take the general path.
    b = art(revision="llm@2")
    again = push_layout(b, tmp_path / "ns" / "new", "ns.wd.r2", durable=durable)
    assert again.uploaded == [b.manifest_digest]
    assert layout_tags(tmp_path / "ns" / "new") == {
        "ns.wd.r1": a.manifest_digest,
        "ns.wd.r2": b.manifest_digest,
    }


def test_a_new_layout_is_readable_by_others_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        push_layout(art(), tmp_path / "private", "c1", durable=False)
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "private").rglob("*") if p.is_file()]
    assert len(files) == 5
    assert {p.stat().st_mode & 0o777 for p in files} == {0o644}


def test_temporary_names_someone_else_holds_are_left_alone(tmp_path: Path) -> None:
    # What a writer that crashed mid-push (or one of the same pid in another pid namespace)
    # leaves: the names this thread would use. A push takes others instead.
    me = f"{os.getpid()}-{threading.get_ident()}"
    stale_dir = tmp_path / f".tmp-new-{me}"
    stale_dir.mkdir()
    (stale_dir / "mine").write_bytes(b"someone else's")
    a = art()
    push_layout(a, tmp_path / "new", "c1", durable=False)
    assert (stale_dir / "mine").read_bytes() == b"someone else's"
    assert has_layout_artifact(tmp_path / "new", a.manifest_digest)
    stale_file = tmp_path / "new" / "blobs" / "sha256" / f".tmp-{me}"
    stale_file.write_bytes(b"half a blob")
    b = art(replicas=3)
    result = push_layout(b, tmp_path / "new", "c2", durable=False)
    assert result.uploaded == [b.layer_digest, b.manifest_digest]
    assert stale_file.read_bytes() == b"half a blob"
    assert has_layout_artifact(tmp_path / "new", b.manifest_digest)
    leftovers = {p.name for p in tmp_path.rglob(".tmp-*")}
    assert leftovers == {stale_dir.name, stale_file.name}


def test_a_layout_created_meanwhile_is_merged_into(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another writer creates the layout between the check and the rename: the rename fails,
    # the push goes the general way, and both tags are kept.
    a, b = art(), art(replicas=2)
    root = tmp_path / "wd"
    real_rename = os.rename
    raced: list[str] = []

    def rename(src: Any, dst: Any) -> None:
        if Path(dst) == root and not raced:
            raced.append(str(src))
            push_layout(b, root, "other", durable=False)
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    result = push_layout(a, root, "mine", durable=False)
    assert result.tagged and result.uploaded == [a.layer_digest, a.manifest_digest]
    assert layout_tags(root) == {"mine": a.manifest_digest, "other": b.manifest_digest}
    assert has_layout_artifact(root, a.manifest_digest)
    assert has_layout_artifact(root, b.manifest_digest)
    assert list(tmp_path.glob(".tmp-*")) == []


def test_a_failed_new_layout_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def full_disk(path: Any, flags: int, mode: int = 0o777, **kw: Any) -> int:
        if str(path).endswith("index.json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, flags, mode, **kw)

    monkeypatch.setattr(os, "open", full_disk)
    with pytest.raises(OciError, match=r"cannot write OCI layout .*No space left"):
        push_layout(art(), tmp_path / "wd", "c1", durable=False)
    assert list(tmp_path.iterdir()) == []


def test_failures_name_the_layout_not_a_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The message ends up in a deployment's status: the same failure must read the same on
    # every retry, whatever temporary name the writer used.
    (tmp_path / "ns").write_text("a file where a directory should be")
    with pytest.raises(OciError) as new:
        push_layout(art(), tmp_path / "ns" / "wd", "c1", durable=False)
    assert ".tmp-" not in new.value.message
    assert f"Not a directory: '{tmp_path}/ns/wd'" in new.value.message
    a = art()
    push_layout(a, tmp_path / "wd", "c1", durable=False)
    real_open = os.open

    def full_disk(path: Any, flags: int, mode: int = 0o777, **kw: Any) -> int:
        if ".tmp-" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_open(path, flags, mode, **kw)

    monkeypatch.setattr(os, "open", full_disk)
    with pytest.raises(OciError) as existing:
        push_layout(art(replicas=2), tmp_path / "wd", "c1", durable=False)
    layer = art(replicas=2).layer_digest.removeprefix("sha256:")
    assert existing.value.message.endswith(
        f"No space left on device: '{tmp_path}/wd/blobs/sha256/{layer}'"
    )


def test_files_alike_in_every_layout_are_links_to_one_copy(tmp_path: Path) -> None:
    shared = tmp_path / ".shared"
    a, b = art(), art(replicas=2)
    push_layout(a, tmp_path / "ns" / "one", "c1", durable=False, shared=shared)
    push_layout(b, tmp_path / "ns" / "two", "c1", durable=False, shared=shared)
    config = f"blobs/sha256/{a.config_digest.removeprefix('sha256:')}"
    for name in ("oci-layout", config):
        copies = [tmp_path / "ns" / wd / name for wd in ("one", "two")]
        assert {p.stat().st_ino for p in copies} == {(shared / Path(name).name).stat().st_ino}
        assert copies[0].stat().st_nlink == 3
    # Otherwise the same layouts, file for file.
    push_layout(a, tmp_path / "plain", "c1", durable=False)
    assert tree(tmp_path / "ns" / "one") == tree(tmp_path / "plain")
    assert has_layout_artifact(tmp_path / "ns" / "one", a.manifest_digest)
    assert has_layout_artifact(tmp_path / "ns" / "two", b.manifest_digest)
    # A durable push links nothing: the shared copies are not synced.
    push_layout(a, tmp_path / "durable", "c1", durable=True, shared=shared)
    assert (tmp_path / "durable" / "oci-layout").stat().st_nlink == 1


def test_a_damaged_shared_copy_is_replaced_not_linked(tmp_path: Path) -> None:
    shared = tmp_path / ".shared"
    a = art()
    push_layout(a, tmp_path / "one", "c1", durable=False, shared=shared)
    config = a.config_digest.removeprefix("sha256:")
    # What a power loss may leave of an unsynced file: the wrong bytes.
    (shared / config).write_bytes(b"\0\0")
    (shared / "oci-layout").unlink()
    push_layout(a, tmp_path / "two", "c1", durable=False, shared=shared)
    assert has_layout_artifact(tmp_path / "two", a.manifest_digest)
    assert (shared / config).read_bytes() == b"{}"
    assert (tmp_path / "two" / "blobs" / "sha256" / config).stat().st_ino == (
        (shared / config).stat().st_ino
    )
    assert (tmp_path / "two" / "oci-layout").read_bytes() == b'{"imageLayoutVersion":"1.0.0"}'
    # The earlier layout linked the damaged copy: its next push mends it (its own copy).
    assert not has_layout_artifact(tmp_path / "one", a.manifest_digest)
    assert push_layout(a, tmp_path / "one", "c1", durable=False, shared=shared).uploaded == [
        a.config_digest
    ]
    assert has_layout_artifact(tmp_path / "one", a.manifest_digest)


@pytest.mark.parametrize(
    ("failures", "linked"),
    [
        ([errno.EMLINK], True),  # linked as often as allowed: a fresh copy is linked
        ([errno.EMLINK, errno.EMLINK], True),
        ([errno.EMLINK, errno.EMLINK, errno.EMLINK], False),
        ([errno.EXDEV], False),  # another file system: written
        ([errno.EPERM], False),
    ],
)
def test_where_no_link_can_be_made_the_file_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failures: list[int], linked: bool
) -> None:
    shared = tmp_path / ".shared"
    push_layout(art(), tmp_path / "first", "c1", durable=False, shared=shared)
    real_link = os.link
    left = {"oci-layout": list(failures)}

    def link(src: Any, dst: Any) -> None:
        pending = left.get(Path(dst).name)
        if pending:
            code = pending.pop(0)
            raise OSError(code, os.strerror(code), str(src))
        real_link(src, dst)

    monkeypatch.setattr(os, "link", link)
    a = art()
    push_layout(a, tmp_path / "wd", "c1", durable=False, shared=shared)
    assert has_layout_artifact(tmp_path / "wd", a.manifest_digest)
    layout_file = tmp_path / "wd" / "oci-layout"
    assert layout_file.read_bytes() == b'{"imageLayoutVersion":"1.0.0"}'
    assert (layout_file.stat().st_ino == (shared / "oci-layout").stat().st_ino) is linked
    assert layout_file.stat().st_mode & 0o777 == 0o644
