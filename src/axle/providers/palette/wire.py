"""Pydantic models of the Palette wire shapes axle reads (responses) for inventory and projects.

Only the fields axle uses are declared; everything else is ignored (`extra="ignore"`), so a
newer Palette adding fields breaks nothing. Every field is optional here because the spec
marks almost nothing required and real servers omit empty values; which fields axle cannot do
without is decided in `mapping.py`, which names the host and field when one is missing.
Attribute names are the wire names (camelCase), like the rest of axle's models; `continue`,
a Python keyword, is the one alias.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Wire(BaseModel):
    """Base of every response model: tolerant of unknown fields and of explicit nulls."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ObjectMeta(Wire):
    name: str | None = None
    uid: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    creationTimestamp: str | None = None
    lastModifiedTimestamp: str | None = None


class ObjectEntity(Wire):
    name: str | None = None
    uid: str | None = None


class ListMeta(Wire):
    continue_: str | None = Field(default=None, alias="continue")
    count: int | None = None
    limit: int | None = None
    offset: int | None = None


class CPU(Wire):
    cores: int | None = None


class Memory(Wire):
    sizeInMB: int | None = None


class Disk(Wire):
    size: int | None = None  # GB
    controller: str | None = None
    vendor: str | None = None


class GPUDevice(Wire):
    vendor: str | None = None
    model: str | None = None
    gpuCount: int | None = None
    memory: str | int | None = None  # a string in the spec ("GPU memory specification")
    migCapable: bool | None = None
    migStrategy: str | None = None
    addresses: dict[str, str] | None = None


class Nic(Wire):
    nicName: str | None = None
    macAddr: str | None = None
    ip: str | None = None
    subnet: str | None = None
    gateway: str | None = None
    dns: list[str] | None = None
    isDefault: bool | None = None


class OS(Wire):
    family: str | None = None
    kernel: str | None = None
    kernelVersion: str | None = None
    version: str | None = None


class DeviceSpec(Wire):
    archType: str | None = None
    cpu: CPU | None = None
    memory: Memory | None = None
    disks: list[Disk] | None = None
    gpus: list[GPUDevice] | None = None
    nics: list[Nic] | None = None
    os: OS | None = None
    hostState: str | None = None
    hostType: str | None = None


class HostAddress(Wire):
    """`v1EdgeHostSpecHost` (search) and `v1EdgeHost` (get) share these two fields."""

    hostAddress: str | None = None
    macAddress: str | None = None
    hostUid: str | None = None


class EdgeHostSpec(Wire):
    device: DeviceSpec | None = None
    host: HostAddress | None = None
    projectMeta: ObjectEntity | None = None
    type: str | None = None


class EdgeHostHealth(Wire):
    state: str | None = None
    message: str | None = None
    agentVersion: str | None = None


class EdgeHostStatus(Wire):
    state: str | None = None
    health: EdgeHostHealth | None = None
    inUseClusters: list[ObjectEntity] | None = None
    inUseClustersRef: list[ObjectEntity] | None = None


class EdgeHost(Wire):
    """One edge host: `v1EdgeHostsMetadata` (search item) or `v1EdgeHostDevice` (get)."""

    metadata: ObjectMeta | None = None
    spec: EdgeHostSpec | None = None
    status: EdgeHostStatus | None = None


class EdgeHostSearchPage(Wire):
    """`v1EdgeHostsSearchSummary`: items are kept raw, so one bad host names itself."""

    items: list[dict[str, Any]]
    listmeta: ListMeta | None = None


class EdgeHostList(Wire):
    """`v1EdgeHostDevices` (a cluster's edge hosts)."""

    items: list[dict[str, Any]]
    listmeta: ListMeta | None = None


class UserInfo(Wire):
    """`v1UserInfo`, the answer to the credential check."""

    orgName: str | None = None
    tenantUid: str | None = None
    userUid: str | None = None


class ProjectMetadata(Wire):
    metadata: ObjectEntity | None = None


class Project(Wire):
    """`v1Project`; axle reads its identity and whether it is disabled."""

    metadata: ObjectMeta | None = None
    status: dict[str, Any] | None = None


class ProjectsMetadata(Wire):
    items: list[ProjectMetadata]


class SearchSchemaProperty(Wire):
    name: str | None = None
    displayName: str | None = None
    type: str | None = None
    enum: list[str] | None = None
    default: str | None = None
    isDeprecated: bool | None = None


class SearchSchemaProperties(Wire):
    properties: list[SearchSchemaProperty] | None = None


class SearchSchema(Wire):
    """`v1SearchFilterSchemaSpec`: which properties the edge-host search can filter on."""

    schema_: SearchSchemaProperties | None = Field(default=None, alias="schema")


class Uid(Wire):
    uid: str


def tag_filter(tags: dict[str, str], *, property_name: str = "tags") -> dict[str, Any]:
    """The `v1SearchFilterSummarySpec` body selecting hosts that carry every tag.

    One `keyValue` filter per tag, all in one `and` group. With no tags, an empty filter
    (every host). The notes' source spells `conjuction` wrongly in one place; the spec's
    `conjunction` is what we send.
    """
    filters = [
        {
            "property": property_name,
            "type": "keyValue",
            "condition": {
                "keyValue": {
                    "key": key,
                    "operator": "eq",
                    "negation": False,
                    "ignoreCase": False,
                    "match": {"conjunction": "or", "values": [value]},
                }
            },
        }
        for key, value in sorted(tags.items())
    ]
    groups = [{"conjunction": "and", "filters": filters}] if filters else []
    return {"filter": {"conjunction": "and", "filterGroups": groups}, "sort": []}
