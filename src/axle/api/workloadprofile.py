"""WorkloadProfile (axle.dev/v1alpha1, namespaced): a typed stack of components.

A profile lists components (each a ComponentDefinition `type` with `properties`, `traits`,
declared `definitionOutputRefs` and a `deploymentPriority`: lower deploys first and later
components may read earlier ones' outputs), object outputs and policies. Its `type`
(Application, Model, Infrastructure) decides which bundles may include it. As in PaletteAI a
profile cannot be edited (clone it, or delete and recreate); every create is snapshotted as a
DefinitionRevision by the controller, so `spec` is immutable here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from axle.api import validation as v
from axle.api.common import DNSLabel, NonEmptyStr, NonNegInt
from axle.api.meta import Model, ObjectMeta, OpenModel, StatusBase
from axle.api.outputs import DefinitionOutputRef, ObjectOutputRef, output_refs_errors
from axle.api.registry import KindInfo, PrinterColumn, register

PROFILE_TYPES = ("Application", "Model", "Infrastructure")


class TraitSpec(Model):
    type: NonEmptyStr
    properties: dict[str, Any] | None = None
    definitionOutputRefs: list[DefinitionOutputRef] | None = None


class ComponentSpec(Model):
    name: DNSLabel
    type: NonEmptyStr
    properties: dict[str, Any] | None = None
    traits: list[TraitSpec] | None = None
    definitionOutputRefs: list[DefinitionOutputRef] | None = None
    deploymentPriority: NonNegInt = 0


class PolicySpec(Model):
    name: DNSLabel
    type: NonEmptyStr
    properties: dict[str, Any] | None = None


class WorkloadSpec(Model):
    components: list[ComponentSpec] = Field(min_length=1)
    objectOutputRefs: list[ObjectOutputRef] | None = None
    policies: list[PolicySpec] | None = None


class WorkloadProfileSpec(Model):
    type: Literal["Application", "Model", "Infrastructure"]
    description: str | None = Field(default=None, max_length=1024)
    revisionNotes: str | None = Field(default=None, max_length=1024)
    workload: WorkloadSpec


class ProfileRevisionRef(OpenModel):
    name: str
    revision: int


class WorkloadProfileStatus(StatusBase):
    latestRevision: ProfileRevisionRef | None = None


class WorkloadProfile(Model):
    apiVersion: Literal["axle.dev/v1alpha1"] = "axle.dev/v1alpha1"
    kind: Literal["WorkloadProfile"] = "WorkloadProfile"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: WorkloadProfileSpec
    status: WorkloadProfileStatus | None = None


def workload_errors(workload: dict[str, Any], path: str) -> list[v.FieldError]:
    """Names unique where macros look them up: components, their traits' and their outputs."""
    components = workload.get("components") or []
    errs = v.unique_by(components, f"{path}.components")
    for i, comp in enumerate(components):
        p = f"{path}.components[{i}]"
        errs.extend(
            output_refs_errors(comp.get("definitionOutputRefs"), f"{p}.definitionOutputRefs")
        )
        traits = comp.get("traits") or []
        errs.extend(v.unique_by(traits, f"{p}.traits", "type"))
        for j, trait in enumerate(traits):
            errs.extend(
                output_refs_errors(
                    trait.get("definitionOutputRefs"), f"{p}.traits[{j}].definitionOutputRefs"
                )
            )
    errs.extend(output_refs_errors(workload.get("objectOutputRefs"), f"{path}.objectOutputRefs"))
    errs.extend(v.unique_by(workload.get("policies") or [], f"{path}.policies"))
    return errs


def _validate(obj: dict[str, Any]) -> list[v.FieldError]:
    return workload_errors((obj.get("spec") or {}).get("workload") or {}, "spec.workload")


def _validate_update(old: dict[str, Any], new: dict[str, Any]) -> list[v.FieldError]:
    if (old.get("spec") or {}) != (new.get("spec") or {}):
        return [
            v.forbidden(
                "spec", "a workload profile cannot be edited: clone it, or delete and recreate it"
            )
        ]
    return []


WORKLOAD_PROFILE = register(
    KindInfo(
        group="axle.dev",
        version="v1alpha1",
        kind="WorkloadProfile",
        plural="workloadprofiles",
        singular="workloadprofile",
        namespaced=True,
        model=WorkloadProfile,
        short_names=("wp",),
        categories=("axle",),
        columns=(
            PrinterColumn("Type", ".spec.type"),
            PrinterColumn("Revision", ".status.latestRevision.revision", "integer"),
            PrinterColumn("Age", ".metadata.creationTimestamp", "date"),
            PrinterColumn("Description", ".spec.description", priority=1),
        ),
        validate_object=_validate,
        validate_update=_validate_update,
        description="Components, traits and policies that make an application or model stack.",
    )
)
