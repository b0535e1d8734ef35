"""The simulator's state: edge hosts, clusters, cluster profiles, projects, as pydantic records.

One `StateData` holds everything the simulator knows; it is what the state file contains
(`model_dump_json`) and what a restart reads back (`model_validate_json`), so the records are
validated on the way in whichever way they came. Records keep the simulator's own compact
field names; `wire.py` renders them into Palette's JSON shapes. Times are epoch seconds
(floats) because transitions are computed from them (see `clock.py`).

Cluster pools keep the `poolConfig` and `edgeHosts[]` bodies exactly as the client sent them,
so `GET /v1/cloudconfigs/edge-native/{uid}` answers with what was asked for.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

HostState = Literal["ready", "unpaired", "in-use"]
HealthState = Literal["healthy", "unhealthy"]
ClusterState = Literal["Pending", "Provisioning", "Running", "Deleting", "Deleted", "Error"]

STATE_VERSION = 1


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Gpu(_Record):
    vendor: str = Field(min_length=1)
    model: str = Field(min_length=1)
    count: int = Field(ge=1)
    memoryMiB: int | None = Field(default=None, ge=1)  # per GPU
    migCapable: bool = False


class Disk(_Record):
    sizeGB: int = Field(ge=1)
    controller: str = "nvme"
    vendor: str = ""


class Nic(_Record):
    name: str = "eth0"
    ip: str | None = None
    mac: str | None = None
    subnet: str | None = None
    gateway: str | None = None
    dns: list[str] = Field(default_factory=list)
    isDefault: bool | None = None


class OsInfo(_Record):
    family: str = "ubuntu"
    kernel: str = "Linux"
    kernelVersion: str = "6.8.0-45-generic"
    version: str = "22.04"


class ClusterRef(_Record):
    uid: str
    name: str


class HostRecord(_Record):
    uid: str
    name: str
    projectUid: str
    architecture: Literal["amd64", "arm64"] = "amd64"
    cpuCores: int = Field(ge=1)
    memoryMB: int = Field(ge=1)
    disks: list[Disk] = Field(default_factory=list)
    nics: list[Nic] = Field(default_factory=list)
    gpus: list[Gpu] = Field(default_factory=list)
    os: OsInfo = Field(default_factory=OsInfo)
    tags: dict[str, str] = Field(default_factory=dict)
    state: HostState = "ready"
    health: HealthState = "healthy"
    healthMessage: str = ""
    agentVersion: str = "v4.7.0"
    inUse: list[ClusterRef] = Field(default_factory=list)
    created: float
    modified: float

    @property
    def address(self) -> str:
        """The host's address: its default NIC's IP (the first NIC's when none is marked)."""
        default = next((n for n in self.nics if n.isDefault), self.nics[0] if self.nics else None)
        return (default.ip or "") if default else ""

    @property
    def mac(self) -> str:
        default = next((n for n in self.nics if n.isDefault), self.nics[0] if self.nics else None)
        return (default.mac or "") if default else ""


class PoolRecord(_Record):
    name: str
    poolConfig: dict[str, Any]
    edgeHosts: list[dict[str, Any]]
    created: float
    modified: float

    @property
    def host_uids(self) -> list[str]:
        return [str(h["hostUid"]) for h in self.edgeHosts]

    @property
    def is_control_plane(self) -> bool:
        return bool(self.poolConfig.get("isControlPlane"))


class ClusterRecord(_Record):
    uid: str
    name: str
    projectUid: str
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    cloudConfigUid: str
    cloudConfig: dict[str, Any] = Field(default_factory=dict)
    clusterConfig: dict[str, Any] = Field(default_factory=dict)
    profiles: list[dict[str, Any]] = Field(default_factory=list)
    pools: list[PoolRecord] = Field(default_factory=list)
    state: ClusterState = "Pending"
    created: float
    modified: float
    # Absolute times of the lifecycle steps, fixed when the step is decided; the state at any
    # moment follows from them and the clock.
    provisioningAt: float
    runningAt: float
    failMessage: str | None = None  # a provisioning fault: Error at runningAt instead of Running
    deletingAt: float | None = None
    deletedAt: float | None = None
    stateChangedAt: float

    @property
    def host_uids(self) -> list[str]:
        return [uid for pool in self.pools for uid in pool.host_uids]

    def pool(self, name: str) -> PoolRecord | None:
        return next((p for p in self.pools if p.name == name), None)


class PackRecord(_Record):
    model_config = ConfigDict(extra="allow")  # packs carry whatever the profile author wrote
    name: str
    tag: str = ""
    type: str = "spectro"
    layer: str = "addon"
    values: str = ""
    version: str = ""


class ProfileRecord(_Record):
    uid: str
    name: str
    version: str = "1.0.0"
    cloudType: str = "edge-native"
    type: str = "cluster"
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    packs: list[PackRecord] = Field(default_factory=list)
    variables: list[dict[str, Any]] = Field(default_factory=list)
    published: bool = True
    projectUid: str | None = None  # None: tenant scope, visible from every project
    created: float
    modified: float


class ProjectRecord(_Record):
    uid: str
    name: str
    created: float


class TenantRecord(_Record):
    uid: str = "sim-tenant"
    orgName: str = "simulated-org"
    userUid: str = "sim-user"


class StateData(_Record):
    version: int = STATE_VERSION
    tenant: TenantRecord = Field(default_factory=TenantRecord)
    apiKeys: list[str]
    adminKey: str | None = None
    projects: list[ProjectRecord]
    profiles: list[ProfileRecord] = Field(default_factory=list)
    hosts: list[HostRecord] = Field(default_factory=list)
    clusters: list[ClusterRecord] = Field(default_factory=list)
