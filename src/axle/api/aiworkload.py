"""AIWorkload (axle.dev/v1alpha1, namespaced): an App Deployment or a Model Deployment.

A data scientist's request: a ProfileBundle deployed on an existing ComputePool
(`computePoolRef`) or on a dedicated pool the workload creates from an inline
`paletteClusterDeploymentConfig`, with variables and, for models, a model source. The label
`axle.dev/aiworkload-type` (application | model) says which; PaletteAI's
`palette.ai/aiworkload-type` label is carried over, and `application` is the default. The hub
checks GPU quota, renders, and rolls status up from its WorkloadDeployments.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from axle.api import validation as v
from axle.api.common import NameRef, NamespacedRef, NonEmptyStr, NonNegInt
from axle.api.meta import Model, ObjectMeta, OpenModel, StatusBase
from axle.api.nodepools import PaletteClusterDeploymentConfig, deployment_config_errors
from axle.api.registry import KindInfo, PrinterColumn, register

TYPE_LABEL = "axle.dev/aiworkload-type"
# Held by the AIWorkload controller until the workload's deployments, dedicated pool and GPU
# reservation are gone; admission puts it on every new AIWorkload.
FINALIZER = "axle.dev/aiworkload-cleanup"
PALETTE_TYPE_LABEL = "palette.ai/aiworkload-type"
WORKLOAD_TYPES = ("application", "model")
PHASES = ("Pending", "Provisioning", "Deploying", "Running", "Degraded", "Deleting", "Failed")


class ModelSource(Model):
    source: Literal["huggingFace", "ngc"]
    name: NonEmptyStr
    revision: str | None = None


class AIWorkloadSpec(Model):
    # Required for an App Deployment; a Model Deployment may name a `model` instead and have
    # the project's Model-as-a-Service mappings choose the bundle.
    profileBundleRef: NamespacedRef | None = None
    # An existing pool, or a dedicated one created for this workload (never both).
    computePoolRef: NameRef | None = None
    paletteClusterDeploymentConfig: PaletteClusterDeploymentConfig | None = None
    variables: dict[str, Any] | None = None
    model: ModelSource | None = None
    description: str | None = Field(default=None, max_length=1024)


class WorkloadDeploymentSummary(OpenModel):
    name: str
    profile: str | None = None
    revision: int | None = None
    phase: str | None = None


class Endpoint(OpenModel):
    name: str
    url: str


class ComponentSummary(OpenModel):
    """A component's ready/desired replicas over every spoke, and its first problem."""

    name: str
    workloadDeployment: str | None = None
    ready: NonNegInt = 0
    desired: NonNegInt = 0
    message: str | None = None


class BundleSummary(OpenModel):
    """The bundle the current revision deploys (chosen by a MaaS mapping for models)."""

    name: str
    namespace: str | None = None
    version: str | None = None
    mapping: str | None = None


class AIWorkloadStatus(StatusBase):
    phase: (
        Literal["Pending", "Provisioning", "Deploying", "Running", "Degraded", "Deleting", "Failed"]
        | None
    ) = None
    message: str | None = None
    computePool: str | None = None
    revision: NonNegInt | None = None
    bundle: BundleSummary | None = None
    workloadDeployments: list[WorkloadDeploymentSummary] = Field(default_factory=list)
    components: list[ComponentSummary] = Field(default_factory=list)
    endpoints: list[Endpoint] = Field(default_factory=list)
    url: str | None = None
    # GPUs the rendered manifests request, by GPU family.
    gpuRequests: dict[str, NonNegInt] | None = None
    # GPUs charged to the project and tenant for this workload (shared pools only: a
    # dedicated pool's hosts are charged by the pool's claims). Quota usage is recomputed
    # from these and the claims, never incremented.
    gpuReservation: dict[str, NonNegInt] | None = None


class AIWorkload(Model):
    apiVersion: Literal["axle.dev/v1alpha1"] = "axle.dev/v1alpha1"
    kind: Literal["AIWorkload"] = "AIWorkload"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: AIWorkloadSpec
    status: AIWorkloadStatus | None = None


def _default(obj: dict[str, Any]) -> None:
    meta = obj.setdefault("metadata", {})
    labels = meta.get("labels")
    if not isinstance(labels, dict):
        labels = {}
        meta["labels"] = labels
    if TYPE_LABEL not in labels:
        labels[TYPE_LABEL] = labels.get(PALETTE_TYPE_LABEL) or "application"


def _validate(obj: dict[str, Any]) -> list[v.FieldError]:
    spec = obj.get("spec") or {}
    errs: list[v.FieldError] = []
    label = ((obj.get("metadata") or {}).get("labels") or {}).get(TYPE_LABEL)
    if label not in WORKLOAD_TYPES:
        errs.append(v.not_supported(f"metadata.labels[{TYPE_LABEL}]", label, WORKLOAD_TYPES))
    if spec.get("profileBundleRef") is None and not (label == "model" and spec.get("model")):
        errs.append(
            v.required(
                "spec.profileBundleRef",
                "an application needs a profile bundle; a model needs a bundle or spec.model",
            )
        )
    has_pool = spec.get("computePoolRef") is not None
    has_dedicated = spec.get("paletteClusterDeploymentConfig") is not None
    if not has_pool and not has_dedicated:
        errs.append(
            v.required(
                "spec.computePoolRef",
                "one of computePoolRef or paletteClusterDeploymentConfig is required",
            )
        )
    if has_pool and has_dedicated:
        errs.append(
            v.forbidden("spec.paletteClusterDeploymentConfig", "may not be set with computePoolRef")
        )
    errs.extend(
        deployment_config_errors(
            spec.get("paletteClusterDeploymentConfig"), "spec.paletteClusterDeploymentConfig"
        )
    )
    return errs


def _validate_update(old: dict[str, Any], new: dict[str, Any]) -> list[v.FieldError]:
    before = ((old.get("metadata") or {}).get("labels") or {}).get(TYPE_LABEL)
    after = ((new.get("metadata") or {}).get("labels") or {}).get(TYPE_LABEL)
    if before and before != after:
        return [v.invalid(f"metadata.labels[{TYPE_LABEL}]", after, "field is immutable")]
    return []


AI_WORKLOAD = register(
    KindInfo(
        group="axle.dev",
        version="v1alpha1",
        kind="AIWorkload",
        plural="aiworkloads",
        singular="aiworkload",
        namespaced=True,
        model=AIWorkload,
        short_names=("aiw",),
        categories=("axle", "all"),
        columns=(
            PrinterColumn("Type", ".metadata.labels.axle\\.dev/aiworkload-type"),
            PrinterColumn("Phase", ".status.phase"),
            PrinterColumn("Pool", ".status.computePool"),
            PrinterColumn("Revision", ".status.revision", "integer"),
            PrinterColumn("URL", ".status.url"),
            PrinterColumn("Age", ".metadata.creationTimestamp", "date"),
            PrinterColumn("Bundle", ".status.bundle.name", priority=1),
            PrinterColumn("Message", ".status.message", priority=1),
        ),
        validate_object=_validate,
        validate_update=_validate_update,
        default=_default,
        description="An app or model deployment of a profile bundle on a compute pool.",
    )
)
