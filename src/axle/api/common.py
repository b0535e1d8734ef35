"""Building blocks shared by several kinds: references, GPU limits, selectors, helpers.

Kept apart from `meta` (which mirrors Kubernetes' metav1 and is shared with every layer) so
that the axle-specific shapes (a GPU family map, a Secret key reference) are declared once and
every kind that carries them validates them the same way.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from axle.api import validation
from axle.api.meta import Model


def _gpu_family(value: str) -> str:
    errs = validation.is_gpu_family(value)
    if errs:
        raise ValueError("; ".join(errs))
    return value


def _label_key(value: str) -> str:
    errs = validation.is_qualified_name(value)
    if errs:
        raise ValueError("; ".join(errs))
    return value


def _label_value(value: str) -> str:
    errs = validation.is_label_value(value)
    if errs:
        raise ValueError("; ".join(errs))
    return value


def _dns_label(value: str) -> str:
    errs = validation.is_dns1123_label(value)
    if errs:
        raise ValueError("; ".join(errs))
    return value


def _dns_subdomain(value: str) -> str:
    errs = validation.is_dns1123_subdomain(value)
    if errs:
        raise ValueError("; ".join(errs))
    return value


GpuFamily = Annotated[str, AfterValidator(_gpu_family)]
GpuCount = Annotated[int, Field(ge=0)]
# GPU count per family, e.g. {"NVIDIA-H100": 8}. Used for limits (spec) and usage (status).
GpuLimits = dict[GpuFamily, GpuCount]
LabelKey = Annotated[str, AfterValidator(_label_key)]
LabelValue = Annotated[str, AfterValidator(_label_value)]
Labels = dict[LabelKey, LabelValue]
DNSLabel = Annotated[str, AfterValidator(_dns_label)]
DNSSubdomain = Annotated[str, AfterValidator(_dns_subdomain)]
NonEmptyStr = Annotated[str, Field(min_length=1)]
NonNegInt = Annotated[int, Field(ge=0)]
PositiveInt = Annotated[int, Field(ge=1)]


class NameRef(Model):
    """A reference to an object in the referrer's namespace."""

    name: DNSSubdomain


class NamespacedRef(Model):
    """A reference to an object; `namespace` defaults to the referrer's (or a kind's rule)."""

    name: DNSSubdomain
    namespace: DNSLabel | None = None


class SecretKeyRef(Model):
    """A key of a Secret in the referrer's namespace; `key` is defaulted per integration."""

    name: DNSSubdomain
    key: Annotated[str, Field(min_length=1, max_length=253)] | None = None


class LabelSelectorRequirement(Model):
    key: LabelKey
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] | None = None


class LabelSelector(Model):
    matchLabels: Labels | None = None
    matchExpressions: list[LabelSelectorRequirement] | None = None


def selector_errors(sel: dict[str, Any] | None, path: str) -> list[validation.FieldError]:
    """Kubernetes' rule: In/NotIn need values, Exists/DoesNotExist must have none."""
    errs: list[validation.FieldError] = []
    for i, req in enumerate((sel or {}).get("matchExpressions") or []):
        op = req.get("operator")
        values = req.get("values") or []
        p = f"{path}.matchExpressions[{i}].values"
        if op in ("In", "NotIn") and not values:
            errs.append(
                validation.required(p, "must be specified when `operator` is 'In' or 'NotIn'")
            )
        if op in ("Exists", "DoesNotExist") and values:
            errs.append(
                validation.forbidden(
                    p, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
                )
            )
    return errs


class Taint(Model):
    key: LabelKey
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class ArtifactRef(Model):
    """An OCI artifact pinned by digest (what a spoke pulls)."""

    url: NonEmptyStr
    digest: NonEmptyStr | None = None


def dig(obj: Any, *path: str | int) -> Any:
    """The value at `path` inside nested dicts/lists, or None when any step is missing."""
    cur = obj
    for step in path:
        if isinstance(step, int):
            if not isinstance(cur, list) or step >= len(cur):
                return None
        elif not isinstance(cur, dict) or step not in cur:
            return None
        cur = cur[step]
    return cur


def spec_of(obj: dict[str, Any]) -> dict[str, Any]:
    """The object's spec, created empty when absent (for defaulters)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = {}
        obj["spec"] = spec
    return spec


def immutable(old: Any, new: Any, path: str) -> list[validation.FieldError]:
    """Kubernetes' message for a changed immutable field."""
    if old != new:
        return [validation.invalid(path, new, "field is immutable")]
    return []
