"""Services, Ingresses, claims, and kinds no simulated controller runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from axle.sim.cluster import SimCluster
from axle.sim.cluster.network import lb_pool_for


def service(name: str, type_: str = "ClusterIP") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"type": type_, "selector": {"app": name}, "ports": [{"port": 80}]},
    }


def claim(name: str, storage_class: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "5Gi"}},
    }
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


async def test_cluster_ips_are_allocated_at_creation(sim: SimCluster) -> None:
    a = await sim.apply(service("a"))
    b = await sim.apply(service("b"))
    assert a["spec"]["clusterIP"].startswith("10.96.") and a["metadata"]["generation"] == 1
    assert a["spec"]["clusterIP"] != b["spec"]["clusterIP"]
    assert a["spec"]["clusterIPs"] == [a["spec"]["clusterIP"]]
    assert a["spec"]["ports"][0]["targetPort"] == 80
    again = await sim.apply(service("a"))  # the allocation is not the applier's to remove
    assert again["spec"]["clusterIP"] == a["spec"]["clusterIP"]
    assert again["metadata"]["resourceVersion"] == a["metadata"]["resourceVersion"]


async def test_load_balancer_address_after_start_latency(
    make_cluster: Callable[..., SimCluster],
) -> None:
    sim = make_cluster(start_latency=4.0)
    svc = await sim.apply(service("web", "LoadBalancer"))
    assert svc["status"] == {"loadBalancer": {}}
    assert 30000 <= svc["spec"]["ports"][0]["nodePort"] <= 32767
    await sim.advance(4)
    live = await sim.get("v1", "Service", "default", "web")
    assert live is not None
    prefix = lb_pool_for("test").removesuffix("0/24")
    assert live["status"]["loadBalancer"]["ingress"] == [{"ip": f"{prefix}1", "ipMode": "VIP"}]
    reasons = [e["reason"] for e in await sim.events_for(live)]
    assert reasons == ["EnsuringLoadBalancer", "EnsuredLoadBalancer"]
    again = await sim.apply(service("web", "LoadBalancer"))  # re-applied: nothing moves
    assert again["metadata"]["resourceVersion"] == live["metadata"]["resourceVersion"]
    await sim.apply(service("api", "LoadBalancer"))
    await sim.advance(4)
    other = await sim.get("v1", "Service", "default", "api") or {}
    assert other["status"]["loadBalancer"]["ingress"][0]["ip"] == f"{prefix}2"


async def test_exhausted_pool_leaves_the_service_without_address(
    make_cluster: Callable[..., SimCluster],
) -> None:
    sim = make_cluster(lb_pool="10.200.0.0/31")  # hosts: .0 and .1
    await sim.apply(service("a", "LoadBalancer"))
    await sim.apply(service("b", "LoadBalancer"))
    c = await sim.apply(service("c", "LoadBalancer"))
    assert c["status"]["loadBalancer"] == {}
    [warning] = [e for e in await sim.events_for(c) if e["type"] == "Warning"]
    assert warning["reason"] == "AllocationFailed"
    assert warning["message"] == 'Failed to allocate IP for "default/c": no available IPs'


async def test_ingress_gets_an_address(sim: SimCluster) -> None:
    ing = await sim.apply(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"rules": [{"host": "web.example"}]},
        }
    )
    prefix = lb_pool_for("test").removesuffix("0/24")
    assert ing["status"]["loadBalancer"]["ingress"][0]["ip"].startswith(prefix)


def test_clusters_get_their_own_deterministic_pool() -> None:
    assert lb_pool_for("gpu-a") == lb_pool_for("gpu-a")
    pools = {lb_pool_for(f"pool-{i}") for i in range(50)}
    assert len(pools) > 45  # distinct ranges for distinct clusters, nearly always
    for pool in pools:
        first, second = (int(x) for x in pool.split(".")[:2])
        assert first == 10 and 200 <= second <= 255 and pool.endswith(".0/24")


async def test_claim_bound_by_the_default_class(sim: SimCluster) -> None:
    pvc = await sim.apply(claim("data"))
    assert pvc["status"] == {
        "phase": "Bound",
        "accessModes": ["ReadWriteOnce"],
        "capacity": {"storage": "5Gi"},
    }
    assert pvc["spec"]["storageClassName"] == "standard"
    pv = await sim.get("v1", "PersistentVolume", None, pvc["spec"]["volumeName"])
    assert pv is not None and pv["status"]["phase"] == "Bound"
    assert pv["spec"]["claimRef"]["uid"] == pvc["metadata"]["uid"]
    assert [e["reason"] for e in await sim.events_for(pvc)] == ["ProvisioningSucceeded"]
    assert await sim.delete("v1", "PersistentVolumeClaim", "default", "data")
    assert await sim.get("v1", "PersistentVolume", None, pvc["spec"]["volumeName"]) is None


async def test_claim_of_unknown_class_stays_pending(sim: SimCluster) -> None:
    pvc = await sim.apply(claim("fast", "nvme-fast"))
    assert pvc["status"]["phase"] == "Pending"
    [event] = await sim.events_for(pvc)
    assert (event["type"], event["reason"]) == ("Warning", "ProvisioningFailed")
    assert event["message"] == 'storageclass.storage.k8s.io "nvme-fast" not found'
    await sim.advance(60)
    assert len(await sim.events_for(pvc)) == 1  # said once, not every pass
    await sim.apply(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "nvme-fast"},
            "provisioner": "example.com/nvme",
        }
    )
    live = await sim.get("v1", "PersistentVolumeClaim", "default", "fast")
    assert live is not None and live["status"]["phase"] == "Bound"


async def test_other_kinds_are_stored_and_ready(sim: SimCluster) -> None:
    release = {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": "vllm", "namespace": "default"},
        "spec": {"chart": {"spec": {"chart": "vllm", "version": "0.6.0"}}},
    }
    live = await sim.apply(release)
    assert live["status"]["observedGeneration"] == 1
    ready = live["status"]["conditions"][0]
    assert (ready["type"], ready["status"], ready["observedGeneration"]) == ("Ready", "True", 1)
    release["spec"]["chart"]["spec"]["version"] = "0.7.0"
    live = await sim.apply(release)
    assert live["metadata"]["generation"] == 2 and live["status"]["observedGeneration"] == 2
    cr = await sim.apply(
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {}}
    )
    assert "namespace" not in cr["metadata"]  # no namespace given: cluster-scoped
    assert cr["status"]["conditions"][0]["status"] == "True"
    cm = await sim.apply(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"a": "b"}}
    )
    assert "status" not in cm and cm["metadata"]["namespace"] == "default"


async def test_an_address_freed_goes_to_the_service_left_waiting(
    make_cluster: Callable[..., SimCluster],
) -> None:
    sim = make_cluster(lb_pool="10.200.0.0/31")  # hosts: .0 and .1
    a = await sim.apply(service("a", "LoadBalancer"))
    await sim.apply(service("b", "LoadBalancer"))
    await sim.apply(service("c", "LoadBalancer"))
    await sim.apply(service("d"))  # another Service changing frees nothing: c still waits
    c = await sim.get("v1", "Service", "default", "c") or {}
    assert c["status"]["loadBalancer"] == {}
    freed = a["status"]["loadBalancer"]["ingress"][0]["ip"]
    assert await sim.delete("v1", "Service", "default", "a")
    c = await sim.get("v1", "Service", "default", "c") or {}
    assert c["status"]["loadBalancer"]["ingress"] == [{"ip": freed, "ipMode": "VIP"}]
