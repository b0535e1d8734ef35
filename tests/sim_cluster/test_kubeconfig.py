"""From a Palette simulator cluster to a SimCluster: nodes, GPUs, taints, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from axle.errors import Invalid
from axle.sim.cluster import SimCluster, gpu_product, read_kubeconfig
from axle.sim.palette import ManualClock, SimConfig, create_app

ROOT = Path(__file__).resolve().parents[2]
FLEET = ROOT / "examples" / "inventory" / "small-fleet.yaml"
HEADERS = {"ApiKey": "sim-api-key", "ProjectUid": "acme-default"}


async def running_cluster_kubeconfig(
    pools: list[tuple[str, list[str], dict[str, Any]]],
) -> str:
    """Create a cluster in an in-process Palette simulator (no provisioning time); its
    kubeconfig once Running."""
    clock = ManualClock()

    async def no_sleep(_: float) -> None:
        return None

    config = SimConfig(
        inventory=FLEET,
        provisioning_seconds=0,
        pending_seconds=0,
        deletion_seconds=0,
        clock=clock,
        sleep=no_sleep,
    )
    app = create_app(config)
    sim = app.state.sim
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim", headers=HEADERS) as c:
        machine_pools = []
        for name, hosts, extra in pools:
            machine_pools.append(
                {
                    "cloudConfig": {
                        "edgeHosts": [{"hostUid": sim.find_host(h).uid} for h in hosts]
                    },
                    "poolConfig": {
                        "name": name,
                        "size": len(hosts),
                        "labels": ["worker"],
                        **extra,
                    },
                }
            )
        body = {
            "metadata": {"name": "gpu-pool"},
            "spec": {
                "cloudConfig": {"controlPlaneEndpoint": {"host": "10.10.0.100", "type": "VIP"}},
                "profiles": [{"uid": "edge-k8s-1-32"}],
                "machinepoolconfig": machine_pools,
            },
        }
        r = await c.post("/v1/spectroclusters/edge-native", json=body)
        assert r.status_code == 201, r.text
        uid = r.json()["uid"]
        clock.advance(1)
        r = await c.get(f"/v1/spectroclusters/{uid}/assets/kubeconfig")
        assert r.status_code == 200, r.text
        return r.text


async def test_nodes_match_the_hosts(tmp_path: Path) -> None:
    text = await running_cluster_kubeconfig(
        [
            ("control-plane", ["cp-01"], {"isControlPlane": True}),
            ("gpu", ["gpu-h100-01", "gpu-h100-02"], {"additionalLabels": {"pool": "gpu"}}),
        ]
    )
    sim = SimCluster.from_kubeconfig(text, state_path=tmp_path / "state.json")
    assert sim.name == "gpu-pool"
    cap = await sim.capacity()
    assert cap.kubernetes_version == "v1.32.3"
    assert [n.name for n in cap.nodes] == ["cp-01", "gpu-h100-01", "gpu-h100-02"]
    assert sum(n.gpus for n in cap.nodes) == 16
    assert cap.gpus_by_product == {"NVIDIA-H100-80GB-HBM3": 16}
    nodes = {n["metadata"]["name"]: n for n in await sim.list_objects("v1", "Node")}
    cp, gpu = nodes["cp-01"], nodes["gpu-h100-01"]
    assert cp["spec"]["taints"] == [
        {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
    ]
    assert cp["metadata"]["labels"]["node-role.kubernetes.io/control-plane"] == ""
    assert "taints" not in gpu["spec"]
    labels = gpu["metadata"]["labels"]
    assert labels["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3"
    assert labels["nvidia.com/gpu.count"] == "8"
    assert labels["kubernetes.io/hostname"] == "gpu-h100-01"
    assert labels["kubernetes.io/arch"] == "amd64"
    assert labels["pool"] == "gpu"
    assert gpu["status"]["capacity"]["nvidia.com/gpu"] == "8"
    assert gpu["status"]["allocatable"]["nvidia.com/gpu"] == "8"
    assert gpu["status"]["addresses"][0] == {"type": "InternalIP", "address": "10.10.1.11"}
    # The scheduler sees what the hosts offer: 16 GPUs in total, none on the control plane.
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "big", "namespace": "default"},
        "spec": {
            "containers": [
                {"name": "c", "image": "x", "resources": {"limits": {"nvidia.com/gpu": 9}}}
            ]
        },
    }
    live = await sim.apply(pod)
    cond = live["status"]["conditions"][0]
    assert cond["message"].startswith(
        "0/3 nodes are available: 1 node(s) had untolerated taint "
        "{node-role.kubernetes.io/control-plane: }, 2 Insufficient nvidia.com/gpu."
    )


async def test_control_plane_as_worker_is_untainted(tmp_path: Path) -> None:
    text = await running_cluster_kubeconfig(
        [("single", ["gpu-h100-03"], {"isControlPlane": True, "useControlPlaneAsWorker": True})]
    )
    path = tmp_path / "single.kubeconfig"
    path.write_text(text)
    sim = SimCluster.from_kubeconfig(path, state_path=None)
    [node] = await sim.list_objects("v1", "Node")
    assert "taints" not in node["spec"]
    assert node["metadata"]["labels"]["node-role.kubernetes.io/control-plane"] == ""


def test_not_a_simulated_cluster() -> None:
    real = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "prod", "cluster": {"server": "https://10.0.0.1:6443"}}],
        "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "u"}}],
        "current-context": "prod",
        "users": [{"name": "u", "user": {"token": "t"}}],
    }
    with pytest.raises(Invalid, match="is not a simulated cluster"):
        SimCluster.from_kubeconfig(real, state_path=None)
    with pytest.raises(Invalid, match="is not a simulated cluster"):
        read_kubeconfig(yaml.safe_dump(real))
    with pytest.raises(Invalid, match="no clusters"):
        read_kubeconfig("apiVersion: v1\nkind: Config\n")
    with pytest.raises(Invalid, match="not YAML"):
        read_kubeconfig("clusters: [")
    no_nodes = {
        "clusters": [
            {
                "name": "demo",
                "cluster": {
                    "server": "sim://demo",
                    "extensions": [
                        {"name": "palette-sim.axle.dev", "extension": {"clusterName": "demo"}}
                    ],
                },
            }
        ]
    }
    with pytest.raises(Invalid, match="lists no nodes"):
        read_kubeconfig(no_nodes)


def test_gpu_product_names() -> None:
    assert gpu_product("NVIDIA", "H100", 81559) == "NVIDIA-H100-80GB-HBM3"
    assert gpu_product("NVIDIA", "A100", 81920) == "NVIDIA-A100-SXM4-80GB"
    assert gpu_product("NVIDIA", "L40S", 46068) == "NVIDIA-L40S"
    assert gpu_product("NVIDIA", "B200", 184320) == "NVIDIA-B200-180GB"
    assert gpu_product("AMD", "MI300X", None) == "AMD-MI300X"
