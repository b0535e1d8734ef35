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
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

Obj = dict[str, Any]
Puller = Callable[[str, str], Awaitable[list[Obj]]]


class ArtifactError(Exception):
    """The artifact could not be pulled or did not verify; the message says why."""


async def oci_pull(url: str, digest: str) -> list[Obj]:
    """Pull and verify through `axle.oci`; its failures become ArtifactError."""
    from axle.oci import pull
    from axle.oci.errors import OciError

    try:
        return await pull(url, digest)
    except OciError as exc:
        raise ArtifactError(str(exc)) from exc


def write_private(path: Path, text: str) -> None:
    """Write `text` atomically with mode 0600 (the state dir holds credentials).

    A temporary name per thread rather than `mkstemp`'s random one: the agent writes a state
    file per Work pass, and `mkstemp` (a random name, retried on collision) and a `mkdir`
    each time were a tenth of a busy host's CPU. Each state dir has one writing process and
    its writers are its threads, so the name cannot collide.
    """
    tmp = path.parent / f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        fd = os.open(tmp, flags, 0o600)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an older file of that name may have had another mode
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class ArtifactCache:
    """Manifests by digest under `root`, pulled on first use."""

    def __init__(self, root: Path, puller: Puller | None = None, memory: int = 512) -> None:
        self.root = root
        self.puller: Puller = puller or oci_pull
        self.pulls = 0
        self.memory = memory  # how many digests' manifests stay parsed in memory
        self._locks: dict[str, asyncio.Lock] = {}
        self._recent: OrderedDict[str, list[Obj]] = OrderedDict()

    def _remember(self, digest: str, manifests: list[Obj]) -> None:
        self._recent[digest] = manifests
        self._recent.move_to_end(digest)
        while len(self._recent) > self.memory:
            self._recent.popitem(last=False)

    def _path(self, digest: str) -> Path:
        safe = digest.replace(":", "-").replace("/", "_")
        return self.root / f"{safe}.json"

    def cached(self, digest: str) -> list[Obj] | None:
        """The manifests of `digest` if held here, else None (callers must not modify them)."""
        found = self._recent.get(digest)
        if found is not None:
            self._recent.move_to_end(digest)
            return found
        path = self._path(digest)
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
            try:
                manifests = await self.puller(url, digest)
            except ArtifactError:
                raise
            except Exception as exc:  # an unexpected failure still reaches the Work's status
                raise ArtifactError(f"pulling {url}@{digest} failed: {exc}") from exc
            await asyncio.to_thread(write_private, self._path(digest), json.dumps(manifests))
            self._remember(digest, manifests)
            return manifests
