"""ProfileBundle (axle.dev/v1alpha1, namespaced): what a pool or a deployment is built from.

A bundle packages Palette cluster profiles (at most one Infrastructure or Full profile, any
number of Add-ons) and axle workload profiles (pinned to a revision), an inline variable set
(bundle defaults, notes §14) and the repositories its profiles need. Its `type` says what it
can make: Infrastructure (a cluster), Application or Model (workloads), Fullstack (both), so
Infrastructure and Fullstack need an Infrastructure/Full cluster profile and Application,
Model and Fullstack need a workload profile.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from axle.api import validation as v
from axle.api.common import DNSSubdomain, NameRef, NonEmptyStr, PositiveInt
from axle.api.meta import Model, ObjectMeta, OpenModel, StatusBase
from axle.api.registry import KindInfo, PrinterColumn, register
from axle.api.variables import Variable, variables_errors

BUNDLE_TYPES = ("Infrastructure", "Application", "Fullstack", "Model")
BASE_PROFILE_TYPES = ("Infrastructure", "Full")


class ClusterProfileRef(Model):
    """A Palette cluster profile, by name (and uid once resolved)."""

    name: NonEmptyStr
    uid: str | None = None
    type: Literal["Infrastructure", "Full", "Add-on"]
    version: str | None = None
    cloudType: str | None = None


class WorkloadProfileRef(Model):
    name: DNSSubdomain
    # The DefinitionRevision number; absent means the latest when the bundle is resolved.
    revision: PositiveInt | None = None


class InlineVariableSet(Model):
    variables: list[Variable] = Field(default_factory=list)


class RepositorySpec(Model):
    name: NonEmptyStr
    url: NonEmptyStr
    secretRef: NameRef | None = None


class WorkloadProfileDependencies(Model):
    helmRepositories: list[RepositorySpec] | None = None
    ociRepositories: list[RepositorySpec] | None = None


class ProfileBundleSpec(Model):
    type: Literal["Infrastructure", "Application", "Fullstack", "Model"]
    description: str | None = Field(default=None, max_length=1024)
    version: str | None = None
    clusterProfiles: list[ClusterProfileRef] = Field(default_factory=list)
    workloadProfiles: list[WorkloadProfileRef] = Field(default_factory=list)
    variableSet: InlineVariableSet | None = None
    workloadProfileDependencies: WorkloadProfileDependencies | None = None


class ResolvedProfile(OpenModel):
    name: str
    revision: int


class ProfileBundleStatus(StatusBase):
    resolvedWorkloadProfiles: list[ResolvedProfile] = Field(default_factory=list)


class ProfileBundle(Model):
    apiVersion: Literal["axle.dev/v1alpha1"] = "axle.dev/v1alpha1"
    kind: Literal["ProfileBundle"] = "ProfileBundle"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ProfileBundleSpec
    status: ProfileBundleStatus | None = None


def _validate(obj: dict[str, Any]) -> list[v.FieldError]:
    spec = obj.get("spec") or {}
    bundle_type = spec.get("type")
    errs: list[v.FieldError] = []
    cluster_profiles = spec.get("clusterProfiles") or []
    base = [i for i, p in enumerate(cluster_profiles) if p.get("type") in BASE_PROFILE_TYPES]
    for i in base[1:]:
        errs.append(
            v.invalid(
                f"spec.clusterProfiles[{i}].type",
                cluster_profiles[i]["type"],
                "a bundle may hold only one Infrastructure or Full cluster profile",
            )
        )
    if bundle_type in ("Infrastructure", "Fullstack") and not base:
        errs.append(
            v.required(
                "spec.clusterProfiles",
                f"a {bundle_type} bundle needs an Infrastructure or Full cluster profile",
            )
        )
    if bundle_type in ("Application", "Fullstack", "Model") and not spec.get("workloadProfiles"):
        errs.append(
            v.required("spec.workloadProfiles", f"a {bundle_type} bundle needs a workload profile")
        )
    errs.extend(v.unique_by(cluster_profiles, "spec.clusterProfiles"))
    errs.extend(v.unique_by(spec.get("workloadProfiles") or [], "spec.workloadProfiles"))
    variables = (spec.get("variableSet") or {}).get("variables") or []
    errs.extend(variables_errors(variables, "spec.variableSet.variables"))
    return errs


PROFILE_BUNDLE = register(
    KindInfo(
        group="axle.dev",
        version="v1alpha1",
        kind="ProfileBundle",
        plural="profilebundles",
        singular="profilebundle",
        namespaced=True,
        model=ProfileBundle,
        short_names=("pb",),
        categories=("axle",),
        columns=(
            PrinterColumn("Type", ".spec.type"),
            PrinterColumn("Version", ".spec.version"),
            PrinterColumn("Age", ".metadata.creationTimestamp", "date"),
            PrinterColumn("Description", ".spec.description", priority=1),
        ),
        validate_object=_validate,
        description="Cluster profiles + workload profiles + variables: a deployable stack.",
    )
)
