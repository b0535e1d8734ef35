"""WorkloadDeployment (axle.dev/v1alpha1, namespaced): one rendered revision of a profile
for one Environment.

Written by the AIWorkload controller: which profile revision, which environment, which
variables; the hub renders it, pushes the manifests as an OCI artifact and records the
artifact (URL + digest) in status, then writes a `Work` per target spoke and rolls their
status up per spoke.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from axle.api import validation as v
from axle.api.common import (
    ArtifactRef,
    DNSLabel,
    DNSSubdomain,
    NameRef,
    NamespacedRef,
    NonNegInt,
    PositiveInt,
)
from axle.api.meta import Model, ObjectMeta, OpenModel, StatusBase
from axle.api.registry import KindInfo, PrinterColumn, register
from axle.api.variables import Variable

# Held by a WorkloadDeployment until its Works are gone from every spoke (the
# WorkloadDeployment controller adds it on its first pass; a creator may put it there at once).
FINALIZER = "axle.dev/workloaddeployment-cleanup"


class ProfileRevisionRef(Model):
    name: DNSSubdomain
    revision: PositiveInt | None = None


class DeploymentSecretRef(Model):
    """A hub Secret whose copy the spokes get (e.g. the Hugging Face token of the effective
    Settings), exposed on the cluster as Secret `targetName`; never rendered into manifests."""

    name: DNSSubdomain
    namespace: DNSLabel | None = None
    targetName: DNSSubdomain


class WorkloadDeploymentSpec(Model):
    workloadProfileRef: ProfileRevisionRef
    environmentRef: NameRef
    profileBundleRef: NamespacedRef | None = None
    aiWorkloadRef: NameRef | None = None
    # Deployment-level values (highest precedence) ...
    variables: dict[str, Any] | None = None
    # ... over the bundle's inline variableSet, snapshotted by the owner (so a rollback
    # renders with the bundle as it was), over the project's and the system's VariableSets.
    bundleVariables: list[Variable] | None = None
    # The owner's revision (the AIWorkload's); a new one renders again even if unchanged.
    revision: PositiveInt | None = None
    # Render (so the GPU requests are known) but deliver nothing: the owner holds delivery
    # until quota is reserved.
    suspend: bool = False
    secretRefs: list[DeploymentSecretRef] | None = None


class SpokeDeploymentStatus(OpenModel):
    spoke: str
    phase: str | None = None
    message: str | None = None
    appliedDigest: str | None = None
    resources: NonNegInt | None = None
    healthyResources: NonNegInt | None = None


class ComponentStatus(OpenModel):
    """One component across every spoke: ready/desired replicas and the first problem."""

    name: str
    ready: NonNegInt = 0
    desired: NonNegInt = 0
    health: str | None = None
    message: str | None = None


class DeploymentEndpoint(OpenModel):
    component: str | None = None
    spoke: str | None = None
    url: str


class WorkloadDeploymentStatus(StatusBase):
    phase: (
        Literal["Pending", "Rendering", "Deploying", "Running", "Degraded", "Deleting", "Failed"]
        | None
    ) = None
    # The one blocking cause in words a data scientist understands.
    message: str | None = None
    observedRevision: NonNegInt | None = None
    # sha256 of the render request (profile, definitions, variables, outputs): unchanged
    # input, no new render, artifact or Work.
    inputDigest: str | None = None
    artifact: ArtifactRef | None = None
    # GPUs the rendered manifests request: {nvidia.com/gpu.product or "": count}.
    gpuRequests: dict[str, NonNegInt] | None = None
    spokes: list[SpokeDeploymentStatus] = Field(default_factory=list)
    components: list[ComponentStatus] = Field(default_factory=list)
    endpoints: list[DeploymentEndpoint] = Field(default_factory=list)
    # {"def": {C: {O: value}}, "obj": {O: value}} as the spokes reported them.
    outputs: dict[str, Any] | None = None


class WorkloadDeployment(Model):
    apiVersion: Literal["axle.dev/v1alpha1"] = "axle.dev/v1alpha1"
    kind: Literal["WorkloadDeployment"] = "WorkloadDeployment"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: WorkloadDeploymentSpec
    status: WorkloadDeploymentStatus | None = None


def _validate(obj: dict[str, Any]) -> list[v.FieldError]:
    variables = (obj.get("spec") or {}).get("variables") or {}
    errs: list[v.FieldError] = []
    for name in sorted(variables):
        if not name or not (name[0].isalpha() or name[0] == "_"):
            errs.append(
                v.invalid("spec.variables", name, "variable names start with a letter or '_'")
            )
    return errs


WORKLOAD_DEPLOYMENT = register(
    KindInfo(
        group="axle.dev",
        version="v1alpha1",
        kind="WorkloadDeployment",
        plural="workloaddeployments",
        singular="workloaddeployment",
        namespaced=True,
        model=WorkloadDeployment,
        short_names=("wd",),
        categories=("axle", "all"),
        columns=(
            PrinterColumn("Profile", ".spec.workloadProfileRef.name"),
            PrinterColumn("Revision", ".spec.workloadProfileRef.revision", "integer"),
            PrinterColumn("Environment", ".spec.environmentRef.name"),
            PrinterColumn("Phase", ".status.phase"),
            PrinterColumn("Age", ".metadata.creationTimestamp", "date"),
            PrinterColumn("Digest", ".status.artifact.digest", priority=1),
        ),
        validate_object=_validate,
        description="One rendered revision of a workload profile for an environment.",
    )
)
