"""RealCluster over the official client, against HTTP servers that speak the Kubernetes API.

No Kubernetes runs here. The axle hub speaks the Kubernetes REST API (discovery, server-side
apply, label selectors, Status errors), so objects are applied through RealCluster to a real
hub in a thread and read back. Nodes and /version come from a tiny stdlib HTTP server.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from axle.client import Client
from axle.errors import Invalid, ServiceUnavailable
from axle.kube.real import RealCluster, node_capacity, to_api_error
from tests.client.hubthread import HubThread
from tests.spoke.conftest import until


def kubeconfig(server: str, token: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubThread]:
    thread = HubThread(tmp_path_factory.mktemp("hub"), controllers=False).start()
    yield thread
    thread.stop()


@pytest.fixture
def cluster(hub: HubThread, tmp_path: Path) -> RealCluster:
    return RealCluster(kubeconfig(hub.url, hub.token), discovery_cache=tmp_path / "disc.json")


def cm(data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cfg", "namespace": "default", "labels": {"axle.dev/work": "w"}},
        "data": data,
    }


async def test_apply_get_list_delete_against_the_hub(cluster: RealCluster, hub: HubThread) -> None:
    live = await cluster.apply(cm({"a": "1", "b": "2"}))
    assert live["data"] == {"a": "1", "b": "2"}
    # Server-side apply: a field this manager no longer applies is removed.
    live = await cluster.apply(cm({"a": "3"}))
    assert live["data"] == {"a": "3"}
    async with Client(hub.url, hub.token) as admin:
        stored = await admin.get("configmaps", "cfg", "default")
    assert stored["data"] == {"a": "3"}
    managers = {m.get("manager") for m in stored["metadata"].get("managedFields") or []}
    assert "axle" in managers
    got = await cluster.get("v1", "ConfigMap", "default", "cfg")
    assert got is not None and got["metadata"]["labels"]["axle.dev/work"] == "w"
    listed = await cluster.list_objects("v1", "ConfigMap", "default", "axle.dev/work=w")
    assert [o["metadata"]["name"] for o in listed] == ["cfg"]
    assert await cluster.list_objects("v1", "ConfigMap", "default", "axle.dev/work=other") == []
    assert await cluster.delete("v1", "ConfigMap", "default", "cfg") is True
    assert await cluster.get("v1", "ConfigMap", "default", "cfg") is None
    assert await cluster.delete("v1", "ConfigMap", "default", "cfg") is False
    await cluster.close()


async def test_events_for_an_object(cluster: RealCluster, hub: HubThread) -> None:
    target = await cluster.apply(cm({"a": "1"}))
    async with Client(hub.url, hub.token) as admin:
        await admin.create(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": "cfg.1", "namespace": "default"},
                "involvedObject": {"kind": "ConfigMap", "name": "cfg", "namespace": "default"},
                "reason": "Checked",
                "message": "looked at it",
                "type": "Normal",
            }
        )
    events = await cluster.events_for(target)
    assert [e["reason"] for e in events] == ["Checked"]


async def test_refusals_carry_the_cluster_message(cluster: RealCluster) -> None:
    bad = cm({"a": "1"})
    bad["metadata"]["name"] = "Not_A_Name"
    with pytest.raises(Invalid) as err:
        await cluster.apply(bad)
    assert "Not_A_Name" in err.value.message


async def test_unreachable_cluster_is_service_unavailable(tmp_path: Path) -> None:
    dead = RealCluster(kubeconfig("http://127.0.0.1:9", "t"), discovery_cache=tmp_path / "d")
    dead.api_client.configuration.retries = 0
    with pytest.raises(ServiceUnavailable):
        await dead.get("v1", "ConfigMap", "default", "x")


def test_status_bodies_become_api_errors() -> None:
    class Exc(Exception):
        status = 409
        reason = "Conflict"
        body = json.dumps({"kind": "Status", "reason": "Conflict", "message": "apply conflict"})

    err = to_api_error(Exc())
    assert err.code == 409 and err.message == "apply conflict"


NODES = [
    {
        "metadata": {
            "name": "gpu-1",
            "labels": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
        },
        "status": {
            "allocatable": {"cpu": "95500m", "memory": "527938404Ki", "nvidia.com/gpu": "8"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    },
    {
        "metadata": {"name": "cp-1", "labels": {}},
        "status": {
            "capacity": {"cpu": "16", "memory": "64Gi"},
            "conditions": [{"type": "Ready", "status": "False"}],
        },
    },
]


def test_node_capacity_reads_allocatable_and_gpu_product() -> None:
    gpu, cp = (node_capacity(n) for n in NODES)
    assert (gpu.cpu_millis, gpu.gpus, gpu.gpu_product, gpu.ready) == (
        95500,
        8,
        "NVIDIA-H100-80GB-HBM3",
        True,
    )
    assert gpu.memory_bytes == 527938404 * 1024
    assert (cp.cpu_millis, cp.memory_bytes, cp.gpus, cp.ready) == (16000, 64 * 2**30, 0, False)


class _NodesApi(BaseHTTPRequestHandler):
    """Just enough of the Kubernetes API for capacity(): version, discovery, nodes."""

    routes: dict[str, Any] = {
        "/version": {"major": "1", "minor": "30", "gitVersion": "v1.30.4"},
        "/api": {"kind": "APIVersions", "versions": ["v1"]},
        "/apis": {"kind": "APIGroupList", "groups": []},
        "/api/v1": {
            "kind": "APIResourceList",
            "groupVersion": "v1",
            "resources": [
                {
                    "name": "nodes",
                    "singularName": "node",
                    "namespaced": False,
                    "kind": "Node",
                    "verbs": ["get", "list"],
                },
            ],
        },
        "/api/v1/nodes": {"kind": "NodeList", "apiVersion": "v1", "metadata": {}, "items": NODES},
    }

    def do_GET(self) -> None:
        body = self.routes.get(self.path.split("?")[0].rstrip("/") or "/")
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(body or {"kind": "Status", "code": 404}).encode())

    def log_message(self, *args: Any) -> None:
        return None


async def test_capacity_from_nodes(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NodesApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        cluster = RealCluster(kubeconfig(url, "t"), discovery_cache=tmp_path / "d.json")
        cap = await cluster.capacity()
    finally:
        server.shutdown()
    assert cap.kubernetes_version == "v1.30.4"
    assert [n.name for n in cap.nodes] == ["gpu-1", "cp-1"]
    assert cap.gpus_by_product == {"NVIDIA-H100-80GB-HBM3": 8}


async def test_changes_yield_labelled_objects_that_moved(hub: HubThread, tmp_path: Path) -> None:
    cluster = RealCluster(
        kubeconfig(hub.url, hub.token), discovery_cache=tmp_path / "d.json", poll_interval=0.05
    )
    await cluster.apply(cm({"a": "1"}))
    changes = cluster.changes()
    first = asyncio.ensure_future(anext(changes))

    # The first poll records what exists (nothing is yielded for it); change things after it.
    async def polled() -> bool:
        return cluster.polls >= 1

    await until(polled, "the first poll")
    async with Client(hub.url, hub.token) as admin:
        await admin.patch("configmaps", "cfg", {"data": {"a": "edited"}}, "default")
    changed = await asyncio.wait_for(first, 10)
    assert changed["metadata"]["name"] == "cfg" and changed["data"] == {"a": "edited"}
    async with Client(hub.url, hub.token) as admin:
        await admin.delete("configmaps", "cfg", "default")
    gone = await asyncio.wait_for(anext(changes), 10)
    assert gone["metadata"]["name"] == "cfg"
    await changes.aclose()
    await cluster.close()
