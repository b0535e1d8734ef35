"""Admission rules that look beyond the object itself: at other objects in the store, or at who
is asking.

The per-kind schema, defaults and single-object rules are `axle.api.admission.admit()` (pure,
no store); the server runs it first, then `mutate_admission`, then `validate_admission`, as
Kubernetes runs its mutating and validating admission plugins. The rules here:

NamespaceLifecycle
    A namespaced object's namespace must exist (404 `namespaces "x" not found`) and, for a
    create, must not be terminating (403). Namespaces `axle-system` and `default` cannot be
    deleted. Exception: creating a Project in a namespace that does not exist creates the
    namespace, labelled `axle.dev/project` and `axle.dev/tenant` (not under dry-run).
Project
    `spec.tenantRef.name` names an existing Tenant that is not being deleted; at most one
    Project per namespace; not in `axle-system`, `tenant-*` or `spoke-*`, nor in an existing
    namespace labelled for another tenant (or, for non-admins, not labelled for this one); each
    `spec.gpuLimits[f]` at most the tenant's limit for `f` when the tenant limits `f`; a user
    outside `system:masters` may create a Project only when in the tenant's
    `tenantRoleMapping.groups`; `spec.tenantRef` is immutable.
Tenant
    Lowering (or adding) `spec.gpuLimits[f]` below the limit of one of its Projects is refused,
    naming the project, so a project's limits always fit in its tenant's.
ComputePool (creates; `admission_pools`)
    The project is Ready, the profile bundle exists and is Infrastructure or Fullstack, and a
    Settings with a Palette integration applies.
AIWorkload
    An inline dedicated pool (`spec.paletteClusterDeploymentConfig`) whose worker pools need
    more GPUs (nodeCount x gpuCount per family; hosts are charged whole, so this is the least
    the pool will cost) than the project's or the tenant's `gpuLimits` minus current usage
    (recomputed from scratch, `controllers/quota.py`) is refused with 403, as Kubernetes'
    ResourceQuota refuses, with the numbers. On update only growth is checked (the pool's
    current hosts are already in the usage). A new AIWorkload gets the controller's cleanup
    finalizer (`axle.dev/aiworkload-cleanup`).
Settings
    The Secret named by `spec.palette.secretRef` backs at most one Settings (PaletteAI's rule:
    two Settings on one Palette account would race over its compute).
Role, ClusterRole, RoleBinding, ClusterRoleBinding
    Nobody outside `system:masters` grants a permission they do not hold
    (`rbac_escalation`), as Kubernetes' RBAC storage enforces.

Why shaped so: the rules read the store directly (a get or a selector-filtered list), because
they run only on writes, and a cache could be stale just after the write they must see. They
are checks at admission time, not transactions: two racing creates may both pass, and the
controllers treat the result as they would any other state.
"""

from __future__ import annotations

import contextlib
from typing import Any, Literal

import axle.api.kinds  # noqa: F401  (registers the kinds looked up below)
from axle.api import validation as v
from axle.api.admission import admit, qualified_kind
from axle.api.aiworkload import FINALIZER as AIWORKLOAD_FINALIZER
from axle.api.core import NAMESPACE_FINALIZER
from axle.api.meta import GROUP, SYSTEM_NAMESPACE
from axle.api.quota import gpu_limit_excess
from axle.api.registry import REGISTRY, KindInfo
from axle.api.spoke import SPOKE_NAMESPACE_PREFIX
from axle.api.tenant import TENANT_NAMESPACE_PREFIX
from axle.controllers.aiworkload_inputs import config_gpus
from axle.controllers.kinds import Kinds
from axle.controllers.quota import (
    headroom_problems,
    limits_of,
    recompute_tenant_usage,
    recompute_usage,
)
from axle.errors import AlreadyExists, Cause, Forbidden, Invalid, NotFound
from axle.server.admission_pools import compute_pool_errors
from axle.server.auth import MASTERS_GROUP, UserInfo
from axle.server.namespaces import NamespaceIndex
from axle.server.rbac import RBAC_GROUP, Authorizer
from axle.server.rbac_escalation import check_escalation
from axle.store.base import Obj, Store

Operation = Literal["CREATE", "UPDATE", "DELETE"]

# Users in these groups administer the whole hub (and every tenant).
ADMIN_GROUPS = frozenset({MASTERS_GROUP})
# Namespaces that can never be deleted (Kubernetes' NamespaceLifecycle "immortal" ones).
IMMORTAL_NAMESPACES = frozenset({SYSTEM_NAMESPACE, "default"})
PROJECT_LABEL = f"{GROUP}/project"
TENANT_LABEL = f"{GROUP}/tenant"

_NAMESPACE = ("", "Namespace")
_PROJECT = (GROUP, "Project")
_TENANT = (GROUP, "Tenant")
_SETTINGS = (GROUP, "Settings")
_COMPUTE_POOL = (GROUP, "ComputePool")
_AIWORKLOAD = (GROUP, "AIWorkload")


def _kind(group_kind: tuple[str, str]) -> KindInfo:
    return REGISTRY.by_group_kind(*group_kind)


def _meta(obj: Obj) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _spec(obj: Obj | None) -> dict[str, Any]:
    spec = (obj or {}).get("spec")
    return spec if isinstance(spec, dict) else {}


def _limits(obj: Obj | None) -> dict[str, int]:
    raw = _spec(obj).get("gpuLimits")
    if not isinstance(raw, dict):
        return {}
    return {str(k): n for k, n in raw.items() if isinstance(n, int) and not isinstance(n, bool)}


def _tenant_ref(obj: Obj | None) -> str:
    ref = _spec(obj).get("tenantRef")
    return str(ref.get("name") or "") if isinstance(ref, dict) else ""


def _is_admin(user: UserInfo) -> bool:
    return not ADMIN_GROUPS.isdisjoint(user.groups)


def _invalid(info: KindInfo, obj: Obj, causes: list[Cause]) -> Invalid:
    """Kubernetes' Invalid: `Project.axle.dev "p" is invalid: <field>: <detail>`."""
    name = str(_meta(obj).get("name") or "")
    parts = [f"{c.field}: {c.message}" for c in causes]
    detail = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    return Invalid(
        f'{qualified_kind(info)} "{name}" is invalid: {detail}',
        kind=info.kind,
        name=name,
        group=info.group,
        causes=causes,
    )


def _cause(error: v.FieldError) -> Cause:
    path, message = error
    for prefix, reason in v.REASON_PREFIXES:
        if message.startswith(prefix):
            return Cause(field=path, message=message, reason=reason)
    return Cause(field=path, message=message)


def _forbidden(info: KindInfo, obj: Obj, reason: str) -> Forbidden:
    """Kubernetes' admission Forbidden: `projects.axle.dev "p" is forbidden: <reason>`."""
    name = str(_meta(obj).get("name") or "")
    resource = f"{info.plural}.{info.group}" if info.group else info.plural
    subject = f'{resource} "{name}"' if name else resource
    return Forbidden(
        f"{subject} is forbidden: {reason}",
        kind=info.plural,
        name=name or None,
        group=info.group or None,
    )


async def _get(
    store: Store, group_kind: tuple[str, str], namespace: str | None, name: str
) -> Obj | None:
    try:
        return await store.get(_kind(group_kind), namespace, name)
    except NotFound:
        return None


def _terminating(namespace: Obj) -> bool:
    status = namespace.get("status")
    phase = status.get("phase") if isinstance(status, dict) else None
    return bool(_meta(namespace).get("deletionTimestamp")) or phase == "Terminating"


# --- entry points ------------------------------------------------------------------------


async def mutate_admission(
    store: Store,
    info: KindInfo,
    obj: dict[str, Any],
    old: dict[str, Any] | None,
    operation: Operation,
    user: UserInfo,
    *,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Changes admission makes before validation; returns the object to validate and store.

    A new Namespace gets the lifecycle finalizer at once, so that its contents are deleted
    with it even if it is deleted before the Namespace controller first sees it; a new
    AIWorkload gets its cleanup finalizer so (and the controller need not write the workload
    once more, with one more watch event to every watcher, just to add it). A Project
    created in a namespace that does not exist gets that namespace, after the Project's own
    rules pass (so a refused Project leaves no namespace behind).
    """
    if operation == "CREATE" and info.group_kind == _NAMESPACE:
        obj = _with_finalizer(obj, NAMESPACE_FINALIZER)
    if operation == "CREATE" and info.group_kind == _AIWORKLOAD:
        obj = _with_finalizer(obj, AIWORKLOAD_FINALIZER)
    if operation == "CREATE" and info.group_kind == _PROJECT:
        namespace = str(_meta(obj).get("namespace") or "")
        if namespace and await _get(store, _NAMESPACE, None, namespace) is None:
            await _validate_project(store, info, obj, None, operation, user)
            if not dry_run:
                await _create_project_namespace(store, namespace, obj)
    return obj


async def validate_admission(
    store: Store,
    info: KindInfo,
    obj: dict[str, Any],
    old: dict[str, Any] | None,
    operation: Operation,
    user: UserInfo,
    *,
    dry_run: bool = False,
    authorizer: Authorizer | None = None,
    namespaces: NamespaceIndex | None = None,
) -> None:
    """Refuse a write that breaks a cross-object rule (Invalid, Forbidden or NotFound).

    `authorizer` is needed to let a user outside `system:masters` write Roles and bindings
    (the escalation check asks it what the user holds); without it such writes are refused.
    `namespaces`, when given, answers "does the namespace exist" for updates from memory.
    """
    if operation == "DELETE":
        _validate_delete(info, obj if obj is not None else old or {})
        return
    await _namespace_lifecycle(store, info, obj, operation, dry_run=dry_run, namespaces=namespaces)
    group_kind = info.group_kind
    if info.group == RBAC_GROUP and not _is_admin(user):
        if authorizer is None:
            raise _forbidden(info, obj, "RBAC writes need the authorizer to check escalation")
        await check_escalation(authorizer, store, info, obj, user)
    if group_kind == _PROJECT:
        await _validate_project(store, info, obj, old, operation, user)
    elif group_kind == _TENANT and operation == "UPDATE":
        await _validate_tenant_limits(store, info, obj, old)
    elif group_kind == _SETTINGS:
        await _validate_settings(store, info, obj, old)
    elif group_kind == _COMPUTE_POOL and operation == "CREATE":
        pool_errors = await compute_pool_errors(store, obj)
        if pool_errors:
            raise _invalid(info, obj, [_cause(e) for e in pool_errors])
    elif group_kind == _AIWORKLOAD:
        await _validate_aiworkload_quota(store, info, obj, old)


# --- NamespaceLifecycle ------------------------------------------------------------------


def _validate_delete(info: KindInfo, obj: Obj) -> None:
    name = str(_meta(obj).get("name") or "")
    if info.group_kind == _NAMESPACE and name in IMMORTAL_NAMESPACES:
        raise _forbidden(info, obj, "this namespace may not be deleted")


async def _namespace_lifecycle(
    store: Store,
    info: KindInfo,
    obj: Obj,
    operation: Operation,
    *,
    dry_run: bool,
    namespaces: NamespaceIndex | None = None,
) -> None:
    if not info.namespaced:
        return
    namespace = str(_meta(obj).get("namespace") or "")
    if not namespace:
        return
    if operation == "UPDATE" and namespaces is not None and namespaces.has(namespace):
        # An update needs the namespace to exist, which the index knows; only a create must
        # also see that it is not terminating, so creates read it from the store.
        return
    found = await _get(store, _NAMESPACE, None, namespace)
    if found is None:
        if dry_run and operation == "CREATE" and info.group_kind == _PROJECT:
            return  # a real create would have made the namespace (mutate_admission)
        raise NotFound(f'namespaces "{namespace}" not found', kind="namespaces", name=namespace)
    if operation == "CREATE" and _terminating(found):
        err = _forbidden(
            info,
            obj,
            f"unable to create new content in namespace {namespace} because it is being terminated",
        )
        err.causes.append(
            Cause(
                field="metadata.namespace",
                message=f"namespace {namespace} is being terminated",
                reason="NamespaceTerminating",
            )
        )
        raise err


def _with_finalizer(obj: Obj, finalizer: str) -> Obj:
    finalizers = list(_meta(obj).get("finalizers") or [])
    if finalizer in finalizers:
        return obj
    return {**obj, "metadata": {**_meta(obj), "finalizers": [*finalizers, finalizer]}}


async def _create_project_namespace(store: Store, namespace: str, project: Obj) -> None:
    ns_info = _kind(_NAMESPACE)
    labels = {PROJECT_LABEL: str(_meta(project).get("name") or "")}
    tenant = _tenant_ref(project)
    if tenant:
        labels[TENANT_LABEL] = tenant
    ns = admit(
        ns_info,
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": labels},
        },
    )
    ns = _with_finalizer(ns, NAMESPACE_FINALIZER)
    # Created meanwhile by another request: the lifecycle check then looks at that one.
    with contextlib.suppress(AlreadyExists):
        await store.create(ns_info, ns)


# --- Project -----------------------------------------------------------------------------


def _project_namespace_errors(namespace: str) -> list[v.FieldError]:
    path = "metadata.namespace"
    if namespace == SYSTEM_NAMESPACE:
        return [v.forbidden(path, f"a project may not be created in {SYSTEM_NAMESPACE}")]
    for prefix, what in ((TENANT_NAMESPACE_PREFIX, "tenant"), (SPOKE_NAMESPACE_PREFIX, "spoke")):
        if namespace.startswith(prefix):
            return [
                v.forbidden(path, f"a project may not be created in a {what} namespace ({prefix}*)")
            ]
    return []


async def _validate_project(
    store: Store,
    info: KindInfo,
    obj: Obj,
    old: Obj | None,
    operation: Operation,
    user: UserInfo,
) -> None:
    meta = _meta(obj)
    namespace = str(meta.get("namespace") or "")
    name = str(meta.get("name") or "")
    tenant_name = _tenant_ref(obj)
    creating = operation == "CREATE"
    errors: list[v.FieldError] = []
    if creating:
        errors += _project_namespace_errors(namespace)
    elif _tenant_ref(old) != tenant_name:
        errors.append(
            v.invalid("spec.tenantRef", _spec(obj).get("tenantRef"), "field is immutable")
        )
        raise _invalid(info, obj, [_cause(e) for e in errors])

    tenant: Obj | None = None
    if tenant_name:
        tenant = await _get(store, _TENANT, None, tenant_name)
    if creating and tenant is not None and not _is_admin(user):
        # Checked before the limits, so that a non-member learns nothing of the tenant.
        groups = (_spec(tenant).get("tenantRoleMapping") or {}).get("groups") or []
        if set(groups).isdisjoint(user.groups):
            raise _forbidden(
                info,
                obj,
                f'User "{user.name}" cannot create projects in tenant "{tenant_name}": '
                "not in its tenantRoleMapping.groups",
            )
    if creating or tenant is not None:
        if tenant is None:
            errors.append(
                v.invalid("spec.tenantRef.name", tenant_name, f'tenant "{tenant_name}" not found')
            )
        elif creating and _meta(tenant).get("deletionTimestamp"):
            errors.append(
                v.invalid(
                    "spec.tenantRef.name", tenant_name, f'tenant "{tenant_name}" is being deleted'
                )
            )

    if tenant is not None:
        old_limits = _limits(old)
        for family, count, cap in gpu_limit_excess(_limits(obj), _limits(tenant)):
            # On update only what changes is checked, so an unrelated edit (or a status
            # write) of a project is never refused for a limit it already had.
            if not creating and old_limits.get(family) == count:
                continue
            errors.append(
                v.invalid(
                    f"spec.gpuLimits.{family}",
                    count,
                    f'exceeds tenant "{tenant_name}" limit of {cap}',
                )
            )

    if creating and namespace:
        others = await store.list(info, namespace)
        taken = [o for o in others.items if _meta(o).get("name") != name]
        if taken:
            errors.append(
                v.forbidden(
                    "metadata.namespace",
                    f'namespace "{namespace}" already holds project '
                    f'"{_meta(taken[0]).get("name")}" (one project per namespace)',
                )
            )
        errors += await _namespace_owner_errors(store, info, obj, namespace, tenant_name, user)

    if errors:
        raise _invalid(info, obj, [_cause(e) for e in errors])


async def _namespace_owner_errors(
    store: Store, info: KindInfo, obj: Obj, namespace: str, tenant_name: str, user: UserInfo
) -> list[v.FieldError]:
    """A project's roles are granted in its namespace, so the namespace must be the tenant's:
    one labelled for another tenant is refused, and only an admin may adopt an unlabelled one
    (otherwise a tenant admin could gain access to any namespace by creating a project there)."""
    found = await _get(store, _NAMESPACE, None, namespace)
    if found is None:
        return []
    owner = (_meta(found).get("labels") or {}).get(TENANT_LABEL)
    if owner and owner != tenant_name:
        return [
            v.forbidden(
                "metadata.namespace", f'namespace "{namespace}" belongs to tenant "{owner}"'
            )
        ]
    if not owner and not _is_admin(user):
        raise _forbidden(
            info,
            obj,
            f'User "{user.name}" cannot create a project in existing namespace {namespace}: '
            f"it is not labelled {TENANT_LABEL}={tenant_name}",
        )
    return []


# --- Tenant ------------------------------------------------------------------------------


async def _validate_tenant_limits(store: Store, info: KindInfo, obj: Obj, old: Obj | None) -> None:
    new_limits = _limits(obj)
    old_limits = _limits(old)
    changed = {f: n for f, n in new_limits.items() if old_limits.get(f) != n}
    if not changed:
        return
    tenant_name = str(_meta(obj).get("name") or "")
    projects = await store.list(
        _kind(_PROJECT), None, field_selector=f"spec.tenantRef.name={tenant_name}"
    )
    errors: list[v.FieldError] = []
    for family, cap in sorted(changed.items()):
        for project in projects.items:
            limit = _limits(project).get(family)
            if limit is not None and limit > cap:
                pmeta = _meta(project)
                errors.append(
                    v.invalid(
                        f"spec.gpuLimits.{family}",
                        cap,
                        f'below project "{pmeta.get("namespace")}/{pmeta.get("name")}" '
                        f"limit of {limit}",
                    )
                )
    if errors:
        raise _invalid(info, obj, [_cause(e) for e in errors])


# --- Settings ----------------------------------------------------------------------------


def _palette_secret(obj: Obj | None) -> str:
    palette = _spec(obj).get("palette")
    ref = palette.get("secretRef") if isinstance(palette, dict) else None
    return str(ref.get("name") or "") if isinstance(ref, dict) else ""


async def _validate_settings(store: Store, info: KindInfo, obj: Obj, old: Obj | None) -> None:
    secret = _palette_secret(obj)
    if not secret or (old is not None and _palette_secret(old) == secret):
        return
    meta = _meta(obj)
    namespace = str(meta.get("namespace") or "")
    # The Secret is in the Settings' own namespace (secretRef has no namespace).
    same = await store.list(info, namespace, field_selector=f"spec.palette.secretRef.name={secret}")
    others = [o for o in same.items if _meta(o).get("name") != meta.get("name")]
    if others:
        path = "spec.palette.secretRef.name"
        error = v.invalid(
            path,
            secret,
            f'Secret "{namespace}/{secret}" already backs Settings '
            f'"{namespace}/{_meta(others[0]).get("name")}"; a Palette integration may back only '
            "one Settings (share it through the tenant's Settings instead)",
        )
        raise _invalid(info, obj, [_cause(error)])


# --- AIWorkload --------------------------------------------------------------------------

_KINDS: list[Kinds] = []


def _kinds() -> Kinds:
    if not _KINDS:
        _KINDS.append(Kinds.from_registry())
    return _KINDS[0]


async def _validate_aiworkload_quota(
    store: Store, info: KindInfo, obj: Obj, old: Obj | None
) -> None:
    """Refuse an inline dedicated pool the project's or tenant's GPU limits cannot cover."""
    field = "spec.paletteClusterDeploymentConfig"
    config = _spec(obj).get("paletteClusterDeploymentConfig")
    if not isinstance(config, dict):
        return
    needed = config_gpus(config)
    if old is not None:
        before = config_gpus(_spec(old).get("paletteClusterDeploymentConfig"))
        needed = {f: n - before.get(f, 0) for f, n in needed.items() if n > before.get(f, 0)}
    if not needed:
        return
    namespace = str(_meta(obj).get("namespace") or "")
    projects = (await store.list(_kind(_PROJECT), namespace)).items
    if not projects:
        return  # the controller reports a missing project on the object
    project = projects[0]
    kinds = _kinds()
    problems = headroom_problems(
        needed,
        await recompute_usage(store, kinds, namespace),
        limits_of(project),
        f"project {namespace}",
    )
    tenant_name = _tenant_ref(project)
    if tenant_name:
        tenant = await _get(store, _TENANT, None, tenant_name)
        problems += headroom_problems(
            needed,
            await recompute_tenant_usage(store, kinds, tenant_name),
            limits_of(tenant),
            f"tenant {tenant_name}",
        )
    if problems:
        err = _forbidden(info, obj, "exceeded GPU quota: " + "; ".join(problems))
        err.causes.append(
            Cause(
                field=f"{field}.nodePoolRequirements.workerPools",
                message="; ".join(problems),
                reason="FieldValueForbidden",
            )
        )
        raise err
