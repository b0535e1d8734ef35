"""Host selection (pure) and the pool plan read from a spec."""

from __future__ import annotations

from typing import Any

from axle.controllers.hostselection import CONTROL_PLANE, WORKER, HostNeed, candidates, select_hosts
from axle.controllers.poolplan import cluster_names, pool_plan
from axle.controllers.reservations import claim_name, quota_problems


def group(
    machines: list[tuple[str, str]],
    *,
    cpu: int = 16,
    mem: int = 65536,
    arch: str = "AMD64",
    gpu: tuple[str, int] | None = None,
    rg: dict[str, str] | None = None,
) -> dict[str, Any]:
    g: dict[str, Any] = {
        "architecture": arch,
        "cpuCount": cpu,
        "memoryMiB": mem,
        "machines": [{"id": f"id-{n}", "name": n, "state": s} for n, s in machines],
    }
    if gpu:
        g["gpu"] = {"family": gpu[0], "gpuCount": gpu[1]}
    if rg:
        g["resourceGroups"] = rg
    return g


STATUS = {
    "controlPlaneCompute": [
        group([("cp-1", "available"), ("cp-2", "in-use"), ("cp-3", "available")], rg={"rack": "a"}),
        group([("cp-arm", "available")], arch="ARM64"),
    ],
    "workerCompute": [
        group(
            [("h100-1", "available"), ("h100-2", "available"), ("h100-3", "unhealthy")],
            cpu=112,
            gpu=("NVIDIA-H100", 8),
            rg={"rack": "a"},
        ),
        group([("h100-big", "available")], cpu=224, gpu=("NVIDIA-H100", 16), rg={"rack": "b"}),
        group([("a100-1", "available")], cpu=64, gpu=("NVIDIA-A100", 8), rg={"rack": "b"}),
    ],
}
CP = HostNeed(CONTROL_PLANE, 1, architecture="AMD64")


def h100(count: int, **kw: Any) -> HostNeed:
    return HostNeed(WORKER, count, worker_pool="gpu", gpu_family="NVIDIA-H100", gpu_count=8, **kw)


def names(sel: Any) -> list[str]:
    return [p.host.name for p in sel.picks]


def test_only_available_hosts_of_the_right_kind_smallest_first() -> None:
    sel = select_hosts(candidates(STATUS), {"c": [CP, h100(2)]})
    assert sel.ok
    assert names(sel) == ["cp-1", "h100-1", "h100-2"]
    assert [p.role for p in sel.picks] == ["control-plane", "worker", "worker"]


def test_larger_hosts_are_taken_when_the_small_ones_are_gone() -> None:
    sel = select_hosts(candidates(STATUS), {"c": [CP, h100(3)]})
    assert names(sel) == ["cp-1", "h100-1", "h100-2", "h100-big"]


def test_claimed_hosts_are_skipped() -> None:
    sel = select_hosts(candidates(STATUS), {"c": [CP, h100(1)]}, taken=["id-cp-1", "id-h100-1"])
    assert names(sel) == ["cp-3", "h100-2"]


def test_resource_groups_architecture_and_implied_tags() -> None:
    need = h100(3, resource_groups={"rack": "a"})
    sel = select_hosts(candidates(STATUS), {"c": [need]})
    assert not sel.ok
    assert sel.message() == ("needs 3x NVIDIA-H100 hosts with 8 GPUs (tags rack=a), 2 available")
    arm = HostNeed(CONTROL_PLANE, 1, architecture="ARM64")
    assert names(select_hosts(candidates(STATUS), {"c": [arm]})) == ["cp-arm"]
    tagged = HostNeed(CONTROL_PLANE, 1, resource_groups={"palette.ai": "true"})
    assert not select_hosts(candidates(STATUS), {"c": [tagged]}).ok
    sel = select_hosts(candidates(STATUS), {"c": [tagged]}, implied_tags={"palette.ai": "true"})
    assert sel.ok


def test_the_shortfall_names_what_is_missing() -> None:
    sel = select_hosts(candidates(STATUS), {"c": [CP, h100(2)]}, taken=["id-h100-1", "id-h100-2"])
    assert not sel.ok
    assert "needs 2x NVIDIA-H100 hosts with 8 GPUs, 1 available" in sel.message()


def test_every_need_is_reported() -> None:
    a100 = HostNeed(WORKER, 2, worker_pool="a", gpu_family="NVIDIA-A100", gpu_count=8)
    sel = select_hosts(
        candidates(STATUS), {"c": [HostNeed(CONTROL_PLANE, 3, architecture="AMD64"), a100]}
    )
    assert len(sel.shortfalls) == 2
    assert "3x control-plane hosts" in sel.message() and "2x NVIDIA-A100" in sel.message()


def test_several_clusters_never_share_a_host() -> None:
    sel = select_hosts(candidates(STATUS), {"c0": [CP, h100(1)], "c1": [CP, h100(1)]})
    assert sel.ok
    assert len(set(names(sel))) == 4
    assert {p.cluster for p in sel.picks} == {"c0", "c1"}


def test_selection_is_deterministic() -> None:
    shuffled = {k: list(reversed(v)) for k, v in STATUS.items()}
    a = select_hosts(candidates(STATUS), {"c": [CP, h100(2)]})
    b = select_hosts(candidates(shuffled), {"c": [CP, h100(2)]})
    assert names(a) == names(b)


def test_quota_problems_with_numbers() -> None:
    assert quota_problems(
        {"NVIDIA-H100": 16}, {"NVIDIA-H100": 24}, {"NVIDIA-H100": 24}, "project ml-prod"
    ) == ["needs 16 NVIDIA-H100, project ml-prod has 24 of limit 24 in use"]
    assert quota_problems({"NVIDIA-H100": 16}, {}, {"NVIDIA-A100": 0}, "project p") == []
    assert quota_problems({"NVIDIA-H100": 8}, {"NVIDIA-H100": 16}, {"NVIDIA-H100": 24}, "p") == []


def test_claim_names_are_dns_labels() -> None:
    assert claim_name("edge-0123abcd") == "host-edge-0123abcd"
    odd = claim_name("Edge_Host/With.Odd:Chars" + "x" * 80)
    assert len(odd) <= 63 and odd == odd.lower()
    assert claim_name("a/b") != claim_name("a.b")


def test_pool_plan_and_cluster_names() -> None:
    pool = {
        "metadata": {"name": "p", "namespace": "ns", "uid": "1234abcd-0000"},
        "spec": {
            "clusterVariant": {
                "controlPlaneResourceGroups": {"rack": "a"},
                "shared": {
                    "clusterCount": 2,
                    "paletteClusterDeploymentConfig": {
                        "nodePoolRequirements": {
                            "controlPlanePool": {"nodeCount": 3, "memory": {"memory": "16 GB"}},
                            "workerPools": [
                                {
                                    "name": "w",
                                    "nodeCount": 2,
                                    "gpu": {"family": "NVIDIA-L40S", "gpuCount": 4},
                                }
                            ],
                        },
                        "deletionPolicy": "orphan",
                    },
                },
            }
        },
    }
    plan = pool_plan(pool)
    assert plan.variant == "shared" and plan.deletion_policy == "orphan"
    assert list(plan.clusters) == ["p-1234abcd-0", "p-1234abcd-1"]
    cp, w = plan.clusters["p-1234abcd-0"]
    assert (cp.count, cp.memory_mib, dict(cp.resource_groups)) == (3, 15258, {"rack": "a"})
    assert (w.count, w.gpu_family, w.gpu_count, w.worker_pool) == (2, "NVIDIA-L40S", 4, "w")
    assert cluster_names(pool, 1) == ["p-1234abcd"]


def test_heartbeat_age_reads_like_a_person_wrote_it() -> None:
    from datetime import UTC, datetime

    from axle.controllers.computepool import heartbeat_age

    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert heartbeat_age(None, now) == "never"
    assert heartbeat_age("2026-01-01T11:59:18Z", now) == "42s ago"
    assert heartbeat_age("2026-01-01T11:55:00Z", now) == "5m ago"
    assert heartbeat_age("2026-01-01T09:00:00Z", now) == "3h ago"


def test_the_create_request_lists_the_held_hosts_and_the_defaults() -> None:
    from axle.controllers.poolrequest import create_request
    from axle.controllers.reservations import HostClaim

    pool = {
        "metadata": {"name": "p", "namespace": "ns", "uid": "1234abcd-0000"},
        "spec": {
            "clusterVariant": {
                "dedicated": {
                    "paletteClusterDeploymentConfig": {
                        "nodePoolRequirements": {
                            "controlPlanePool": {"nodeCount": 1, "workerNodeEligible": True},
                            "workerPools": [{"name": "gpu", "nodeCount": 2, "labels": {"a": "b"}}],
                        },
                        "edge": {"vip": "10.0.0.100"},
                    }
                }
            }
        },
    }
    plan = pool_plan(pool)
    [name] = plan.clusters
    claims = [
        HostClaim("id-cp-1", "cp-1", name, CONTROL_PLANE),
        HostClaim("id-h100-1", "h100-1", name, WORKER, "gpu"),
        HostClaim("id-h100-2", "h100-2", name, WORKER, "gpu"),
        HostClaim("id-cp-3", "cp-3", "another-cluster", CONTROL_PLANE),
    ]
    defaults = {
        "edge": {"ntpServers": ["pool.ntp.org"], "vip": "10.0.0.1"},
        "defaults": {"sshKeys": ["ssh-ed25519 AAAA key"]},
    }
    body = create_request(
        pool, plan, name, claims, candidates(STATUS), defaults, "prof-1"
    ).to_wire()
    spec = body["spec"]
    assert body["metadata"]["name"] == name
    assert spec["cloudConfig"] == {
        "controlPlaneEndpoint": {"host": "10.0.0.100", "type": "VIP"},  # the pool's VIP wins
        "sshKeys": ["ssh-ed25519 AAAA key"],
        "ntpServers": ["pool.ntp.org"],
    }
    assert spec["profiles"] == [{"uid": "prof-1"}]
    cp, gpu = spec["machinepoolconfig"]
    assert cp["poolConfig"]["isControlPlane"] and cp["poolConfig"]["useControlPlaneAsWorker"]
    assert [h["hostName"] for h in cp["cloudConfig"]["edgeHosts"]] == ["cp-1"]
    assert gpu["poolConfig"]["size"] == 2 and gpu["poolConfig"]["additionalLabels"] == {"a": "b"}
    assert gpu["poolConfig"]["machinePoolProperties"] == {"archType": "amd64"}


def test_several_clusters_say_which_one_lacks_hosts() -> None:
    sel = select_hosts(candidates(STATUS), {"c0": [CP, h100(2)], "c1": [CP, h100(2)]})
    assert sel.message().startswith("cluster c1 needs 2x NVIDIA-H100 hosts with 8 GPUs")
