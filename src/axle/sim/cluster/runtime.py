"""What every simulated controller shares: the store, the timings, events, owners, conditions.

Controllers are plain functions of a `Ctx` that read the store and write back only what
differs (the store drops writes that change nothing), so running them again and again is
harmless and the cluster settles: `Controllers.reconcile` repeats its passes until a pass
writes nothing. Time comes only from the injected clock; every delay (a pod starting, a load
balancer address) is a timer stored with the object (`ObjectStore.mark`) and compared with the
clock, so a test moves a manual clock instead of sleeping and a restarted simulator resumes
where the clock says it should be.

Events are `v1 Event` objects in the namespace of the object they are about (`default` for
cluster-scoped ones); the same reason and message about the same object again bumps `count`
and `lastTimestamp` instead of adding an Event, as the kubelet's and controllers' recorders do.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from axle.sim.cluster.kinds import BUILTIN_GROUPS, Key, group_of
from axle.sim.cluster.objects import ObjectStore, clone, rfc3339

Obj = dict[str, Any]
# kube's SafeEncodeString alphabet: no vowels, no confusable digits.
ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


@dataclass(frozen=True)
class Timings:
    """The simulator's delays, in seconds (all zero for tests and benchmarks)."""

    start_latency: float = 0.0  # a bound pod becomes Running; an LB or Ingress gets its address
    job_duration: float = 0.0  # a run-to-completion pod runs this long before it exits
    image_pull_backoff: float = 10.0  # ErrImagePull turns into ImagePullBackOff after this
    progress_deadline_default: float = 600.0


@dataclass
class Ctx:
    store: ObjectStore
    timings: Timings
    kubernetes_version: str
    lb_pool: str
    rand: random.Random

    next_due: float = math.inf  # the earliest future instant a controller waits for
    # What this pass reconciles: None for everything, else the keys changed since the last
    # pass and their owners (`Controllers.reconcile`); objects changed during the pass join.
    scope: set[Key] | None = None
    gone: dict[Key, Obj] = field(default_factory=dict)  # removed before this pass began
    # Services and Ingresses left waiting for a load-balancer address (the pool ran dry):
    # with those a pass looks at, every one that needs an address (see `unschedulable`).
    lb_waiting: set[Key] = field(default_factory=set)
    # Pods the scheduler left pending (they fit nowhere yet): with the pods a pass looks at,
    # every pending pod, since a pod is pending from its creation, which puts it in a scope.
    unschedulable: set[Key] = field(default_factory=set)

    @property
    def full(self) -> bool:
        return self.scope is None

    def _in_scope(self) -> set[Key]:
        assert self.scope is not None
        return self.scope | self.store.touched.keys()

    def candidates(self, group: str, kind: str) -> list[Obj]:
        """The objects of one kind this pass looks at, ordered as `ObjectStore.of_kind`."""
        if self.scope is None:
            return self.store.of_kind(group, kind)
        found = []
        for key in sorted(k for k in self._in_scope() if k[0] == group and k[1] == kind):
            obj = self.store.get(key)
            if obj is not None:
                found.append(obj)
        return found

    def touches(self, *kinds: tuple[str, str]) -> bool:
        """Whether this pass looks at everything or at some object of one of `kinds`."""
        if self.scope is None:
            return True
        wanted = set(kinds)
        return any(k[:2] in wanted for k in self._in_scope())

    def in_scope(self, wanted: Callable[[Key], bool] | None = None) -> list[Obj]:
        """Every live object this pass looks at (whose key `wanted` accepts: the others are
        not decoded)."""
        keys = self.store.objects.keys() if self.scope is None else self._in_scope()
        return [
            o
            for k in sorted(keys)
            if (wanted is None or wanted(k)) and (o := self.store.get(k)) is not None
        ]

    def removed(self) -> list[Obj]:
        """Objects removed since the last pass or during this one (as they were), or, in a
        full pass, none (a full pass looks at what exists)."""
        if self.scope is None:
            return []
        found = []
        for k in sorted(self._in_scope()):
            if k not in self.store.objects:
                obj = self.store.touched.get(k) or self.gone.get(k)
                if obj is not None:
                    found.append(obj)
        return found

    def now(self) -> float:
        return self.store.clock()

    def due(self, at: float) -> bool:
        """Has instant `at` come? If not, remember it, so the cluster knows when to wake."""
        if self.store.clock() >= at:
            return True
        self.next_due = min(self.next_due, at)
        return False

    def stamp(self) -> str:
        return rfc3339(self.store.clock())

    def suffix(self, n: int = 5) -> str:
        return "".join(self.rand.choice(ALPHANUMS) for _ in range(n))

    def event(
        self,
        obj: Obj,
        type_: str,
        reason: str,
        message: str,
        component: str,
    ) -> None:
        meta = obj["metadata"]
        uid = meta.get("uid", "")
        digest = hashlib.sha256(f"{uid}/{reason}/{message}".encode()).hexdigest()[:16]
        namespace = meta.get("namespace") or "default"
        name = f"{meta['name']}.{digest}"
        existing = self.store.get(("", "Event", namespace, name))
        now = self.stamp()
        if existing is not None:
            ev = clone(existing)
            ev["count"] = int(ev.get("count", 1)) + 1
            ev["lastTimestamp"] = now
            self.store.write(ev)
            return
        involved = {
            "apiVersion": obj.get("apiVersion"),
            "kind": obj.get("kind"),
            "name": meta["name"],
            "uid": uid,
            "resourceVersion": meta.get("resourceVersion", ""),
        }
        if meta.get("namespace"):
            involved["namespace"] = meta["namespace"]
        self.store.write(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": involved,
                "reason": reason,
                "message": message,
                "type": type_,
                "count": 1,
                "firstTimestamp": now,
                "lastTimestamp": now,
                "source": {"component": component},
                "reportingComponent": component,
                "reportingInstance": "",
            }
        )

    def owned(self, owner: Obj, group: str, kind: str) -> list[Obj]:
        uid = owner["metadata"]["uid"]
        namespace = owner["metadata"].get("namespace")
        return self.store.owned_by(uid, group, kind, namespace)


def owner_ref(owner: Obj) -> Obj:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def template_hash(template: Any, collision: int = 0) -> str:
    """A pod-template-hash in kube's style: FNV-32a of the template, digits re-encoded."""
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    data += str(collision).encode() if collision else b""
    return _fnv_text(data)


@functools.lru_cache(maxsize=8192)
def _fnv_text(data: bytes) -> str:
    # Every controller pass hashes every Deployment's template; the byte loop is the cost.
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return "".join(ALPHANUMS[int(c) % len(ALPHANUMS)] for c in str(h))


def set_condition(
    conditions: list[Obj],
    type_: str,
    status: str,
    reason: str,
    message: str,
    now: str,
    *,
    update_time: bool = False,
    extra: Obj | None = None,
) -> list[Obj]:
    """`conditions` with `type_` set; `lastTransitionTime` moves only when `status` flips."""
    out = [dict(c) for c in conditions]
    cur = next((c for c in out if c.get("type") == type_), None)
    if cur is None:
        cur = {"type": type_}
        out.append(cur)
    same = cur.get("status") == status
    changed = not same or cur.get("reason") != reason or cur.get("message") != message
    cur.update({"status": status, "reason": reason, "message": message, **(extra or {})})
    if not same or "lastTransitionTime" not in cur:
        cur["lastTransitionTime"] = now
    if update_time and (changed or "lastUpdateTime" not in cur):
        cur["lastUpdateTime"] = now
    return out


def condition(obj: Obj, type_: str) -> Obj | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return None


def is_true(obj: Obj, type_: str) -> bool:
    c = condition(obj, type_)
    return bool(c and c.get("status") == "True")


def pod_active(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def pod_ready(pod: Obj) -> bool:
    return pod_active(pod) and is_true(pod, "Ready")


def omit_zero(status: Obj, *keys: str) -> Obj:
    """Kubernetes leaves out `omitempty` counters that are zero; so does the simulator."""
    return {k: v for k, v in status.items() if not (k in keys and v == 0)}


def is_builtin(obj: Obj) -> bool:
    return group_of(str(obj.get("apiVersion") or "")) in BUILTIN_GROUPS
