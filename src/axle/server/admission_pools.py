"""Admission of ComputePools: the prerequisites of the notes' create task, checked at create.

A pool may be created only when (notes section 9, "Create task"):

- the Project of its namespace exists and is `Ready` (`metadata.namespace`);
- `spec.profileBundleRef` names an existing ProfileBundle of type Infrastructure or Fullstack
  (`spec.profileBundleRef.name`);
- a Settings with a Palette integration applies: the pool's `spec.settingsRef`, else the
  project's, else its tenant's, must name a Settings whose own or merged (effective) settings
  carry `palette.secretRef` (`spec.settingsRef`).

Each problem is a 422 naming its field and saying what to do. Only creates are checked: a pool
that exists must stay editable and deletable when its project later turns NotReady, and the
controller reports such conditions on the pool itself. Like the other cross-object rules these
are checks at write time, not transactions; the controller re-checks what it depends on.
"""

from __future__ import annotations

from typing import Any

from axle.api import validation as v
from axle.api.meta import GROUP
from axle.api.registry import REGISTRY
from axle.errors import NotFound
from axle.store.base import Obj, Store

POOL_BUNDLE_TYPES = ("Infrastructure", "Fullstack")


async def _get(store: Store, kind: str, namespace: str | None, name: str) -> Obj | None:
    try:
        return await store.get(REGISTRY.by_group_kind(GROUP, kind), namespace, name)
    except NotFound:
        return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _has_palette(settings: Obj | None) -> bool:
    if settings is None:
        return False
    own = _dict(_dict(settings.get("spec")).get("palette")).get("secretRef")
    merged = _dict(
        _dict(_dict(settings.get("status")).get("effectiveSettings")).get("palette")
    ).get("secretRef")
    return bool(own or merged)


async def compute_pool_errors(store: Store, pool: Obj) -> list[v.FieldError]:
    """The prerequisites a new pool lacks, as field errors (empty when it may be created)."""
    ns = str(_dict(pool.get("metadata")).get("namespace") or "")
    spec = _dict(pool.get("spec"))
    errs: list[v.FieldError] = []

    projects = (await store.list(REGISTRY.by_group_kind(GROUP, "Project"), ns)).items
    project = projects[0] if projects else None
    if project is None:
        errs.append(
            v.invalid("metadata.namespace", ns, "has no Project; a ComputePool lives in a project")
        )
    else:
        status = _dict(project.get("status"))
        if status.get("phase") != "Ready":
            ready: dict[str, Any] = next(
                (c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {}
            )
            why = ready.get("message") or "not reconciled yet"
            errs.append(
                v.invalid(
                    "metadata.namespace",
                    ns,
                    f"project {ns} is not Ready ({why}); wait for it or fix it first",
                )
            )

    ref = _dict(spec.get("profileBundleRef"))
    if ref.get("name"):
        bundle_ns = str(ref.get("namespace") or ns)
        bundle = await _get(store, "ProfileBundle", bundle_ns, str(ref["name"]))
        if bundle is None:
            errs.append(
                v.invalid(
                    "spec.profileBundleRef.name",
                    ref["name"],
                    f"ProfileBundle {bundle_ns}/{ref['name']} does not exist; create it first",
                )
            )
        else:
            kind = _dict(bundle.get("spec")).get("type")
            if kind not in POOL_BUNDLE_TYPES:
                errs.append(
                    v.invalid(
                        "spec.profileBundleRef.name",
                        ref["name"],
                        f"ProfileBundle {bundle_ns}/{ref['name']} is of type {kind}; a pool "
                        "needs an Infrastructure or Fullstack bundle",
                    )
                )

    if project is not None:
        candidates: list[tuple[str | None, str]] = []
        own = _dict(spec.get("settingsRef")).get("name")
        if own:
            candidates.append((ns, str(own)))
        pref = _dict(_dict(project.get("spec")).get("settingsRef")).get("name")
        if pref:
            candidates.append((ns, str(pref)))
        tenant_name = _dict(_dict(project.get("spec")).get("tenantRef")).get("name")
        tenant = await _get(store, "Tenant", None, str(tenant_name)) if tenant_name else None
        tref = _dict(_dict((tenant or {}).get("spec")).get("settingsRef"))
        if tref.get("name"):
            candidates.append(
                (str(tref.get("namespace") or f"tenant-{tenant_name}"), str(tref["name"]))
            )
        found = False
        for s_ns, s_name in candidates:
            if _has_palette(await _get(store, "Settings", s_ns, s_name)):
                found = True
                break
        if not found:
            tried = ", ".join(f"{a}/{b}" for a, b in candidates) or "none referenced"
            errs.append(
                v.invalid(
                    "spec.settingsRef",
                    own or "",
                    "no Settings with a Palette integration applies (tried: "
                    f"{tried}); set spec.palette.secretRef on the project's or tenant's Settings",
                )
            )
    return errs
