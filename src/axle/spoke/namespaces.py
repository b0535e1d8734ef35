"""Namespaces the agent creates for Works, and when it may remove them again.

Objects are applied into their own namespace, which must exist first (the API server refuses
an object in a missing namespace). A missing one is created before anything else: from the
artifact's own Namespace manifest when it brings one (its labels and annotations kept up to
date), else a plain one; either way labelled with the inventory label of the Work that needed
it first and annotated `axle.dev/created-by: axle-spoke-agent`. The agent records which Works
use each namespace it created (`namespaces.json` in the state dir) and deletes it only when
the last of them is removed: deleting a namespace deletes everything in it, so one that
existed before the agent (or that another Work still uses) is never deleted. That is why
Namespaces are not in a Work's inventory like its other objects: several Works may need the
same namespace (two AIWorkloads of one project), and they must neither take it from each
other on every pass (the inventory label flipping back and forth) nor delete it under each
other. The record survives restarts; the annotation lets a Work adopt a namespace the agent
created for another one.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from axle.kube.cluster import Cluster
from axle.spoke.files import write_file
from axle.spoke.manifests import WORK_LABEL, clone, contains, desired_fields

log = logging.getLogger("axle.spoke.namespaces")
CREATED_BY = "axle.dev/created-by"
AGENT = "axle-spoke-agent"


class NamespaceBook:
    """Which Works (by inventory label value) use each namespace the agent created."""

    def __init__(self, cluster: Cluster, path: Path) -> None:
        self.cluster = cluster
        self.path = path
        self._users: dict[str, list[str]] | None = None
        self._saving = asyncio.Lock()
        self._changes = 0  # changes made to the book so far
        self._saved = 0  # changes the file holds

    def _load(self) -> dict[str, list[str]]:
        if self._users is None:
            try:
                data = json.loads(self.path.read_text())
            except (OSError, ValueError):
                data = {}
            self._users = {
                str(ns): [str(u) for u in users]
                for ns, users in (data.items() if isinstance(data, dict) else [])
                if isinstance(users, list)
            }
        return self._users

    async def _save(self) -> None:
        """Write the book off the loop (`files.write_file`) and return once a write holding
        the caller's change is on disk. One write at a time, each of the book as it is then;
        changes made while a write is under way share the next one (the Works of an agent
        arrive together: ten new Works cost two writes, not ten)."""
        self._changes += 1
        mine = self._changes
        async with self._saving:
            if self._saved >= mine:
                return  # a write that began after this change already holds it
            upto = self._changes
            await write_file(self.path, json.dumps(self._load(), sort_keys=True))
            self._saved = upto

    def users(self, namespace: str) -> list[str]:
        return list(self._load().get(namespace, []))

    async def ensure(
        self, namespace: str, label: str, manifest: Mapping[str, Any] | None = None
    ) -> bool:
        """Make sure `namespace` exists (as `manifest` says, when the artifact brings one) for
        the Work labelled `label`; True if it was created now."""
        book = self._load()
        live = await self.cluster.get("v1", "Namespace", None, namespace)
        meta_live = (live or {}).get("metadata") or {}
        ours = live is None or (meta_live.get("annotations") or {}).get(CREATED_BY) == AGENT
        want: dict[str, Any] = clone(dict(manifest)) if manifest else {}
        want.update({"apiVersion": "v1", "kind": "Namespace"})
        meta = want.setdefault("metadata", {})
        meta["name"] = namespace
        if ours:
            # The first Work keeps its label: later ones must not take the namespace over.
            owner = (meta_live.get("labels") or {}).get(WORK_LABEL) or label
            meta.setdefault("labels", {})[WORK_LABEL] = owner
            meta.setdefault("annotations", {})[CREATED_BY] = AGENT
        if live is None or (manifest and not contains(live, desired_fields(want))):
            await self.cluster.apply(want)
            log.info(
                "%s namespace %s for %s", "created" if live is None else "updated", namespace, label
            )
        if not ours:
            return False  # it was there before: not ours, never removed by us
        users = book.setdefault(namespace, [])
        if label not in users:
            users.append(label)
            await self._save()
        return live is None

    async def release(self, label: str, keep: set[str]) -> list[str]:
        """The Work `label` no longer uses the namespaces it used outside `keep`; deletes
        those no Work uses any more. Returns the deleted namespaces."""
        book = self._load()
        deleted: list[str] = []
        changed = False
        for namespace in [n for n, users in book.items() if label in users and n not in keep]:
            book[namespace].remove(label)
            changed = True
            if book[namespace]:
                continue
            del book[namespace]
            live = await self.cluster.get("v1", "Namespace", None, namespace)
            annotations = ((live or {}).get("metadata") or {}).get("annotations") or {}
            ours = live is not None and annotations.get(CREATED_BY) == AGENT
            if ours and await self.cluster.delete("v1", "Namespace", None, namespace):
                log.info("deleted namespace %s (its last Work %s is gone)", namespace, label)
                deleted.append(namespace)
        if changed:
            await self._save()
        return deleted

    async def forget(self, label: str) -> None:
        """The Work `label` is gone but leaves its objects (Orphan): stop counting it, delete
        nothing."""
        book = self._load()
        changed = False
        for namespace in [n for n, users in book.items() if label in users]:
            book[namespace].remove(label)
            if not book[namespace]:
                del book[namespace]
            changed = True
        if changed:
            await self._save()
