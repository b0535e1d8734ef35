"""Node pool shapes shared by ComputeConfig, ComputePool and AIWorkload.

PaletteAI describes the clusters it asks Palette for with the same pieces in three places:
ComputeConfig defaults, a ComputePool's `paletteClusterDeploymentConfig`, and an AIWorkload's
dedicated pool. They are declared once here, with the rules the notes record (control-plane
`nodeCount` in {1, 3, 5}; a single-node cluster's control plane must take workloads).
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from pydantic import Field

from axle.api import validation as v
from axle.api.common import DNSLabel, GpuFamily, NonEmptyStr, NonNegInt, PositiveInt, Taint
from axle.api.meta import Model

Architecture = Literal["amd64", "arm64", "AMD64", "ARM64"]


class CPU(Model):
    cpuCount: PositiveInt


class Memory(Model):
    # ComputePool writes mebibytes; PaletteAI's older ComputeConfig wrote "16 GB".
    memoryMiB: PositiveInt | None = None
    memory: NonEmptyStr | None = None


class GPU(Model):
    family: GpuFamily
    gpuCount: PositiveInt = 1
    gpuMemory: NonNegInt | None = None  # MiB per GPU


class ControlPlanePool(Model):
    nodeCount: Literal[1, 3, 5]
    singleNodeCluster: bool | None = None
    workerNodeEligible: bool | None = None
    architecture: Architecture | None = None
    cpu: CPU | None = None
    memory: Memory | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    taints: list[Taint] | None = None


class WorkerPool(Model):
    name: DNSLabel
    nodeCount: PositiveInt = 1
    architecture: Architecture | None = None
    cpu: CPU | None = None
    memory: Memory | None = None
    gpu: GPU | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    taints: list[Taint] | None = None


class NodePoolRequirements(Model):
    controlPlanePool: ControlPlanePool
    workerPools: list[WorkerPool] = Field(default_factory=list)


class NetworkOverlayConfig(Model):
    enabled: bool | None = None
    staticIp: bool | None = None
    cidr: str | None = None
    overlayNetworkType: Literal["VXLAN"] | None = None


class EdgeConfig(Model):
    vip: str | None = None
    ntpServers: list[NonEmptyStr] | None = None
    networkOverlayConfig: NetworkOverlayConfig | None = None
    isTwoNode: bool | None = None


class PaletteClusterDeploymentConfig(Model):
    """What Palette is asked to build for one cluster of a pool."""

    cloudType: Literal["edge-native"] = "edge-native"
    nodePoolRequirements: NodePoolRequirements
    deletionPolicy: Literal["delete", "orphan"] = "delete"
    sshKeys: list[NonEmptyStr] | None = None
    edge: EdgeConfig | None = None


def control_plane_errors(pool: dict[str, Any] | None, path: str) -> list[v.FieldError]:
    """A one-node control plane is the whole cluster, so it must accept workloads."""
    if not pool:
        return []
    if pool.get("nodeCount") == 1 and not pool.get("workerNodeEligible"):
        return [
            v.invalid(
                f"{path}.workerNodeEligible",
                pool.get("workerNodeEligible", False),
                "must be true when nodeCount is 1 (a single-node cluster)",
            )
        ]
    return []


def worker_pools_errors(pools: list[dict[str, Any]] | None, path: str) -> list[v.FieldError]:
    return v.unique_by(pools or [], path)


def edge_errors(edge: dict[str, Any] | None, path: str) -> list[v.FieldError]:
    errs: list[v.FieldError] = []
    if not edge:
        return errs
    if edge.get("vip"):
        try:
            ipaddress.ip_address(edge["vip"])
        except ValueError:
            errs.append(v.invalid(f"{path}.vip", edge["vip"], "must be an IP address"))
    cidr = (edge.get("networkOverlayConfig") or {}).get("cidr")
    if cidr:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            errs.append(v.invalid(f"{path}.networkOverlayConfig.cidr", cidr, "must be a CIDR"))
    return errs


def deployment_config_errors(cfg: dict[str, Any] | None, path: str) -> list[v.FieldError]:
    """Cross-field rules of a `paletteClusterDeploymentConfig`."""
    if not cfg:
        return []
    req = cfg.get("nodePoolRequirements") or {}
    return [
        *control_plane_errors(
            req.get("controlPlanePool"), f"{path}.nodePoolRequirements.controlPlanePool"
        ),
        *worker_pools_errors(req.get("workerPools"), f"{path}.nodePoolRequirements.workerPools"),
        *edge_errors(cfg.get("edge"), f"{path}.edge"),
    ]
