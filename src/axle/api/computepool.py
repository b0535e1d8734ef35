"""ComputePool and ComputePoolEvaluation (axle.dev/v1alpha1, namespaced).

A ComputePool turns eligible machines of a Compute inventory into one spoke cluster
(`dedicated`, for one deployment) or several (`shared`), built by Palette from the profile
bundle's cluster profile. The variant is immutable: switching means delete and recreate, as in
PaletteAI. Status walks Pending -> Provisioning -> Joining -> Running (or Degraded, Deleting,
Failed) and lists the clusters, the machines reserved (one machine is never in two pools) and
the capacity. A ComputePoolEvaluation asks whether a pool request would fit the inventory now,
without reserving anything (the notes leave its shape open; this is axle's).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from axle.api import validation as v
from axle.api.common import NameRef, NamespacedRef, NonNegInt, PositiveInt, dig, immutable
from axle.api.meta import Model, ObjectMeta, OpenModel, StatusBase
from axle.api.nodepools import PaletteClusterDeploymentConfig, deployment_config_errors
from axle.api.registry import KindInfo, PrinterColumn, register

POOL_PHASES = ("Pending", "Provisioning", "Joining", "Running", "Degraded", "Deleting", "Failed")
PoolPhase = Literal[
    "Pending", "Provisioning", "Joining", "Running", "Degraded", "Deleting", "Failed"
]
VARIANTS = ("dedicated", "shared")


class DedicatedVariant(Model):
    paletteClusterDeploymentConfig: PaletteClusterDeploymentConfig


class SharedVariant(Model):
    clusterCount: PositiveInt = 1
    paletteClusterDeploymentConfig: PaletteClusterDeploymentConfig


class ClusterVariant(Model):
    # Edge-host tags a machine must carry to be picked for each role.
    controlPlaneResourceGroups: dict[str, str] | None = None
    workerResourceGroups: dict[str, str] | None = None
    dedicated: DedicatedVariant | None = None
    shared: SharedVariant | None = None


class ComputePoolSpec(Model):
    profileBundleRef: NamespacedRef
    cloudType: Literal["edge-native"] = "edge-native"
    clusterVariant: ClusterVariant
    description: str | None = Field(default=None, max_length=1024)
    computeRef: NameRef | None = None
    computeConfigRef: NameRef | None = None
    settingsRef: NameRef | None = None
    scalingPolicyRef: NameRef | None = None


class PoolCluster(OpenModel):
    name: str
    paletteClusterUid: str | None = None
    spoke: str | None = None
    phase: str | None = None
    message: str | None = None


class ReservedMachine(OpenModel):
    id: str
    name: str | None = None
    role: Literal["control-plane", "worker"] | None = None
    cluster: str | None = None
    workerPool: str | None = None


class PoolCapacity(OpenModel):
    cpu: NonNegInt | None = None
    memoryMiB: NonNegInt | None = None
    gpu: dict[str, NonNegInt] | None = None


class ComputePoolStatus(StatusBase):
    phase: PoolPhase | None = None
    message: str | None = None
    variant: Literal["dedicated", "shared"] | None = None
    clusters: list[PoolCluster] = Field(default_factory=list)
    reservedMachines: list[ReservedMachine] = Field(default_factory=list)
    capacity: PoolCapacity | None = None
    environment: str | None = None


class ComputePool(Model):
    apiVersion: Literal["axle.dev/v1alpha1"] = "axle.dev/v1alpha1"
    kind: Literal["ComputePool"] = "ComputePool"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ComputePoolSpec
    status: ComputePoolStatus | None = None


def pool_spec_errors(spec: dict[str, Any], path: str) -> list[v.FieldError]:
    """Cross-field rules of a pool spec (also used for evaluations and dedicated pools)."""
    variant = spec.get("clusterVariant") or {}
    chosen = [name for name in VARIANTS if variant.get(name) is not None]
    errs: list[v.FieldError] = []
    if not chosen:
        errs.append(v.required(f"{path}.clusterVariant", "one of dedicated or shared is required"))
    elif len(chosen) > 1:
        errs.append(v.forbidden(f"{path}.clusterVariant.shared", "may not be set with dedicated"))
    for name in chosen:
        cfg = variant[name].get("paletteClusterDeploymentConfig")
        cfg_path = f"{path}.clusterVariant.{name}.paletteClusterDeploymentConfig"
        errs.extend(deployment_config_errors(cfg, cfg_path))
        errs.extend(gpu_family_errors(cfg, cfg_path))
    return errs


def gpu_family_errors(cfg: dict[str, Any] | None, path: str) -> list[v.FieldError]:
    """A worker pool's GPU family is `<vendor>-<model>` as Compute reports it (NVIDIA-H100):
    a bare model name would never match a machine, so it is refused rather than left to wait."""
    pools = ((cfg or {}).get("nodePoolRequirements") or {}).get("workerPools") or []
    errs: list[v.FieldError] = []
    for i, wp in enumerate(pools):
        family = (wp.get("gpu") or {}).get("family") if isinstance(wp, dict) else None
        if isinstance(family, str) and "-" not in family.strip("-"):
            errs.append(
                v.invalid(
                    f"{path}.nodePoolRequirements.workerPools[{i}].gpu.family",
                    family,
                    "must be <vendor>-<model> as Compute reports it, e.g. NVIDIA-H100",
                )
            )
    return errs


def variant_of(obj: dict[str, Any]) -> str | None:
    """`dedicated` or `shared`: which variant a pool object uses."""
    variant = dig(obj, "spec", "clusterVariant") or {}
    return next((name for name in VARIANTS if variant.get(name) is not None), None)


def _validate(obj: dict[str, Any]) -> list[v.FieldError]:
    return pool_spec_errors(obj.get("spec") or {}, "spec")


def _validate_update(old: dict[str, Any], new: dict[str, Any]) -> list[v.FieldError]:
    # The variant is immutable in PaletteAI: switching means delete and recreate.
    return immutable(variant_of(old), variant_of(new), "spec.clusterVariant")


COMPUTE_POOL = register(
    KindInfo(
        group="axle.dev",
        version="v1alpha1",
        kind="ComputePool",
        plural="computepools",
        singular="computepool",
        namespaced=True,
        model=ComputePool,
        short_names=("cp",),
        categories=("axle", "all"),
        columns=(
            PrinterColumn("Phase", ".status.phase"),
            PrinterColumn("Variant", ".status.variant"),
            PrinterColumn("Bundle", ".spec.profileBundleRef.name"),
            PrinterColumn("Age", ".metadata.creationTimestamp", "date"),
            PrinterColumn("Clusters", ".status.clusters[*].name", priority=1),
            PrinterColumn("Message", ".status.message", priority=1),
        ),
        validate_object=_validate,
        validate_update=_validate_update,
        name_rule=v.compute_pool_name,
        description="Machines turned into spoke cluster(s) through Palette.",
    )
)


# --- ComputePoolEvaluation ---------------------------------------------------------------


class ComputePoolEvaluationSpec(Model):
    # Either an existing pool to re-check, or a pool spec to try.
    computePoolRef: NameRef | None = None
    computePool: ComputePoolSpec | None = None


class EvaluationShortfall(OpenModel):
    role: str
    workerPool: str | None = None
    requested: NonNegInt
    available: NonNegInt
    reason: str | None = None


class ComputePoolEvaluationStatus(StatusBase):
    result: Literal["Feasible", "Infeasible"] | None = None
    message: str | None = None
    candidateMachines: list[str] = Field(default_factory=list)
    shortfalls: list[EvaluationShortfall] = Field(default_factory=list)
    evaluatedAt: str | None = None


class ComputePoolEvaluation(Model):
    apiVersion: Literal["axle.dev/v1alpha1"] = "axle.dev/v1alpha1"
    kind: Literal["ComputePoolEvaluation"] = "ComputePoolEvaluation"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ComputePoolEvaluationSpec
    status: ComputePoolEvaluationStatus | None = None


def _validate_evaluation(obj: dict[str, Any]) -> list[v.FieldError]:
    spec = obj.get("spec") or {}
    has_ref, has_pool = spec.get("computePoolRef") is not None, spec.get("computePool") is not None
    if not has_ref and not has_pool:
        return [v.required("spec.computePool", "one of computePoolRef or computePool is required")]
    if has_ref and has_pool:
        return [v.forbidden("spec.computePool", "may not be set with computePoolRef")]
    return pool_spec_errors(spec["computePool"], "spec.computePool") if has_pool else []


COMPUTE_POOL_EVALUATION = register(
    KindInfo(
        group="axle.dev",
        version="v1alpha1",
        kind="ComputePoolEvaluation",
        plural="computepoolevaluations",
        singular="computepoolevaluation",
        namespaced=True,
        model=ComputePoolEvaluation,
        short_names=("cpe",),
        categories=("axle",),
        columns=(
            PrinterColumn("Result", ".status.result"),
            PrinterColumn("Message", ".status.message"),
            PrinterColumn("Age", ".metadata.creationTimestamp", "date"),
        ),
        validate_object=_validate_evaluation,
        description="A dry-run fit check of a pool request against the inventory.",
    )
)
