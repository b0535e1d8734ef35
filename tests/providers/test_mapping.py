"""Edge host wire records -> Host: required fields strict, optional ones tolerant."""

from __future__ import annotations

from typing import Any

import pytest

from axle.providers.base import GPU, BadResponse
from axle.providers.palette.mapping import gpu_memory_mib, host_from_wire
from tests.providers.helpers import edge_host

H100 = {"vendor": "NVIDIA", "model": "H100", "gpuCount": 8, "memory": "81920"}


def test_full_record() -> None:
    raw = edge_host(
        "h1",
        name="gpu-01",
        labels={"palette.ai": "true", "rack": "r1"},
        gpus=[H100],
        cores=96,
        memory_mb=1048576,
        arch="amd64",
    )
    raw["spec"]["device"]["disks"] = [{"size": 960}, {"size": 3840}, {"controller": "nvme"}]
    raw["status"]["inUseClustersRef"] = [{"uid": "c1", "name": "one"}]
    raw["status"]["inUseClusters"] = [{"uid": "c1"}, {"name": "legacy"}]
    host = host_from_wire(raw)
    assert host.uid == "h1" and host.name == "gpu-01"
    assert host.cpu_cores == 96 and host.memory_mib == 1048576
    assert host.gpus == (GPU(vendor="NVIDIA", model="H100", count=8, memory_mib=81920),)
    assert host.gpu_count == 8 and host.gpus[0].family == "NVIDIA-H100"
    assert host.tags == {"palette.ai": "true", "rack": "r1"}
    assert host.state == "ready" and host.healthy and host.health_message == ""
    assert host.address == "10.0.0.1"
    assert host.disks_gb == (960, 3840)
    assert host.in_use_by == ("c1", "legacy")


def test_minimal_record_uses_defaults() -> None:
    raw = edge_host("h2", arch=None, address=None, health=None)
    host = host_from_wire(raw)
    assert host.architecture == "amd64"
    assert host.gpus == () and host.address is None and host.tags == {}
    assert not host.healthy and host.health_message == "no health reported"


def test_unhealthy_carries_the_message() -> None:
    raw = edge_host("h3", health="unhealthy")
    raw["status"]["health"]["message"] = "GPU 3 fell off the bus"
    host = host_from_wire(raw)
    assert not host.healthy and host.health_message == "GPU 3 fell off the bus"


def test_address_falls_back_to_the_default_nic() -> None:
    raw = edge_host("h4", address=None)
    raw["spec"]["device"]["nics"] = [
        {"nicName": "eth1", "ip": "192.168.9.9"},
        {"nicName": "eth0", "ip": "10.9.9.9", "isDefault": True},
    ]
    assert host_from_wire(raw).address == "10.9.9.9"


def test_gpu_entries_without_count_and_with_zero() -> None:
    raw = edge_host("h5", gpus=[{"vendor": "NVIDIA", "model": "L40S"}, {**H100, "gpuCount": 0}])
    assert host_from_wire(raw).gpus == (GPU("NVIDIA", "L40S", 1, None),)


@pytest.mark.parametrize(
    ("value", "mib"),
    [
        ("81920", 81920),
        (40960, 40960),
        ("80GB", 81920),
        ("80 GiB", 81920),
        ("48Gi", 49152),
        ("81559 MiB", 81559),
        ("1TB", 1048576),
        ("lots", None),
        ("", None),
        (None, None),
        (-1, None),
    ],
)
def test_gpu_memory_strings(value: Any, mib: int | None) -> None:
    assert gpu_memory_mib(value) == mib


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r["metadata"].pop("name"), "metadata.name"),
        (lambda r: r["spec"]["device"].pop("cpu"), "spec.device.cpu.cores"),
        (lambda r: r["spec"]["device"].pop("memory"), "spec.device.memory.sizeInMB"),
        (lambda r: r.pop("spec"), "spec.device.cpu.cores"),
        (lambda r: r["status"].pop("state"), "status.state"),
    ],
)
def test_missing_required_field_names_host_and_field(change: Any, field: str) -> None:
    raw = edge_host("h9")
    change(raw)
    with pytest.raises(BadResponse) as info:
        host_from_wire(raw)
    assert "'h9'" in info.value.message and field in info.value.message


def test_missing_uid() -> None:
    raw = edge_host("x")
    del raw["metadata"]["uid"]
    with pytest.raises(BadResponse, match=r"metadata\.uid"):
        host_from_wire(raw)


def test_unknown_state_and_wrong_types() -> None:
    with pytest.raises(BadResponse, match=r"'h1'.*status\.state 'borrowed'"):
        host_from_wire(edge_host("h1", state="borrowed"))
    raw = edge_host("h2")
    raw["spec"]["device"]["cpu"]["cores"] = "many"
    with pytest.raises(BadResponse, match=r"'h2'.*spec\.device\.cpu\.cores"):
        host_from_wire(raw)
    with pytest.raises(BadResponse, match="not an object"):
        host_from_wire(["x"])
