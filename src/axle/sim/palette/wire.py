"""Render the simulator's records into the JSON shapes of the Palette API subset.

Each function returns a plain dict matching one schema of `palette-api-subset.json`
(`v1EdgeHostsMetadata`, `v1EdgeHostDevice`, `v1SpectroCluster`, ...), with the spec's field
names exactly. Kept apart from the state logic so the shapes can be checked against the spec
in one place. GPU memory is a string in the spec; the simulator writes it as nvidia-smi
reports it, `"<MiB> MiB"` (documented in docs/palette-simulator.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from axle.sim.palette.model import (
    ClusterRecord,
    HostRecord,
    PoolRecord,
    ProfileRecord,
    ProjectRecord,
    TenantRecord,
)


def ts(epoch: float | None) -> str | None:
    """RFC 3339 with milliseconds, as Palette writes `v1Time`."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{int(epoch * 1000) % 1000:03d}Z"
    )


def tag_strings(labels: dict[str, str]) -> list[str]:
    """Tags as Palette lists them: `key:value`, or `key` alone when the value is empty."""
    return [f"{k}:{v}" if v else k for k, v in labels.items()]


# ---- edge hosts ---------------------------------------------------------------------------


def device(h: HostRecord) -> dict[str, Any]:
    """`v1DeviceSpec`."""
    return {
        "archType": h.architecture,
        "cpu": {"cores": h.cpuCores},
        "memory": {"sizeInMB": h.memoryMB},
        "disks": [
            {"size": d.sizeGB, "controller": d.controller, "vendor": d.vendor, "partitions": []}
            for d in h.disks
        ],
        "gpus": [
            {
                "vendor": g.vendor,
                "model": g.model,
                "gpuCount": g.count,
                "memory": f"{g.memoryMiB} MiB" if g.memoryMiB else "",
                "migCapable": g.migCapable,
                "migStrategy": "none",
                "addresses": {},
            }
            for g in h.gpus
        ],
        "nics": [
            {
                "nicName": n.name,
                "macAddr": n.mac or "",
                "ip": n.ip or "",
                "subnet": n.subnet or "",
                "gateway": n.gateway or "",
                "dns": list(n.dns),
                "isDefault": bool(n.isDefault) if n.isDefault is not None else i == 0,
            }
            for i, n in enumerate(h.nics)
        ],
        "os": h.os.model_dump(),
        "hostState": "cluster" if h.inUse else "registration",
        "hostType": "appliance",
        "secureBoot": False,
    }


def _host_meta(h: HostRecord) -> dict[str, Any]:
    return {
        "name": h.name,
        "uid": h.uid,
        "labels": dict(h.tags),
        "annotations": {},
        "creationTimestamp": ts(h.created),
        "lastModifiedTimestamp": ts(h.modified),
    }


def _host_status(h: HostRecord) -> dict[str, Any]:
    refs = [{"uid": c.uid, "name": c.name} for c in h.inUse]
    return {
        "state": h.state,
        "health": {"state": h.health, "message": h.healthMessage, "agentVersion": h.agentVersion},
        "inUseClusters": refs,
        "inUseClustersRef": [dict(r) for r in refs],
    }


def host_summary(h: HostRecord, project: ProjectRecord | None) -> dict[str, Any]:
    """`v1EdgeHostsMetadata`: one item of the edge host search."""
    return {
        "metadata": _host_meta(h),
        "spec": {
            "device": device(h),
            "host": {"hostAddress": h.address, "macAddress": h.mac},
            "projectMeta": {"name": project.name if project else "", "uid": h.projectUid},
            "type": "edge-native",
            "clusterProfileTemplates": [],
        },
        "status": _host_status(h),
    }


def host_device(
    h: HostRecord, project: ProjectRecord | None, tenant: TenantRecord
) -> dict[str, Any]:
    """`v1EdgeHostDevice`: the full record of one host."""
    status = _host_status(h)
    status.update({"packs": [], "profileStatus": {"hasUserMacros": False}})
    return {
        "aclmeta": {
            "ownerUid": tenant.userUid,
            "projectUid": h.projectUid,
            "tenantUid": tenant.uid,
        },
        "metadata": _host_meta(h),
        "spec": {
            "device": device(h),
            "host": {
                "hostUid": h.uid,
                "hostAddress": h.address,
                "macAddress": h.mac,
                "project": {"name": project.name if project else "", "uid": h.projectUid},
                "remoteSsh": "disabled",
            },
            "properties": {"networks": [], "storagePools": []},
            "type": "edge-native",
            "version": h.agentVersion,
            "clusterProfileTemplates": [],
        },
        "status": status,
    }


def host_meta(h: HostRecord) -> dict[str, Any]:
    """`v1EdgeHostMeta`: one entry of `GET /v1/edgehosts/metadata`."""
    return {
        "uid": h.uid,
        "name": h.name,
        "state": h.state,
        "healthState": h.health,
        "archType": h.architecture,
        "edgeHostType": "edge-native",
    }


# ---- cluster profiles and projects ------------------------------------------------------------


def _template(p: ProfileRecord) -> dict[str, Any]:
    return {
        "uid": p.uid,
        "name": p.name,
        "cloudType": p.cloudType,
        "type": p.type,
        "version": 1,
        "profileVersion": p.version,
        "packs": [pk.model_dump() for pk in p.packs],
    }


def profile(p: ProfileRecord, in_use: list[ClusterRecord]) -> dict[str, Any]:
    """`v1ClusterProfile`."""
    template = _template(p)
    spec: dict[str, Any] = {
        "draft": None if p.published else template,
        "published": template if p.published else None,
        "version": p.version,
        "versions": [{"uid": p.uid, "version": p.version}],
    }
    return {
        "apiVersion": "v1",
        "kind": "ClusterProfile",
        "metadata": {
            "name": p.name,
            "uid": p.uid,
            "labels": dict(p.labels),
            "annotations": {"description": p.description} if p.description else {},
            "creationTimestamp": ts(p.created),
            "lastModifiedTimestamp": ts(p.modified),
        },
        "spec": spec,
        "status": {
            "isPublished": p.published,
            "hasUserMacros": False,
            "inUseClusterUids": [c.uid for c in in_use],
            "inUseClusters": [
                {"kind": "spectrocluster", "name": c.name, "uid": c.uid, "projectUid": c.projectUid}
                for c in in_use
            ],
            "inUseClusterTemplates": [],
        },
    }


def profile_meta(p: ProfileRecord) -> dict[str, Any]:
    """`v1ClusterProfileMetadata`."""
    return {
        "metadata": {"name": p.name, "uid": p.uid},
        "spec": {"cloudType": p.cloudType, "version": p.version},
    }


def profile_template_meta(p: ProfileRecord) -> dict[str, Any]:
    """`v1ClusterProfileTemplateMeta`."""
    return {
        "uid": p.uid,
        "name": p.name,
        "cloudType": p.cloudType,
        "type": p.type,
        "version": 1,
        "scope": "project" if p.projectUid else "tenant",
        "packs": [pk.model_dump() for pk in p.packs],
    }


def project(p: ProjectRecord) -> dict[str, Any]:
    """`v1Project`."""
    return {
        "metadata": {
            "name": p.name,
            "uid": p.uid,
            "labels": {},
            "annotations": {},
            "creationTimestamp": ts(p.created),
            "lastModifiedTimestamp": ts(p.created),
        },
        "spec": {"logoUrl": "", "teams": [], "users": [], "alerts": []},
        "status": {"isDisabled": False},
    }


# ---- clusters -------------------------------------------------------------------------------


def cluster_meta(c: ClusterRecord) -> dict[str, Any]:
    return {
        "name": c.name,
        "uid": c.uid,
        "labels": dict(c.labels),
        "annotations": dict(c.annotations),
        "creationTimestamp": ts(c.created),
        "lastModifiedTimestamp": ts(c.modified),
        "deletionTimestamp": ts(c.deletingAt),
    }


def pool_config(pool: PoolRecord, hosts: Mapping[str, HostRecord]) -> dict[str, Any]:
    """`v1EdgeNativeMachinePoolConfig`: the pool as sent, with each host's address filled in."""
    cfg = dict(pool.poolConfig)
    out: dict[str, Any] = {
        "name": pool.name,
        "size": cfg.get("size", len(pool.edgeHosts)),
        "isControlPlane": bool(cfg.get("isControlPlane", False)),
        "useControlPlaneAsWorker": bool(cfg.get("useControlPlaneAsWorker", False)),
        "labels": list(cfg.get("labels") or []),
        "additionalLabels": dict(cfg.get("additionalLabels") or {}),
        "additionalTags": dict(cfg.get("additionalTags") or {}),
        "taints": list(cfg.get("taints") or []),
        "machinePoolProperties": cfg.get("machinePoolProperties") or {"archType": "amd64"},
        "updateStrategy": cfg.get("updateStrategy") or {"type": "RollingUpdateScaleOut"},
    }
    for key in ("minSize", "maxSize", "nodeRepaveInterval"):
        if key in cfg:
            out[key] = cfg[key]
    out["hosts"] = []
    for entry in pool.edgeHosts:
        h = hosts.get(str(entry["hostUid"]))
        item = dict(entry)
        item.setdefault("hostName", h.name if h else "")
        item["hostAddress"] = item.get("hostAddress") or (h.address if h else "")
        out["hosts"].append(item)
    return out
