"""State files: atomic 0600 writes from the writer thread, batched, errors to the waiter; the
agent's state files are written only when their content changes and missing ones are not
looked for on disk."""

from __future__ import annotations

import asyncio
import json
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from axle.oci import build_artifact, push
from axle.spoke import files
from axle.spoke.artifacts import ArtifactCache, ArtifactError
from axle.spoke.files import write_file, write_private
from axle.spoke.namespaces import NamespaceBook
from axle.spoke.work import WorkProcessor
from tests.spoke.fakecluster import FakeCluster
from tests.spoke.test_work import NS, Registry, manifest, processor, work


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_private_replaces_atomically_with_mode_0600(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "state.json"
    write_private(target, "one")
    assert target.read_text() == "one" and mode(target) == 0o600
    target.chmod(0o644)
    write_private(target, b"two")
    assert target.read_bytes() == b"two" and mode(target) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["state.json"]  # no temporary left


async def test_write_file_writes_many_at_once_from_one_thread(tmp_path: Path) -> None:
    paths = [tmp_path / f"f{i}.json" for i in range(200)]
    await asyncio.gather(*(write_file(p, f"{i}") for i, p in enumerate(paths)))
    assert [p.read_text() for p in paths] == [str(i) for i in range(200)]
    assert all(mode(p) == 0o600 for p in paths)
    writers = [t for t in threading.enumerate() if t.name == "axle-state-writer"]
    assert len(writers) == 1


async def test_a_failed_write_raises_in_its_waiter_only(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    bad = write_file(tmp_path / "file" / "x.json", "x")
    good = write_file(tmp_path / "ok.json", "fine")
    results = await asyncio.gather(bad, good, return_exceptions=True)
    assert isinstance(results[0], OSError) and results[1] is None
    assert (tmp_path / "ok.json").read_text() == "fine"


async def test_a_cancelled_waiter_leaves_the_writer_working(tmp_path: Path) -> None:
    waiter = asyncio.ensure_future(write_file(tmp_path / "a.json", "a"))
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await write_file(tmp_path / "b.json", "b")
    assert (tmp_path / "b.json").read_text() == "b"


def test_writes_from_successive_event_loops(tmp_path: Path) -> None:
    for i in range(3):
        asyncio.run(write_file(tmp_path / f"{i}.json", str(i)))
    assert sorted(p.read_text() for p in tmp_path.iterdir()) == ["0", "1", "2"]


class Counting:
    """Counts state-file writes and reads of the inventory and artifact dirs."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.written: list[str] = []
        self.read: list[str] = []
        real_write, real_read = files.write_private, Path.read_text

        def write(path: Path, data: str | bytes) -> None:
            self.written.append(path.parent.name + "/" + path.name)
            real_write(path, data)

        def read(path: Path, *args: Any, **kwargs: Any) -> str:
            self.read.append(path.parent.name + "/" + path.name)
            return real_read(path, *args, **kwargs)

        monkeypatch.setattr(files, "write_private", write)
        monkeypatch.setattr(Path, "read_text", read)


async def test_unchanged_state_is_not_rewritten_and_missing_files_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = Registry()
    digest = reg.push([manifest("ConfigMap", "a", data={"k": "v"})])
    counting = Counting(monkeypatch)
    proc = processor(FakeCluster(), tmp_path, reg)
    first = await proc.sync(work(digest))
    kinds = sorted(w.split("/")[0] for w in counting.written)
    assert kinds == ["artifacts", "inventory"]  # the artifact cache, the inventory
    # A Work met for the first time has no inventory and its digest no cache file: the
    # processor knows without asking the disk.
    assert not [r for r in counting.read if r.startswith(("inventory/", "artifacts/"))]
    counting.written.clear()
    await proc.sync({**work(digest), "status": first.status})
    assert counting.written == []  # nothing changed: nothing written

    # A new processor on the same state dir finds the files written before.
    again = WorkProcessor(FakeCluster(), tmp_path, artifacts=ArtifactCache(tmp_path / "artifacts"))
    keys, record = again.inventory("spoke-gpu-a", "llm")
    assert [k.name for k in keys] == ["a"] and record["uid"] == "u1"
    assert again.known_works() == [("spoke-gpu-a", "llm")]
    assert again.artifacts.cached(digest) == reg.blobs[digest]


async def test_a_layout_artifact_is_pulled_verified_and_kept_in_one_trip(tmp_path: Path) -> None:
    objects = [manifest("ConfigMap", "a", data={"k": "v"})]
    artifact = build_artifact(objects, source="axle://test/a", revision="a@1")
    url = f"file://{tmp_path / 'oci'}"
    digest = await push(artifact, url, "a")
    cache = ArtifactCache(tmp_path / "artifacts")
    assert await cache.get(url, digest) == objects
    assert cache.pulls == 1
    # Kept on disk for the next process, as a pull through the registry path keeps it.
    assert ArtifactCache(tmp_path / "artifacts").cached(digest) == objects
    # The layout's failures read as the OCI library words them.
    missing = "sha256:" + "0" * 64
    with pytest.raises(ArtifactError, match=r"not found|no such|missing"):
        await cache.get(url, missing)
    with pytest.raises(ArtifactError, match="another digest"):
        await ArtifactCache(tmp_path / "other").get(f"{url}@{missing}", digest)


async def test_namespace_book_changes_made_together_share_a_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting = Counting(monkeypatch)
    book = NamespaceBook(FakeCluster(namespaces=("default",)), tmp_path / "namespaces.json")
    labels = [f"{NS}.w{i}" for i in range(10)]
    await asyncio.gather(*(book.ensure("apps", label) for label in labels))
    writes = [w for w in counting.written if w.endswith("namespaces.json")]
    assert 1 <= len(writes) <= 2  # the first change, then every change made meanwhile
    # Each ensure returned only once its change was on disk.
    assert json.loads((tmp_path / "namespaces.json").read_text()) == {"apps": labels}
    assert NamespaceBook(FakeCluster(), tmp_path / "namespaces.json").users("apps") == labels


def test_drain_waits_for_queued_writes(tmp_path: Path) -> None:
    async def queue_many() -> None:
        loop = asyncio.get_running_loop()
        for i in range(50):  # queued without waiting for them
            files._WRITER.submit(tmp_path / f"{i}.json", b"x", loop.create_future())

    asyncio.run(queue_many())
    assert files._WRITER.drain(timeout=30)
    assert len(list(tmp_path.glob("*.json"))) == 50
