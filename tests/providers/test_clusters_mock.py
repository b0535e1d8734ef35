"""Cluster, machine pool, profile and project calls over httpx.MockTransport: request paths,
bodies, scoping, and how responses fold into ClusterInfo."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from axle.providers.base import BadResponse, ClusterProvider, InvalidRequest, NotFound
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
    PackValues,
    PoolConfig,
    ProfileVariable,
)
from tests.providers.helpers import body, edge_host, mock_client


def spec() -> EdgeNativeClusterEntity:
    return EdgeNativeClusterEntity(
        metadata=ClusterMetadata(name="train-1", labels={"axle.dev/pool": "p1"}),
        spec=EdgeNativeClusterSpec(
            cloudConfig=EdgeNativeClusterConfig(
                controlPlaneEndpoint=ControlPlaneEndpoint(host="10.0.0.100", type="VIP"),
                sshKeys=["ssh-ed25519 AAAA test"],
                ntpServers=["pool.ntp.org"],
            ),
            profiles=[
                ClusterProfileEntity(
                    uid="prof-1",
                    packValues=[PackValues(name="kubernetes", tag="1.30", values="a: 1")],
                    variables=[ProfileVariable(name="region", value="eu")],
                )
            ],
            machinepoolconfig=[
                MachinePool(
                    cloudConfig=MachinePoolCloudConfig(
                        edgeHosts=[MachinePoolHost(hostUid="cp1", hostName="cp-1")]
                    ),
                    poolConfig=PoolConfig(
                        name="control-plane",
                        size=1,
                        isControlPlane=True,
                        useControlPlaneAsWorker=True,
                    ),
                ),
                MachinePool(
                    cloudConfig=MachinePoolCloudConfig(
                        edgeHosts=[MachinePoolHost(hostUid="g1"), MachinePoolHost(hostUid="g2")]
                    ),
                    poolConfig=PoolConfig(name="gpu", size=2, labels=["worker"]),
                ),
            ],
        ),
    )


class Recorder:
    """Routes (method, path) to canned answers and keeps every request."""

    def __init__(self, routes: dict[tuple[str, str], httpx.Response]) -> None:
        self.routes = routes
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        key = (request.method, request.url.path)
        if key not in self.routes:
            return httpx.Response(404, json={"code": "ResourceNotFound", "message": str(key)})
        return self.routes[key]

    def find(self, method: str, path: str) -> httpx.Request:
        return next(r for r in self.seen if r.method == method and r.url.path == path)


def test_request_models_are_strict_and_sparse() -> None:
    wire = spec().to_wire()
    assert wire["metadata"] == {"name": "train-1", "labels": {"axle.dev/pool": "p1"}}
    pools = wire["spec"]["machinepoolconfig"]
    assert pools[0]["poolConfig"] == {
        "name": "control-plane",
        "size": 1,
        "labels": [],
        "isControlPlane": True,
        "useControlPlaneAsWorker": True,
    }
    assert pools[1]["cloudConfig"]["edgeHosts"] == [{"hostUid": "g1"}, {"hostUid": "g2"}]
    assert wire["spec"]["cloudConfig"]["controlPlaneEndpoint"] == {
        "host": "10.0.0.100",
        "type": "VIP",
    }
    with pytest.raises(ValidationError):
        PoolConfig.model_validate({"name": "x", "size": 1, "sizee": 2})
    with pytest.raises(ValidationError):
        ControlPlaneEndpoint.model_validate({"type": "Floating"})
    with pytest.raises(ValidationError):
        EdgeNativeClusterSpec.model_validate(
            {"cloudConfig": {}, "profiles": [], "machinepoolconfig": []}
        )


async def test_create_and_validate_send_the_entity() -> None:
    rec = Recorder(
        {
            ("POST", "/v1/spectroclusters/edge-native"): httpx.Response(201, json={"uid": "c-1"}),
            ("POST", "/v1/spectroclusters/edge-native/validate"): httpx.Response(
                200,
                json={
                    "machinePools": {
                        "results": [{"name": "gpu", "errors": [{"message": "host g2 in use"}]}]
                    },
                    "profiles": [
                        {"uid": "prof-1", "packs": {"results": [{"name": "cni", "errors": []}]}}
                    ],
                },
            ),
        }
    )
    client, _ = mock_client(rec)
    async with client:
        assert await client.validate_edge_native_cluster(spec()) == [
            "machine pool gpu: host g2 in use"
        ]
        assert await client.create_edge_native_cluster(spec()) == "c-1"
    create = rec.find("POST", "/v1/spectroclusters/edge-native")
    assert body(create) == spec().to_wire()
    assert create.headers["ProjectUid"] == "proj-1"


def cluster_routes(uid: str = "c-1", *, summary: bool = True) -> dict[Any, httpx.Response]:
    routes: dict[Any, httpx.Response] = {
        ("GET", f"/v1/spectroclusters/{uid}"): httpx.Response(
            200,
            json={
                "metadata": {"uid": uid, "name": "train-1", "labels": {"a": "b"}},
                "spec": {"cloudConfigRef": {"kind": "EdgeNativeCloudConfig", "uid": "cfg-1"}},
                "status": {
                    "state": "Running",
                    "conditions": [
                        {"type": "ControlPlaneReady", "status": "True"},
                        {"type": "Bogus"},
                    ],
                    "apiEndpoints": [{"host": "10.0.0.100", "port": 6443}],
                },
            },
        ),
        ("GET", f"/v1/spectroclusters/{uid}/edge-native/edgeHosts"): httpx.Response(
            200, json={"items": [edge_host("cp1"), edge_host("g1")]}
        ),
    }
    if summary:
        routes[("GET", f"/v1/dashboard/spectroclusters/{uid}")] = httpx.Response(
            200,
            json={
                "metadata": {"uid": uid},
                "status": {
                    "state": "Running",
                    "health": {
                        "state": "Healthy",
                        "conditions": [{"type": "NodeHealth", "message": "1 node not ready"}],
                    },
                    "kubeMeta": {"hasKubeConfig": True, "kubernetesVersion": "1.30.4"},
                },
            },
        )
    return routes


async def test_get_cluster_folds_three_reads() -> None:
    rec = Recorder(cluster_routes())
    client, _ = mock_client(rec)
    async with client:
        assert isinstance(client, ClusterProvider)
        info = await client.get_cluster("c-1")
    assert info.uid == "c-1" and info.name == "train-1" and info.state == "Running"
    assert [c.type for c in info.conditions] == ["ControlPlaneReady"]
    assert info.api_endpoints == ("10.0.0.100:6443",)
    assert info.host_uids == ("cp1", "g1")
    assert info.cloud_config_uid == "cfg-1"
    assert info.health == "Healthy" and info.health_message == "NodeHealth: 1 node not ready"
    assert info.kubeconfig_ready and info.kubernetes_version == "1.30.4"
    assert info.labels == {"a": "b"}
    assert client.calls["clusters.get"] == 1 and client.calls["clusters.summary"] == 1


async def test_get_cluster_without_summary_still_answers() -> None:
    client, _ = mock_client(Recorder(cluster_routes(summary=False)))
    async with client:
        info = await client.get_cluster("c-1")
    assert info.state == "Running" and info.health is None and not info.kubeconfig_ready


async def test_get_missing_cluster_is_not_found() -> None:
    client, _ = mock_client(Recorder({}))
    async with client:
        with pytest.raises(NotFound):
            await client.get_cluster("nope")


async def test_status_delete_and_kubeconfig() -> None:
    rec = Recorder(
        {
            ("GET", "/v1/spectroclusters/c-1/status"): httpx.Response(
                200, json={"status": {"state": "Provisioning"}}
            ),
            ("DELETE", "/v1/spectroclusters/c-1"): httpx.Response(204),
            ("GET", "/v1/spectroclusters/c-1/assets/kubeconfig"): httpx.Response(
                200,
                content=b"apiVersion: v1\nkind: Config\n",
                headers={"Content-Type": "application/octet-stream"},
            ),
            ("GET", "/v1/spectroclusters/c-1/assets/adminKubeconfig"): httpx.Response(
                200, content=b"apiVersion: v1\nkind: Config\n# admin\n"
            ),
        }
    )
    client, _ = mock_client(rec)
    async with client:
        assert await client.get_cluster_status("c-1") == "Provisioning"
        assert (await client.download_kubeconfig("c-1")).startswith("apiVersion: v1")
        assert "# admin" in await client.download_kubeconfig("c-1", admin=True)
        await client.delete_cluster("c-1")
        await client.delete_cluster("c-1", force=True)
    deletes = [r for r in rec.seen if r.method == "DELETE"]
    assert [r.url.params.get("forceDelete") for r in deletes] == [None, "true"]
    assert rec.find("GET", "/v1/spectroclusters/c-1/assets/kubeconfig").headers["Accept"] == (
        "application/octet-stream"
    )


async def test_empty_kubeconfig_and_missing_state_are_bad_responses() -> None:
    rec = Recorder(
        {
            ("GET", "/v1/spectroclusters/c-1/status"): httpx.Response(200, json={"status": {}}),
            ("GET", "/v1/spectroclusters/c-1/assets/kubeconfig"): httpx.Response(200, content=b""),
        }
    )
    client, _ = mock_client(rec)
    async with client:
        with pytest.raises(BadResponse, match="state"):
            await client.get_cluster_status("c-1")
        with pytest.raises(BadResponse, match="empty kubeconfig"):
            await client.download_kubeconfig("c-1")


async def test_machine_pool_update_and_cloud_config() -> None:
    rec = Recorder(
        {
            ("PUT", "/v1/cloudconfigs/edge-native/cfg-1/machinePools/gpu"): httpx.Response(204),
            ("GET", "/v1/cloudconfigs/edge-native/cfg-1"): httpx.Response(
                200,
                json={
                    "spec": {
                        "machinePoolConfig": [
                            {"name": "gpu", "size": 1, "hosts": [{"hostUid": "g1"}]}
                        ]
                    }
                },
            ),
        }
    )
    pool = spec().spec.machinepoolconfig[1]
    client, _ = mock_client(rec)
    async with client:
        await client.update_machine_pool("cfg-1", "gpu", pool)
        cfg = await client.get_cloud_config("cfg-1")
        with pytest.raises(InvalidRequest, match="names pool 'gpu'"):
            await client.update_machine_pool("cfg-1", "other", pool)
    put = rec.find("PUT", "/v1/cloudconfigs/edge-native/cfg-1/machinePools/gpu")
    assert body(put) == pool.to_wire()
    assert cfg.spec and cfg.spec.machinePoolConfig
    assert cfg.spec.machinePoolConfig[0].hosts
    assert cfg.spec.machinePoolConfig[0].hosts[0].hostUid == "g1"
    assert len(rec.seen) == 2  # the mismatched update never left


async def test_profiles_and_projects() -> None:
    rec = Recorder(
        {
            ("GET", "/v1/clusterprofiles/prof-1"): httpx.Response(
                200, json={"metadata": {"uid": "prof-1", "name": "edge-k8s"}, "spec": {}}
            ),
            ("GET", "/v1/dashboard/projects/metadata"): httpx.Response(
                200,
                json={
                    "items": [
                        {"metadata": {"name": "Default", "uid": "p-0"}},
                        {"metadata": {"name": "ai", "uid": "p-1"}},
                        {"metadata": {}},
                    ]
                },
            ),
        }
    )
    client, _ = mock_client(rec)
    async with client:
        profile = await client.get_cluster_profile("prof-1")
        projects = await client.list_projects()
    assert profile.metadata and profile.metadata.name == "edge-k8s"
    assert projects == {"Default": "p-0", "ai": "p-1"}
    assert "ProjectUid" not in rec.find("GET", "/v1/dashboard/projects/metadata").headers
