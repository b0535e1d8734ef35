"""The AIWorkload controller's cache reads: own writes laid over a lagging cache, passes
skipped when nothing but the controller's own writes happened, and the writes a workload
costs from create to Running."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

from axle.controllers.aiworkload import AIWorkloadReconciler, deployment_name
from axle.controllers.aiworkload_cache import (
    RecentWrites,
    labelled_workload_index,
    pool_users_index,
)
from axle.controllers.aiworkload_status import roll_up
from axle.controllers.informer import Informer
from axle.store.base import Obj, Store
from tests.controllers.helpers import eventually
from tests.controllers.test_aiworkload import (
    AIW,
    NS,
    PROFILE,
    WD,
    aiw_obj,
    base,
    set_status,
    start,
    wait_phase,
    wait_wd,
)
from tests.controllers.test_tenant import K


def obj(name: str, rv: int, **meta: Any) -> Obj:
    return {"metadata": {"name": name, "namespace": NS, "resourceVersion": str(rv), **meta}}


def informer(*objs: Obj, rv: int) -> Informer:
    inf = Informer(None, WD)  # type: ignore[arg-type]  # never started: a cache to read
    for o in objs:
        inf.cache[f"{NS}/{o['metadata']['name']}"] = o
    inf.resource_version = str(rv)
    return inf


def test_a_write_the_cache_does_not_show_yet_is_laid_over_it() -> None:
    old = obj("a", 5)
    inf = informer(old, rv=5)
    recent = RecentWrites(inf)
    new = recent.wrote("g", obj("a", 7, labels={"x": "1"}))
    created = recent.wrote("g", obj("b", 8))
    view = {o["metadata"]["name"]: o for o in recent.view("g", [old])}
    assert view == {"a": new, "b": created}
    assert recent.get("g", f"{NS}/a") is new
    assert recent.view("other", [old]) == [old]  # groups are apart
    # The informer applied events up to 8: the cache is the truth again, the entries go.
    inf.resource_version = "8"
    assert recent.view("g", [old]) == [old]
    assert len(recent) == 0


def test_a_delete_hides_the_object_until_the_cache_drops_it() -> None:
    victim = obj("a", 5)
    inf = informer(victim, rv=5)
    recent = RecentWrites(inf)
    recent.deleted("g", obj("a", 6))  # gone for good (no finalizers)
    assert recent.view("g", [victim]) == []
    waiting = obj("b", 7, deletionTimestamp="2026-01-01T00:00:00Z")
    recent.deleted("g", waiting)  # still there, waiting for its finalizers
    assert recent.view("g", [obj("b", 4)]) == [waiting]
    # A newer version in the cache than what we wrote wins over the memory of it.
    newer = obj("b", 9)
    assert recent.view("g", [newer]) == [newer]


def test_indexes() -> None:
    rev = obj("chat-1a2b", 1, labels={"axle.dev/aiworkload": "chat"})
    assert labelled_workload_index(rev) == [f"{NS}/chat"]
    assert labelled_workload_index(obj("x", 1)) == []
    aiw = {
        "metadata": {"name": "chat", "namespace": NS},
        "spec": {"computePoolRef": {"name": "shared"}},
        "status": {"computePool": "old"},
    }
    assert pool_users_index(aiw) == [f"{NS}/old", f"{NS}/shared"]


def test_a_resumed_deployment_reads_resuming_not_on_hold() -> None:
    wd: Obj = {
        "metadata": {"name": "chat-web", "generation": 2},
        "spec": {"suspend": False, "revision": 1},
        "status": {
            "observedRevision": 1,
            "phase": "Pending",
            "message": "rendered; delivery is on hold until the deployment is resumed (suspend)",
            "conditions": [{"type": "Delivered", "status": "False", "reason": "Suspended"}],
        },
    }
    assert roll_up([wd], 1, []).message == (
        "workload deployment chat-web is resuming delivery of revision 1"
    )
    wd["spec"]["suspend"] = True  # still on hold: its own message
    assert "on hold" in roll_up([wd], 1, []).message


def counting(passes: Counter[str]) -> type[AIWorkloadReconciler]:
    class Counting(AIWorkloadReconciler):
        async def _reconcile(self, key: str) -> float | None:
            passes[key] += 1
            return await super()._reconcile(key)

    return Counting


async def status_writes(store: Store, name: str, since: int) -> list[str]:
    """The workload's status writes after revision `since`, until Running (phase: message),
    from the change log replayed by a watch."""
    seen: list[str] = []
    last = None
    watch = store.watch(AIW, NS, resource_version=str(since))
    try:
        async for ev in watch:
            if ev.type == "BOOKMARK" or ev.object["metadata"]["name"] != name:
                continue
            status = ev.object.get("status")
            if status and status != last:
                seen.append(f"{status.get('phase')}: {status.get('message')}")
            last = status
            if (status or {}).get("phase") == "Running":
                return seen
    finally:
        await watch.close()
    return seen


async def test_a_workload_costs_one_status_write_per_phase_and_no_echo_passes(
    store: Store, tmp_path: Path, monkeypatch: Any
) -> None:
    passes: Counter[str] = Counter()
    monkeypatch.setattr("tests.controllers.test_aiworkload.AIWorkloadReconciler", counting(passes))
    mgr = await start(store, tmp_path)
    try:
        await base(store)

        async def profile_revised() -> bool:
            profile = await store.get(PROFILE, NS, "web")
            return bool((profile.get("status") or {}).get("latestRevision"))

        await eventually(profile_revised, what="the profile's first revision")
        since = await store.current_revision()
        await store.create(AIW, aiw_obj())
        wd = deployment_name("chat", "web")
        await wait_phase(store, "chat", "Pending")  # waiting for the render
        await wait_wd(store, wd)
        await set_status(store, WD, NS, wd, observedRevision=1, phase="Pending", gpuRequests={})
        await wait_wd(store, wd, lambda w: w["spec"]["suspend"] is False, "resumed")
        await wait_phase(store, "chat", "Deploying")
        await set_status(store, WD, NS, wd, phase="Running")
        obj = await wait_phase(store, "chat", "Running")
        # Created, Pending, Deploying, Running: the finalizer plus three status writes.
        writes = await asyncio.wait_for(status_writes(store, "chat", since), 10)
        assert len(writes) == 3, writes
        # A wake-up with nothing new runs no pass; a change to a deployment does. Passes the
        # controller's own workers have queued (the echoes of the writes above) go first.
        ctl = next(c for c in mgr.controllers if c.name == "aiworkload")
        await eventually(
            lambda: len(ctl.queue) == 0 and not ctl.queue.processing, what="the queue drained"
        )
        before = passes["ml-prod/chat"]
        assert await ctl.reconciler.reconcile("ml-prod/chat") is None
        assert passes["ml-prod/chat"] == before
        await set_status(store, WD, NS, wd, components=[{"name": "web", "ready": 1, "desired": 1}])
        await eventually(lambda: passes["ml-prod/chat"] > before, what="a pass for the change")
        fresh = await wait_phase(store, "chat", "Running")
        assert fresh["status"]["components"][0]["ready"] == 1
        assert fresh["metadata"]["resourceVersion"] != obj["metadata"]["resourceVersion"]
    finally:
        await mgr.stop()


async def test_usage_is_written_coalesced_and_converges(store: Store, tmp_path: Path) -> None:
    mgr = await start(store, tmp_path)
    try:
        await base(store, project_limits={"NVIDIA-H100": 16})
        for i in range(4):
            await store.create(AIW, aiw_obj(f"w{i}"))
        for i in range(4):
            wd = deployment_name(f"w{i}", "web")
            await wait_wd(store, wd)
            await set_status(
                store,
                WD,
                NS,
                wd,
                observedRevision=1,
                phase="Running",
                gpuRequests={"NVIDIA-H100-80GB-HBM3": 2},
            )

        async def usage() -> Any:
            project = await store.get(K.project, NS, NS)
            return (project.get("status") or {}).get("gpuUsage") == {"NVIDIA-H100": 8}

        await eventually(usage, what="usage of the four reservations")
    finally:
        await mgr.stop()
