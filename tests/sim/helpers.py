"""Request bodies the simulator tests build: clusters and pools as a client sends them."""

from __future__ import annotations

from typing import Any

from tests.sim.conftest import SimHarness


def pool(
    h: SimHarness, name: str, hosts: list[str], *, control_plane: bool = False, **extra: Any
) -> dict[str, Any]:
    """A `v1EdgeNativeMachinePoolConfigEntity` over hosts named `hosts`."""
    uids = [h.sim.find_host(n).uid for n in hosts]
    return {
        "cloudConfig": {
            "edgeHosts": [{"hostUid": u, "hostName": n} for u, n in zip(uids, hosts, strict=True)]
        },
        "poolConfig": {
            "name": name,
            "size": len(hosts),
            "labels": ["control-plane"] if control_plane else ["worker"],
            "isControlPlane": control_plane,
            **extra,
        },
    }


def cluster_body(
    h: SimHarness,
    name: str = "demo",
    cp: list[str] | None = None,
    workers: list[str] | None = None,
    profile: str = "edge-k8s-1-32",
) -> dict[str, Any]:
    """A `v1SpectroEdgeNativeClusterEntity`: 3 CPU hosts as control plane, 2 H100 workers."""
    cp = ["cp-01", "cp-02", "cp-03"] if cp is None else cp
    workers = ["gpu-h100-01", "gpu-h100-02"] if workers is None else workers
    pools = [pool(h, "control-plane", cp, control_plane=True)]
    if workers:
        pools.append(pool(h, "gpu", workers))
    return {
        "metadata": {"name": name, "labels": {"axle.dev/pool": name}},
        "spec": {
            "cloudConfig": {"controlPlaneEndpoint": {"host": "10.10.0.100", "type": "VIP"}},
            "profiles": [{"uid": profile}],
            "machinepoolconfig": pools,
        },
    }


async def create(h: SimHarness, body: dict[str, Any]) -> str:
    r = await h.client.post("/v1/spectroclusters/edge-native", json=body)
    assert r.status_code == 201, r.text
    assert r.headers.get("AuditUid")
    return str(r.json()["uid"])


async def state_of(h: SimHarness, uid: str) -> str:
    r = await h.client.get(f"/v1/spectroclusters/{uid}/status")
    assert r.status_code == 200, r.text
    return str(r.json()["status"]["state"])


async def host_state(h: SimHarness, name: str) -> dict[str, Any]:
    r = await h.client.get(f"/v1/edgehosts/{h.sim.find_host(name).uid}")
    assert r.status_code == 200, r.text
    status: dict[str, Any] = r.json()["status"]
    return status
