"""Edge-native cluster shapes: the typed create request, and the responses axle reads.

Requests (`EdgeNativeClusterEntity` and its parts) mirror `v1SpectroEdgeNativeClusterEntity`
field for field, with the wire names as attribute names and `extra="forbid"`, so a typo in
the ComputePool controller fails in Python rather than being dropped by Palette. They are
serialized with `exclude_none`, so optional fields left unset are not sent at all. Note the
wire's odd spelling `spec.machinepoolconfig` (all lower case) on create, but
`spec.machinePoolConfig` in the cloud config read back.

Responses (`SpectroCluster`, `ClusterSummary`, `EdgeNativeCloudConfig`, ...) are tolerant
`Wire` models like the inventory ones; `cluster_info` folds them into the neutral
`ClusterInfo`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from axle.providers.base import BadResponse, ClusterCondition, ClusterInfo
from axle.providers.palette.wire import ObjectMeta, Wire


class Request(BaseModel):
    """Base of request models: strict, serialized without unset (None) fields."""

    model_config = ConfigDict(extra="forbid")

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


# ---- create request ---------------------------------------------------------------------


class ClusterMetadata(Request):
    name: str = Field(min_length=1)
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class ControlPlaneEndpoint(Request):
    host: str | None = None  # the VIP, or the external address
    type: Literal["VIP", "External", "DDNS", "IP"] | None = None
    ddnsSearchDomain: str | None = None


class OverlayNetworkConfiguration(Request):
    enable: bool | None = None
    cidr: str | None = None


class EdgeNativeClusterConfig(Request):
    controlPlaneEndpoint: ControlPlaneEndpoint | None = None
    isTwoNodeCluster: bool | None = None
    ntpServers: list[str] | None = None
    sshKeys: list[str] | None = None
    staticIp: bool | None = None
    overlayNetworkConfiguration: OverlayNetworkConfiguration | None = None


class ManifestRef(Request):
    name: str
    uid: str | None = None
    content: str | None = None


class PackValues(Request):
    name: str
    tag: str | None = None
    type: Literal["spectro", "helm", "manifest", "oci"] | None = None
    values: str | None = None
    manifests: list[ManifestRef] | None = None


class ProfileVariable(Request):
    name: str
    value: str | None = None


class ClusterProfileEntity(Request):
    uid: str = Field(min_length=1)
    packValues: list[PackValues] | None = None
    variables: list[ProfileVariable] | None = None
    replaceWithProfile: str | None = None


class NicEntity(Request):
    nicName: str | None = None
    macAddr: str | None = None
    ip: str | None = None
    subnet: str | None = None
    gateway: str | None = None
    dns: list[str] | None = None
    isDefault: bool | None = None


class MachinePoolHost(Request):
    hostUid: str = Field(min_length=1)
    hostName: str | None = None
    nicName: str | None = None
    nic: NicEntity | None = None
    staticIP: str | None = None
    twoNodeCandidatePriority: Literal["primary", "secondary"] | None = None


class MachinePoolCloudConfig(Request):
    edgeHosts: list[MachinePoolHost]


class Taint(Request):
    key: str
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class UpdateStrategy(Request):
    type: Literal["RollingUpdateScaleOut", "RollingUpdateScaleIn"]


class MachinePoolProperties(Request):
    archType: Literal["amd64", "arm64"] | None = None


class PoolConfig(Request):
    """`v1MachinePoolConfigEntity`: `name`, `size` and `labels` are required by the spec."""

    name: str = Field(min_length=1)
    size: int = Field(ge=0)
    labels: list[str] = Field(default_factory=list)
    isControlPlane: bool | None = None
    useControlPlaneAsWorker: bool | None = None
    taints: list[Taint] | None = None
    additionalLabels: dict[str, str] | None = None
    additionalTags: dict[str, str] | None = None
    machinePoolProperties: MachinePoolProperties | None = None
    minSize: int | None = Field(default=None, ge=0)
    maxSize: int | None = Field(default=None, ge=0)
    nodeRepaveInterval: int | None = Field(default=None, ge=0)
    updateStrategy: UpdateStrategy | None = None


class MachinePool(Request):
    """One `v1EdgeNativeMachinePoolConfigEntity`: also the body of a pool update."""

    cloudConfig: MachinePoolCloudConfig
    poolConfig: PoolConfig


class ClusterTemplateRef(Request):
    uid: str


class EdgeNativeClusterSpec(Request):
    cloudConfig: EdgeNativeClusterConfig
    profiles: list[ClusterProfileEntity] = Field(default_factory=list)
    machinepoolconfig: list[MachinePool] = Field(min_length=1)
    clusterConfig: dict[str, Any] | None = None  # v1ClusterConfigEntity, passed through
    clusterTemplate: ClusterTemplateRef | None = None


class EdgeNativeClusterEntity(Request):
    """The body of `POST /v1/spectroclusters/edge-native` (and of its `/validate`)."""

    metadata: ClusterMetadata
    spec: EdgeNativeClusterSpec


# ---- responses --------------------------------------------------------------------------


class ObjectReference(Wire):
    kind: str | None = None
    name: str | None = None
    uid: str | None = None


class Condition(Wire):
    type: str | None = None
    status: str | None = None
    reason: str | None = None
    message: str | None = None
    lastTransitionTime: str | None = None


class APIEndpoint(Wire):
    host: str | None = None
    port: int | None = None


class SpectroClusterSpec(Wire):
    cloudConfigRef: ObjectReference | None = None
    cloudType: str | None = None


class SpectroClusterStatus(Wire):
    state: str | None = None
    conditions: list[Condition] | None = None
    apiEndpoints: list[APIEndpoint] | None = None


class SpectroCluster(Wire):
    """`v1SpectroCluster` from `GET /v1/spectroclusters/{uid}`."""

    metadata: ObjectMeta | None = None
    spec: SpectroClusterSpec | None = None
    status: SpectroClusterStatus | None = None


class HealthCondition(Wire):
    type: str | None = None
    message: str | None = None


class ClusterHealth(Wire):
    state: str | None = None
    agentVersion: str | None = None
    lastHeartBeatTimestamp: str | None = None
    conditions: list[HealthCondition] | None = None


class KubeMeta(Wire):
    hasKubeConfig: bool | None = None
    kubernetesVersion: str | None = None


class ClusterSummaryStatus(SpectroClusterStatus):
    health: ClusterHealth | None = None
    kubeMeta: KubeMeta | None = None


class ClusterSummary(Wire):
    """`v1SpectroClusterUidSummary` from `GET /v1/dashboard/spectroclusters/{uid}`."""

    metadata: ObjectMeta | None = None
    spec: dict[str, Any] | None = None
    status: ClusterSummaryStatus | None = None


class ClusterState(Wire):
    state: str | None = None


class ClusterStatusOnly(Wire):
    """`v1SpectroClusterStatusEntity` from `GET /v1/spectroclusters/{uid}/status`."""

    status: ClusterState | None = None


class PoolHost(Wire):
    hostUid: str | None = None
    hostAddress: str | None = None
    hostName: str | None = None
    nicName: str | None = None


class CloudConfigPool(Wire):
    name: str | None = None
    size: int | None = None
    isControlPlane: bool | None = None
    useControlPlaneAsWorker: bool | None = None
    labels: list[str] | None = None
    hosts: list[PoolHost] | None = None


class CloudConfigSpec(Wire):
    clusterConfig: dict[str, Any] | None = None
    machinePoolConfig: list[CloudConfigPool] | None = None


class CloudConfigStatus(Wire):
    conditions: list[Condition] | None = None


class EdgeNativeCloudConfig(Wire):
    """`v1EdgeNativeCloudConfig` from `GET /v1/cloudconfigs/edge-native/{configUid}`."""

    metadata: ObjectMeta | None = None
    spec: CloudConfigSpec | None = None
    status: CloudConfigStatus | None = None


class ConstraintError(Wire):
    code: str | None = None
    message: str | None = None


class ConstraintResult(Wire):
    name: str | None = None
    displayName: str | None = None
    errors: list[ConstraintError] | None = None


class ConstraintResponse(Wire):
    results: list[ConstraintResult] | None = None


class ProfileValidation(Wire):
    uid: str | None = None
    packs: ConstraintResponse | None = None


class ValidationResult(Wire):
    """`v1SpectroClusterValidatorResponse`; `errors()` flattens it to readable lines."""

    machinePools: ConstraintResponse | None = None
    profiles: list[ProfileValidation] | None = None

    def errors(self) -> list[str]:
        out: list[str] = []
        for result in (self.machinePools.results or []) if self.machinePools else []:
            for err in result.errors or []:
                out.append(f"machine pool {result.name or '?'}: {err.message or err.code}")
        for profile in self.profiles or []:
            for result in (profile.packs.results or []) if profile.packs else []:
                for err in result.errors or []:
                    out.append(
                        f"profile {profile.uid or '?'} pack {result.name or '?'}: "
                        f"{err.message or err.code}"
                    )
        return out


class ClusterProfile(Wire):
    """`v1ClusterProfile`, kept mostly raw: axle reads its name, version and packs."""

    metadata: ObjectMeta | None = None
    spec: dict[str, Any] | None = None
    status: dict[str, Any] | None = None


def cluster_info(
    uid: str,
    cluster: SpectroCluster,
    summary: ClusterSummary | None,
    host_uids: list[str],
) -> ClusterInfo:
    """Fold the full object, the dashboard summary (health) and the host list together."""
    meta = cluster.metadata
    status = cluster.status
    state = status.state if status else None
    if not state and summary and summary.status:
        state = summary.status.state
    if not state:
        raise BadResponse(f"cluster {uid!r}: missing required field status.state")
    conditions = tuple(
        ClusterCondition(
            type=c.type, status=c.status, reason=c.reason or "", message=c.message or ""
        )
        for c in (status.conditions or [] if status else [])
        if c.type and c.status
    )
    endpoints = tuple(
        f"{e.host}:{e.port}" if e.port else e.host
        for e in (status.apiEndpoints or [] if status else [])
        if e.host
    )
    health = summary.status.health if summary and summary.status else None
    kube = summary.status.kubeMeta if summary and summary.status else None
    health_message = "; ".join(
        f"{c.type}: {c.message}" if c.type else (c.message or "")
        for c in (health.conditions or [] if health else [])
        if c.message
    )
    ref = cluster.spec.cloudConfigRef if cluster.spec else None
    return ClusterInfo(
        uid=(meta.uid if meta and meta.uid else uid),
        name=(meta.name if meta and meta.name else uid),
        state=state,
        health=health.state if health else None,
        health_message=health_message,
        conditions=conditions,
        api_endpoints=endpoints,
        host_uids=tuple(host_uids),
        labels=dict(meta.labels or {}) if meta else {},
        cloud_config_uid=ref.uid if ref else None,
        kubeconfig_ready=bool(kube and kube.hasKubeConfig),
        kubernetes_version=kube.kubernetesVersion if kube else None,
    )
