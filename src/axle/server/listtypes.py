"""How each list of each served kind merges: atomic, a set of scalars, or a map keyed by fields.

Kubernetes declares this per Go struct field twice, with the same meaning: the
`patchStrategy`/`patchMergeKey` tags drive strategic merge patch, and the `+listType` /
`+listMapKey` markers drive server-side apply. For the kinds axle serves they coincide, so one
table answers both questions:

- every object: `metadata.finalizers` is a set (`patchStrategy:"merge"`, `+listType=set`) and
  `metadata.ownerReferences` a map keyed by `uid` (`patchMergeKey:"uid"`, `+listMapKey=uid`);
- Namespace: `status.conditions` is a map keyed by `type`; `spec.finalizers` is atomic;
- Role/ClusterRole `rules`, RoleBinding/ClusterRoleBinding `subjects`,
  `aggregationRule.clusterRoleSelectors`, and every other list of the core kinds is atomic
  (no patch strategy: a patch replaces the whole list); ConfigMap, Secret, Event and Lease
  have no other lists.

axle's own kinds (`axle.dev`) are served like custom resources. Their non-empty lists of
objects that all carry a `name` are treated as maps keyed by `name` (like `containers` in a
PodSpec), so that two managers may own different entries; any other list is atomic.
Strategic merge patch is not offered for them at all, as Kubernetes does not offer it for
custom resources.

Paths here are field names from the object root with list levels left out
(`("status", "conditions")`), which is how the Go tags attach to fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from axle.api.registry import KindInfo

FieldNames = tuple[str, ...]

# The API groups whose kinds are Kubernetes' own types (compiled in, with patch strategies);
# everything else is served like a custom resource.
BUILTIN_GROUPS = frozenset(
    {"", "rbac.authorization.k8s.io", "coordination.k8s.io", "events.k8s.io"}
)


@dataclass(frozen=True)
class ListType:
    """One list's merge semantics: `atomic` (replaced whole), `set` (of scalars), or `map`."""

    type: Literal["atomic", "set", "map"]
    keys: tuple[str, ...] = ()


ATOMIC = ListType("atomic")
SET = ListType("set")
BY_NAME = ListType("map", ("name",))

_EVERY_OBJECT: dict[FieldNames, ListType] = {
    ("metadata", "finalizers"): SET,
    ("metadata", "ownerReferences"): ListType("map", ("uid",)),
}

_BUILTIN: dict[tuple[str, str], dict[FieldNames, ListType]] = {
    ("", "Namespace"): {("status", "conditions"): ListType("map", ("type",))},
}


def is_builtin(info: KindInfo) -> bool:
    """Whether the kind is one of Kubernetes' own (strategic merge patch applies to it)."""
    return info.group in BUILTIN_GROUPS


def declared_list_type(info: KindInfo, path: FieldNames) -> ListType | None:
    """The list type Kubernetes declares for `path`, or None when nothing is declared."""
    found = _EVERY_OBJECT.get(path)
    if found is not None:
        return found
    return _BUILTIN.get(info.group_kind, {}).get(path)


def list_type(info: KindInfo, path: FieldNames, *samples: Sequence[Any] | None) -> ListType:
    """The list type at `path`; for axle kinds it depends on the items (`samples`).

    A list of an axle kind is a map keyed by `name` when every item of every sample given is
    an object with a string `name`, and atomic otherwise. An empty sample makes it atomic
    too: applying `[]` means "this list is empty" (and conflicts with whoever set items),
    which is what a user writing it expects, rather than "I own no items".
    """
    declared = declared_list_type(info, path)
    if declared is not None:
        return declared
    if is_builtin(info):
        return ATOMIC
    seen = False
    for sample in samples:
        if sample is not None and len(sample) == 0:
            return ATOMIC
        for item in sample or ():
            if not (isinstance(item, dict) and isinstance(item.get("name"), str)):
                return ATOMIC
            seen = True
    return BY_NAME if seen else ATOMIC


def openapi_extensions(info: KindInfo) -> dict[FieldNames, dict[str, Any]]:
    """The vendor extensions the API server publishes in OpenAPI on the kind's declared lists.

    They matter to kubectl: when OpenAPI says a kind accepts strategic merge patch, kubectl
    computes its client-side `apply` patch from these extensions, not from its compiled-in
    types. Without `x-kubernetes-patch-strategy: merge` on `metadata.finalizers` it sends the
    whole list instead of `$deleteFromPrimitiveList`, and a finalizer dropped from a manifest
    would survive the merge here. Keyed by field-name path, e.g. `("metadata", "finalizers")`.
    """
    out: dict[FieldNames, dict[str, Any]] = {}
    for path, declared in {**_EVERY_OBJECT, **_BUILTIN.get(info.group_kind, {})}.items():
        ext: dict[str, Any] = {"x-kubernetes-list-type": declared.type}
        if declared.type == "map":
            ext["x-kubernetes-list-map-keys"] = list(declared.keys)
            ext["x-kubernetes-patch-merge-key"] = declared.keys[0]
        ext["x-kubernetes-patch-strategy"] = "merge"
        out[path] = ext
    return out
