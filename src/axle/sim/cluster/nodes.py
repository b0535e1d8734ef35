"""The simulated cluster's nodes: what a host becomes once it joins a cluster.

A `NodeSpec` is the hardware and placement of one node (from the Palette simulator's
kubeconfig extension, or written by a test); `node_object` turns it into the `v1 Node` a real
cluster would show: capacity and allocatable `cpu`, `memory`, `pods`, `nvidia.com/gpu`, the
well-known labels (`kubernetes.io/hostname`, `kubernetes.io/arch`, the control-plane role) and
the ones NVIDIA's GPU feature discovery adds (`nvidia.com/gpu.product`, `.count`, `.memory`),
and the node's taints. Allocatable equals capacity: no resources are reserved for the system,
so "8 GPUs" on a host means 8 schedulable GPUs on the node.

`gpu_product` renders a GPU the way GPU feature discovery names it (the `nvidia-smi` product
name with spaces as dashes, e.g. `NVIDIA-H100-80GB-HBM3`): known models by their usual SXM
name for their memory size, anything else as `<VENDOR>-<MODEL>-<N>GB`.

`SimNodeCapacity` and `SimClusterCapacity` have the attributes of `axle.kube.cluster`'s
`NodeCapacity` and `ClusterCapacity` (which `sim/` may not import), so the spoke agent reads
either the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from axle.errors import Invalid
from axle.sim.cluster import quantity

CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
CONTROL_PLANE_TAINT = {"key": CONTROL_PLANE_LABEL, "effect": "NoSchedule"}
GPU_RESOURCE = "nvidia.com/gpu"
MAX_PODS = 110
DEFAULT_KUBERNETES_VERSION = "v1.30.4"

# (model, memory in GB rounded) -> the product name GPU feature discovery reports.
_KNOWN_PRODUCTS = {
    ("H100", 80): "NVIDIA-H100-80GB-HBM3",
    ("H100", 94): "NVIDIA-H100-NVL",
    ("H200", 141): "NVIDIA-H200",
    ("A100", 80): "NVIDIA-A100-SXM4-80GB",
    ("A100", 40): "NVIDIA-A100-SXM4-40GB",
    ("L40S", 45): "NVIDIA-L40S",
    ("L40S", 48): "NVIDIA-L40S",
    ("L4", 22): "NVIDIA-L4",
    ("L4", 24): "NVIDIA-L4",
    ("A10G", 22): "NVIDIA-A10G",
    ("A10G", 24): "NVIDIA-A10G",
    ("T4", 15): "Tesla-T4",
    ("T4", 16): "Tesla-T4",
}


@dataclass(frozen=True)
class GpuSpec:
    model: str
    count: int
    memory_mib: int | None = None
    vendor: str = "NVIDIA"

    @property
    def product(self) -> str:
        return gpu_product(self.vendor, self.model, self.memory_mib)


@dataclass(frozen=True)
class NodeSpec:
    """One node of a simulated cluster."""

    name: str
    cpu_cores: int
    memory_mib: int
    gpus: tuple[GpuSpec, ...] = ()
    architecture: str = "amd64"
    labels: dict[str, str] = field(default_factory=dict)
    control_plane: bool = False
    taints: tuple[dict[str, str], ...] = ()
    address: str = ""

    @property
    def gpu_count(self) -> int:
        return sum(g.count for g in self.gpus)


def gpu_product(vendor: str, model: str, memory_mib: int | None) -> str:
    """The `nvidia.com/gpu.product` label of a GPU (e.g. `NVIDIA-H100-80GB-HBM3`)."""
    gb = round(memory_mib / 1024) if memory_mib else None
    known = _KNOWN_PRODUCTS.get((model.upper(), gb)) if gb else None
    if known:
        return known
    name = f"{vendor.upper()}-{model}" + (f"-{gb}GB" if gb else "")
    return "-".join(name.split())


@dataclass(frozen=True)
class SimNodeCapacity:
    """The attributes of `axle.kube.cluster.NodeCapacity`."""

    name: str
    cpu_millis: int
    memory_bytes: int
    gpus: int = 0
    gpu_product: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    ready: bool = True


@dataclass(frozen=True)
class SimClusterCapacity:
    """The attributes of `axle.kube.cluster.ClusterCapacity`."""

    kubernetes_version: str
    nodes: tuple[SimNodeCapacity, ...]

    @property
    def gpus_by_product(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for node in self.nodes:
            if node.gpus and node.gpu_product:
                out[node.gpu_product] = out.get(node.gpu_product, 0) + node.gpus
        return out


def node_labels(spec: NodeSpec) -> dict[str, str]:
    labels = {
        "kubernetes.io/hostname": spec.name,
        "kubernetes.io/arch": spec.architecture,
        "kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": spec.architecture,
        "beta.kubernetes.io/os": "linux",
    }
    if spec.control_plane:
        labels[CONTROL_PLANE_LABEL] = ""
    if spec.gpus:
        first = spec.gpus[0]
        labels["nvidia.com/gpu.present"] = "true"
        labels["nvidia.com/gpu.product"] = first.product
        labels["nvidia.com/gpu.count"] = str(spec.gpu_count)
        if first.memory_mib:
            labels["nvidia.com/gpu.memory"] = str(first.memory_mib)
    labels.update(spec.labels)
    return labels


def node_object(spec: NodeSpec, kubernetes_version: str) -> dict[str, Any]:
    """The `v1 Node` for `spec` (without the metadata the object store maintains)."""
    resources = {
        "cpu": str(spec.cpu_cores),
        "memory": f"{spec.memory_mib * 1024}Ki",
        "pods": str(MAX_PODS),
        "ephemeral-storage": "1073741824Ki",
    }
    if spec.gpus:
        resources[GPU_RESOURCE] = str(spec.gpu_count)
    addresses = [{"type": "Hostname", "address": spec.name}]
    if spec.address:
        addresses.insert(0, {"type": "InternalIP", "address": spec.address})
    node: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": spec.name, "labels": node_labels(spec)},
        "spec": {},
        "status": {
            "capacity": dict(resources),
            "allocatable": dict(resources),
            "addresses": addresses,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                }
            ],
            "nodeInfo": {
                "architecture": spec.architecture,
                "operatingSystem": "linux",
                "osImage": "Ubuntu 22.04.5 LTS",
                "kernelVersion": "6.8.0-45-generic",
                "containerRuntimeVersion": "containerd://1.7.22",
                "kubeletVersion": kubernetes_version,
                "kubeProxyVersion": kubernetes_version,
            },
        },
    }
    if spec.taints:
        node["spec"]["taints"] = [dict(t) for t in spec.taints]
    return node


def _int(entry: dict[str, Any], key: str, where: str) -> int:
    value = entry.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise Invalid(f"{where}.{key} must be a non-negative integer, got {value!r}")
    return value


def spec_from_entry(entry: Any, where: str) -> NodeSpec:
    """A `NodeSpec` from one `nodes[]` entry of the kubeconfig extension."""
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise Invalid(f"{where} must be an object with a name")
    gpus = []
    for i, g in enumerate(entry.get("gpus") or []):
        if not isinstance(g, dict) or not g.get("model"):
            raise Invalid(f"{where}.gpus[{i}] must have a model")
        memory = g.get("memoryMiB")
        gpus.append(
            GpuSpec(
                model=str(g["model"]),
                count=_int(g, "count", f"{where}.gpus[{i}]"),
                memory_mib=int(memory) if isinstance(memory, int) else None,
                vendor=str(g.get("vendor") or "NVIDIA"),
            )
        )
    control_plane = bool(entry.get("controlPlane"))
    taints = entry.get("taints")
    if taints is None:
        taints = [CONTROL_PLANE_TAINT] if control_plane else []
    return NodeSpec(
        name=entry["name"],
        cpu_cores=_int(entry, "cpuCores", where),
        memory_mib=_int(entry, "memoryMB", where),
        gpus=tuple(gpus),
        architecture=str(entry.get("architecture") or "amd64"),
        labels={str(k): str(v) for k, v in (entry.get("labels") or {}).items()},
        control_plane=control_plane,
        taints=tuple(
            {str(k): str(v) for k, v in t.items() if k in ("key", "value", "effect")}
            for t in taints
        ),
        address=str(entry.get("address") or ""),
    )


def capacity_of(node: dict[str, Any]) -> SimNodeCapacity:
    """A node object's capacity as the spoke agent reports it."""
    alloc = node.get("status", {}).get("allocatable") or {}
    labels = dict(node.get("metadata", {}).get("labels") or {})
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in node.get("status", {}).get("conditions") or []
    )
    return SimNodeCapacity(
        name=node["metadata"]["name"],
        cpu_millis=quantity.cpu_millis(alloc.get("cpu", 0)),
        memory_bytes=quantity.units(alloc.get("memory", 0)),
        gpus=quantity.units(alloc.get(GPU_RESOURCE, 0)),
        gpu_product=labels.get("nvidia.com/gpu.product"),
        labels=labels,
        ready=ready,
    )
