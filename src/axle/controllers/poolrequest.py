"""The Palette create request for one cluster of a pool: a pure function of what is known.

`create_request` turns the pool's plan, the hosts it holds for that cluster (its claims) and
the project's ComputeConfig defaults into `v1SpectroEdgeNativeClusterEntity`: a control-plane
machine pool (`isControlPlane`, `useControlPlaneAsWorker` from `workerNodeEligible`) and one
machine pool per worker pool, each listing its hosts and the hosts' architecture; the VIP,
NTP servers and SSH keys from the pool's deployment config, else the ComputeConfig's; and the
bundle's cluster profile. The cluster carries labels naming its pool and project, so it can
be traced back from Palette.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from axle.controllers.hostselection import CONTROL_PLANE, WORKER, Candidate
from axle.controllers.poolplan import PoolPlan
from axle.controllers.reservations import HostClaim
from axle.providers.palette import (
    ClusterMetadata,
    ClusterProfileEntity,
    ControlPlaneEndpoint,
    EdgeNativeClusterConfig,
    EdgeNativeClusterEntity,
    EdgeNativeClusterSpec,
    MachinePool,
    MachinePoolCloudConfig,
    MachinePoolHost,
    PoolConfig,
)
from axle.providers.palette.clusters import MachinePoolProperties
from axle.store.base import Obj


def create_request(
    pool: Obj,
    plan: PoolPlan,
    name: str,
    claims: Iterable[HostClaim],
    inventory: Iterable[Candidate],
    defaults: dict[str, Any],
    profile_uid: str,
) -> EdgeNativeClusterEntity:
    """The edge-native create request for cluster `name` of `pool` (see the module doc)."""
    edge = {**(defaults.get("edge") or {}), **(plan.config.get("edge") or {})}
    ssh = plan.config.get("sshKeys") or (defaults.get("defaults") or {}).get("sshKeys")
    vip = edge.get("vip")
    req = plan.config.get("nodePoolRequirements") or {}
    cp = req.get("controlPlanePool") or {}
    by_id = {c.id: c for c in inventory}
    mine = [c for c in claims if c.cluster == name]

    def hosts(role: str, worker_pool: str | None) -> list[HostClaim]:
        return [c for c in mine if c.role == role and c.worker_pool == worker_pool]

    def arch(held: list[HostClaim]) -> MachinePoolProperties | None:
        archs = {by_id[c.host_uid].architecture.lower() for c in held if c.host_uid in by_id}
        if len(archs) == 1:
            value = archs.pop()
            if value in ("amd64", "arm64"):
                return MachinePoolProperties(archType=cast(Any, value))
        return None

    def machine_pool(pool_name: str, held: list[HostClaim], **cfg: Any) -> MachinePool:
        return MachinePool(
            cloudConfig=MachinePoolCloudConfig(
                edgeHosts=[MachinePoolHost(hostUid=c.host_uid, hostName=c.host_name) for c in held]
            ),
            poolConfig=PoolConfig(
                name=pool_name,
                size=len(held),
                labels=[pool_name],
                machinePoolProperties=arch(held),
                **cfg,
            ),
        )

    pools = [
        machine_pool(
            "control-plane",
            hosts(CONTROL_PLANE, None),
            isControlPlane=True,
            useControlPlaneAsWorker=bool(cp.get("workerNodeEligible")),
            additionalLabels=cp.get("labels") or None,
        )
    ]
    for wp in req.get("workerPools") or []:
        pools.append(
            machine_pool(
                str(wp["name"]),
                hosts(WORKER, wp.get("name")),
                additionalLabels=wp.get("labels") or None,
            )
        )
    m = pool["metadata"]
    return EdgeNativeClusterEntity(
        metadata=ClusterMetadata(
            name=name,
            labels={"axle-pool": m["name"], "axle-project": m["namespace"]},
        ),
        spec=EdgeNativeClusterSpec(
            cloudConfig=EdgeNativeClusterConfig(
                controlPlaneEndpoint=ControlPlaneEndpoint(host=vip, type="VIP") if vip else None,
                sshKeys=list(ssh) if ssh else None,
                ntpServers=list(edge.get("ntpServers") or []) or None,
            ),
            profiles=[ClusterProfileEntity(uid=profile_uid)],
            machinepoolconfig=pools,
        ),
    )
