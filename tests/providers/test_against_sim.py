"""PaletteClient against the real Palette simulator over HTTP (no mocks).

The issue's must-show list: pagination across several pages (counted on the server),
tag filtering, 429 with Retry-After honoured, 500 retried then surfaced, a bad API key gives
InvalidCredentials after exactly one request, an unreachable host gives Unreachable; plus a
cluster create/get/kubeconfig/delete round trip and a machine pool update.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from axle.providers.base import (
    GPU,
    InvalidConfiguration,
    InvalidCredentials,
    InvalidRequest,
    NotFound,
    RateLimited,
    ServerError,
    Unreachable,
)
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
from tests.providers.conftest import PROFILE, SimHandle, big_fleet

SEARCH = "POST /v1/dashboard/edgehosts/search"
TAG = {"palette.ai": "true"}


# ---- inventory -----------------------------------------------------------------------


async def test_pagination_across_pages_counted_on_the_server(
    start_sim: Callable[..., Any],
) -> None:
    sim: SimHandle = await start_sim(inventory=big_fleet(tagged=120, untagged=7))
    client, sleeps = sim.client()
    hosts = await client.list_hosts(TAG)
    assert len(hosts) == 120
    assert len({h.uid for h in hosts}) == 120
    assert all(h.tags.get("palette.ai") == "true" for h in hosts)
    assert await sim.route_count(SEARCH) == 3  # 50 + 50 + 20
    assert client.calls["edgehosts.search"] == 3
    assert sleeps.delays == []

    everything = await client.list_hosts()
    assert len(everything) == 127
    assert await sim.route_count(SEARCH) == 6  # 127 hosts: 3 more pages


async def test_tag_filtering_and_mapping_of_the_example_fleet(sim: SimHandle) -> None:
    client, _ = sim.client()
    tagged = await client.list_hosts(TAG)
    by_name = {h.name: h for h in tagged}
    assert len(tagged) == 13 and "build-runner-01" not in by_name
    assert len(await client.list_hosts()) == 14
    rack_b = await client.list_hosts({**TAG, "axle.dev/resource-group": "rack-b"})
    assert {h.name for h in rack_b} == {
        "gpu-a100-01",
        "gpu-a100-02",
        "gpu-a100-03",
        "gpu-a100-04",
        "gpu-l40s-01",
        "gpu-l40s-02",
    }
    h100 = by_name["gpu-h100-01"]
    assert h100.gpus == (GPU(vendor="NVIDIA", model="H100", count=8, memory_mib=81559),)
    assert (h100.cpu_cores, h100.memory_mib, h100.architecture) == (112, 2097152, "amd64")
    assert h100.state == "ready" and h100.healthy and h100.address
    assert h100.disks_gb == (960, 7680)
    sick = by_name["gpu-a100-01"]
    assert not sick.healthy and "Xid 79" in sick.health_message
    assert by_name["cp-01"].gpus == ()

    one = await client.get_host(h100.uid)
    assert one.uid == h100.uid and one.gpus == h100.gpus and one.tags == h100.tags


async def test_health_change_is_seen_on_the_next_list(sim: SimHandle) -> None:
    client, _ = sim.client()
    await sim.set_host("gpu-h100-02", health="unhealthy", message="PSU failure")
    host = next(h for h in await client.list_hosts(TAG) if h.name == "gpu-h100-02")
    assert not host.healthy and host.health_message == "PSU failure"


async def test_credentials_projects_schema_and_profile(sim: SimHandle) -> None:
    client, _ = sim.client()
    await client.check_credentials()
    info = await client.user_info()
    assert info.orgName == "acme"
    assert await client.list_projects() == {"Default": "acme-default"}
    schema = await client.search_schema()
    assert schema.schema_ and schema.schema_.properties
    assert await client.tag_property() == "tags"
    profile = await client.get_cluster_profile(PROFILE)
    assert profile.metadata and profile.metadata.name == "edge-k8s"
    with pytest.raises(NotFound):
        await client.get_host("no-such-host")


# ---- errors --------------------------------------------------------------------------


async def test_bad_api_key_is_invalid_credentials_after_exactly_one_request(
    sim: SimHandle,
) -> None:
    client, sleeps = sim.client(api_key="wrong-key")
    with pytest.raises(InvalidCredentials) as info:
        await client.check_credentials()
    assert sim.url in info.value.message and "API key" in info.value.message
    assert info.value.status == 401
    counters = await sim.counters()
    assert counters["total"] == 1 and counters["byStatus"] == {"401": 1}
    assert client.requests_made == 1 and sleeps.delays == []

    with pytest.raises(InvalidCredentials):
        await client.list_hosts()
    assert (await sim.counters())["total"] == 2  # one search request, no retries


async def test_unknown_project_is_invalid_credentials(sim: SimHandle) -> None:
    client, _ = sim.client(project="nope")
    with pytest.raises(InvalidCredentials, match="403"):
        await client.list_hosts()
    assert (await sim.counters())["total"] == 1


async def test_429_retry_after_is_honoured(sim: SimHandle) -> None:
    client, sleeps = sim.client()
    await sim.fault(status=429, count=2, retryAfter=3, path="/v1/dashboard/edgehosts/search")
    hosts = await client.list_hosts(TAG)
    assert len(hosts) == 13
    assert sleeps.delays == [3.0, 3.0]
    counters = await sim.counters()
    assert counters["byStatus"].get("429") == 2
    assert counters["byRoute"][SEARCH] == 3


async def test_429_beyond_max_retries_is_rate_limited(sim: SimHandle) -> None:
    client, sleeps = sim.client(max_retries=2)
    await sim.fault(status=429, retryAfter=2, path="/v1/users/info")
    with pytest.raises(RateLimited) as info:
        await client.check_credentials()
    assert info.value.retry_after == 2.0
    assert sleeps.delays == [2.0, 2.0]
    assert (await sim.counters())["byStatus"] == {"429": 3}


async def test_500_is_retried_then_surfaced_as_server_error(sim: SimHandle) -> None:
    client, sleeps = sim.client(max_retries=3, backoff_base=0.5, backoff_max=30.0)
    await sim.fault(status=500, path="/v1/edgehosts/*", message="database on fire")
    with pytest.raises(ServerError) as info:
        await client.get_host("anything")
    assert "database on fire" in info.value.message and info.value.status == 500
    assert (await sim.counters())["byStatus"] == {"500": 4}  # 1 + max_retries
    assert len(sleeps.delays) == 3
    for attempt, delay in enumerate(sleeps.delays):
        ceiling = 0.5 * 2**attempt
        assert ceiling / 2 <= delay <= ceiling


async def test_500_then_recovery(sim: SimHandle) -> None:
    client, sleeps = sim.client()
    await sim.fault(status=500, count=2, path="/v1/dashboard/edgehosts/search")
    assert len(await client.list_hosts(TAG)) == 13
    assert len(sleeps.delays) == 2
    assert (await sim.counters())["byRoute"][SEARCH] == 3


async def test_unreachable_host() -> None:
    with socket.socket() as s:  # a port nobody listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    handle = SimHandle(f"http://127.0.0.1:{port}")
    try:
        client, sleeps = handle.client(max_retries=2, timeout=2.0)
        with pytest.raises(Unreachable) as info:
            await client.check_credentials()
        assert f"127.0.0.1:{port}" in info.value.message
        assert client.requests_made == 3 and len(sleeps.delays) == 2
    finally:
        await handle.close()


# ---- clusters ------------------------------------------------------------------------


def cluster_entity(name: str, cp_uid: str, worker_uids: list[str]) -> EdgeNativeClusterEntity:
    return EdgeNativeClusterEntity(
        metadata=ClusterMetadata(name=name, labels={"axle.dev/pool": name}),
        spec=EdgeNativeClusterSpec(
            cloudConfig=EdgeNativeClusterConfig(
                controlPlaneEndpoint=ControlPlaneEndpoint(host="10.10.0.100", type="VIP"),
                sshKeys=["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB test@axle"],
                ntpServers=["pool.ntp.org"],
            ),
            profiles=[ClusterProfileEntity(uid=PROFILE)],
            machinepoolconfig=[
                MachinePool(
                    cloudConfig=MachinePoolCloudConfig(edgeHosts=[MachinePoolHost(hostUid=cp_uid)]),
                    poolConfig=PoolConfig(name="control-plane", size=1, isControlPlane=True),
                ),
                worker_pool(worker_uids),
            ],
        ),
    )


def worker_pool(uids: list[str]) -> MachinePool:
    return MachinePool(
        cloudConfig=MachinePoolCloudConfig(edgeHosts=[MachinePoolHost(hostUid=u) for u in uids]),
        poolConfig=PoolConfig(name="gpu", size=len(uids), labels=["worker"]),
    )


async def test_cluster_round_trip(sim: SimHandle) -> None:
    client, _ = sim.client()
    uids = {h.name: h.uid for h in await client.list_hosts(TAG)}
    entity = cluster_entity("train-1", uids["cp-01"], [uids["gpu-h100-01"]])

    assert await client.validate_edge_native_cluster(entity) == []
    uid = await client.create_edge_native_cluster(entity)
    info = await client.get_cluster(uid)
    assert info.name == "train-1" and info.state in ("Pending", "Provisioning")
    assert set(info.host_uids) == {uids["cp-01"], uids["gpu-h100-01"]}
    assert info.cloud_config_uid
    with pytest.raises(NotFound):
        await client.download_kubeconfig(uid)  # not Running yet

    held = {h.name: h for h in await client.list_hosts(TAG)}
    assert held["cp-01"].state == "in-use" and uid in held["cp-01"].in_use_by
    assert held["gpu-h100-02"].state == "ready"

    sim.clock.advance(61)
    info = await client.get_cluster(uid)
    assert info.state == "Running" and await client.get_cluster_status(uid) == "Running"
    assert info.kubeconfig_ready and info.api_endpoints
    assert info.health
    kubeconfig = await client.download_kubeconfig(uid)
    assert "apiVersion" in kubeconfig and "train-1" in kubeconfig
    assert "apiVersion" in await client.download_kubeconfig(uid, admin=True)

    # A second cluster on a host in use is refused: validate lists it, create raises.
    clash = cluster_entity("train-2", uids["cp-02"], [uids["gpu-h100-01"]])
    problems = await client.validate_edge_native_cluster(clash)
    assert problems and any("in use" in p for p in problems)
    with pytest.raises(InvalidRequest) as refused:
        await client.create_edge_native_cluster(clash)
    assert refused.value.status == 409 and "in use" in refused.value.message

    await client.delete_cluster(uid)
    assert await client.get_cluster_status(uid) == "Deleting"
    sim.clock.advance(11)
    assert await client.get_cluster_status(uid) == "Deleted"
    freed = {h.name: h for h in await client.list_hosts(TAG)}
    assert freed["cp-01"].state == "ready" and freed["cp-01"].in_use_by == ()
    assert freed["gpu-h100-01"].state == "ready"


async def test_force_delete_frees_hosts_at_once(sim: SimHandle) -> None:
    client, _ = sim.client()
    uids = {h.name: h.uid for h in await client.list_hosts(TAG)}
    uid = await client.create_edge_native_cluster(
        cluster_entity("quick", uids["cp-03"], [uids["gpu-l40s-01"]])
    )
    await client.delete_cluster(uid, force=True)
    assert await client.get_cluster_status(uid) == "Deleted"
    host = await client.get_host(uids["gpu-l40s-01"])
    assert host.state == "ready"


async def test_machine_pool_update(sim: SimHandle) -> None:
    client, _ = sim.client()
    uids = {h.name: h.uid for h in await client.list_hosts(TAG)}
    uid = await client.create_edge_native_cluster(
        cluster_entity("grow", uids["cp-01"], [uids["gpu-h100-01"]])
    )
    sim.clock.advance(61)
    info = await client.get_cluster(uid)
    assert info.cloud_config_uid is not None
    config_uid = info.cloud_config_uid

    grown = worker_pool([uids["gpu-h100-01"], uids["gpu-h100-02"]])
    await client.update_machine_pool(config_uid, "gpu", grown)
    config = await client.get_cloud_config(config_uid)
    pools = {p.name: p for p in (config.spec.machinePoolConfig or [])} if config.spec else {}
    assert pools["gpu"].size == 2
    assert {h.hostUid for h in pools["gpu"].hosts or []} == {
        uids["gpu-h100-01"],
        uids["gpu-h100-02"],
    }
    assert (await client.get_host(uids["gpu-h100-02"])).state == "in-use"
    assert uids["gpu-h100-02"] in (await client.get_cluster(uid)).host_uids

    shrunk = worker_pool([uids["gpu-h100-02"]])
    await client.update_machine_pool(config_uid, "gpu", shrunk)
    assert (await client.get_host(uids["gpu-h100-01"])).state == "ready"

    with pytest.raises(InvalidRequest):  # an unhealthy host is refused by the server
        await client.update_machine_pool(config_uid, "gpu", worker_pool([uids["gpu-a100-01"]]))
    with pytest.raises(NotFound):
        await client.update_machine_pool("no-such-config", "gpu", shrunk)


async def test_a_slow_server_times_out_into_unreachable(sim: SimHandle) -> None:
    (await sim.admin.patch("/admin/settings", json={"latencyMs": 1500})).raise_for_status()
    client, sleeps = sim.client(timeout=0.2, max_retries=1)
    with pytest.raises(Unreachable, match="timeout") as info:
        await client.get_host("anything")
    assert "2 attempts" in info.value.message
    assert client.requests_made == 2 and len(sleeps.delays) == 1
    (await sim.admin.patch("/admin/settings", json={"latencyMs": 0})).raise_for_status()


async def test_check_project(sim: SimHandle) -> None:
    client, _ = sim.client()
    await client.check_project()
    project = await client.get_project("acme-default")
    assert project.metadata and project.metadata.name == "Default"
    wrong, _ = sim.client(project="no-such-project")
    await wrong.check_credentials()  # the key is fine...
    with pytest.raises(InvalidConfiguration, match="defaultProjectID") as info:
        await wrong.check_project()  # ...the project is not
    assert info.value.fields == ("defaultProjectID",)
