"""Manifests of a Work: identity, inventory labels, and the priority groups they apply in.

Every object the agent applies carries the inventory label `axle.dev/work` (which Work owns
it) and the annotation `axle.dev/work-revision` (which revision of the Work applied it), so
objects a new revision dropped can be found and pruned, and an object another Work owns is
never pruned by mistake. Groups go in ascending priority: Namespaces and CRDs before anything
(objects cannot be created in a namespace or of a kind that does not exist yet), then the
components of each `spec.priorityGroups` entry, then manifests of no listed component.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import orjson

from axle.utils.quantity import parse_quantity

WORK_LABEL = "axle.dev/work"
REVISION_ANNOTATION = "axle.dev/work-revision"
COMPONENT_LABEL = "axle.dev/component"
# Set by the hub's render pipeline on every object of an AIWorkload (render.pipeline's
# LABEL_WORKLOAD); read here only to name the workload in an ownership conflict.
WORKLOAD_LABEL = "axle.dev/workload"
FIRST_KINDS = ("Namespace", "CustomResourceDefinition")
LABEL_VALUE_MAX = 63

Obj = dict[str, Any]
_T = TypeVar("_T")


def clone(value: _T) -> _T:
    """A deep copy of a JSON value: through orjson, many times faster than copy.deepcopy,
    which matters on a pass the agent makes for every Work every resync period."""
    return cast(_T, orjson.loads(orjson.dumps(value)))


@dataclass(frozen=True, order=True)
class ObjectKey:
    """Identity of one object in the cluster."""

    api_version: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectKey:
        meta = obj.get("metadata") or {}
        return cls(
            str(obj.get("apiVersion") or ""),
            str(obj.get("kind") or ""),
            str(meta.get("namespace") or ""),
            str(meta.get("name") or ""),
        )

    def to_list(self) -> list[str]:
        return [self.api_version, self.kind, self.namespace, self.name]

    @classmethod
    def from_list(cls, data: Sequence[str]) -> ObjectKey:
        return cls(*(str(x) for x in data[:4]))

    def describe(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


def work_label_value(namespace: str, name: str) -> str:
    """`<work-namespace>.<work-name>`, shortened with a hash when longer than a label allows."""
    value = f"{namespace}.{name}"
    if len(value) <= LABEL_VALUE_MAX:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:10]
    return f"{value[: LABEL_VALUE_MAX - 11].rstrip('.-_')}-{digest}"


def component_of(obj: Mapping[str, Any]) -> str | None:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    value = labels.get(COMPONENT_LABEL)
    return str(value) if value else None


def stamp(obj: Mapping[str, Any], work_value: str, revision: str) -> Obj:
    """A copy of `obj` carrying the inventory label and the revision annotation."""
    out: Obj = clone(dict(obj))
    meta = out.setdefault("metadata", {})
    meta.setdefault("labels", {})[WORK_LABEL] = work_value
    meta.setdefault("annotations", {})[REVISION_ANNOTATION] = revision
    return out


def group_by_priority(
    manifests: Iterable[Mapping[str, Any]],
    priority_groups: Sequence[Mapping[str, Any]] | None,
) -> list[list[Obj]]:
    """The manifests in apply order: a list of groups, each applied (and healthy) in turn.

    Namespaces and CRDs form the first group; then one group per listed priority (ascending)
    with the manifests of its components; last, manifests of no listed component. Within a
    group the manifests keep their artifact order. Empty groups are left out.
    """
    priority_of: dict[str, int] = {}
    for entry in sorted(priority_groups or [], key=lambda g: int(g.get("priority") or 0)):
        for comp in entry.get("components") or []:
            priority_of.setdefault(str(comp), int(entry.get("priority") or 0))
    first: list[Obj] = []
    listed: dict[int, list[Obj]] = {}
    rest: list[Obj] = []
    for raw in manifests:
        obj = dict(raw)
        comp = component_of(obj)
        if obj.get("kind") in FIRST_KINDS:
            first.append(obj)
        elif comp is not None and comp in priority_of:
            listed.setdefault(priority_of[comp], []).append(obj)
        else:
            rest.append(obj)
    groups = [first, *(listed[p] for p in sorted(listed)), rest]
    return [g for g in groups if g]


def contains(live: Any, desired: Any) -> bool:
    """Whether the live object still holds every field the agent applied (drift check).

    The cluster adds fields (defaults, status, server metadata); only a field the agent set
    and the live object lost or changed is drift.
    """
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            return False
        # A null in a manifest means "unset" (rendered `creationTimestamp: null` and the like).
        return all(
            (v is None and live.get(k) is None) or (k in live and contains(live[k], v))
            for k, v in desired.items()
        )
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            return False
        return all(contains(a, b) for a, b in zip(live, desired, strict=True))
    if isinstance(desired, bool) or isinstance(live, bool):
        return live is desired
    if isinstance(desired, int | float) and isinstance(live, int | float):
        return float(live) == float(desired)
    if live == desired:
        return True
    if isinstance(live, str | int) and isinstance(desired, str | int):
        if str(live) == str(desired):
            return True
        # The API server writes quantities canonically ("0.5" comes back as "500m").
        a, b = parse_quantity(live), parse_quantity(desired)
        return a is not None and a == b
    return False


def desired_fields(obj: Mapping[str, Any]) -> Obj:
    """The part of an applied manifest a drift check compares (no status, no server meta)."""
    out: Obj = {k: v for k, v in obj.items() if k not in ("status",)}
    meta = dict(out.get("metadata") or {})
    for key in ("resourceVersion", "uid", "generation", "creationTimestamp", "managedFields"):
        meta.pop(key, None)
    out["metadata"] = meta
    return out
