"""Namespaces the agent creates for Works, and when it may remove them again.

Objects are applied into their own namespace, which must exist first (the API server refuses
an object in a missing namespace). When the artifact brings the Namespace it is one of the
Work's objects like any other. When it does not, the agent creates it, labelled with the
inventory label of the Work that needed it first and annotated `axle.dev/created-by:
axle-spoke-agent`, and records which Works use it (`namespaces.json` in the state dir). A
namespace is deleted only when the last Work using it is removed, and only if the agent
created it: deleting a namespace deletes everything in it, so one that existed before (or
that another Work still uses) is never deleted. The record survives restarts; the annotation
lets a Work adopt a namespace the agent created for another one.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from axle.kube.cluster import Cluster
from axle.spoke.artifacts import write_private
from axle.spoke.manifests import WORK_LABEL

log = logging.getLogger("axle.spoke.namespaces")
CREATED_BY = "axle.dev/created-by"
AGENT = "axle-spoke-agent"


class NamespaceBook:
    """Which Works (by inventory label value) use each namespace the agent created."""

    def __init__(self, cluster: Cluster, path: Path) -> None:
        self.cluster = cluster
        self.path = path
        self._users: dict[str, list[str]] | None = None

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

    def _save(self) -> None:
        write_private(self.path, json.dumps(self._load(), sort_keys=True))

    def users(self, namespace: str) -> list[str]:
        return list(self._load().get(namespace, []))

    async def ensure(self, namespace: str, label: str) -> bool:
        """Make sure `namespace` exists for the Work labelled `label`; True if created now."""
        book = self._load()
        live = await self.cluster.get("v1", "Namespace", None, namespace)
        created = False
        if live is None:
            await self.cluster.apply(
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {
                        "name": namespace,
                        "labels": {WORK_LABEL: label},
                        "annotations": {CREATED_BY: AGENT},
                    },
                }
            )
            log.info("created namespace %s for %s", namespace, label)
            created = True
        elif ((live.get("metadata") or {}).get("annotations") or {}).get(CREATED_BY) != AGENT:
            return False  # it was there before: not ours, never removed by us
        users = book.setdefault(namespace, [])
        if label not in users:
            users.append(label)
            self._save()
        return created

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
            self._save()
        return deleted

    def forget(self, label: str) -> None:
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
            self._save()
