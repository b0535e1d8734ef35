"""ControllerRevision (apps/v1, namespaced): an immutable snapshot of what a controller
deployed, Kubernetes' own kind for rollout history.

axle keeps one per distinct AIWorkload revision (labelled `axle.dev/aiworkload=<name>`,
owned by the AIWorkload): `data` holds the AIWorkload spec and the bundle as they were, so
`axle rollout history` lists them and `axle rollout undo` can deploy an earlier one even after
the bundle changed. Same fields as Kubernetes' (`data`, `revision`) so `kubectl get
controllerrevisions` reads them; `data` is immutable, `revision` may be raised (a rollback
moves the revision it restores to the top, as Kubernetes' Deployment rollback does).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from axle.api import validation as v
from axle.api.common import NonNegInt
from axle.api.meta import Model, ObjectMeta
from axle.api.registry import KindInfo, PrinterColumn, register

# Label naming the AIWorkload a revision belongs to.
AIWORKLOAD_LABEL = "axle.dev/aiworkload"


class ControllerRevision(Model):
    apiVersion: Literal["apps/v1"] = "apps/v1"
    kind: Literal["ControllerRevision"] = "ControllerRevision"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    data: dict[str, Any] | None = None
    revision: NonNegInt


def _validate_update(old: dict[str, Any], new: dict[str, Any]) -> list[v.FieldError]:
    if old.get("data") != new.get("data"):
        return [v.forbidden("data", "field is immutable")]
    return []


CONTROLLER_REVISION = register(
    KindInfo(
        group="apps",
        version="v1",
        kind="ControllerRevision",
        plural="controllerrevisions",
        singular="controllerrevision",
        namespaced=True,
        model=ControllerRevision,
        has_status=False,
        columns=(
            PrinterColumn("Controller", ".metadata.ownerReferences[0].name"),
            PrinterColumn("Revision", ".revision", "integer"),
            PrinterColumn("Age", ".metadata.creationTimestamp", "date"),
        ),
        validate_update=_validate_update,
        description="An immutable snapshot of what a controller deployed (rollout history).",
    )
)
