"""ComputeConfig (axle.dev/v1alpha1, namespaced): default cluster settings for a project.

Every project references one, so data scientists never supply infrastructure details: the
control-plane pool (`nodeCount` 1, 3 or 5; a single node must also take workloads), worker pool
defaults, SSH keys and cluster-wide edge settings. The VIP is per deployment (on a ComputePool
or AIWorkload), not here, as in current PaletteAI; an `edge.vip` from older manifests is still
accepted and checked.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from axle.api import validation as v
from axle.api.common import NameRef, NonEmptyStr
from axle.api.meta import Model, ObjectMeta, StatusBase
from axle.api.nodepools import (
    ControlPlanePool,
    EdgeConfig,
    WorkerPool,
    control_plane_errors,
    edge_errors,
    worker_pools_errors,
)
from axle.api.registry import KindInfo, PrinterColumn, register


class ComputeConfigDefaults(Model):
    sshKeys: list[NonEmptyStr] | None = None
    controlPlanePool: ControlPlanePool
    workerPools: list[WorkerPool] | None = None


class PaletteClusterConfig(Model):
    edge: EdgeConfig | None = None
    defaults: ComputeConfigDefaults


class ComputeConfigSpec(Model):
    settingsRef: NameRef | None = None
    paletteClusterConfig: PaletteClusterConfig


class ComputeConfig(Model):
    apiVersion: Literal["axle.dev/v1alpha1"] = "axle.dev/v1alpha1"
    kind: Literal["ComputeConfig"] = "ComputeConfig"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ComputeConfigSpec
    status: StatusBase | None = None


def _validate(obj: dict[str, Any]) -> list[v.FieldError]:
    cfg = (obj.get("spec") or {}).get("paletteClusterConfig") or {}
    defaults = cfg.get("defaults") or {}
    path = "spec.paletteClusterConfig"
    return [
        *control_plane_errors(
            defaults.get("controlPlanePool"), f"{path}.defaults.controlPlanePool"
        ),
        *worker_pools_errors(defaults.get("workerPools"), f"{path}.defaults.workerPools"),
        *edge_errors(cfg.get("edge"), f"{path}.edge"),
    ]


COMPUTE_CONFIG = register(
    KindInfo(
        group="axle.dev",
        version="v1alpha1",
        kind="ComputeConfig",
        plural="computeconfigs",
        singular="computeconfig",
        namespaced=True,
        model=ComputeConfig,
        short_names=("cc",),
        categories=("axle",),
        columns=(
            PrinterColumn(
                "Control Plane Nodes",
                ".spec.paletteClusterConfig.defaults.controlPlanePool.nodeCount",
                "integer",
            ),
            PrinterColumn("Age", ".metadata.creationTimestamp", "date"),
        ),
        validate_object=_validate,
        name_rule=v.dns1123_label,
        description="Default cluster settings (control plane, worker pools, edge network).",
    )
)
