"""ScalingPolicy (axle.dev/v1alpha1, namespaced): utilisation-driven scaling of a pool.

Referenced by a ComputePool; adds or removes worker nodes when CPU and/or GPU utilisation
crosses thresholds for a duration, within resource bounds, with a cooldown. `spec` needs `cpu`
and/or `gpu`; GPU thresholds are one entry per GPU family, and every family bounded in
`gpuResourceBounds` needs a matching `gpu` entry (notes §18). Durations are Go durations
(`5m`), as PaletteAI writes them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from axle.api import validation as v
from axle.api.common import GpuFamily, NonNegInt
from axle.api.meta import Model, ObjectMeta, StatusBase
from axle.api.registry import KindInfo, PrinterColumn, register


class Thresholds(Model):
    scaleUpThreshold: int = Field(ge=1, le=100)
    scaleDownThreshold: int = Field(ge=0, le=99)
    scaleUpDuration: str | None = None
    scaleDownDuration: str | None = None


class GpuThresholds(Thresholds):
    family: GpuFamily


class CPUResourceBounds(Model):
    minCPUCount: NonNegInt | None = None
    maxCPUCount: NonNegInt | None = None


class GPUResourceBounds(Model):
    family: GpuFamily
    minGPUCount: NonNegInt | None = None
    maxGPUCount: NonNegInt | None = None


class ScalingPolicySpec(Model):
    cpu: Thresholds | None = None
    cpuResourceBounds: CPUResourceBounds | None = None
    gpu: list[GpuThresholds] | None = None
    gpuResourceBounds: list[GPUResourceBounds] | None = None
    cooldownDuration: str | None = None
    abortDuration: str | None = None


class ScalingPolicyStatus(StatusBase):
    lastScaleTime: str | None = None
    lastScaleDirection: Literal["up", "down"] | None = None
    message: str | None = None


class ScalingPolicy(Model):
    apiVersion: Literal["axle.dev/v1alpha1"] = "axle.dev/v1alpha1"
    kind: Literal["ScalingPolicy"] = "ScalingPolicy"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ScalingPolicySpec
    status: ScalingPolicyStatus | None = None


def _threshold_errors(t: dict[str, Any], path: str) -> list[v.FieldError]:
    errs: list[v.FieldError] = []
    if t.get("scaleDownThreshold", 0) >= t.get("scaleUpThreshold", 100):
        errs.append(
            v.invalid(
                f"{path}.scaleDownThreshold",
                t.get("scaleDownThreshold"),
                "must be less than scaleUpThreshold",
            )
        )
    for name in ("scaleUpDuration", "scaleDownDuration"):
        if t.get(name):
            errs.extend(v.duration(t[name], f"{path}.{name}"))
    return errs


def _bounds_errors(b: dict[str, Any] | None, path: str, lo: str, hi: str) -> list[v.FieldError]:
    if b and b.get(lo) is not None and b.get(hi) is not None and b[lo] > b[hi]:
        return [v.invalid(f"{path}.{lo}", b[lo], f"must be no more than {hi} ({b[hi]})")]
    return []


def _validate(obj: dict[str, Any]) -> list[v.FieldError]:
    spec = obj.get("spec") or {}
    errs: list[v.FieldError] = []
    if spec.get("cpu") is None and not spec.get("gpu"):
        errs.append(v.required("spec.cpu", "at least one of cpu or gpu is required"))
    if spec.get("cpu"):
        errs.extend(_threshold_errors(spec["cpu"], "spec.cpu"))
    errs.extend(
        _bounds_errors(
            spec.get("cpuResourceBounds"), "spec.cpuResourceBounds", "minCPUCount", "maxCPUCount"
        )
    )
    gpus = spec.get("gpu") or []
    errs.extend(v.unique_by(gpus, "spec.gpu", "family"))
    for i, entry in enumerate(gpus):
        errs.extend(_threshold_errors(entry, f"spec.gpu[{i}]"))
    families = {g.get("family") for g in gpus}
    bounds = spec.get("gpuResourceBounds") or []
    errs.extend(v.unique_by(bounds, "spec.gpuResourceBounds", "family"))
    for i, b in enumerate(bounds):
        path = f"spec.gpuResourceBounds[{i}]"
        if b.get("family") not in families:
            errs.append(
                v.invalid(f"{path}.family", b.get("family"), "has no matching entry in spec.gpu")
            )
        errs.extend(_bounds_errors(b, path, "minGPUCount", "maxGPUCount"))
    for name in ("cooldownDuration", "abortDuration"):
        if spec.get(name):
            errs.extend(v.duration(spec[name], f"spec.{name}"))
    return errs


SCALING_POLICY = register(
    KindInfo(
        group="axle.dev",
        version="v1alpha1",
        kind="ScalingPolicy",
        plural="scalingpolicies",
        singular="scalingpolicy",
        namespaced=True,
        model=ScalingPolicy,
        short_names=("sp",),
        categories=("axle",),
        columns=(
            PrinterColumn(
                "Prometheus", '.status.conditions[?(@.type=="PrometheusAvailable")].status'
            ),
            PrinterColumn("Last Scale", ".status.lastScaleTime", "date"),
            PrinterColumn("Age", ".metadata.creationTimestamp", "date"),
        ),
        validate_object=_validate,
        description="Autoscaling thresholds and bounds for a compute pool.",
    )
)
