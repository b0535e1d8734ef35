"""Compute (axle.dev/v1alpha1, namespaced): the live inventory of machines from Palette.

The Compute controller asks Palette (through the Settings' Palette integration) for the edge
hosts tagged for axle every 30 seconds and writes them to status, grouped by hardware and
split into control-plane candidates (typically CPU-only) and worker candidates (typically GPU
machines), each machine `available`, `in-use` or `unhealthy`. The spec only says where to look;
the status is server-written and kept open to new host details.

Status, as the controller writes it (`controllers/compute.py` has the rules):

- `controlPlaneCompute[]` / `workerCompute[]`: one group per hardware profile (architecture,
  cpuCount, memoryMiB, GPU family/model/count/memory, resource groups) with `instances`,
  `availableInstances`, `available` (any machine free) and `machines[]` (`id`, `name`,
  `state`, `usedBy`, `message`, `edgeHostDetails`);
- totals: `totalMachines`, `availableMachines`, `inUseMachines`, `unhealthyMachines`, and
  `gpus` per family (`{available, inUse, unhealthy, total}` GPUs, not machines);
- `gpuSummary`: "32/32 H100, 24/32 A100" (available/total per family), computed here once so
  that `kubectl get computes` shows the same column as `axle get`;
- `lastSyncTime`: when Palette last confirmed the inventory (see the controller on staleness);
- conditions `Synced` and `Ready`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from axle.api import validation as v
from axle.api.common import Labels, NameRef, NonNegInt
from axle.api.meta import Model, ObjectMeta, OpenModel, StatusBase
from axle.api.registry import KindInfo, PrinterColumn, register

MachineState = Literal["available", "in-use", "unhealthy"]


class ComputeSpec(Model):
    # Settings whose Palette integration is used; absent means the project's settings.
    settingsRef: NameRef | None = None
    # Edge-host tags a machine must carry to be part of this inventory; absent means
    # {"palette.ai": "true"}, PaletteAI's tag.
    tagSelector: Labels | None = None
    # Which host tags are resource groups: those whose key starts with this prefix; absent
    # means every tag (so a pool's `workerResourceGroups` can match any of them).
    resourceGroupPrefix: str | None = Field(default=None, min_length=1, max_length=253)


class Machine(OpenModel):
    id: str
    name: str | None = None
    state: MachineState
    message: str | None = None
    # The pool or cluster holding an `in-use` machine.
    usedBy: str | None = None
    edgeHostDetails: dict[str, Any] | None = None


class GpuInfo(OpenModel):
    family: str
    gpuCount: NonNegInt = 0
    gpuMemory: NonNegInt | None = None
    vendor: str | None = None
    model: str | None = None


class ComputeGroup(OpenModel):
    """Machines of one hardware profile."""

    architecture: str | None = None
    cpuCount: NonNegInt | None = None
    memoryMiB: NonNegInt | None = None
    gpu: GpuInfo | None = None
    resourceGroups: dict[str, str] | None = None
    instances: NonNegInt = 0
    availableInstances: NonNegInt | None = None
    available: bool | None = None
    # A host with GPUs of more than one model: the others (`gpu` is the most numerous).
    additionalGpus: list[GpuInfo] | None = None
    machines: list[Machine] = Field(default_factory=list)


class GpuTotals(OpenModel):
    """GPUs (not machines) of one family, by the state of the machine holding them."""

    available: NonNegInt = 0
    inUse: NonNegInt = 0
    unhealthy: NonNegInt = 0
    total: NonNegInt = 0


class InventorySource(OpenModel):
    """The Settings (and through it the Secret) the inventory was read with."""

    namespace: str
    name: str


class ComputeStatus(StatusBase):
    controlPlaneCompute: list[ComputeGroup] = Field(default_factory=list)
    workerCompute: list[ComputeGroup] = Field(default_factory=list)
    lastSyncTime: str | None = None
    availableMachines: NonNegInt | None = None
    totalMachines: NonNegInt | None = None
    inUseMachines: NonNegInt | None = None
    unhealthyMachines: NonNegInt | None = None
    gpus: dict[str, GpuTotals] | None = None
    gpuSummary: str | None = None
    settings: InventorySource | None = None


class Compute(Model):
    apiVersion: Literal["axle.dev/v1alpha1"] = "axle.dev/v1alpha1"
    kind: Literal["Compute"] = "Compute"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ComputeSpec = Field(default_factory=ComputeSpec)
    status: ComputeStatus | None = None


COMPUTE = register(
    KindInfo(
        group="axle.dev",
        version="v1alpha1",
        kind="Compute",
        plural="computes",
        singular="compute",
        namespaced=True,
        model=Compute,
        short_names=("comp",),
        categories=("axle",),
        columns=(
            PrinterColumn("Available", ".status.availableMachines", "integer"),
            PrinterColumn("Total", ".status.totalMachines", "integer"),
            PrinterColumn("GPUs", ".status.gpuSummary"),
            PrinterColumn("Synced", '.status.conditions[?(@.type=="Synced")].status'),
            PrinterColumn("Age", ".metadata.creationTimestamp", "date"),
            PrinterColumn("In Use", ".status.inUseMachines", "integer", priority=1),
            PrinterColumn("Unhealthy", ".status.unhealthyMachines", "integer", priority=1),
            PrinterColumn("Last Sync", ".status.lastSyncTime", "date", priority=1),
        ),
        name_rule=v.dns1123_label,
        description="Machine inventory discovered through Palette.",
    )
)
