"""The Cluster protocol: what the spoke agent needs of the cluster it manages.

The agent applies manifests, reads them back for health and outputs, deletes what a new
revision dropped, and reports capacity. Against real Kubernetes that is server-side apply
through the official client (`kube/real.py`); in the embedded default and the tests it is the
cluster simulator (`axle.sim.cluster`), which implements this protocol structurally (it
cannot import it: `sim/` sits below `kube/`). The CLI picks the implementation from the
kubeconfig (`sim://NAME` servers are simulated) and hands it to the agent, so the agent never
knows which it drives and never imports `sim/`.

Objects are plain Kubernetes JSON dicts. `apply` has server-side-apply semantics with a field
manager: fields this manager applied before and no longer applies are removed; `status` is the
cluster's. Health is computed by the agent from the objects (`spoke/health.py`), so it is the
same for both implementations.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

Obj = dict[str, Any]


@dataclass(frozen=True)
class NodeCapacity:
    name: str
    cpu_millis: int
    memory_bytes: int
    gpus: int = 0
    gpu_product: str | None = None  # `nvidia.com/gpu.product`, e.g. "NVIDIA-H100-80GB-HBM3"
    labels: dict[str, str] = field(default_factory=dict)
    ready: bool = True


@dataclass(frozen=True)
class ClusterCapacity:
    kubernetes_version: str
    nodes: tuple[NodeCapacity, ...]

    @property
    def gpus_by_product(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for node in self.nodes:
            if node.gpus and node.gpu_product:
                out[node.gpu_product] = out.get(node.gpu_product, 0) + node.gpus
        return out


class NodeReport(Protocol):
    """What the agent reads of a node's capacity (NodeCapacity, or the simulator's twin)."""

    @property
    def name(self) -> str: ...
    @property
    def cpu_millis(self) -> int: ...
    @property
    def memory_bytes(self) -> int: ...
    @property
    def gpus(self) -> int: ...
    @property
    def gpu_product(self) -> str | None: ...
    @property
    def ready(self) -> bool: ...


class CapacityReport(Protocol):
    """What the agent reads of a cluster's capacity: structural, so `sim/` can provide it."""

    @property
    def kubernetes_version(self) -> str: ...
    @property
    def nodes(self) -> Sequence[NodeReport]: ...
    @property
    def gpus_by_product(self) -> dict[str, int]: ...


@runtime_checkable
class Cluster(Protocol):
    async def apply(self, obj: Obj, *, field_manager: str = "axle", force: bool = True) -> Obj:
        """Create or update `obj` with server-side-apply semantics; returns the live object."""

    async def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> Obj | None:
        """The live object, or None if absent."""

    async def list_objects(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[Obj]: ...

    async def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        """Delete (background propagation); False if it was already absent."""

    async def events_for(self, obj: Obj) -> list[Obj]:
        """Events whose involvedObject is `obj` (scheduler messages, image pulls, ...)."""

    async def capacity(self) -> CapacityReport: ...

    def changes(self) -> AsyncIterator[Obj]:
        """Objects as they change (for drift detection and health); may be polled instead."""

    async def close(self) -> None: ...
