"""Lease (coordination.k8s.io/v1): leader election of hub replicas and spoke heartbeats.

Same fields as Kubernetes' Lease so that client-go style leader election and `kubectl get
leases` work; times are RFC 3339 with microseconds (Kubernetes' MicroTime).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from axle.api import validation as v
from axle.api.meta import Model, ObjectMeta
from axle.api.registry import KindInfo, PrinterColumn, register


class LeaseSpec(Model):
    holderIdentity: str | None = None
    leaseDurationSeconds: int | None = Field(default=None, ge=1)
    acquireTime: str | None = None
    renewTime: str | None = None
    leaseTransitions: int | None = Field(default=None, ge=0)
    strategy: str | None = None
    preferredHolder: str | None = None


class Lease(Model):
    apiVersion: Literal["coordination.k8s.io/v1"] = "coordination.k8s.io/v1"
    kind: Literal["Lease"] = "Lease"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: LeaseSpec = Field(default_factory=LeaseSpec)


def _validate(obj: dict[str, Any]) -> list[v.FieldError]:
    spec = obj.get("spec") or {}
    errs: list[v.FieldError] = []
    for name in ("acquireTime", "renewTime"):
        if spec.get(name):
            errs.extend(v.timestamp(spec[name], f"spec.{name}"))
    return errs


LEASE = register(
    KindInfo(
        group="coordination.k8s.io",
        version="v1",
        kind="Lease",
        plural="leases",
        singular="lease",
        namespaced=True,
        model=Lease,
        has_status=False,
        columns=(
            PrinterColumn("Holder", ".spec.holderIdentity"),
            PrinterColumn("Age", ".metadata.creationTimestamp", "date"),
        ),
        validate_object=_validate,
        description="A time-bound claim: hub leader election, spoke heartbeats.",
    )
)
