"""Small helpers over wire-shaped objects: keys, owner references, and create-or-update.

Controllers handle objects as the plain dicts the store returns. These helpers keep the few
recurring manipulations in one place: the `namespace/name` key a queue holds (client-go's
MetaNamespaceKeyFunc, so logs read the same), owner references, and `ensure`, the idempotent
create-or-update that every reconciler uses for the objects it owns. `ensure` reads the stored
object fresh (never the cache) so that a lagging cache can't make it create twice, and writes
only when a field it manages differs, so an unchanged desired state costs one read.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from axle.api.registry import KindInfo
from axle.errors import AlreadyExists, NotFound
from axle.store.base import Obj, Store
from axle.utils.jsoncopy import copy_json


def key_of(obj: Obj) -> str:
    """`namespace/name` for namespaced objects, `name` for cluster-scoped ones."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta['name']}" if ns else str(meta["name"])


def make_key(namespace: str | None, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


def split_key(key: str) -> tuple[str | None, str]:
    ns, sep, name = key.partition("/")
    return (ns, name) if sep else (None, ns)


def meta(obj: Obj) -> dict[str, Any]:
    m: dict[str, Any] = obj.setdefault("metadata", {})
    return m


def labels(obj: Obj) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def is_deleting(obj: Obj) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def owner_ref(owner: Obj, *, controller: bool = True) -> dict[str, Any]:
    """An ownerReference to `owner`, so the store's garbage collector deletes with it."""
    m = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": m["name"],
        "uid": m["uid"],
        "controller": controller,
        "blockOwnerDeletion": True,
    }


def owner_uids(obj: Obj) -> list[str]:
    return [r["uid"] for r in (obj.get("metadata") or {}).get("ownerReferences") or []]


async def get_or_none(store: Store, info: KindInfo, namespace: str | None, name: str) -> Obj | None:
    try:
        return await store.get(info, namespace if info.namespaced else None, name)
    except NotFound:
        return None


async def ensure(
    store: Store,
    info: KindInfo,
    desired: Obj,
    *,
    fields: Iterable[str] = (),
    create_only: bool = False,
) -> Obj:
    """Create `desired` if absent, else bring its managed parts up to date.

    Managed parts: the labels and ownerReferences `desired` carries (added to what is there;
    other labels and owners are left alone, as others may have set them) and the top-level
    `fields` (replaced wholesale). With `create_only`, an existing object is returned as is:
    used for objects their users own once created (a tenant's copies of role templates).
    """
    m = desired["metadata"]
    current = await get_or_none(store, info, m.get("namespace"), m["name"])
    if current is None:
        body = {"apiVersion": info.api_version, "kind": info.kind, **copy_json(desired)}
        try:
            return await store.create(info, body)
        except AlreadyExists:
            # Created by someone else between our read and write: fall through to update.
            current = await store.get(info, m.get("namespace"), m["name"])
    if create_only:
        return current
    updated = copy_json(current)
    um = meta(updated)
    if m.get("labels"):
        um["labels"] = {**(um.get("labels") or {}), **m["labels"]}
    refs = list(um.get("ownerReferences") or [])
    for ref in m.get("ownerReferences") or []:
        if ref["uid"] not in {r.get("uid") for r in refs}:
            refs.append(ref)
    if refs:
        um["ownerReferences"] = refs
    for f in fields:
        if f in desired:
            updated[f] = copy_json(desired[f])
        else:
            updated.pop(f, None)
    if updated == current:
        return current
    return await store.update(info, updated)


async def delete_if_exists(store: Store, info: KindInfo, namespace: str | None, name: str) -> bool:
    """Delete an object; `False` if it was already gone."""
    try:
        await store.delete(info, namespace if info.namespaced else None, name)
    except NotFound:
        return False
    return True


async def write_status(store: Store, info: KindInfo, obj: Obj, status: dict[str, Any]) -> Obj:
    """Write `status` through the status subresource, only when it differs from the stored one.

    `obj` carries the resourceVersion the reconcile read, so a status computed from a stale
    view fails with Conflict and the runtime re-runs the reconcile on the fresh object.
    """
    if (obj.get("status") or {}) == status:
        return obj
    body = copy_json(obj)
    body["status"] = status
    return await store.update(info, body, subresource="status" if info.has_status else None)
