"""Definitions (axle.dev/v1alpha1, namespaced): ComponentDefinition, TraitDefinition,
PolicyDefinition, and the DefinitionRevision snapshots of definitions and workload profiles.

A definition is a typed building block of workload profiles (KubeVela's model): a component
is what runs, a trait how it runs, a policy where it runs. Each carries an OpenAPI v3 schema of
its parameters and a *schematic* that renders them (DESIGN §5): `jsonnet` (a sandboxed Jsonnet
program), `kube` (a literal object template with parameters mapped to field paths) or `helm`
(a chart from a project repository). Exactly one schematic per definition. Built-ins live in
`axle-system`. A DefinitionRevision is an immutable snapshot, numbered per source object.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from axle.api import validation as v
from axle.api.common import DNSSubdomain, NonEmptyStr, PositiveInt, dig
from axle.api.meta import Model, ObjectMeta, OpenModel, StatusBase
from axle.api.outputs import DefinitionOutputRef, output_refs_errors
from axle.api.registry import KindInfo, PrinterColumn, register

SCHEMATICS = ("jsonnet", "kube", "helm")


class JsonnetSchematic(Model):
    template: NonEmptyStr


class KubeParameter(Model):
    name: NonEmptyStr
    # Where the parameter's value goes in the template, e.g. "spec.replicas".
    fieldPaths: list[NonEmptyStr] = Field(min_length=1)
    required: bool | None = None
    type: Literal["string", "number", "boolean", "object", "array"] | None = None
    description: str | None = None


class KubeSchematic(Model):
    template: dict[str, Any]
    parameters: list[KubeParameter] | None = None


class HelmRepository(Model):
    name: str | None = None
    url: str | None = None


class HelmSchematic(Model):
    chart: NonEmptyStr
    version: str | None = None
    repository: HelmRepository | None = None
    releaseName: str | None = None
    values: dict[str, Any] | None = None


class Schematic(Model):
    jsonnet: JsonnetSchematic | None = None
    kube: KubeSchematic | None = None
    helm: HelmSchematic | None = None


class ParameterSchema(Model):
    openAPIV3Schema: dict[str, Any]


class ContextExtension(Model):
    """A typed value usable in the definition's template (notes §12)."""

    name: NonEmptyStr
    type: Literal["string", "integer", "boolean", "jsonRaw"]
    value: Any = None


class WorkloadTypeRef(Model):
    apiVersion: NonEmptyStr
    kind: NonEmptyStr


class WorkloadType(Model):
    definition: WorkloadTypeRef | None = None
    # "application" (long-running) or "task" (runs to completion), as notes §12 classify.
    type: Literal["application", "task"] | None = None


class ComponentDefinitionSpec(Model):
    description: str | None = None
    workload: WorkloadType | None = None
    schematic: Schematic
    schema_: ParameterSchema | None = Field(default=None, alias="schema")
    definitionOutputRefs: list[DefinitionOutputRef] | None = None
    contextExtensions: list[ContextExtension] | None = None


class TraitDefinitionSpec(Model):
    description: str | None = None
    appliesToWorkloads: list[NonEmptyStr] | None = None
    conflictsWith: list[NonEmptyStr] | None = None
    podDisruptive: bool | None = None
    schematic: Schematic
    schema_: ParameterSchema | None = Field(default=None, alias="schema")
    definitionOutputRefs: list[DefinitionOutputRef] | None = None


class PolicyDefinitionSpec(Model):
    description: str | None = None
    schematic: Schematic
    schema_: ParameterSchema | None = Field(default=None, alias="schema")


class LatestRevision(OpenModel):
    name: str
    revision: int
    revisionHash: str | None = None


class DefinitionStatus(StatusBase):
    latestRevision: LatestRevision | None = None


class ComponentDefinition(Model):
    apiVersion: Literal["axle.dev/v1alpha1"] = "axle.dev/v1alpha1"
    kind: Literal["ComponentDefinition"] = "ComponentDefinition"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ComponentDefinitionSpec
    status: DefinitionStatus | None = None


class TraitDefinition(Model):
    apiVersion: Literal["axle.dev/v1alpha1"] = "axle.dev/v1alpha1"
    kind: Literal["TraitDefinition"] = "TraitDefinition"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: TraitDefinitionSpec
    status: DefinitionStatus | None = None


class PolicyDefinition(Model):
    apiVersion: Literal["axle.dev/v1alpha1"] = "axle.dev/v1alpha1"
    kind: Literal["PolicyDefinition"] = "PolicyDefinition"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PolicyDefinitionSpec
    status: DefinitionStatus | None = None


def _definition_errors(obj: dict[str, Any]) -> list[v.FieldError]:
    spec = obj.get("spec") or {}
    errs: list[v.FieldError] = []
    chosen = [name for name in SCHEMATICS if (spec.get("schematic") or {}).get(name) is not None]
    if not chosen:
        errs.append(v.required("spec.schematic", "one of jsonnet, kube or helm is required"))
    for extra in chosen[1:]:
        errs.append(v.forbidden(f"spec.schematic.{extra}", f"may not be set with {chosen[0]}"))
    schema = dig(spec, "schema", "openAPIV3Schema")
    if schema is not None and schema.get("type", "object") != "object":
        errs.append(
            v.not_supported("spec.schema.openAPIV3Schema.type", schema.get("type"), ["object"])
        )
    errs.extend(output_refs_errors(spec.get("definitionOutputRefs"), "spec.definitionOutputRefs"))
    errs.extend(v.unique_by(spec.get("contextExtensions") or [], "spec.contextExtensions"))
    for i, param in enumerate(dig(spec, "schematic", "kube", "parameters") or []):
        if param["name"] in {p["name"] for p in spec["schematic"]["kube"]["parameters"][:i]}:
            errs.append(v.duplicate(f"spec.schematic.kube.parameters[{i}].name", param["name"]))
    return errs


def _definition(
    kind: str, model: type[Model], short: str, columns: tuple[PrinterColumn, ...], description: str
) -> KindInfo:
    return register(
        KindInfo(
            group="axle.dev",
            version="v1alpha1",
            kind=kind,
            plural=kind.lower() + "s",
            singular=kind.lower(),
            namespaced=True,
            model=model,
            short_names=(short,),
            categories=("axle", "definitions"),
            columns=columns,
            validate_object=_definition_errors,
            description=description,
        )
    )


_AGE = PrinterColumn("Age", ".metadata.creationTimestamp", "date")
_REVISION = PrinterColumn("Revision", ".status.latestRevision.revision", "integer")
_DESCRIPTION = PrinterColumn("Description", ".spec.description", priority=1)

COMPONENT_DEFINITION = _definition(
    "ComponentDefinition",
    ComponentDefinition,
    "compdef",
    (
        PrinterColumn("Workload Kind", ".spec.workload.definition.kind"),
        _REVISION,
        _AGE,
        _DESCRIPTION,
    ),
    "What runs: turns parameters into Kubernetes objects.",
)
TRAIT_DEFINITION = _definition(
    "TraitDefinition",
    TraitDefinition,
    "traitdef",
    (PrinterColumn("Applies To", ".spec.appliesToWorkloads"), _REVISION, _AGE, _DESCRIPTION),
    "How it runs: patches a component's objects (scaling, GPUs, ingress...).",
)
POLICY_DEFINITION = _definition(
    "PolicyDefinition",
    PolicyDefinition,
    "policydef",
    (_REVISION, _AGE, _DESCRIPTION),
    "Where and how it is deployed (placement, overrides).",
)


# --- DefinitionRevision ------------------------------------------------------------------

DEFINITION_TYPES = ("Component", "Trait", "Policy", "WorkloadProfile")
_SNAPSHOT_FIELD = {
    "Component": "componentDefinition",
    "Trait": "traitDefinition",
    "Policy": "policyDefinition",
    "WorkloadProfile": "workloadProfile",
}


class Snapshot(Model):
    """The source object as it was: its name and spec."""

    name: DNSSubdomain
    spec: dict[str, Any]


class DefinitionRevisionSpec(Model):
    definitionType: Literal["Component", "Trait", "Policy", "WorkloadProfile"]
    revision: PositiveInt
    revisionHash: NonEmptyStr
    revisionNotes: str | None = Field(default=None, max_length=1024)
    componentDefinition: Snapshot | None = None
    traitDefinition: Snapshot | None = None
    policyDefinition: Snapshot | None = None
    workloadProfile: Snapshot | None = None


class DefinitionRevision(Model):
    apiVersion: Literal["axle.dev/v1alpha1"] = "axle.dev/v1alpha1"
    kind: Literal["DefinitionRevision"] = "DefinitionRevision"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: DefinitionRevisionSpec
    status: StatusBase | None = None


def _validate_revision(obj: dict[str, Any]) -> list[v.FieldError]:
    spec = obj.get("spec") or {}
    expected = _SNAPSHOT_FIELD.get(spec.get("definitionType", ""))
    errs: list[v.FieldError] = []
    for field in _SNAPSHOT_FIELD.values():
        if field == expected and spec.get(field) is None:
            errs.append(
                v.required(f"spec.{field}", f"definitionType is {spec.get('definitionType')}")
            )
        elif field != expected and spec.get(field) is not None:
            errs.append(
                v.forbidden(f"spec.{field}", f"definitionType is {spec.get('definitionType')}")
            )
    return errs


def _validate_revision_update(old: dict[str, Any], new: dict[str, Any]) -> list[v.FieldError]:
    if (old.get("spec") or {}) != (new.get("spec") or {}):
        return [v.forbidden("spec", "a revision is immutable")]
    return []


DEFINITION_REVISION = register(
    KindInfo(
        group="axle.dev",
        version="v1alpha1",
        kind="DefinitionRevision",
        plural="definitionrevisions",
        singular="definitionrevision",
        namespaced=True,
        model=DefinitionRevision,
        short_names=("defrev",),
        categories=("axle",),
        columns=(
            PrinterColumn("Type", ".spec.definitionType"),
            PrinterColumn("Revision", ".spec.revision", "integer"),
            PrinterColumn("Hash", ".spec.revisionHash"),
            PrinterColumn("Age", ".metadata.creationTimestamp", "date"),
        ),
        validate_object=_validate_revision,
        validate_update=_validate_revision_update,
        description="An immutable snapshot of a definition or workload profile.",
    )
)
