"""`group_hosts`: hardware groups, roles, machine states and GPU totals from provider hosts."""

from __future__ import annotations

import random
from typing import Any

from axle.controllers.inventory import ROLE_TAG, group_hosts, host_roles, machine_state
from axle.providers.base import GPU, Host

TAG = {"palette.ai": "true"}


def host(
    name: str,
    *,
    cores: int = 64,
    mem: int = 512 * 1024,
    gpus: tuple[GPU, ...] = (),
    healthy: bool = True,
    state: str = "ready",
    used_by: tuple[str, ...] = (),
    tags: dict[str, str] | None = None,
    arch: str = "amd64",
) -> Host:
    return Host(
        uid=f"edge-{name}",
        name=name,
        architecture=arch,
        cpu_cores=cores,
        memory_mib=mem,
        state=state,  # type: ignore[arg-type]
        healthy=healthy,
        health_message="" if healthy else "gpu 3 fell off the bus",
        gpus=gpus,
        tags=tags if tags is not None else dict(TAG),
        address=f"10.0.0.{len(name)}",
        in_use_by=used_by,
    )


H100 = (GPU("NVIDIA", "H100", 8, 81559),)
A100 = (GPU("NVIDIA", "A100", 8, 40960),)
L40S = (GPU("NVIDIA", "L40S", 4, 46068),)


def fleet() -> list[Host]:
    """The shape of examples/inventory/small-fleet.yaml."""
    return [
        *(host(f"cp-{i}", cores=16, mem=65536) for i in range(1, 4)),
        *(host(f"h100-{i}", cores=112, mem=2 * 1024 * 1024, gpus=H100) for i in range(1, 5)),
        *(
            host(f"a100-{i}", cores=64, mem=1024 * 1024, gpus=A100, healthy=i != 4)
            for i in range(1, 5)
        ),
        *(host(f"l40s-{i}", cores=32, mem=256 * 1024, gpus=L40S) for i in range(1, 3)),
    ]


def states(group: dict[str, Any]) -> dict[str, str]:
    return {m["name"]: m["state"] for m in group["machines"]}


def test_the_small_fleet_groups() -> None:
    inv = group_hosts(fleet())
    assert [len(g["machines"]) for g in inv.control_plane] == [3]
    cp = inv.control_plane[0]
    assert cp["architecture"] == "AMD64" and cp["cpuCount"] == 16 and cp["memoryMiB"] == 65536
    assert "gpu" not in cp
    assert cp["instances"] == 3 and cp["availableInstances"] == 3 and cp["available"] is True
    assert cp["resourceGroups"] == TAG

    by_family = {g["gpu"]["family"]: g for g in inv.workers}
    assert list(by_family) == ["NVIDIA-A100", "NVIDIA-H100", "NVIDIA-L40S"]  # sorted
    a100 = by_family["NVIDIA-A100"]
    assert a100["gpu"] == {
        "family": "NVIDIA-A100",
        "vendor": "NVIDIA",
        "model": "A100",
        "gpuCount": 8,
        "gpuMemory": 40960,
    }
    assert states(a100) == {
        "a100-1": "available",
        "a100-2": "available",
        "a100-3": "available",
        "a100-4": "unhealthy",
    }
    assert a100["instances"] == 4 and a100["availableInstances"] == 3
    sick = a100["machines"][3]
    assert sick["message"] == "gpu 3 fell off the bus"
    assert sick["edgeHostDetails"] == {"hostAddress": "10.0.0.6"}
    assert by_family["NVIDIA-H100"]["instances"] == 4
    assert by_family["NVIDIA-L40S"]["instances"] == 2

    assert (inv.total, inv.available, inv.in_use, inv.unhealthy) == (13, 12, 0, 1)
    assert inv.gpus == {
        "NVIDIA-A100": {"available": 24, "inUse": 0, "unhealthy": 8, "total": 32},
        "NVIDIA-H100": {"available": 32, "inUse": 0, "unhealthy": 0, "total": 32},
        "NVIDIA-L40S": {"available": 8, "inUse": 0, "unhealthy": 0, "total": 8},
    }
    assert inv.gpu_summary == "24/32 A100, 32/32 H100, 8/8 L40S"


def test_order_of_hosts_does_not_matter() -> None:
    hosts = fleet()
    first = group_hosts(hosts).status_fields()
    for seed in range(5):
        random.Random(seed).shuffle(hosts)
        assert group_hosts(hosts).status_fields() == first


def test_machine_states() -> None:
    assert machine_state(host("a")) == "available"
    # Palette refuses to build a cluster on an unpaired host: never offer it as available.
    assert machine_state(host("a", state="unpaired")) == "unhealthy"
    fields = group_hosts([host("a", state="unpaired")]).status_fields()
    machine = next(
        m for g in fields["controlPlaneCompute"] + fields["workerCompute"] for m in g["machines"]
    )
    assert "unpaired" in machine["message"]
    assert machine_state(host("a", state="in-use")) == "in-use"
    assert machine_state(host("a", used_by=("cluster-1",))) == "in-use"
    # unhealthy wins over in-use: a broken machine must never be picked
    assert machine_state(host("a", state="in-use", healthy=False)) == "unhealthy"


def test_in_use_machines_name_their_clusters() -> None:
    hosts = [
        host("h100-1", gpus=H100, state="in-use", used_by=("pool-a", "pool-b")),
        host("h100-2", gpus=H100, state="in-use", used_by=("pool-a",), healthy=False),
        host("h100-3", gpus=H100),
    ]
    inv = group_hosts(hosts)
    machines = {m["name"]: m for m in inv.workers[0]["machines"]}
    assert machines["h100-1"]["usedBy"] == "pool-a,pool-b"
    assert machines["h100-1"]["state"] == "in-use"
    assert machines["h100-2"]["state"] == "unhealthy"
    assert machines["h100-2"]["usedBy"] == "pool-a"
    assert inv.gpus["NVIDIA-H100"] == {"available": 8, "inUse": 8, "unhealthy": 8, "total": 24}
    assert inv.gpu_summary == "8/24 H100"
    assert (inv.available, inv.in_use, inv.unhealthy) == (1, 1, 1)


def test_roles_and_the_role_tag() -> None:
    assert host_roles(host("cpu")) == (True, False)
    assert host_roles(host("gpu", gpus=H100)) == (False, True)
    both = host("big-cpu", tags={**TAG, ROLE_TAG: "both"})
    worker_only = host("cpu-worker", tags={**TAG, ROLE_TAG: "worker"})
    cp_gpu = host("gpu-cp", gpus=L40S, tags={**TAG, ROLE_TAG: "Control-Plane"})
    assert host_roles(both) == (True, True)
    assert host_roles(worker_only) == (False, True)
    assert host_roles(cp_gpu) == (True, False)
    inv = group_hosts([both, worker_only, cp_gpu])
    cp_names = sorted(m["name"] for g in inv.control_plane for m in g["machines"])
    worker_names = sorted(m["name"] for g in inv.workers for m in g["machines"])
    assert cp_names == ["big-cpu", "gpu-cp"]
    assert worker_names == ["big-cpu", "cpu-worker"]
    assert inv.total == 3  # a host under both roles counts once


def test_groups_split_by_every_part_of_the_profile() -> None:
    hosts = [
        host("a", gpus=H100),
        host("b", gpus=H100, arch="arm64"),
        host("c", gpus=H100, cores=32),
        host("d", gpus=H100, mem=1024),
        host("e", gpus=(GPU("NVIDIA", "H100", 4, 81559),)),
        host("f", gpus=(GPU("NVIDIA", "H100", 8, 95830),)),
        host("g", gpus=H100, tags={**TAG, "rack": "r2"}),
        host("h", gpus=H100),
    ]
    inv = group_hosts(hosts)
    assert len(inv.workers) == 7
    assert sorted(g["instances"] for g in inv.workers) == [1, 1, 1, 1, 1, 1, 2]
    assert {g["architecture"] for g in inv.workers} == {"AMD64", "ARM64"}


def test_resource_group_prefix() -> None:
    hosts = [
        host("a", gpus=H100, tags={**TAG, "rg.axle.dev/site": "east", "serial": "1"}),
        host("b", gpus=H100, tags={**TAG, "rg.axle.dev/site": "east", "serial": "2"}),
    ]
    # Every tag is a resource group by default, so distinct serials split the group.
    assert len(group_hosts(hosts).workers) == 2
    inv = group_hosts(hosts, resource_group_prefix="rg.axle.dev/")
    assert len(inv.workers) == 1
    assert inv.workers[0]["resourceGroups"] == {"rg.axle.dev/site": "east"}
    bare = group_hosts(hosts, resource_group_prefix="none/")
    assert "resourceGroups" not in bare.workers[0]


def test_a_host_with_several_gpu_models() -> None:
    mixed = host(
        "mixed", gpus=(GPU("NVIDIA", "L4", 2), GPU("NVIDIA", "H100", 4), GPU("NVIDIA", "L4", 1))
    )
    inv = group_hosts([mixed])
    group = inv.workers[0]
    assert group["gpu"]["family"] == "NVIDIA-H100" and group["gpu"]["gpuCount"] == 4
    assert group["additionalGpus"] == [
        {"family": "NVIDIA-L4", "vendor": "NVIDIA", "model": "L4", "gpuCount": 3}
    ]
    assert inv.gpus["NVIDIA-L4"]["total"] == 3
    assert inv.gpu_summary == "4/4 H100, 3/3 L4"


def test_an_empty_inventory() -> None:
    inv = group_hosts([])
    assert inv.status_fields() == {
        "controlPlaneCompute": [],
        "workerCompute": [],
        "totalMachines": 0,
        "availableMachines": 0,
        "inUseMachines": 0,
        "unhealthyMachines": 0,
        "gpus": {},
    }


def test_a_host_reported_twice_counts_once() -> None:
    h = host("a", gpus=H100)
    inv = group_hosts([h, h])
    assert inv.total == 1 and inv.workers[0]["instances"] == 1
