"""Palette edge hosts (wire shape) -> the provider-neutral `Host`.

Strict where the hub cannot work without a value (uid, name, CPU cores, memory, state): a
missing or wrong one raises `BadResponse` naming the host and the field path, so a broken
record is reported instead of silently counted as a zero-core machine. Tolerant everywhere
else: no GPUs, no disks, no address, no health block are all normal for some hosts. A host
with no health report is not `healthy` (Compute must not offer a machine nobody vouched for).
"""

from __future__ import annotations

import re
from typing import Any, cast

from pydantic import ValidationError

from axle.providers.base import GPU, BadResponse, Host, HostState
from axle.providers.palette.wire import EdgeHost, GPUDevice

HOST_STATES: frozenset[str] = frozenset({"ready", "unpaired", "in-use"})

_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_TO_MIB = {"": 1.0, "B": 1 / (1024 * 1024), "K": 1 / 1024, "M": 1.0, "G": 1024.0, "T": 1024.0**2}


def gpu_memory_mib(value: str | int | None) -> int | None:
    """GPU memory in MiB from the spec's free-form string ("81920", "80GB", "80 GiB", "81559 MiB").

    A bare number is MiB (what `nvidia-smi --query-gpu=memory.total` prints). Decimal and
    binary suffixes are both taken as binary: vendors write "80GB" for 80 GiB cards.
    Unreadable values give None; memory is optional.
    """
    if value is None:
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    match = _MEMORY.match(value)
    if match is None:
        return None
    unit = (match.group(2) or "").upper()[:1]
    return round(float(match.group(1)) * _TO_MIB[unit])


def _label(raw: dict[str, Any]) -> str:
    meta = raw.get("metadata")
    if isinstance(meta, dict):
        for key in ("uid", "name"):
            if isinstance(meta.get(key), str) and meta[key]:
                return f"edge host {meta[key]!r}"
    return "an edge host without metadata.uid"


def parse_edge_host(raw: Any) -> EdgeHost:
    """Validate one host record's types; a type error names the host and field."""
    if not isinstance(raw, dict):
        raise BadResponse(f"edge host record is a {type(raw).__name__}, not an object")
    try:
        return EdgeHost.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise BadResponse(f"{_label(raw)}: field {where}: {err['msg']}") from None


def host_from_wire(raw: Any) -> Host:
    """Map one `v1EdgeHostsMetadata` or `v1EdgeHostDevice` record to a `Host`."""
    host = parse_edge_host(raw)
    meta = host.metadata
    uid = meta.uid if meta else None
    if not uid:
        raise BadResponse(f"{_label(raw)}: missing required field metadata.uid")
    label = f"edge host {uid!r}"

    def need(value: Any, path: str) -> Any:
        if value is None or value == "":
            raise BadResponse(f"{label}: missing required field {path}")
        return value

    name = need(meta.name if meta else None, "metadata.name")
    spec = host.spec
    device = spec.device if spec else None
    cores = need(device.cpu.cores if device and device.cpu else None, "spec.device.cpu.cores")
    memory = need(
        device.memory.sizeInMB if device and device.memory else None,
        "spec.device.memory.sizeInMB",
    )
    if cores < 0 or memory < 0:
        raise BadResponse(f"{label}: negative CPU cores or memory ({cores}, {memory})")
    status = host.status
    state = need(status.state if status else None, "status.state")
    if state not in HOST_STATES:
        raise BadResponse(
            f"{label}: status.state {state!r} is not one of {', '.join(sorted(HOST_STATES))}"
        )
    health = status.health if status else None
    health_state = health.state if health else None
    if health_state is None:
        message = "no health reported"
    else:
        message = (health.message if health else None) or ""
    in_use: list[str] = []
    for ref in [*(status.inUseClustersRef or []), *(status.inUseClusters or [])] if status else []:
        ident = ref.uid or ref.name
        if ident and ident not in in_use:
            in_use.append(ident)
    return Host(
        uid=uid,
        name=name,
        architecture=(device.archType if device and device.archType else "amd64"),
        cpu_cores=cores,
        memory_mib=memory,
        state=cast(HostState, state),
        healthy=health_state == "healthy",
        health_message=message,
        gpus=tuple(_gpu(g) for g in (device.gpus or []) if _gpu_present(g)) if device else (),
        tags=dict(meta.labels or {}) if meta else {},
        address=_address(host),
        disks_gb=tuple(d.size for d in (device.disks or []) if d.size is not None)
        if device
        else (),
        in_use_by=tuple(in_use),
    )


def _gpu_present(gpu: GPUDevice) -> bool:
    # A GPU entry with an explicit count of 0 describes no usable device.
    return gpu.gpuCount is None or gpu.gpuCount > 0


def _gpu(gpu: GPUDevice) -> GPU:
    return GPU(
        vendor=gpu.vendor or "unknown",
        model=gpu.model or "unknown",
        # Older agents report one entry per device without a count.
        count=gpu.gpuCount if gpu.gpuCount is not None else 1,
        memory_mib=gpu_memory_mib(gpu.memory),
    )


def _address(host: EdgeHost) -> str | None:
    spec = host.spec
    if spec and spec.host and spec.host.hostAddress:
        return spec.host.hostAddress
    nics = spec.device.nics if spec and spec.device else None
    for nic in sorted(nics or [], key=lambda n: not n.isDefault):
        if nic.ip:
            return nic.ip
    return None
