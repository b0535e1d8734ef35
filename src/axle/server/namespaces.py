"""The names of the namespaces that exist, kept in memory by a watch of the store.

NamespaceLifecycle admission refuses a write into a namespace that does not exist. Asking the
store on every write costs a read through its worker thread, about a fifth of the CPU of a
small write such as a spoke agent's Lease renewal. The Kubernetes API server answers the
question from an informer cache and asks storage only when the cache does not know the name;
this index is that cache. Updates use it: an object that is being updated already lives in the
namespace, so a name the index knows needs no read. Creates still read the namespace, because
they must also see whether it is terminating at that very moment (the index could be a turn of
the event loop behind a delete). A name the index does not know, or an index that is not
synced (not started, or between a lost watch and its relist), falls back to the store read.
"""

from __future__ import annotations

from axle.api.registry import REGISTRY, KindInfo
from axle.server.storemirror import StoreMirror
from axle.store.base import Obj, Store


class NamespaceIndex(StoreMirror):
    """Which namespaces exist, from a list and then a watch of Namespaces."""

    mirror_name = "namespace index"
    # A deletion may be missed while the watch is down: ask the store until a fresh list is in.
    relist_after_loss = True

    def __init__(self, store: Store, *, namespace_kind: KindInfo | None = None) -> None:
        super().__init__(store, namespace_kind or REGISTRY.by_group_kind("", "Namespace"))
        self._names: set[str] = set()
        self._synced = False

    def has(self, name: str) -> bool:
        """True when the namespace is known to exist; False means "ask the store"."""
        return self._synced and name in self._names

    async def stop(self) -> None:
        self._synced = False
        await super().stop()

    def _load(self, items: list[Obj]) -> None:
        self._names = {obj["metadata"]["name"] for obj in items}
        self._synced = True

    def _apply(self, type_: str, obj: Obj) -> None:
        if type_ == "DELETED":
            self._names.discard(obj["metadata"]["name"])
        else:
            self._names.add(obj["metadata"]["name"])

    def _lost(self) -> None:
        self._synced = False
