"""The DefinitionRevision controller: an immutable, numbered snapshot of every spec change.

Each ComponentDefinition, TraitDefinition, PolicyDefinition and WorkloadProfile gets a
`DefinitionRevision` named `<name>-v<N>` in its namespace for every distinct spec it has had
(notes §12: history and rollback; bundles pin workload profiles by revision). N counts per
source object; a spec whose hash equals the newest revision's makes none, so resyncs and
restarts are free. Revisions are owned by their source, so the store's garbage collector
removes them when it goes. The source's `status.latestRevision` names the newest one.

One reconciler class serves the four kinds (they differ only in the snapshot field the
revision carries); `definition_reconcilers()` gives the manager one factory per kind.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from functools import partial
from typing import Any

from axle.api.meta import GROUP
from axle.api.registry import KindInfo
from axle.controllers.controller import Context, Mapper, Reconciler, owned_by
from axle.controllers.objects import is_deleting, owner_ref, owner_uids, write_status
from axle.errors import AlreadyExists, Conflict
from axle.store.base import Obj

# Source kind -> (DefinitionRevision.spec.definitionType, the snapshot field it fills).
SOURCES: dict[str, tuple[str, str]] = {
    "ComponentDefinition": ("Component", "componentDefinition"),
    "TraitDefinition": ("Trait", "traitDefinition"),
    "PolicyDefinition": ("Policy", "policyDefinition"),
    "WorkloadProfile": ("WorkloadProfile", "workloadProfile"),
}
# Labels that find a source's revisions without reading every revision in the namespace.
SOURCE_KIND_LABEL = "axle.dev/definition-kind"
SOURCE_NAME_LABEL = "axle.dev/definition-name"


def spec_hash(spec: dict[str, Any] | None) -> str:
    """sha256 of the spec as sorted-keys compact JSON: equal specs hash equal on any host."""
    text = json.dumps(spec or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def revision_name(name: str, revision: int) -> str:
    return f"{name}-v{revision}"


class DefinitionRevisionReconciler(Reconciler):
    """Snapshots one source kind (`source_kind`, e.g. "ComponentDefinition")."""

    def __init__(self, ctx: Context, source_kind: str) -> None:
        super().__init__(ctx)
        self.source_kind = source_kind
        self.definition_type, self.snapshot_field = SOURCES[source_kind]
        self.name = f"definitionrevision-{source_kind.lower()}"
        self._source = self.kinds.registry.by_group_kind(GROUP, source_kind)
        self.revisions = self.kinds.registry.by_group_kind(GROUP, "DefinitionRevision")

    @property
    def kind(self) -> KindInfo:
        return self._source

    def watches(self) -> Iterable[tuple[KindInfo, Mapper]]:
        # A revision deleted by hand wakes its source, whose status then points at what is left.
        return ((self.revisions, owned_by(self._source)),)

    async def _owned(self, source: Obj) -> list[Obj]:
        m = source["metadata"]
        selector = f"{SOURCE_KIND_LABEL}={self.source_kind},{SOURCE_NAME_LABEL}={m['name']}"
        items = (
            await self.store.list(self.revisions, m.get("namespace"), label_selector=selector)
        ).items
        # Revisions of an earlier object of the same name (deleted, GC pending) do not count.
        return [r for r in items if m["uid"] in owner_uids(r) and not is_deleting(r)]

    async def reconcile(self, key: str) -> float | None:
        source = self.cached(key)
        if source is None or is_deleting(source):
            return None
        spec = source.get("spec") or {}
        digest = spec_hash(spec)
        owned = await self._owned(source)
        latest = max(owned, key=lambda r: int(r["spec"]["revision"]), default=None)
        if latest is None or latest["spec"]["revisionHash"] != digest:
            latest = await self._create(source, spec, digest, owned)
        status = dict(source.get("status") or {})
        status["latestRevision"] = {
            "name": latest["metadata"]["name"],
            "revision": int(latest["spec"]["revision"]),
            "revisionHash": latest["spec"]["revisionHash"],
        }
        await write_status(self.store, self.kind, source, status)
        return None

    async def _create(
        self, source: Obj, spec: dict[str, Any], digest: str, owned: list[Obj]
    ) -> Obj:
        m = source["metadata"]
        seen = [int(r["spec"]["revision"]) for r in owned]
        # The status remembers numbers whose revisions were deleted: never reuse a number.
        recorded = ((source.get("status") or {}).get("latestRevision") or {}).get("revision")
        number = max([0, *seen, *([int(recorded)] if recorded else [])]) + 1
        rev_spec: dict[str, Any] = {
            "definitionType": self.definition_type,
            "revision": number,
            "revisionHash": digest,
            self.snapshot_field: {"name": m["name"], "spec": spec},
        }
        if spec.get("revisionNotes"):
            rev_spec["revisionNotes"] = spec["revisionNotes"]
        body: Obj = {
            "apiVersion": self.revisions.api_version,
            "kind": "DefinitionRevision",
            "metadata": {
                "name": revision_name(m["name"], number),
                "namespace": m.get("namespace"),
                "labels": {SOURCE_KIND_LABEL: self.source_kind, SOURCE_NAME_LABEL: m["name"]},
                "ownerReferences": [owner_ref(source)],
            },
            "spec": rev_spec,
        }
        try:
            return await self.store.create(self.revisions, body)
        except AlreadyExists as exc:
            # A revision of a deleted namesake not yet collected, or a concurrent write:
            # the runtime re-runs soon and numbers past it.
            raise Conflict(f"revision {body['metadata']['name']} exists") from exc


def definition_reconcilers() -> tuple[partial[DefinitionRevisionReconciler], ...]:
    """One reconciler factory per source kind, for the controller manager."""
    return tuple(partial(DefinitionRevisionReconciler, source_kind=k) for k in SOURCES)
