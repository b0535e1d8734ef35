"""Compute (axle.dev/v1alpha1, namespaced): the live inventory of machines from Palette.

The Compute controller asks Palette (through the Settings' Palette integration) for the edge
hosts tagged for axle every 30 seconds and writes them to status, grouped by hardware and
split into control-plane candidates (typically CPU-only) and worker candidates (typically GPU
machines), each machine `available`, `in-use` or `unhealthy`. The spec only says where to look;
the status is server-written and kept open to new host details.
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
    # Edge-host tags a machine must carry to be part of this inventory.
    tagSelector: Labels | None = None


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
    available: bool | None = None
    machines: list[Machine] = Field(default_factory=list)


class ComputeStatus(StatusBase):
    controlPlaneCompute: list[ComputeGroup] = Field(default_factory=list)
    workerCompute: list[ComputeGroup] = Field(default_factory=list)
    lastSyncTime: str | None = None
    availableMachines: NonNegInt | None = None
    totalMachines: NonNegInt | None = None


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
            PrinterColumn("Age", ".metadata.creationTimestamp", "date"),
            PrinterColumn("Last Sync", ".status.lastSyncTime", "date", priority=1),
        ),
        name_rule=v.dns1123_label,
        description="Machine inventory discovered through Palette.",
    )
)
