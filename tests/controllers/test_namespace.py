"""Namespace reconciler: lifecycle finalizer, phase, deletion cascade of every kind."""

from __future__ import annotations

import pytest

from axle.api.meta import get_condition
from axle.controllers.manager import ControllerManager
from axle.controllers.namespace import NAMESPACE_FINALIZER, NamespaceReconciler
from axle.controllers.objects import get_or_none
from axle.store.base import Obj, Store
from tests.controllers.helpers import eventually
from tests.controllers.test_tenant import K, project, tenant


def cm(name: str, ns: str, finalizers: list[str] | None = None) -> Obj:
    meta: dict[str, object] = {"name": name, "namespace": ns}
    if finalizers:
        meta["finalizers"] = finalizers
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"a": "b"}}


@pytest.fixture(autouse=True)
def fast_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(NamespaceReconciler, "poll_seconds", 0.02)


async def test_deleting_a_namespace_deletes_its_contents(
    store: Store, manager: ControllerManager
) -> None:
    await store.create(K.namespace, {"metadata": {"name": "scratch"}})

    async def active() -> Obj | None:
        ns = await store.get(K.namespace, None, "scratch")
        ok = (ns.get("status") or {}).get("phase") == "Active"
        return ns if ok and NAMESPACE_FINALIZER in ns["metadata"].get("finalizers", []) else None

    await eventually(active, what="namespace Active with its finalizer")
    await store.create(K.config_map, cm("plain", "scratch"))
    await store.create(K.config_map, cm("held", "scratch", ["example.com/hold"]))
    await store.create(
        K.secret, {"metadata": {"name": "s", "namespace": "scratch"}, "data": {"k": "dg=="}}
    )
    await store.create(K.config_map, cm("elsewhere", "default"))
    # A project in the namespace goes too (its tenant is unaffected).
    await store.create(K.tenant, tenant("acme", []))
    await store.create(
        K.project, {**project("p", "acme"), "metadata": {"name": "p", "namespace": "scratch"}}
    )

    await store.delete(K.namespace, None, "scratch")

    async def waiting_for_held() -> Obj | None:
        ns = await get_or_none(store, K.namespace, None, "scratch")
        cond = get_condition(ns or {}, "NamespaceContentRemaining")
        return ns if cond and "ConfigMap/held" in cond["message"] else None

    ns = await eventually(waiting_for_held, what="namespace waiting for a held object")
    assert ns["status"]["phase"] == "Terminating"
    assert await get_or_none(store, K.config_map, "scratch", "plain") is None
    assert await get_or_none(store, K.secret, "scratch", "s") is None
    assert await get_or_none(store, K.project, "scratch", "p") is None
    held = await store.get(K.config_map, "scratch", "held")
    assert held["metadata"].get("deletionTimestamp")

    held["metadata"]["finalizers"] = []
    await store.update(K.config_map, held)

    async def gone() -> bool:
        return await get_or_none(store, K.namespace, None, "scratch") is None

    await eventually(gone, what="namespace removed")
    assert await get_or_none(store, K.config_map, "default", "elsewhere") is not None
    assert await get_or_none(store, K.tenant, None, "acme") is not None
