"""Artifacts by digest: pull once, keep the manifests in the agent's state dir.

A Work pins its artifact by digest, so the manifests behind a digest never change: the agent
keeps them as `artifacts/<algorithm>-<hex>.json` and never pulls a digest it already holds.
That is also what lets a restarted agent compare the cluster with what it applied (drift)
without touching the registry. Pulling (and verifying the digest) is `axle.oci.pull`; it is
injected so tests can count pulls, and its errors become `ArtifactError` with the OCI
library's user-readable message, which lands in the Work's `ArtifactPullFailed` condition.

Every pass over a Work asks for its manifests, so the cache also keeps the most recently used
ones in memory (parsed) rather than reading and parsing the file each time; and since a digest
names the same content for everyone, one cache can serve every agent of a host process
(`axle spoke-agent host`), so a thousand spokes applying one artifact pull it once.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from axle.oci import pull
from axle.oci.errors import OciError
from axle.oci.layout import fetch_layout
from axle.oci.refs import LayoutRef, parse_ref
from axle.spoke.files import write_file, write_private

# `write_private` is imported by older callers from here; it lives in `files`.
__all__ = ["ArtifactCache", "ArtifactError", "Puller", "oci_pull", "write_private"]
Obj = dict[str, Any]
Puller = Callable[[str, str], Awaitable[list[Obj]]]


class ArtifactError(Exception):
    """The artifact could not be pulled or did not verify; the message says why."""


async def oci_pull(url: str, digest: str) -> list[Obj]:
    """Pull and verify through `axle.oci`; its failures become ArtifactError."""
    try:
        return await pull(url, digest)
    except OciError as exc:
        raise ArtifactError(str(exc)) from exc


def _layout_root(url: str, digest: str) -> Path | None:
    """The directory of a layout URL that may hold `digest` (anything else: None, and
    `axle.oci.pull` says what is wrong with it)."""
    try:
        ref = parse_ref(url)
    except OciError:
        return None
    if isinstance(ref, LayoutRef) and ref.digest in (None, digest):
        return ref.path
    return None


def _pull_layout(root: Path, digest: str, keep: Path) -> list[Obj]:
    """Read, verify and decode the artifact from a layout, and keep its manifests at `keep`:
    what `axle.oci.pull` and the cache write do, in one trip to a worker thread instead of
    three (a new Work of a host pulls from the hub's layout on this machine)."""
    manifests = fetch_layout(root, digest).manifests()
    write_private(keep, json.dumps(manifests))
    return manifests


class ArtifactCache:
    """Manifests by digest under `root`, pulled on first use."""

    def __init__(self, root: Path, puller: Puller | None = None, memory: int = 512) -> None:
        self.root = root
        self.puller: Puller = puller or oci_pull
        self.pulls = 0
        self.memory = memory  # how many digests' manifests stay parsed in memory
        self._locks: dict[str, asyncio.Lock] = {}
        self._recent: OrderedDict[str, list[Obj]] = OrderedDict()
        # Names of the files under `root`, listed once and kept up to date (this cache is
        # their only writer): a digest seen for the first time is not looked for on disk.
        self._on_disk: set[str] | None = None

    def _remember(self, digest: str, manifests: list[Obj]) -> None:
        self._recent[digest] = manifests
        self._recent.move_to_end(digest)
        while len(self._recent) > self.memory:
            self._recent.popitem(last=False)

    def _path(self, digest: str) -> Path:
        safe = digest.replace(":", "-").replace("/", "_")
        return self.root / f"{safe}.json"

    def _files(self) -> set[str]:
        if self._on_disk is None:
            try:
                self._on_disk = set(os.listdir(self.root))
            except OSError:
                self._on_disk = set()
        return self._on_disk

    def cached(self, digest: str) -> list[Obj] | None:
        """The manifests of `digest` if held here, else None (callers must not modify them)."""
        found = self._recent.get(digest)
        if found is not None:
            self._recent.move_to_end(digest)
            return found
        path = self._path(digest)
        if path.name not in self._files():
            return None
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(data, list):
            return None
        self._remember(digest, data)
        return data

    async def get(self, url: str, digest: str) -> list[Obj]:
        """The manifests of `digest`: from the cache, or pulled (verified) and cached."""
        lock = self._locks.setdefault(digest, asyncio.Lock())
        async with lock:
            found = self.cached(digest)
            if found is not None:
                return found
            self.pulls += 1
            path = self._path(digest)
            layout = _layout_root(url, digest) if self.puller is oci_pull else None
            try:
                if layout is not None:
                    manifests = await asyncio.to_thread(_pull_layout, layout, digest, path)
                else:
                    manifests = await self.puller(url, digest)
            except ArtifactError:
                raise
            except OciError as exc:
                raise ArtifactError(str(exc)) from exc
            except Exception as exc:  # an unexpected failure still reaches the Work's status
                raise ArtifactError(f"pulling {url}@{digest} failed: {exc}") from exc
            if layout is None:
                await write_file(path, json.dumps(manifests))
            self._files().add(path.name)
            self._remember(digest, manifests)
            return manifests
