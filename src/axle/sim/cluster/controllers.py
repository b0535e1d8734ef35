"""The simulated control plane: every controller, run in passes until the cluster settles.

`Controllers.reconcile` runs one pass of every controller (garbage collection, namespaces,
workloads, claims, the scheduler, the kubelet, services, other kinds) and repeats while a
pass changed something, so after it returns the cluster is as far along as the clock allows:
with zero latencies, a Deployment applied is Running and Available when `apply` returns.
The order within a pass follows the dependency chain (owners before the objects they make,
the scheduler before the kubelet), which keeps the number of passes small; correctness does
not depend on it because the passes repeat.

Kinds no simulated controller runs (a `HelmRelease`, any CRD instance) are stored and marked
ready the way a healthy controller would leave them: `status.observedGeneration` and a
`Ready=True` condition (reason `ReconciliationSucceeded`) that follows the generation. A
CustomResourceDefinition is `Established` with its names accepted. Built-in kinds without a
controller here (ConfigMap, Secret, ServiceAccount, RBAC, ...) are stored as they are.
"""

from __future__ import annotations

import math
import random

from axle.sim.cluster import network, pods, storage, workloads
from axle.sim.cluster.kinds import BUILTIN_GROUPS, Key, key_of
from axle.sim.cluster.objects import ObjectStore, clone, parse_time
from axle.sim.cluster.runtime import Ctx, Obj, Timings, is_builtin, set_condition

MAX_PASSES = 100
EVENT_TTL = 3600.0


def _orphaned(ctx: Ctx, obj: Obj) -> bool:
    refs = obj["metadata"].get("ownerReferences")
    return bool(refs) and not any(ctx.store.has_uid(str(r.get("uid"))) for r in refs)


def collect_garbage(ctx: Ctx) -> None:
    """Remove objects all of whose owners are gone (background propagation)."""
    if ctx.full:
        orphans = [o for o in ctx.store if _orphaned(ctx, o)]
    else:
        # Only an owner removed since the last pass can have left orphans: its children.
        orphans = [c for o in ctx.removed() for c in ctx.store.children(o["metadata"]["uid"])]
    while orphans:
        gone = []
        for o in orphans:
            # An object listed twice (two owners gone) is removed once.
            if _orphaned(ctx, o) and ctx.store.remove(key_of(o)) is not None:
                gone.append(o)
        orphans = [c for o in gone for c in ctx.store.children(o["metadata"]["uid"])]


def expire_events(ctx: Ctx) -> None:
    """Drop Events about objects that are gone, an hour after their last occurrence (the API
    server's event TTL), so a long-lived cluster does not accumulate them forever."""
    if ctx.full:
        events = ctx.store.of_kind("", "Event")
    else:
        # Events about an object removed since the last pass start their countdown (a timer).
        events = [e for o in ctx.removed() for e in ctx.store.events_about(o["metadata"]["uid"])]
    for ev in events:
        if ctx.store.has_uid(str((ev.get("involvedObject") or {}).get("uid"))):
            continue
        last = parse_time(str(ev.get("lastTimestamp") or ev["metadata"]["creationTimestamp"]))
        if ctx.due(last + EVENT_TTL):
            ctx.store.remove(key_of(ev))


def namespaces(ctx: Ctx) -> None:
    for ns in ctx.candidates("", "Namespace"):
        if (ns.get("status") or {}).get("phase") != "Active":
            new = clone(ns)
            new["status"] = {"phase": "Active"}
            new.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            labels = new["metadata"].setdefault("labels", {})
            labels.setdefault("kubernetes.io/metadata.name", ns["metadata"]["name"])
            ctx.store.write(new)


def _mark_ready(ctx: Ctx, obj: Obj) -> None:
    generation = obj["metadata"].get("generation", 1)
    status = dict(obj.get("status") or {})
    conds = status.get("conditions") or []
    stamp = ctx.stamp()
    if obj["kind"] == "CustomResourceDefinition":
        conds = set_condition(
            conds, "NamesAccepted", "True", "NoConflicts", "no conflicts found", stamp
        )
        conds = set_condition(
            conds,
            "Established",
            "True",
            "InitialNamesAccepted",
            "the initial names have been accepted",
            stamp,
        )
        status["acceptedNames"] = clone((obj.get("spec") or {}).get("names") or {})
        status["storedVersions"] = [
            v.get("name") for v in (obj.get("spec") or {}).get("versions") or [] if v.get("storage")
        ]
    else:
        conds = set_condition(
            conds,
            "Ready",
            "True",
            "ReconciliationSucceeded",
            f"{obj['kind']} reconciled (simulated: no controller runs this kind)",
            stamp,
            extra={"observedGeneration": generation},
        )
        status["observedGeneration"] = generation
    status["conditions"] = conds
    new = clone(obj)
    new["status"] = status
    ctx.store.write(new)


def _maybe_other(key: Key) -> bool:
    """Whether the object of `key` may be one `other_kinds` marks ready (the key's group is
    the object's: no other object is decoded for this)."""
    return key[1] == "CustomResourceDefinition" or key[0] not in BUILTIN_GROUPS


def other_kinds(ctx: Ctx) -> None:
    for obj in ctx.in_scope(_maybe_other):
        if obj["kind"] == "CustomResourceDefinition" or not is_builtin(obj):
            _mark_ready(ctx, obj)


class Controllers:
    def __init__(
        self, store: ObjectStore, timings: Timings, kubernetes_version: str, lb_pool: str
    ) -> None:
        self.ctx = Ctx(store, timings, kubernetes_version, lb_pool, random.Random())

    def admit(self, obj: Obj, old: Obj | None) -> None:
        """What the API server fills in before storing (allocations, defaults); `old` is the
        stored version an update replaces."""
        if obj.get("kind") == "Service" and obj.get("apiVersion") == "v1":
            network.admit_service(self.ctx, obj, old)

    @property
    def next_due(self) -> float:
        """When a timer the last `reconcile` saw comes due (infinity: none pending)."""
        return self.ctx.next_due

    def reconcile(self, full: bool = True) -> None:
        """Run passes until one changes nothing.

        `full`: the first pass looks at every object (after time moved: a timer may have come
        due anywhere). Otherwise, and for every later pass, a pass looks only at the objects
        changed since the pass before and their owners, up the chain (a Pod's change concerns
        its ReplicaSet and that one's Deployment); controllers whose decisions span objects
        (the scheduler, load-balancer addresses, DaemonSets over nodes, claims over storage
        classes) look at all of theirs when an object of a kind they depend on changed. Timers
        are gathered across passes (the earliest wins; one that no longer applies only costs
        an early full pass)."""
        ctx = self.ctx
        store = ctx.store
        if full:
            ctx.next_due = math.inf
        try:
            for _ in range(MAX_PASSES):
                before = store.revision
                taken = store.take_touched()
                if full:
                    ctx.scope, ctx.gone = None, {}
                else:
                    ctx.gone = {k: o for k, o in taken.items() if k not in store.objects}
                    ctx.scope = self._with_owners(taken)
                full = False
                collect_garbage(ctx)
                expire_events(ctx)
                storage.release_volumes(ctx)
                namespaces(ctx)
                workloads.cronjobs(ctx)
                workloads.jobs(ctx)
                workloads.deployments(ctx)
                workloads.replicasets(ctx)
                workloads.statefulsets(ctx)
                workloads.daemonsets(ctx)
                storage.claims(ctx)
                pods.schedule_pending(ctx)
                pods.run_pods(ctx)
                network.services(ctx)
                network.ingresses(ctx)
                other_kinds(ctx)
                if store.revision == before:
                    return
        finally:
            ctx.scope, ctx.gone = None, {}

    def _with_owners(self, changed: dict[Key, Obj]) -> set[Key]:
        """`changed`'s keys and the keys of their owners, transitively."""
        scope = set(changed)
        todo = list(changed.values())
        while todo:
            obj = todo.pop()
            for ref in obj["metadata"].get("ownerReferences") or []:
                key = self.ctx.store.key_of_uid(str(ref.get("uid")))
                if key is not None and key not in scope:
                    scope.add(key)
                    owner = self.ctx.store.get(key)
                    if owner is not None:
                        todo.append(owner)
        return scope
