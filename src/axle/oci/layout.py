"""Push to and pull from an OCI image layout directory: the registry-less artifact store.

The layout is the one the OCI image spec defines and `oras`, `skopeo` and `crane` read:
an `oci-layout` file, an `index.json` whose manifests carry the tag in the
`org.opencontainers.image.ref.name` annotation, and content under `blobs/sha256/<hex>`. The
embedded hub and simulated spokes share such a directory instead of running a registry.

Writes are safe for several processes pushing at once:

- a layout that does not exist yet is written whole into a temporary directory next to it
  and renamed into place (one writer, nothing to check or lock; the hub's first push of
  each deployment), so a reader sees no layout or all of it;
- into an existing layout, every file is written to a temporary name in its final directory
  and renamed over the target, so a reader never sees half a blob or half an index;
- blobs are content-addressed, so two writers of the same blob write the same bytes and either
  rename wins; a blob already present is not written again, if it hashes to its name (one
  left empty or torn by a power loss is written again, never trusted);
- `index.json` is read-modified-written under an exclusive `flock` on the layout directory
  itself (no lock file to leave behind), so pushes of different tags never lose each other's
  entries; a tag already pointing at the same digest leaves the index untouched.

A push that is not durable may name a `shared` directory (the hub's store keeps one): the
files every layout holds alike, `oci-layout` and the Flux config blob `{}`, are kept there
once and a new layout's copies are hard links to them. Creating a file and writing its
first block is what a push costs the kernel most (on a busy disk, more than the rest of the
push together), and these are two of a new layout's five files. The shared copy is checked
before each link and written afresh when missing, damaged or linked to the file system's
limit; where no link can be made (another file system, no permission), the file is written.
No writer changes a layout's file in place, so linked copies stay alike.

So pushing an unchanged artifact writes nothing at all. Manifests a tag no longer points at
are kept (their blobs may be shared); nothing here deletes content.

Durability is the caller's choice. `durable=True` (the default: `axle push` and the SDK)
fsyncs each file before its rename, so a pushed artifact survives a power loss. The hub's
artifact store pushes with `durable=False`: an fsync per file was most of a push's cost (four
or five per deployment), and it needs none of them. A hub process that dies loses nothing
(written pages belong to the kernel); a power loss may leave a blob missing, empty or torn,
but every reader verifies each blob against its digest (`fetch_layout`), a writer rewrites a
blob that does not hash to its name, and the hub checks a deployment's artifact with
`has_layout_artifact` before relying on it after a restart, pushing it again when it is not
intact. The tag index is only a label (spokes pull by digest).

These functions block (file I/O); the async API in `axle.oci.transfer` runs them in a thread.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from axle.oci.artifact import (
    CONFIG_BYTES,
    MANIFEST_MEDIA_TYPE,
    Artifact,
    artifact_from_parts,
    parse_manifest,
)
from axle.oci.digests import check_digest, sha256_digest, verify
from axle.oci.errors import ArtifactNotFound, InvalidArtifact, OciError

OCI_LAYOUT_FILE = "oci-layout"
OCI_LAYOUT_BYTES = b'{"imageLayoutVersion":"1.0.0"}'
INDEX_FILE = "index.json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"
# Temporary files and directories a push writes before renaming them into place.
TMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class PushResult:
    """What a push did: the manifest digest, and which blobs it actually had to write."""

    digest: str
    uploaded: list[str] = field(default_factory=list)
    tagged: bool = False


def push_layout(
    artifact: Artifact,
    root: Path,
    tag: str,
    *,
    durable: bool = True,
    shared: Path | None = None,
) -> PushResult:
    """Store `artifact` in the layout at `root` (created if missing) and point `tag` at it.

    `durable`: fsync every file before it is renamed into place (see the module docstring for
    when that is not needed). `shared`: a directory on the same file system where a push that
    is not durable keeps the files every layout holds alike (`oci-layout`, the Flux config
    blob) once, and links a new layout's copies to them (module docstring)."""
    try:
        if _push_new_layout(artifact, root, tag, durable=durable, shared=shared):
            return PushResult(
                digest=artifact.manifest_digest,
                uploaded=[*artifact.blobs, artifact.manifest_digest],
                tagged=True,
            )
        root.mkdir(parents=True, exist_ok=True)
        if not (root / OCI_LAYOUT_FILE).exists():
            _atomic_write(root / OCI_LAYOUT_FILE, OCI_LAYOUT_BYTES, durable=durable)
        blob_dir = root / "blobs" / "sha256"
        blob_dir.mkdir(parents=True, exist_ok=True)
        uploaded: list[str] = []
        # Blobs first, the manifest last: whoever sees the manifest can read all it names.
        for digest, data in _contents(artifact):
            path = blob_dir / digest.removeprefix("sha256:")
            if _intact(path, digest, len(data)):
                continue
            _atomic_write(path, data, durable=durable)
            uploaded.append(digest)
        with _locked(root):
            tagged = _tag(root, tag, artifact, durable=durable)
    except OSError as exc:
        raise OciError(f"artifact push failed: cannot write OCI layout {root}: {exc}") from None
    return PushResult(digest=artifact.manifest_digest, uploaded=uploaded, tagged=tagged)


def _contents(artifact: Artifact) -> list[tuple[str, bytes]]:
    """(digest, bytes) of every blob to store, the manifest last."""
    return [*artifact.blobs.items(), (artifact.manifest_digest, artifact.manifest_bytes)]


def _push_new_layout(
    artifact: Artifact, root: Path, tag: str, *, durable: bool, shared: Path | None
) -> bool:
    """Push into a layout that does not exist yet, in one piece; False when `root` exists
    (or another writer created it meanwhile), for the general path to take over.

    The hub pushes each deployment's first artifact into a layout of its own, so this is
    the common case, and there is nothing in it to check, merge or lock against: the whole
    layout is written into a private directory next to it and renamed into place. A reader
    sees no layout or all of it, and no other writer can be in it. A plain `mkdir`, `open`
    and `write` per file, no per-file temporary name and rename, no stat of what is there,
    no index to read and no lock: a third of the system calls, and the calls themselves
    without `pathlib`/`tempfile` around them, which at fleet scale was most of a push's
    cost."""
    if os.path.lexists(root):
        return False
    parent = os.path.dirname(root) or "."
    # Per process and thread, so writers never share one; a name left by a crashed writer
    # of the same process and thread id (or one in another pid namespace) is not touched.
    tmp = f"{parent}/{TMP_PREFIX}{os.path.basename(root)}-{os.getpid()}-{threading.get_ident()}"
    try:
        try:
            os.mkdir(tmp)
        except FileNotFoundError:
            os.makedirs(parent, exist_ok=True)
            os.mkdir(tmp)
        except FileExistsError:
            tmp = tempfile.mkdtemp(dir=parent, prefix=TMP_PREFIX)
    except OSError as exc:
        _blame(exc, tmp, os.fspath(root))
        raise
    # Files alike in every layout are hard links to one copy, when allowed (not durable:
    # the copy is not synced either; it is checked before each link instead).
    common = None if durable or shared is None else os.fspath(shared)
    try:
        os.mkdir(f"{tmp}/blobs")
        blobs = f"{tmp}/blobs/sha256/"
        os.mkdir(blobs)
        if common is None or not _link_common(common, OCI_LAYOUT_FILE, OCI_LAYOUT_BYTES, tmp):
            _write_new(f"{tmp}/{OCI_LAYOUT_FILE}", OCI_LAYOUT_BYTES, durable)
        for digest, data in _contents(artifact):
            name = digest.removeprefix("sha256:")
            if (
                common is None
                or data != CONFIG_BYTES
                or not _link_common(common, name, data, blobs)
            ):
                _write_new(blobs + name, data, durable)
        index = _empty_index()
        index["manifests"] = [_index_entry(artifact, tag)]
        _write_new(f"{tmp}/{INDEX_FILE}", _index_bytes(index), durable)
        # Fails if `root` appeared meanwhile with something in it (an empty directory is
        # replaced: nothing is lost, and its creator finds this layout in its place).
        os.rename(tmp, root)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                return False
            _blame(exc, tmp, os.fspath(root))
        raise
    return True


def _blame(exc: OSError, tmp: str, final: str, *, whole: bool = False) -> None:
    """Name the file a failure concerns by its final path, not the temporary one: the message
    ends up in a deployment's status, where a name that differs on every retry would be a
    new status each time (and means nothing to the reader). A name starting with `tmp`
    becomes `final` (`whole`) or `final` followed by the rest of the name."""
    for attr in ("filename", "filename2"):
        name = getattr(exc, attr)
        if isinstance(name, str) and name.startswith(tmp):
            setattr(exc, attr, final if whole else final + name[len(tmp) :])


def _link_common(shared: str, name: str, data: bytes, into: str) -> bool:
    """Hard-link `into/name` to the copy of `data` kept as `shared/name`, writing that copy
    first when it is missing, damaged (a power loss may tear it: it is not synced) or linked
    as often as the file system allows; False when no link could be made (another file
    system, no permission, ...), and the caller writes the file itself.

    Creating a file and writing its first block is what a push costs the kernel most, and
    on a busy disk it costs milliseconds: two of a new layout's five files are the same in
    every layout, and linking them skips both. Nothing ever writes a layout's file in place
    (every writer replaces files by renaming), so the copies stay alike."""
    source = f"{shared}/{name}"
    # Three tries at most: a missing copy is written, and then may be found linked to the
    # limit (another writer's), so a fresh one is written once more.
    for _ in range(3):
        try:
            if _holds(source, data):
                os.link(source, f"{into}/{name}")
                return True
        except OSError as exc:
            if exc.errno != errno.EMLINK:
                return False
        try:  # missing, damaged or linked to the limit: a fresh copy (a new inode)
            os.makedirs(shared, exist_ok=True)
            _atomic_write(Path(source), data, durable=False)
        except OSError:
            return False
    return False


def _holds(path: str, data: bytes) -> bool:
    """Whether the file at `path` holds exactly `data` (a small file)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        return os.read(fd, len(data) + 1) == data
    finally:
        os.close(fd)


def _write_new(path: str, data: bytes, durable: bool) -> None:
    """Create `path` (it must not exist) holding `data`, mode 0644."""
    _fill(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644), data, durable)


def _fill(fd: int, data: bytes, durable: bool) -> None:
    """Write `data` to the new file `fd` with mode 0644, fsynced when `durable`, and close it."""
    try:
        # Whatever the umask (and mkstemp's 0600): layouts are read by other users (agents,
        # Flux).
        os.fchmod(fd, 0o644)
        _write_all(fd, data)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def has_layout_artifact(root: Path, digest: str) -> bool:
    """Whether the layout at `root` holds the artifact `digest` intact (its manifest and the
    blobs it names all hash to their digests): what a writer that skipped fsyncs checks before
    relying on an earlier push (see the module docstring)."""
    try:
        fetch_layout(root, digest)
    except (OciError, OSError):
        return False
    return True


def _intact(path: Path, digest: str, size: int) -> bool:
    """Whether the blob at `path` is there with the bytes its name promises. Blobs of an
    artifact are small (kilobytes), so hashing one costs less than writing it again."""
    try:
        if path.stat().st_size != size:
            return False
        return sha256_digest(path.read_bytes()) == digest
    except FileNotFoundError:
        return False


def fetch_layout(root: Path, digest: str) -> Artifact:
    """Read the artifact with manifest `digest` from the layout at `root`, verifying every digest.

    Raises `ArtifactNotFound` when the layout or content is missing and `DigestMismatch` when a
    file does not hash to its name.
    """
    check_digest(digest, what="manifest digest")
    _require_layout(root)
    manifest_bytes = verify(_read_blob(root, digest, "manifest"), digest, what="manifest")
    manifest = parse_manifest(manifest_bytes)
    blobs = {
        desc["digest"]: _read_blob(root, desc["digest"], what)
        for desc, what in ((manifest["config"], "config blob"), (manifest["layers"][0], "layer"))
    }
    return artifact_from_parts(manifest_bytes, blobs, manifest_digest=digest)


def resolve_layout(root: Path, tag: str) -> str:
    """The manifest digest `tag` points at in the layout at `root`."""
    _require_layout(root)
    digest = layout_tags(root).get(tag)
    if digest is None:
        raise ArtifactNotFound(f"artifact pull failed: tag {tag!r} not found in OCI layout {root}")
    return digest


def layout_tags(root: Path) -> dict[str, str]:
    """Every tag in the layout at `root` and the manifest digest it points at."""
    return {
        m["annotations"][REF_NAME]: m["digest"]
        for m in _read_index(root)["manifests"]
        if isinstance(m.get("annotations"), dict) and REF_NAME in m["annotations"]
    }


def _tag(root: Path, tag: str, artifact: Artifact, *, durable: bool) -> bool:
    """Point `tag` at the artifact in `index.json`; False when it already did (nothing written).

    Without `durable`, an index that does not parse is started afresh: only a power loss
    during an earlier unsynced push leaves one so, and what it loses are labels (the content
    it named stays, and is pulled by digest); refusing would stop every later push."""
    try:
        index = _read_index(root)
    except InvalidArtifact:
        if durable:
            raise
        index = _empty_index()
    kept: list[dict[str, Any]] = []
    for entry in index["manifests"]:
        ref = (entry.get("annotations") or {}).get(REF_NAME)
        if ref == tag:
            if entry.get("digest") == artifact.manifest_digest:
                return False
            continue
        kept.append(entry)
    kept.append(_index_entry(artifact, tag))
    # Sorted by tag so the index bytes depend only on its content.
    kept.sort(key=lambda e: ((e.get("annotations") or {}).get(REF_NAME, ""), e.get("digest", "")))
    index["manifests"] = kept
    _atomic_write(root / INDEX_FILE, _index_bytes(index), durable=durable)
    return True


def _index_entry(artifact: Artifact, tag: str) -> dict[str, Any]:
    return {
        "mediaType": MANIFEST_MEDIA_TYPE,
        "digest": artifact.manifest_digest,
        "size": len(artifact.manifest_bytes),
        "annotations": {REF_NAME: tag},
    }


def _index_bytes(index: dict[str, Any]) -> bytes:
    return json.dumps(index, indent=2, sort_keys=True).encode() + b"\n"


def _read_index(root: Path) -> dict[str, Any]:
    try:
        data = (root / INDEX_FILE).read_bytes()
    except FileNotFoundError:
        return _empty_index()
    try:
        index = json.loads(data)
    except ValueError as exc:
        raise InvalidArtifact(f"OCI layout {root}: index.json is not JSON: {exc}") from None
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise InvalidArtifact(f"OCI layout {root}: index.json has no manifests list")
    return index


def _empty_index() -> dict[str, Any]:
    return {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": []}


def _require_layout(root: Path) -> None:
    if not (root / OCI_LAYOUT_FILE).is_file():
        raise ArtifactNotFound(
            f"artifact pull failed: {root} is not an OCI layout (no {OCI_LAYOUT_FILE} file)"
        )


def _read_blob(root: Path, digest: str, what: str) -> bytes:
    path = root / "blobs" / "sha256" / digest.removeprefix("sha256:")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ArtifactNotFound(
            f"artifact pull failed: {what} {digest} not found in OCI layout {root}"
        ) from None


def _atomic_write(path: Path, data: bytes, *, durable: bool) -> None:
    """Write `data` to `path` through a temporary file and a rename, so readers see all or
    none; `durable` also fsyncs the data before the rename, so the name never points at
    unwritten bytes after a power loss.

    The temporary name is per process and thread (a thread writes one file at a time), made
    with `O_EXCL`: a name some other writer holds (a crashed one's leftover, or a process of
    the same id in another pid namespace sharing the directory) falls back to `mkstemp`'s
    random names, so two writers never write through one file."""
    temporary = f"{path.parent}/{TMP_PREFIX}"  # what any temporary name starts with
    tmp = f"{temporary}{os.getpid()}-{threading.get_ident()}"
    try:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX)
    except OSError as exc:
        _blame(exc, temporary, os.fspath(path), whole=True)
        raise
    try:
        _fill(fd, data, durable)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            _blame(exc, temporary, os.fspath(path), whole=True)
        raise


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """An exclusive flock on the layout directory, held while the index is rewritten."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
