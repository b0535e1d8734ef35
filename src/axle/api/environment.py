"""Environment (axle.dev/v1alpha1, namespaced): which spokes receive a workload.

One is created for each ComputePool (`computePoolRefs`); one written by hand targets spokes by
label through an OCM-style placement (`topology.type: topology-ocm`, with `numberOfClusters`
and label predicates) or a placement the user brings (`topology-ocm-byop`), with a rollout
strategy. The hub resolves it to a list of spokes in `status.decisions`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from axle.api import validation as v
from axle.api.common import LabelSelector, NameRef, PositiveInt, selector_errors
from axle.api.meta import Model, ObjectMeta, OpenModel, StatusBase
from axle.api.registry import KindInfo, PrinterColumn, register


class ClusterSelector(Model):
    labelSelector: LabelSelector | None = None


class PlacementPredicate(Model):
    requiredClusterSelector: ClusterSelector


class Placement(Model):
    numberOfClusters: PositiveInt | None = None
    clusterSets: list[str] | None = None
    predicates: list[PlacementPredicate] | None = None


class RolloutStrategy(Model):
    type: Literal["All", "Progressive", "ProgressivePerGroup"] = "All"
    all: dict[str, Any] | None = None
    progressive: dict[str, Any] | None = None
    progressivePerGroup: dict[str, Any] | None = None


class ManifestWorkReplicaSet(Model):
    # OCM's ManifestWork template (lifecycle options); kept as written.
    manifestWorkTemplate: dict[str, Any] | None = None
    rolloutStrategy: RolloutStrategy | None = None


class TopologyProperties(Model):
    manifestWorkReplicaSet: ManifestWorkReplicaSet | None = None
    hubNamespace: str | None = None
    placement: Placement | None = None
    # topology-ocm-byop: the user's own placement.
    placementRef: NameRef | None = None


class Topology(Model):
    type: Literal["topology-ocm", "topology-ocm-byop"]
    properties: TopologyProperties | None = None


class EnvironmentSpec(Model):
    computePoolRefs: list[NameRef] | None = None
    topology: Topology | None = None


class PlacementDecision(OpenModel):
    spoke: str
    reason: str | None = None


class EnvironmentStatus(StatusBase):
    decisions: list[PlacementDecision] = Field(default_factory=list)


class Environment(Model):
    apiVersion: Literal["axle.dev/v1alpha1"] = "axle.dev/v1alpha1"
    kind: Literal["Environment"] = "Environment"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: EnvironmentSpec
    status: EnvironmentStatus | None = None


def _validate(obj: dict[str, Any]) -> list[v.FieldError]:
    spec = obj.get("spec") or {}
    errs: list[v.FieldError] = []
    if not spec.get("computePoolRefs") and spec.get("topology") is None:
        errs.append(v.required("spec.topology", "one of computePoolRefs or topology is required"))
    errs.extend(v.unique_by(spec.get("computePoolRefs") or [], "spec.computePoolRefs"))
    topology = spec.get("topology") or {}
    props = topology.get("properties") or {}
    if topology.get("type") == "topology-ocm-byop" and not props.get("placementRef"):
        errs.append(
            v.required(
                "spec.topology.properties.placementRef",
                "topology-ocm-byop brings its own placement",
            )
        )
    for i, pred in enumerate((props.get("placement") or {}).get("predicates") or []):
        sel = (pred.get("requiredClusterSelector") or {}).get("labelSelector")
        errs.extend(
            selector_errors(
                sel,
                f"spec.topology.properties.placement.predicates[{i}].requiredClusterSelector.labelSelector",
            )
        )
    return errs


ENVIRONMENT = register(
    KindInfo(
        group="axle.dev",
        version="v1alpha1",
        kind="Environment",
        plural="environments",
        singular="environment",
        namespaced=True,
        model=Environment,
        short_names=("env",),
        categories=("axle",),
        columns=(
            PrinterColumn("Topology", ".spec.topology.type"),
            PrinterColumn("Spokes", ".status.decisions[*].spoke"),
            PrinterColumn("Age", ".metadata.creationTimestamp", "date"),
        ),
        validate_object=_validate,
        description="Which spokes receive a workload: pool refs or a label placement.",
    )
)
