"""Kubeconfigs of simulated clusters.

A simulated cluster has no API server of its own, so its kubeconfig points at
`sim://<cluster-name>` and carries the cluster's identity in a kubeconfig extension named
`palette-sim.axle.dev` (`clusterUid`, `clusterName`, `projectUid`). The cluster simulator
(`sim/cluster`) recognises that scheme and extension and serves the cluster in process; a
real Kubernetes client given such a file fails fast on the unknown scheme instead of reaching
somewhere unexpected. The token is derived from the cluster uid, so a download repeated after
a restart yields the same file.

The extension also carries what the cluster simulator needs to build the cluster's Nodes
without asking Palette again (the spoke agent that runs it may not even reach the Palette
simulator): `kubernetesVersion` and one `nodes[]` entry per host of the cluster, with the
host's hardware (CPU cores, memory, GPUs with model, count and memory per GPU,
architecture, address), the pool's `additionalLabels` and `taints`, and whether the host is
a control-plane node. A control-plane node gets the taint
`node-role.kubernetes.io/control-plane:NoSchedule` unless its pool lets the control plane run
workloads (`useControlPlaneAsWorker`, or axle's `workerNodeEligible`), as kubeadm-made
clusters do.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import yaml

from axle.sim.palette.model import ClusterRecord, HostRecord, PoolRecord

EXTENSION = "palette-sim.axle.dev"
SCHEME = "sim://"
CONTROL_PLANE_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


def _pool_taints(pool: PoolRecord) -> list[dict[str, str]]:
    cfg = pool.poolConfig
    taints: list[dict[str, str]] = []
    for t in cfg.get("taints") or []:
        if isinstance(t, dict) and t.get("key") and t.get("effect"):
            taint = {"key": str(t["key"]), "effect": str(t["effect"])}
            if t.get("value"):
                taint["value"] = str(t["value"])
            taints.append(taint)
    workers_too = bool(cfg.get("useControlPlaneAsWorker") or cfg.get("workerNodeEligible"))
    if pool.is_control_plane and not workers_too:
        taints.insert(0, dict(CONTROL_PLANE_TAINT))
    return taints


def node_entry(host: HostRecord, pool: PoolRecord) -> dict[str, Any]:
    """The extension's description of one host as a node of the cluster."""
    labels = pool.poolConfig.get("additionalLabels") or {}
    return {
        "name": host.name,
        "hostUid": host.uid,
        "pool": pool.name,
        "address": host.address,
        "architecture": host.architecture,
        "cpuCores": host.cpuCores,
        "memoryMB": host.memoryMB,
        "gpus": [
            {"vendor": g.vendor, "model": g.model, "count": g.count, "memoryMiB": g.memoryMiB}
            for g in host.gpus
        ],
        "labels": {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
        "controlPlane": pool.is_control_plane,
        "taints": _pool_taints(pool),
    }


def nodes_of(cluster: ClusterRecord, hosts: Mapping[str, HostRecord]) -> list[dict[str, Any]]:
    """One node entry per host of `cluster`, control-plane pools first, in pool order."""
    pools = sorted(cluster.pools, key=lambda p: not p.is_control_plane)
    return [
        node_entry(host, pool)
        for pool in pools
        for uid in pool.host_uids
        if (host := hosts.get(uid)) is not None
    ]


def render(
    cluster_name: str,
    cluster_uid: str,
    project_uid: str,
    *,
    admin: bool,
    nodes: list[dict[str, Any]] | None = None,
    kubernetes_version: str = "",
) -> str:
    user = f"{cluster_name}-admin" if admin else f"{cluster_name}-user"
    context = f"{user}@{cluster_name}"
    token = hashlib.sha256(f"{cluster_uid}/{user}".encode()).hexdigest()
    extension: dict[str, Any] = {
        "clusterUid": cluster_uid,
        "clusterName": cluster_name,
        "projectUid": project_uid,
    }
    if kubernetes_version:
        extension["kubernetesVersion"] = kubernetes_version
    if nodes is not None:
        extension["nodes"] = nodes
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster_name,
                "cluster": {
                    "server": f"{SCHEME}{cluster_name}",
                    "extensions": [{"name": EXTENSION, "extension": extension}],
                },
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": cluster_name, "user": user}}],
        "current-context": context,
        "users": [{"name": user, "user": {"token": token}}],
        "preferences": {},
    }
    return yaml.safe_dump(doc, sort_keys=False)
