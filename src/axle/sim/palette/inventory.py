"""The inventory file: the YAML that seeds a fresh simulator (format in docs/palette-simulator.md).

An inventory names the API keys, projects, cluster profiles and edge hosts a simulated Palette
starts with. A host entry may stamp out `count` identical machines from a name pattern
(`gpu-h100-{n:02d}`), so a realistic fleet stays a short file; IPs and MACs of stamped hosts
count up from the ones given. Loading validates everything up front, with field paths
(`hosts[3].gpus[0].count`), and raises `axle.errors.Invalid`: a bad file changes nothing.

The inventory only seeds a fresh state; once a state file exists it is the truth (see
`persistence.py`).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from axle.errors import Cause, Invalid
from axle.sim.palette.model import (
    Disk,
    Gpu,
    HostRecord,
    Nic,
    OsInfo,
    PackRecord,
    ProfileRecord,
    ProjectRecord,
    StateData,
    TenantRecord,
)


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProjectEntry(_Entry):
    name: str = Field(min_length=1)
    uid: str = Field(min_length=1)


class ProfileEntry(_Entry):
    uid: str = Field(min_length=1)
    name: str = Field(min_length=1)
    version: str = "1.0.0"
    cloudType: str = "edge-native"
    type: str = "cluster"
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    packs: list[PackRecord] = Field(default_factory=list)
    project: str | None = None  # uid or name; omitted: tenant scope


class HostEntry(_Entry):
    name: str = Field(min_length=1)  # a pattern with {n} when count > 1
    count: int = Field(default=1, ge=1)
    start: int = Field(default=1, ge=0)  # first value of {n}
    uid: str | None = None  # a pattern too; derived from the name when omitted
    project: str | None = None  # uid or name; omitted: the first project
    architecture: Literal["amd64", "arm64"] = "amd64"
    cpuCores: int = Field(ge=1)
    memoryMB: int = Field(ge=1)
    disks: list[Disk] = Field(default_factory=list)
    nics: list[Nic] = Field(default_factory=list)
    gpus: list[Gpu] = Field(default_factory=list)
    os: OsInfo = Field(default_factory=OsInfo)
    tags: dict[str, str] = Field(default_factory=dict)
    health: Literal["healthy", "unhealthy"] = "healthy"
    healthMessage: str = ""
    state: Literal["ready", "unpaired"] = "ready"  # in-use comes only from clusters
    agentVersion: str = "v4.7.0"


class TenantEntry(_Entry):
    uid: str = "sim-tenant"
    orgName: str = "simulated-org"
    userUid: str = "sim-user"


class Inventory(_Entry):
    tenant: TenantEntry = Field(default_factory=TenantEntry)
    apiKeys: list[str] = Field(min_length=1)
    adminKey: str | None = None
    projects: list[ProjectEntry] = Field(min_length=1)
    clusterProfiles: list[ProfileEntry] = Field(default_factory=list)
    hosts: list[HostEntry] = Field(default_factory=list)


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_inventory(data: Any, source: str = "inventory") -> Inventory:
    """Validate an inventory document (already parsed from YAML or built in code)."""
    if not isinstance(data, Mapping):
        raise Invalid(
            f"{source}: the inventory must be a mapping", causes=[Cause("", "not a mapping")]
        )
    try:
        inv = Inventory.model_validate(data)
    except ValidationError as exc:
        causes = [Cause(_path(tuple(e["loc"])), e["msg"]) for e in exc.errors()]
        first = causes[0]
        raise Invalid(f"{source}: {first.field}: {first.message}", causes=causes) from None
    _check_unique(inv, source)
    return inv


def load_inventory(path: str | Path) -> Inventory:
    """Read and validate an inventory YAML file."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise Invalid(f"cannot read inventory {p}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise Invalid(f"{p}: not valid YAML: {exc}") from None
    return parse_inventory(data, str(p))


def _check_unique(inv: Inventory, source: str) -> None:
    causes: list[Cause] = []
    for field, values in (
        ("projects", [p.uid for p in inv.projects]),
        ("projects", [p.name for p in inv.projects]),
        ("clusterProfiles", [c.uid for c in inv.clusterProfiles]),
    ):
        seen: set[str] = set()
        for i, value in enumerate(values):
            if value in seen:
                causes.append(Cause(f"{field}[{i}]", f"duplicate '{value}'", "FieldValueDuplicate"))
            seen.add(value)
    refs = {p.uid for p in inv.projects} | {p.name for p in inv.projects}
    for i, prof in enumerate(inv.clusterProfiles):
        if prof.project is not None and prof.project not in refs:
            causes.append(
                Cause(
                    f"clusterProfiles[{i}].project",
                    f"no project '{prof.project}'",
                    "FieldValueNotFound",
                )
            )
    for i, host in enumerate(inv.hosts):
        if host.project is not None and host.project not in refs:
            causes.append(
                Cause(f"hosts[{i}].project", f"no project '{host.project}'", "FieldValueNotFound")
            )
        if host.count > 1 and "{n" not in host.name:
            causes.append(Cause(f"hosts[{i}].name", "a host with count > 1 needs {n} in its name"))
        if host.count > 1 and host.uid is not None and "{n" not in host.uid:
            causes.append(Cause(f"hosts[{i}].uid", "a host with count > 1 needs {n} in its uid"))
    if causes:
        raise Invalid(f"{source}: {causes[0].field}: {causes[0].message}", causes=causes)


def host_uid_for(name: str) -> str:
    """A stable uid for a host named `name` (Palette's look like `edge-<hex>`)."""
    return "edge-" + hashlib.sha256(name.encode()).hexdigest()[:24]


def _mac_for(uid: str, nic: str) -> str:
    digest = hashlib.sha256(f"{uid}/{nic}".encode()).digest()
    # Locally administered, unicast: the second-lowest bit of the first octet set, lowest clear.
    octets = [(digest[0] | 0x02) & 0xFE, *digest[1:6]]
    return ":".join(f"{o:02x}" for o in octets)


def _shift_mac(mac: str, offset: int) -> str:
    value = (int(mac.replace(":", "").replace("-", ""), 16) + offset) % (1 << 48)
    raw = f"{value:012x}"
    return ":".join(raw[i : i + 2] for i in range(0, 12, 2))


def _fmt(pattern: str, n: int, field: str) -> str:
    try:
        return pattern.format(n=n)
    except (KeyError, IndexError, ValueError) as exc:
        raise Invalid(
            f"{field}: bad pattern '{pattern}': {exc}", causes=[Cause(field, str(exc))]
        ) from None


def expand_hosts(inv: Inventory, now: float) -> list[HostRecord]:
    """Every host of the inventory, `count` entries stamped out, in file order."""
    by_ref = {p.uid: p.uid for p in inv.projects} | {p.name: p.uid for p in inv.projects}
    default_project = inv.projects[0].uid
    hosts: list[HostRecord] = []
    seen_names: dict[str, str] = {}
    seen_uids: dict[str, str] = {}
    for i, entry in enumerate(inv.hosts):
        for k in range(entry.count):
            n = entry.start + k
            where = f"hosts[{i}]"
            name = _fmt(entry.name, n, f"{where}.name")
            uid = _fmt(entry.uid, n, f"{where}.uid") if entry.uid else host_uid_for(name)
            for seen, value, field in ((seen_names, name, "name"), (seen_uids, uid, "uid")):
                if value in seen:
                    msg = f"duplicate host {field} '{value}' (also from {seen[value]})"
                    raise Invalid(
                        f"{where}.{field}: {msg}",
                        causes=[Cause(f"{where}.{field}", msg, "FieldValueDuplicate")],
                    )
                seen[value] = where
            nics = []
            for j, nic in enumerate(entry.nics or [Nic(name="eth0")]):
                ip = nic.ip
                if ip is not None:
                    try:
                        ip = str(ipaddress.ip_address(ip) + k)
                    except ValueError as exc:
                        field = f"{where}.nics[{j}].ip"
                        raise Invalid(f"{field}: {exc}", causes=[Cause(field, str(exc))]) from None
                mac = _shift_mac(nic.mac, k) if nic.mac else _mac_for(uid, nic.name)
                nics.append(nic.model_copy(update={"ip": ip, "mac": mac}))
            hosts.append(
                HostRecord(
                    uid=uid,
                    name=name,
                    projectUid=by_ref[entry.project] if entry.project else default_project,
                    architecture=entry.architecture,
                    cpuCores=entry.cpuCores,
                    memoryMB=entry.memoryMB,
                    disks=[d.model_copy() for d in entry.disks],
                    nics=nics,
                    gpus=[g.model_copy() for g in entry.gpus],
                    os=entry.os.model_copy(),
                    tags=dict(entry.tags),
                    state=entry.state,
                    health=entry.health,
                    healthMessage=entry.healthMessage,
                    agentVersion=entry.agentVersion,
                    created=now,
                    modified=now,
                )
            )
    return hosts


def seed_state(inv: Inventory, now: float) -> StateData:
    """The fresh state an inventory describes."""
    by_ref = {p.uid: p.uid for p in inv.projects} | {p.name: p.uid for p in inv.projects}
    return StateData(
        tenant=TenantRecord(**inv.tenant.model_dump()),
        apiKeys=list(inv.apiKeys),
        adminKey=inv.adminKey,
        projects=[ProjectRecord(uid=p.uid, name=p.name, created=now) for p in inv.projects],
        profiles=[
            ProfileRecord(
                uid=p.uid,
                name=p.name,
                version=p.version,
                cloudType=p.cloudType,
                type=p.type,
                description=p.description,
                labels=dict(p.labels),
                packs=[pk.model_copy() for pk in p.packs],
                projectUid=by_ref[p.project] if p.project else None,
                created=now,
                modified=now,
            )
            for p in inv.clusterProfiles
        ],
        hosts=expand_hosts(inv, now),
    )
