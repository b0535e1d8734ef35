"""AIWorkload revisions: one ControllerRevision per distinct deployed input, for rollout history.

The inputs of a revision are the AIWorkload's spec, the bundle it deploys (name, namespace,
version and spec, as they were) and the workload profile revisions pinned for it. Their hash
names a `ControllerRevision` `<aiw>-<hash10>` (apps/v1, labelled `axle.dev/aiworkload=<aiw>`,
owned by the AIWorkload) whose `data` holds them, so `axle rollout history` lists what was
deployed and `axle rollout undo` can deploy an old revision even after the bundle changed.

Numbering follows Kubernetes' Deployment: a new distinct input gets `max + 1`; inputs equal to
an existing revision (a rollback, or a change undone by hand) move that revision to `max + 1`
rather than making a copy. At most `HISTORY_LIMIT` revisions are kept; the oldest go first, and
the current one never does.

The rollback pin: `axle rollout undo` sets the annotation `axle.dev/rollback-revision: "<N>"`
and the spec to revision N's `data.spec`. While the spec still equals that, the controller
deploys revision N's bundle snapshot instead of the live bundle (the bundle may have moved on);
once the spec changes, the annotation is dropped and the live bundle is used again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from axle.api.controllerrevision import AIWORKLOAD_LABEL
from axle.api.registry import KindInfo
from axle.controllers.objects import is_deleting, owner_ref, owner_uids
from axle.errors import AlreadyExists, Conflict, NotFound
from axle.store.base import Obj, Store
from axle.utils.jsoncopy import copy_json

HISTORY_LIMIT = 10
ROLLBACK_ANNOTATION = "axle.dev/rollback-revision"
_MAX_NAME = 253


def revision_data(
    spec: dict[str, Any], bundle: dict[str, Any], profiles: dict[str, int]
) -> dict[str, Any]:
    """What a revision records: `{spec, bundle: {name, namespace, version, spec}, profiles}`."""
    return {
        "spec": spec,
        "bundle": {
            "name": bundle.get("name"),
            "namespace": bundle.get("namespace"),
            "version": bundle.get("version"),
            "spec": bundle.get("spec") or {},
        },
        "profiles": {name: int(rev) for name, rev in sorted(profiles.items())},
    }


def data_hash(data: dict[str, Any]) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


def revision_name(aiw_name: str, digest: str) -> str:
    base = aiw_name[: _MAX_NAME - len(digest) - 1].rstrip("-.")
    return f"{base}-{digest}"


def number_of(rev: Obj) -> int:
    return int(rev.get("revision") or 0)


def owned_revisions(items: Iterable[Obj], aiw: Obj) -> list[Obj]:
    """Of `items` (revisions labelled with the workload's name), those owned by this very
    object (not a deleted namesake's, not being deleted), oldest number first."""
    uid = aiw["metadata"]["uid"]
    mine = [r for r in items if uid in owner_uids(r) and not is_deleting(r)]
    return sorted(mine, key=lambda r: (number_of(r), r["metadata"]["name"]))


async def list_revisions(store: Store, info: KindInfo, aiw: Obj) -> list[Obj]:
    """The AIWorkload's revisions read from the store (the controller reads its cache
    instead), oldest number first."""
    m = aiw["metadata"]
    items = (
        await store.list(info, m["namespace"], label_selector=f"{AIWORKLOAD_LABEL}={m['name']}")
    ).items
    return owned_revisions(items, aiw)


def find_revision(revisions: list[Obj], number: int) -> Obj | None:
    return next((r for r in revisions if number_of(r) == number), None)


async def ensure_revision(
    store: Store, info: KindInfo, aiw: Obj, data: dict[str, Any], revisions: list[Obj]
) -> tuple[Obj, bool]:
    """The revision holding `data`, made the newest; returns (revision, created or raised).

    `revisions` is `list_revisions(...)`: numbers come from it (never reused, since the
    newest is never pruned)."""
    m = aiw["metadata"]
    name = revision_name(m["name"], data_hash(data))
    top = max((number_of(r) for r in revisions), default=0)
    existing = next((r for r in revisions if r["metadata"]["name"] == name), None)
    if existing is not None:
        if number_of(existing) == top:
            return existing, False
        moved = copy_json(existing)  # `revisions` may be a cache's shared objects
        moved["revision"] = top + 1
        return await store.update(info, moved), True
    body: Obj = {
        "apiVersion": info.api_version,
        "kind": info.kind,
        "metadata": {
            "name": name,
            "namespace": m["namespace"],
            "labels": {AIWORKLOAD_LABEL: m["name"]},
            "ownerReferences": [owner_ref(aiw)],
        },
        "data": data,
        "revision": top + 1,
    }
    try:
        return await store.create(info, body), True
    except AlreadyExists as exc:
        # A namesake's revision not yet collected, or a concurrent write: run again soon.
        raise Conflict(f"controllerrevision {name} exists") from exc


async def prune(
    store: Store, info: KindInfo, revisions: list[Obj], current: str, limit: int = HISTORY_LIMIT
) -> list[Obj]:
    """Delete the oldest revisions beyond `limit`, never `current`; the deleted objects (as
    the store's delete returned them, so a caller can tell its cache they are gone)."""
    ordered = sorted(revisions, key=number_of)
    extra = len(ordered) - limit
    deleted: list[Obj] = []
    for rev in ordered:
        if extra <= 0:
            break
        name = rev["metadata"]["name"]
        if name == current:
            continue
        try:
            gone = await store.delete(
                info, rev["metadata"]["namespace"], name, uid=rev["metadata"]["uid"]
            )
        except (NotFound, Conflict):  # already gone or replaced: nothing to prune
            continue
        deleted.append(gone)
        extra -= 1
    return deleted


def rollback_pin(aiw: Obj) -> int | None:
    raw = ((aiw.get("metadata") or {}).get("annotations") or {}).get(ROLLBACK_ANNOTATION)
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None
