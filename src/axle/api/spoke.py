"""Spoke (cluster-scoped) and Work (in `spoke-<name>`): the hub-and-spoke protocol's kinds.

A Spoke is a joined cluster (OCM's ManagedCluster): the pool it belongs to, its capacity, and
the conditions `Joined` and `Available` its agent's heartbeats keep fresh. A Work is what one
spoke must apply (OCM's ManifestWork, but by reference): an OCI artifact pinned by digest,
applied in priority groups, and what to do with the applied objects on delete; the agent
reports per-resource status and outputs back. Works live in the spoke's own namespace so the
spoke credential can be limited to it, hence the namespace rule and the spoke name limit.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from axle.api import validation as v
from axle.api.common import (
    ArtifactRef,
    DNSLabel,
    DNSSubdomain,
    NamespacedRef,
    NonNegInt,
    PositiveInt,
)
from axle.api.meta import Model, ObjectMeta, OpenModel, StatusBase
from axle.api.registry import KindInfo, PrinterColumn, register

SPOKE_NAMESPACE_PREFIX = "spoke-"
# Put on every Work by the hub; the agent removes it once it has removed the Work's objects
# from its cluster (OCM's manifest-work-cleanup), so "deleted" means "gone from the spoke".
WORK_FINALIZER = "axle.dev/spoke-cleanup"
MAX_SPOKE_NAME = v.DNS1123_LABEL_MAX - len(SPOKE_NAMESPACE_PREFIX)


def spoke_namespace(name: str) -> str:
    """The namespace holding a spoke's Works and Lease."""
    return f"{SPOKE_NAMESPACE_PREFIX}{name}"


class SpokeSpec(Model):
    computePoolRef: NamespacedRef | None = None
    hubAcceptsClient: bool = True
    # Heartbeat period; 3 missed periods make the spoke Available=Unknown.
    leaseDurationSeconds: PositiveInt = 60


class SpokeVersion(OpenModel):
    kubernetes: str | None = None
    agent: str | None = None


class SpokeStatus(StatusBase):
    capacity: dict[str, Any] | None = None
    allocatable: dict[str, Any] | None = None
    version: SpokeVersion | None = None
    lastHeartbeatTime: str | None = None
    namespace: str | None = None


class Spoke(Model):
    apiVersion: Literal["axle.dev/v1alpha1"] = "axle.dev/v1alpha1"
    kind: Literal["Spoke"] = "Spoke"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: SpokeSpec = Field(default_factory=SpokeSpec)
    status: SpokeStatus | None = None


SPOKE = register(
    KindInfo(
        group="axle.dev",
        version="v1alpha1",
        kind="Spoke",
        plural="spokes",
        singular="spoke",
        namespaced=False,
        model=Spoke,
        short_names=("spk",),
        categories=("axle",),
        columns=(
            PrinterColumn("Pool", ".spec.computePoolRef.name"),
            PrinterColumn("Joined", '.status.conditions[?(@.type=="Joined")].status'),
            PrinterColumn("Available", '.status.conditions[?(@.type=="Available")].status'),
            PrinterColumn("Nodes", ".status.capacity.nodes", "integer"),
            PrinterColumn("GPUs", ".status.capacity.nvidia\\.com/gpu", "integer"),
            PrinterColumn("Age", ".metadata.creationTimestamp", "date"),
            PrinterColumn("Last Heartbeat", ".status.lastHeartbeatTime", "date", priority=1),
            PrinterColumn("Kubernetes", ".status.version.kubernetes", priority=1),
        ),
        name_rule=v.max_length_label(MAX_SPOKE_NAME),
        description="A joined spoke cluster: pool, capacity, heartbeat.",
    )
)


# --- Work --------------------------------------------------------------------------------


class PriorityGroup(Model):
    """Components applied together; groups go in ascending priority."""

    priority: NonNegInt
    components: list[str] = Field(default_factory=list)


class DeleteOption(Model):
    # Foreground: delete what was applied; Orphan: leave it running on the spoke.
    propagationPolicy: Literal["Foreground", "Orphan"] = "Foreground"


class WorkSecretRef(Model):
    """A hub Secret (in the Work's namespace) the agent copies onto the cluster before it
    applies anything, so manifests reference credentials by name and never carry them."""

    name: DNSSubdomain
    targetName: DNSSubdomain
    # The namespace on the cluster (default: the namespace of the Work's objects).
    targetNamespace: DNSLabel | None = None


class WorkSpec(Model):
    artifact: ArtifactRef
    workloadDeploymentRef: NamespacedRef | None = None
    revision: PositiveInt | None = None
    priorityGroups: list[PriorityGroup] | None = None
    deleteOption: DeleteOption = Field(default_factory=DeleteOption)
    # The outputs the agent reads from the cluster after each priority group, as the render
    # declared them: {"definitionOutputs": {C: {O: pathRef}}, "objectOutputs": {O: pathRef}}
    # (a trait's output is "TRAIT.OUTPUT" under its component). Later groups' `{{ spoke }}`
    # macros resolve from them; the values are reported in `status.outputs`.
    outputs: dict[str, Any] | None = None
    secretRefs: list[WorkSecretRef] | None = None


class ResourceStatus(OpenModel):
    group: str | None = None
    version: str | None = None
    kind: str
    namespace: str | None = None
    name: str
    component: str | None = None
    health: Literal["Healthy", "Progressing", "Degraded", "Missing", "Unknown"] | None = None
    message: str | None = None
    # Workload kinds: ready and desired replicas (pods of a Deployment/StatefulSet/DaemonSet,
    # completions of a Job), so the hub can say "vllm 0/1 ready".
    ready: NonNegInt | None = None
    desired: NonNegInt | None = None


class WorkEndpoint(OpenModel):
    """An address the Work's objects expose: a LoadBalancer Service or an Ingress host."""

    component: str | None = None
    kind: str
    name: str
    url: str


class WorkStatus(StatusBase):
    appliedDigest: str | None = None
    resourceStatus: list[ResourceStatus] = Field(default_factory=list)
    # Values read from the cluster: {"def": {C: {O: value}}, "obj": {O: value}}.
    outputs: dict[str, Any] | None = None
    endpoints: list[WorkEndpoint] = Field(default_factory=list)


class Work(Model):
    apiVersion: Literal["axle.dev/v1alpha1"] = "axle.dev/v1alpha1"
    kind: Literal["Work"] = "Work"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: WorkSpec
    status: WorkStatus | None = None


def _validate_work(obj: dict[str, Any]) -> list[v.FieldError]:
    errs: list[v.FieldError] = []
    namespace = (obj.get("metadata") or {}).get("namespace") or ""
    if namespace and not namespace.startswith(SPOKE_NAMESPACE_PREFIX):
        errs.append(
            v.invalid(
                "metadata.namespace",
                namespace,
                f"a Work lives in its spoke's namespace ({SPOKE_NAMESPACE_PREFIX}<name>)",
            )
        )
    spec = obj.get("spec") or {}
    digest = (spec.get("artifact") or {}).get("digest")
    if digest:
        errs.extend(v.sha256_digest(digest, "spec.artifact.digest"))
    errs.extend(v.unique_by(spec.get("priorityGroups") or [], "spec.priorityGroups", "priority"))
    return errs


WORK = register(
    KindInfo(
        group="axle.dev",
        version="v1alpha1",
        kind="Work",
        plural="works",
        singular="work",
        namespaced=True,
        model=Work,
        categories=("axle",),
        columns=(
            PrinterColumn("Applied", '.status.conditions[?(@.type=="Applied")].status'),
            PrinterColumn("Available", '.status.conditions[?(@.type=="Available")].status'),
            PrinterColumn("Age", ".metadata.creationTimestamp", "date"),
            PrinterColumn("Digest", ".spec.artifact.digest", priority=1),
        ),
        validate_object=_validate_work,
        description="What one spoke must apply: an OCI artifact by digest.",
    )
)
