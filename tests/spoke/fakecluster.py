"""An in-memory Cluster for the agent's unit tests: objects in a dict, an apply log.

Apply replaces the object's fields with the applied ones (server-side apply by a single
manager), keeps `status`, and asks `on_apply` for a status (so a test decides when a
Deployment is available). Every change is also offered on `changes()`, as the protocol says.
The namespaces in `namespaces` exist from the start (as `default` does on a cluster) without
being objects in the dict, so tests that do not care about namespaces see only their objects.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable
from typing import Any

from axle.errors import Invalid
from axle.kube.cluster import ClusterCapacity, NodeCapacity

Obj = dict[str, Any]
Key = tuple[str, str, str, str]


def key_of(obj: Obj) -> Key:
    meta = obj.get("metadata") or {}
    return (obj["apiVersion"], obj["kind"], meta.get("namespace") or "", meta["name"])


def ready_status(obj: Obj) -> Obj | None:
    """What a healthy cluster soon reports for the kinds whose health needs status."""
    kind, spec = obj["kind"], obj.get("spec") or {}
    if kind == "Deployment":
        n = spec.get("replicas", 1)
        return {"replicas": n, "updatedReplicas": n, "availableReplicas": n, "readyReplicas": n}
    if kind == "PersistentVolumeClaim":
        return {"phase": "Bound"}
    return None


class FakeCluster:
    def __init__(
        self,
        on_apply: Callable[[Obj], Obj | None] | None = ready_status,
        namespaces: tuple[str, ...] = ("default", "ml"),
    ) -> None:
        self.namespaces = set(namespaces)
        self.objects: dict[Key, Obj] = {}
        self.applied: list[Key] = []
        self.deleted: list[Key] = []
        self.events: list[Obj] = []
        self.on_apply = on_apply
        self.refuse: dict[str, str] = {}  # name -> message
        self._queue: asyncio.Queue[Obj] = asyncio.Queue()
        self._rv = 0
        self.nodes = (
            NodeCapacity("cp-1", 16000, 64 * 2**30),
            NodeCapacity("gpu-1", 96000, 512 * 2**30, 8, "NVIDIA-H100-80GB-HBM3"),
        )

    def _bump(self, obj: Obj) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self._queue.put_nowait(copy.deepcopy(obj))

    async def apply(self, obj: Obj, *, field_manager: str = "axle", force: bool = True) -> Obj:
        name = obj["metadata"]["name"]
        if name in self.refuse:
            raise Invalid(self.refuse[name])
        key = key_of(obj)
        old = self.objects.get(key)
        new = copy.deepcopy(obj)
        if old is not None and "status" in old:
            new["status"] = old["status"]
        if self.on_apply is not None:
            status = self.on_apply(new)
            if status is not None:
                new["status"] = status
        self.objects[key] = new
        self.applied.append(key)
        self._bump(new)
        return copy.deepcopy(new)

    async def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> Obj | None:
        found = self.objects.get((api_version, kind, namespace or "", name))
        if found is None and (api_version, kind) == ("v1", "Namespace") and name in self.namespaces:
            return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        return copy.deepcopy(found) if found is not None else None

    async def list_objects(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[Obj]:
        want = dict(p.split("=", 1) for p in label_selector.split(",")) if label_selector else {}
        out = []
        for (av, k, ns, _), obj in self.objects.items():
            labels = obj["metadata"].get("labels") or {}
            here = av == api_version and k == kind and (namespace is None or ns == namespace)
            if here and all(labels.get(a) == b for a, b in want.items()):
                out.append(copy.deepcopy(obj))
        return out

    async def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        key = (api_version, kind, namespace or "", name)
        if (api_version, kind) == ("v1", "Namespace"):
            self.namespaces.discard(name)
        obj = self.objects.pop(key, None)
        if obj is None:
            return False
        self.deleted.append(key)
        self._bump(obj)
        return True

    async def events_for(self, obj: Obj) -> list[Obj]:
        name = obj["metadata"]["name"]
        return [e for e in self.events if e["involvedObject"]["name"] == name]

    async def capacity(self) -> ClusterCapacity:
        return ClusterCapacity("v1.30.4", self.nodes)

    async def changes(self) -> AsyncIterator[Obj]:
        while True:
            yield await self._queue.get()

    async def close(self) -> None:
        return None

    def set_status(self, kind: str, name: str, status: Obj) -> None:
        for (_, k, _, n), obj in self.objects.items():
            if k == kind and n == name:
                obj["status"] = status
                self._bump(obj)
