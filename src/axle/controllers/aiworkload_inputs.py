"""What an AIWorkload deploys and where: its bundle, its profiles, its pool.

Pure lookups and the one blocking outcome (`Blocked`) the reconciler turns into status. Kept
apart from the reconciler so each rule reads on its own:

- the bundle: `spec.profileBundleRef` (namespace defaults to the AIWorkload's), or for a model
  without one, the Project's first matching Model-as-a-Service mapping (`maas.py`). A missing
  bundle or profile waits (`Pending`: it may be created later); a bundle without a workload
  profile of the workload's type (Application / Model) is `Failed`, naming the bundle and the
  types it has;
- the profiles: each workload profile of the bundle, found in the bundle's namespace, then the
  AIWorkload's, the tenant's and `axle-system`; its revision is the bundle's pin, else the
  profile's latest DefinitionRevision (waiting for the first one if there is none yet);
- the pool: `spec.computePoolRef` (a dedicated pool takes one workload: the first by creation
  time), or a dedicated pool named after the AIWorkload (`dedicated_pool_name`) built from
  `spec.paletteClusterDeploymentConfig`. Its `profileBundleRef` (what Palette builds the
  cluster from) is the workload's bundle when that has an Infrastructure/Full cluster profile
  (a Fullstack bundle), else the namespace's Infrastructure bundle: the one labelled
  `axle.dev/default-infrastructure: "true"`, or the only Infrastructure/Fullstack bundle.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from axle.api.aiworkload import FINALIZER as FINALIZER
from axle.api.meta import SYSTEM_NAMESPACE
from axle.store.base import Obj

DEFAULT_INFRA_LABEL = "axle.dev/default-infrastructure"
PROFILE_TYPE = {"application": "Application", "model": "Model"}
BASE_PROFILE_TYPES = ("Infrastructure", "Full")
_POOL_NAME = re.compile(r"^[a-z][a-z0-9-]{1,31}[a-z0-9]$")


@dataclass
class Bundle:
    """The bundle a revision deploys (live, or a revision's snapshot)."""

    name: str
    namespace: str
    version: str | None
    spec: dict[str, Any]
    mapping: str | None = None

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if self.version:
            out["version"] = self.version
        if self.mapping:
            out["mapping"] = self.mapping
        return out

    def snapshot(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "version": self.version,
            "spec": self.spec,
        }

    @property
    def variables(self) -> list[dict[str, Any]]:
        return list((self.spec.get("variableSet") or {}).get("variables") or [])

    def has_cluster_profile(self) -> bool:
        return any(
            p.get("type") in BASE_PROFILE_TYPES for p in self.spec.get("clusterProfiles") or []
        )


@dataclass
class Inputs:
    bundle: Bundle
    profiles: dict[str, int] = field(default_factory=dict)  # name -> pinned revision
    rollback: int | None = None  # the revision whose snapshot is deployed, when pinned


def workload_type(aiw: Obj) -> str:
    labels = (aiw.get("metadata") or {}).get("labels") or {}
    return str(labels.get("axle.dev/aiworkload-type") or "application")


def profile_namespaces(bundle_ns: str, aiw_ns: str, tenant: str) -> list[str]:
    out: list[str] = []
    for ns in (bundle_ns, aiw_ns, f"tenant-{tenant}" if tenant else "", SYSTEM_NAMESPACE):
        if ns and ns not in out:
            out.append(ns)
    return out


def latest_revision(profile: Obj) -> int | None:
    latest = ((profile.get("status") or {}).get("latestRevision") or {}).get("revision")
    return int(latest) if latest else None


def wrong_type_message(bundle: Bundle, wanted: str, types: dict[str, str]) -> str:
    have = ", ".join(f"{n} ({t})" for n, t in sorted(types.items())) or "none"
    return (
        f"ProfileBundle {bundle.namespace}/{bundle.name} has no workload profile of type "
        f"{wanted} (its profiles: {have}); a {wanted.lower()} deployment needs one: choose "
        "another bundle"
    )


def dedicated_pool_name(aiw_name: str) -> str:
    """The AIWorkload's own name when it is a valid pool name (3-33 characters), else a
    shortened name with a hash, so any AIWorkload name gets a stable, valid pool name."""
    if _POOL_NAME.match(aiw_name):
        return aiw_name
    digest = hashlib.sha256(aiw_name.encode()).hexdigest()[:8]
    base = re.sub(r"[^a-z0-9-]", "-", aiw_name.lower())
    base = re.sub(r"^[^a-z]+", "", base)[:24].strip("-") or "aiw"
    return f"{base}-{digest}"


def dedicated_pool_body(
    aiw: Obj, name: str, bundle_ref: dict[str, str], owner: dict[str, Any]
) -> Obj:
    m = aiw["metadata"]
    config = (aiw.get("spec") or {}).get("paletteClusterDeploymentConfig") or {}
    return {
        "metadata": {
            "name": name,
            "namespace": m["namespace"],
            "labels": {"axle.dev/aiworkload": m["name"]},
            "ownerReferences": [owner],
        },
        "spec": {
            "profileBundleRef": bundle_ref,
            "clusterVariant": {"dedicated": {"paletteClusterDeploymentConfig": config}},
            "description": f"dedicated pool of AIWorkload {m['name']}",
        },
    }


def controller_owner(obj: Obj, kind: str) -> str | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == kind and ref.get("controller"):
            return str(ref.get("name"))
    return None


def pool_variant(pool: Obj) -> str:
    cv = (pool.get("spec") or {}).get("clusterVariant") or {}
    return "shared" if cv.get("shared") is not None else "dedicated"


def pool_families(pool: Obj) -> list[str]:
    """GPU families a pool offers: its worker pools' `gpu.family` and its reported capacity."""
    cv = (pool.get("spec") or {}).get("clusterVariant") or {}
    variant = cv.get(pool_variant(pool)) or {}
    req = (variant.get("paletteClusterDeploymentConfig") or {}).get("nodePoolRequirements") or {}
    fams = {
        str((wp.get("gpu") or {}).get("family"))
        for wp in req.get("workerPools") or []
        if (wp.get("gpu") or {}).get("family")
    }
    fams.update(
        str(f) for f in (((pool.get("status") or {}).get("capacity") or {}).get("gpu") or {})
    )
    return sorted(fams)


def config_gpus(config: dict[str, Any] | None) -> dict[str, int]:
    """The fewest GPUs per family a dedicated pool config asks for: nodeCount x gpuCount of
    each worker pool (hosts with more GPUs are charged whole, so the real charge may be more)."""
    req = (config or {}).get("nodePoolRequirements") or {}
    out: dict[str, int] = {}
    for wp in req.get("workerPools") or []:
        gpu = wp.get("gpu") or {}
        family = gpu.get("family")
        if family:
            n = int(wp.get("nodeCount") or 1) * int(gpu.get("gpuCount") or 1)
            out[str(family)] = out.get(str(family), 0) + n
    return {f: out[f] for f in sorted(out)}
