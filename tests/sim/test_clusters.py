"""Edge-native clusters: create checks, the timed lifecycle and its effect on hosts, pools."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.sim.conftest import SMALL_FLEET, SimHarness
from tests.sim.helpers import cluster_body, create, host_state, pool, state_of

CREATE = "/v1/spectroclusters/edge-native"


async def test_lifecycle_moves_hosts_in_and_out_of_use(h: SimHarness) -> None:
    uid = await create(h, cluster_body(h))
    assert await state_of(h, uid) == "Pending"
    status = await host_state(h, "cp-01")
    assert status["state"] == "in-use"
    assert status["inUseClustersRef"] == [{"uid": uid, "name": "demo"}]
    assert (await host_state(h, "gpu-h100-03"))["state"] == "ready"

    h.clock.advance(5)
    assert await state_of(h, uid) == "Provisioning"
    h.clock.advance(54.9)
    assert await state_of(h, uid) == "Provisioning"
    h.clock.advance(0.1)
    assert await state_of(h, uid) == "Running"

    r = await h.client.delete(f"/v1/spectroclusters/{uid}")
    assert r.status_code == 204
    assert await state_of(h, uid) == "Deleting"
    assert (await host_state(h, "gpu-h100-01"))["state"] == "in-use"
    h.clock.advance(10)
    assert await state_of(h, uid) == "Deleted"
    for name in ("cp-01", "cp-02", "cp-03", "gpu-h100-01", "gpu-h100-02"):
        status = await host_state(h, name)
        assert status["state"] == "ready" and status["inUseClustersRef"] == []


async def test_cluster_document_conditions_and_endpoints(h: SimHarness) -> None:
    uid = await create(h, cluster_body(h))
    doc = (await h.client.get(f"/v1/spectroclusters/{uid}")).json()
    assert doc["metadata"]["name"] == "demo" and doc["metadata"]["labels"] == {
        "axle.dev/pool": "demo"
    }
    assert doc["spec"]["cloudType"] == "edge-native"
    assert doc["spec"]["cloudConfigRef"]["uid"]
    assert doc["spec"]["clusterProfileTemplates"][0]["uid"] == "edge-k8s-1-32"
    ready = next(c for c in doc["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "Pending"
    assert doc["status"]["apiEndpoints"] == []
    h.clock.advance(60)
    doc = (await h.client.get(f"/v1/spectroclusters/{uid}")).json()
    ready = next(c for c in doc["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    assert doc["status"]["apiEndpoints"] == [{"host": "10.10.0.100", "port": 6443}]


async def test_dashboard_summary_health_follows_hosts(h: SimHarness) -> None:
    uid = await create(h, cluster_body(h))
    summary = (await h.client.get(f"/v1/dashboard/spectroclusters/{uid}")).json()
    assert summary["status"]["health"]["state"] == "Unknown"
    assert summary["status"]["kubeMeta"]["hasKubeConfig"] is False
    h.clock.advance(60)
    summary = (await h.client.get(f"/v1/dashboard/spectroclusters/{uid}")).json()
    assert summary["status"]["state"] == "Running"
    assert summary["status"]["health"]["state"] == "Healthy"
    assert summary["status"]["kubeMeta"] == {
        "hasKubeConfig": True,
        "hasKubeConfigClient": True,
        "hasManifest": True,
        "kubernetesVersion": "1.32.3",
    }
    pools = summary["spec"]["cloudConfig"]["machinePools"]
    assert [(p["isControlPlane"], p["size"], p["healthy"]) for p in pools] == [
        (True, 3, 3),
        (False, 2, 2),
    ]
    r = await h.client.patch(
        "/admin/hosts/gpu-h100-02", json={"health": "unhealthy", "message": "Xid 48"}
    )
    assert r.status_code == 200
    health = (await h.client.get(f"/v1/dashboard/spectroclusters/{uid}")).json()["status"]["health"]
    assert health["state"] == "UnHealthy"
    assert "gpu-h100-02" in health["conditions"][0]["message"]


async def test_cluster_hosts_and_machines(h: SimHarness) -> None:
    uid = await create(h, cluster_body(h))
    hosts = (await h.client.get(f"/v1/spectroclusters/{uid}/edge-native/edgeHosts")).json()
    assert sorted(i["metadata"]["name"] for i in hosts["items"]) == [
        "cp-01",
        "cp-02",
        "cp-03",
        "gpu-h100-01",
        "gpu-h100-02",
    ]
    config_uid = (await h.client.get(f"/v1/spectroclusters/{uid}")).json()["spec"][
        "cloudConfigRef"
    ]["uid"]
    base = f"/v1/cloudconfigs/edge-native/{config_uid}"
    machines = (await h.client.get(f"{base}/machinePools/gpu/machines")).json()["items"]
    assert [m["status"]["instanceState"] for m in machines] == ["Pending", "Pending"]
    h.clock.advance(60)
    machines = (await h.client.get(f"{base}/machinePools/gpu/machines")).json()["items"]
    assert all(m["status"]["instanceState"] == "Running" and m["status"]["ready"] for m in machines)
    assert machines[0]["spec"]["edgeHostUid"] == h.sim.find_host("gpu-h100-01").uid
    assert machines[0]["status"]["addresses"] == [{"type": "InternalIP", "address": "10.10.1.11"}]
    r = await h.client.get(f"{base}/machinePools/nope/machines")
    assert r.status_code == 404


async def test_kubeconfig_only_when_running(h: SimHarness) -> None:
    uid = await create(h, cluster_body(h))
    r = await h.client.get(f"/v1/spectroclusters/{uid}/assets/kubeconfig")
    assert r.status_code == 404 and r.json()["code"] == "KubeconfigNotFound"
    h.clock.advance(60)
    r = await h.client.get(f"/v1/spectroclusters/{uid}/assets/kubeconfig", params={"frp": "true"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/octet-stream"
    assert "demo.kubeconfig" in r.headers["content-disposition"]
    cfg = yaml.safe_load(r.text)
    cluster = cfg["clusters"][0]["cluster"]
    assert cluster["server"] == "sim://demo"
    ext = cluster["extensions"][0]
    assert ext["name"] == "palette-sim.axle.dev"
    identity = {k: ext["extension"][k] for k in ("clusterUid", "clusterName", "projectUid")}
    assert identity == {"clusterUid": uid, "clusterName": "demo", "projectUid": "acme-default"}
    assert ext["extension"]["kubernetesVersion"] == "1.32.3"
    nodes = {n["name"]: n for n in ext["extension"]["nodes"]}
    assert sorted(nodes) == ["cp-01", "cp-02", "cp-03", "gpu-h100-01", "gpu-h100-02"]
    assert nodes["cp-01"]["controlPlane"] is True
    assert nodes["cp-01"]["taints"] == [
        {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
    ]
    h100 = nodes["gpu-h100-01"]
    assert h100["controlPlane"] is False and h100["taints"] == []
    assert h100["gpus"] == [{"vendor": "NVIDIA", "model": "H100", "count": 8, "memoryMiB": 81559}]
    assert h100["address"] == "10.10.1.11" and h100["architecture"] == "amd64"
    admin = yaml.safe_load(
        (await h.client.get(f"/v1/spectroclusters/{uid}/assets/adminKubeconfig")).text
    )
    assert admin["users"][0]["name"] == "demo-admin"
    assert admin["users"][0]["user"]["token"] != cfg["users"][0]["user"]["token"]


async def test_search_clusters(h: SimHarness) -> None:
    a = await create(h, cluster_body(h, "alpha", workers=["gpu-h100-01"]))
    await create(h, cluster_body(h, "beta", cp=["gpu-a100-02"], workers=[]))
    body: dict[str, Any] = {"sort": [{"field": "clusterName", "order": "desc"}]}
    page = (await h.client.post("/v1/dashboard/spectroclusters/search", json=body)).json()
    assert [i["metadata"]["name"] for i in page["items"]] == ["beta", "alpha"]
    assert page["listmeta"]["count"] == 2
    assert page["items"][0]["status"]["state"] == "Pending"
    assert page["items"][0]["specSummary"]["projectMeta"]["uid"] == "acme-default"
    await h.client.delete(f"/v1/spectroclusters/{a}", params={"forceDelete": "true"})
    page = (await h.client.post("/v1/dashboard/spectroclusters/search", json={})).json()
    assert [i["metadata"]["name"] for i in page["items"]] == ["beta"]


async def test_force_delete_frees_hosts_at_once(h: SimHarness) -> None:
    uid = await create(h, cluster_body(h))
    r = await h.client.delete(f"/v1/spectroclusters/{uid}", params={"forceDelete": "true"})
    assert r.status_code == 204
    assert await state_of(h, uid) == "Deleted"
    assert (await host_state(h, "cp-01"))["state"] == "ready"
    # Deleting again is a no-op; the hosts are free for a new cluster with the same name.
    assert (await h.client.delete(f"/v1/spectroclusters/{uid}")).status_code == 204
    await create(h, cluster_body(h))


def _problem(r: Any) -> tuple[int, str, str]:
    body = r.json()
    return r.status_code, body["code"], body["message"]


async def test_create_refuses_hosts_in_use_naming_them(h: SimHarness) -> None:
    await create(h, cluster_body(h, "first"))
    r = await h.client.post(CREATE, json=cluster_body(h, "second", cp=["cp-01"], workers=[]))
    status, code, message = _problem(r)
    assert (status, code) == (409, "EdgeHostInUse")
    assert "cp-01" in message and "first" in message


@pytest.mark.parametrize(
    ("mutate", "status", "code", "needle"),
    [
        (
            lambda h, b: b["spec"]["machinepoolconfig"][1]["cloudConfig"]["edgeHosts"].append(
                {"hostUid": "edge-x"}
            ),
            400,
            "EdgeHostNotFound",
            "edge-x",
        ),
        (
            lambda h, b: b["spec"]["machinepoolconfig"][1].__setitem__(
                "cloudConfig", {"edgeHosts": [{"hostUid": h.sim.find_host("gpu-a100-01").uid}]}
            ),
            400,
            "EdgeHostUnhealthy",
            "gpu-a100-01",
        ),
        (
            lambda h, b: b["spec"]["machinepoolconfig"][1]["cloudConfig"]["edgeHosts"].append(
                b["spec"]["machinepoolconfig"][0]["cloudConfig"]["edgeHosts"][0]
            ),
            400,
            "EdgeHostDuplicate",
            "cp-01",
        ),
        (
            lambda h, b: b["spec"].__setitem__("profiles", [{"uid": "nope"}]),
            400,
            "ClusterProfileNotFound",
            "nope",
        ),
        (lambda h, b: b["spec"].__setitem__("profiles", []), 400, "InvalidRequest", "profiles"),
        (
            lambda h, b: b["metadata"].__setitem__("name", "Bad_Name"),
            400,
            "InvalidRequest",
            "Bad_Name",
        ),
        (
            lambda h, b: b["spec"]["machinepoolconfig"][1]["poolConfig"].__setitem__("size", 5),
            400,
            "InvalidRequest",
            "size",
        ),
        (
            lambda h, b: b["spec"]["machinepoolconfig"][1]["poolConfig"].__setitem__(
                "isControlPlane", True
            ),
            400,
            "InvalidRequest",
            "isControlPlane",
        ),
        (
            lambda h, b: b["spec"]["machinepoolconfig"][1]["poolConfig"].__setitem__(
                "machinePoolProperties", {"archType": "arm64"}
            ),
            400,
            "EdgeHostArchMismatch",
            "arm64",
        ),
        (
            lambda h, b: b["spec"].pop("machinepoolconfig"),
            400,
            "InvalidRequest",
            "machinepoolconfig",
        ),
    ],
)
async def test_create_refuses_bad_bodies_and_changes_nothing(
    h: SimHarness, mutate: Any, status: int, code: str, needle: str
) -> None:
    body = cluster_body(h)
    mutate(h, body)
    r = await h.client.post(CREATE, json=body)
    got = _problem(r)
    assert got[:2] == (status, code), r.text
    assert needle in got[2] or needle in str(r.json()["details"])
    assert h.sim.state.clusters == []
    assert all(x.state != "in-use" for x in h.sim.state.hosts)


async def test_unpaired_host_is_not_ready(h: SimHarness) -> None:
    await h.client.patch("/admin/hosts/gpu-l40s-01", json={"state": "unpaired"})
    r = await h.client.post(CREATE, json=cluster_body(h, workers=["gpu-l40s-01"]))
    assert _problem(r)[:2] == (400, "EdgeHostNotReady")


async def test_duplicate_name_and_missing_project(h: SimHarness) -> None:
    await create(h, cluster_body(h, "dup", workers=[]))
    r = await h.client.post(CREATE, json=cluster_body(h, "dup", cp=["gpu-l40s-01"], workers=[]))
    assert _problem(r)[:2] == (409, "DuplicateClusterName")
    r = await h.client.post(CREATE, json=cluster_body(h, "other"), headers={"ProjectUid": ""})
    assert _problem(r)[:2] == (400, "ProjectUidRequired")


async def test_several_problems_are_all_listed(h: SimHarness) -> None:
    body = cluster_body(h, workers=["gpu-a100-01"])
    body["spec"]["profiles"] = [{"uid": "nope"}]
    r = await h.client.post(CREATE, json=body)
    problems = r.json()["details"]["problems"]
    assert {p["code"] for p in problems} == {"ClusterProfileNotFound", "EdgeHostUnhealthy"}


async def test_validate_lists_problems_per_pool_and_creates_nothing(h: SimHarness) -> None:
    body = cluster_body(h, workers=["gpu-a100-01"])
    body["spec"]["profiles"] = [{"uid": "nope"}]
    r = await h.client.post(f"{CREATE}/validate", json=body)
    assert r.status_code == 200
    out = r.json()
    pools = {p["name"]: p["errors"] for p in out["machinePools"]["results"]}
    assert pools["control-plane"] == []
    assert pools["gpu"][0]["code"] == "EdgeHostUnhealthy"
    assert out["profiles"][0]["uid"] == "nope"
    assert (
        out["profiles"][0]["packs"]["results"][0]["errors"][0]["code"] == "ClusterProfileNotFound"
    )
    r = await h.client.post(f"{CREATE}/validate", json=cluster_body(h))
    assert all(not p["errors"] for p in r.json()["machinePools"]["results"])
    assert h.sim.state.clusters == []


async def test_put_pool_moves_host_states(h: SimHarness) -> None:
    uid = await create(h, cluster_body(h))
    config_uid = (await h.client.get(f"/v1/spectroclusters/{uid}")).json()["spec"][
        "cloudConfigRef"
    ]["uid"]
    base = f"/v1/cloudconfigs/edge-native/{config_uid}/machinePools"
    r = await h.client.put(
        f"{base}/gpu", json=pool(h, "gpu", ["gpu-h100-02", "gpu-h100-03", "gpu-h100-04"])
    )
    assert r.status_code == 204, r.text
    assert (await host_state(h, "gpu-h100-01"))["state"] == "ready"
    for name in ("gpu-h100-02", "gpu-h100-03", "gpu-h100-04"):
        assert (await host_state(h, name))["inUseClustersRef"] == [{"uid": uid, "name": "demo"}]
    cfg = (await h.client.get(f"/v1/cloudconfigs/edge-native/{config_uid}")).json()
    gpu = next(p for p in cfg["spec"]["machinePoolConfig"] if p["name"] == "gpu")
    assert gpu["size"] == 3
    assert [x["hostName"] for x in gpu["hosts"]] == ["gpu-h100-02", "gpu-h100-03", "gpu-h100-04"]
    assert gpu["hosts"][0]["hostAddress"] == "10.10.1.12"
    assert cfg["spec"]["clusterConfig"]["controlPlaneEndpoint"]["host"] == "10.10.0.100"


async def test_pool_update_refusals(h: SimHarness) -> None:
    other = await create(h, cluster_body(h, "other", cp=["gpu-l40s-01"], workers=[]))
    uid = await create(h, cluster_body(h))
    config_uid = h.sim.clusters[uid].cloudConfigUid
    base = f"/v1/cloudconfigs/edge-native/{config_uid}/machinePools"
    r = await h.client.put(f"{base}/gpu", json=pool(h, "gpu", ["gpu-l40s-01"]))
    assert _problem(r)[:2] == (409, "EdgeHostInUse")
    r = await h.client.put(f"{base}/gpu", json=pool(h, "other-name", ["gpu-h100-01"]))
    assert r.status_code == 400
    r = await h.client.put(f"{base}/gpu", json=pool(h, "gpu", ["cp-01"]))
    assert _problem(r)[:2] == (400, "EdgeHostDuplicate")  # already in the control-plane pool
    r = await h.client.put(f"{base}/nope", json=pool(h, "nope", ["gpu-h100-04"]))
    assert r.status_code == 404
    assert [x.name for x in h.sim.clusters[uid].pools[1:] for _ in x.edgeHosts] == ["gpu", "gpu"]
    await h.client.delete(f"/v1/spectroclusters/{other}")
    r = await h.client.put(
        f"/v1/cloudconfigs/edge-native/{h.sim.clusters[other].cloudConfigUid}/machinePools/control-plane",
        json=pool(h, "control-plane", ["gpu-l40s-01"], control_plane=True),
    )
    assert _problem(r)[:2] == (409, "ClusterNotWritable")


async def test_add_and_delete_worker_pool(h: SimHarness) -> None:
    uid = await create(h, cluster_body(h, workers=[]))
    base = f"/v1/cloudconfigs/edge-native/{h.sim.clusters[uid].cloudConfigUid}/machinePools"
    r = await h.client.post(base, json=pool(h, "inference", ["gpu-l40s-01", "gpu-l40s-02"]))
    assert r.status_code == 201 and r.headers["AuditUid"]
    assert (await host_state(h, "gpu-l40s-02"))["state"] == "in-use"
    r = await h.client.post(base, json=pool(h, "inference", ["gpu-h100-01"]))
    assert r.status_code == 409
    assert (await h.client.delete(f"{base}/control-plane")).status_code == 400
    assert (await h.client.delete(f"{base}/inference")).status_code == 204
    assert (await host_state(h, "gpu-l40s-02"))["state"] == "ready"


async def test_other_project_cannot_see_the_cluster(make_sim: Any) -> None:
    inv = yaml.safe_load(SMALL_FLEET.read_text())
    inv["projects"].append({"name": "Other", "uid": "other-project"})
    h = await make_sim(inventory=inv)
    uid = await create(h, cluster_body(h))
    r = await h.client.get(f"/v1/spectroclusters/{uid}", headers={"ProjectUid": "other-project"})
    assert r.status_code == 404
    r = await h.client.post(
        CREATE, json=cluster_body(h, "x"), headers={"ProjectUid": "other-project"}
    )
    assert _problem(r)[:2] == (400, "EdgeHostNotFound")
    r = await h.client.get(f"/v1/spectroclusters/{uid}", headers={"ProjectUid": ""})
    assert r.status_code == 200  # tenant scope sees every project


async def test_patch_cluster_metadata(h: SimHarness) -> None:
    uid = await create(h, cluster_body(h))
    url = f"/v1/spectroclusters/{uid}/metadata"
    r = await h.client.patch(url, json={"metadata": {"name": "renamed", "labels": {"a": "b"}}})
    assert r.status_code == 204
    doc = (await h.client.get(f"/v1/spectroclusters/{uid}")).json()
    assert doc["metadata"]["name"] == "renamed" and doc["metadata"]["labels"] == {"a": "b"}
    assert (await host_state(h, "cp-01"))["inUseClustersRef"] == [{"uid": uid, "name": "renamed"}]
    for bad in ({}, {"metadata": {"name": "Bad Name"}}, {"metadata": {"labels": {"a": 1}}}):
        assert (await h.client.patch(url, json=bad)).status_code == 400
    assert h.sim.clusters[uid].labels == {"a": "b"}
