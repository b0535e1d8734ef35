"""What the AIWorkload controller reads from informer caches, corrected by its own writes.

Every AIWorkload pass needs the workload itself, its ControllerRevisions, its
WorkloadDeployments, its pool and (for quota) the host claims. Reading them from the store
cost a label-selector list per pass, and the SQLite store answers one by decoding every object
of the kind in the namespace: each pass was O(workloads), the fleet benchmark's largest cost.
Read from the shared informer caches (indexed below), a pass is O(its own objects).

A cache follows the store a moment behind, and the one lag that matters is the controller's
own writes: a pass right after the one that created a revision or a deployment must not miss
it (it would create it again, number a revision twice, or put a resumed deployment back on
hold). `RecentWrites` keeps each object this process wrote or deleted until the informer has
applied every event up to that write (its resourceVersion is at least the write's), and lays
them over what the cache shows; the store's revisions are global and each informer applies its
kind's events in order, so "caught up" is one integer comparison and needs no timer.
"""

from __future__ import annotations

from collections.abc import Iterable

from axle.api.controllerrevision import AIWORKLOAD_LABEL
from axle.controllers.informer import Informer
from axle.controllers.objects import key_of
from axle.store.base import Obj

# Index names on the shared informers (values are `<namespace>/<name>`).
REVISIONS_INDEX = "aiworkload-revisions"  # ControllerRevision -> its AIWorkload (label)
POOL_USERS_INDEX = "aiworkload-pool"  # AIWorkload -> the pool it names or runs on


def rv_of(obj: Obj | None) -> int:
    """An object's resourceVersion as a number (0 when absent or not a number)."""
    try:
        return int(((obj or {}).get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


def labelled_workload_index(obj: Obj) -> list[str]:
    """`<namespace>/<aiworkload>` from the `axle.dev/aiworkload` label (revisions, deployments)."""
    m = obj.get("metadata") or {}
    owner = (m.get("labels") or {}).get(AIWORKLOAD_LABEL)
    return [f"{m.get('namespace')}/{owner}"] if owner else []


def pool_users_index(aiw: Obj) -> list[str]:
    """`<namespace>/<pool>` for the pool an AIWorkload names and the one its status reports."""
    ns = (aiw.get("metadata") or {}).get("namespace")
    names = {
        ((aiw.get("spec") or {}).get("computePoolRef") or {}).get("name"),
        (aiw.get("status") or {}).get("computePool"),
    }
    return sorted(f"{ns}/{n}" for n in names if n)


class RecentWrites:
    """Objects of one kind this process wrote or deleted, until its informer shows them.

    Grouped by a caller's key (a workload's `<namespace>/<name>`), so a view of one group
    touches only that group's few entries. Entries leave as soon as the informer caught up,
    so the map holds only writes of the last moment."""

    def __init__(self, cache: Informer) -> None:
        self.cache = cache
        self._groups: dict[str, dict[str, tuple[Obj, bool]]] = {}

    def _caught_up(self, written: Obj) -> bool:
        try:
            seen = int(self.cache.resource_version or 0)
        except ValueError:
            seen = 0
        return seen >= rv_of(written)

    def wrote(self, group: str, obj: Obj) -> Obj:
        """Remember `obj` as written (created or updated); returns it."""
        self._groups.setdefault(group, {})[key_of(obj)] = (obj, False)
        return obj

    def deleted(self, group: str, obj: Obj) -> None:
        """Remember a delete, given what the store's delete returned: an object waiting for
        its finalizers (a `deletionTimestamp`) is still there, shown as deleting; any other
        is gone."""
        gone = not (obj.get("metadata") or {}).get("deletionTimestamp")
        self._groups.setdefault(group, {})[key_of(obj)] = (obj, gone)

    def forget(self, group: str) -> None:
        self._groups.pop(group, None)

    def get(self, group: str, key: str) -> Obj | None:
        """The object at `key`: this process's write while the cache does not show it yet."""
        return next((o for o in self.view(group, self._cached(key)) if key_of(o) == key), None)

    def _cached(self, key: str) -> list[Obj]:
        obj = self.cache.get(key)
        return [obj] if obj is not None else []

    def view(self, group: str, cached: Iterable[Obj]) -> list[Obj]:
        """`cached` (the cache's objects of the group) with this process's newer writes laid
        over it: written objects replace or join, deleted ones are left out."""
        out = {key_of(o): o for o in cached}
        pending = self._groups.get(group)
        if not pending:
            return list(out.values())
        for key, (obj, deleted) in list(pending.items()):
            if self._caught_up(obj):
                del pending[key]  # the cache shows this write (or something newer)
                continue
            now = out.get(key)
            if now is not None and rv_of(now) >= rv_of(obj):
                continue
            if deleted:
                out.pop(key, None)
            else:
                out[key] = obj
        if not pending:
            del self._groups[group]
        return list(out.values())

    def __len__(self) -> int:
        return sum(len(g) for g in self._groups.values())
