"""Edge-native clusters: checking a create or pool body, and rendering clusters on the wire.

`check_cluster` and `check_pool` are pure: they read the hosts, profiles and clusters they are
given and return the problems they find, each with the status and code the simulator answers
with (`validate` lists them all; `create` and the pool update refuse with the first and list
the rest in `details.problems`). Hosts must exist in the caller's project, be `ready` (or
already in this very cluster, for a pool update), be healthy, appear once, and match the
pool's architecture; a host held by another cluster is a 409 conflict, everything else a 400.

The lifecycle itself lives in `simulator.py`; the states and conditions rendered here follow
from a cluster's stored state (see docs/palette-simulator.md for the condition types).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from axle.sim.palette.errors import PaletteError
from axle.sim.palette.model import ClusterRecord, HostRecord, PoolRecord, ProfileRecord
from axle.sim.palette.wire import cluster_meta, pool_config, profile_template_meta, ts

NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class Problem:
    status: int
    code: str
    message: str
    field: str
    pool: str | None = None
    profile: str | None = None

    def error(self, others: list[Problem]) -> PaletteError:
        details: dict[str, Any] = {"field": self.field}
        if len(others) > 1:
            details["problems"] = [
                {"code": p.code, "message": p.message, "field": p.field} for p in others
            ]
        return PaletteError(self.status, self.code, self.message, details=details)


@dataclass
class PoolBody:
    name: str
    poolConfig: dict[str, Any]
    edgeHosts: list[dict[str, Any]]


@dataclass
class ClusterBody:
    name: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    cloudConfig: dict[str, Any] = field(default_factory=dict)
    clusterConfig: dict[str, Any] = field(default_factory=dict)
    profiles: list[dict[str, Any]] = field(default_factory=list)
    pools: list[PoolBody] = field(default_factory=list)


def refusal(problems: list[Problem]) -> PaletteError:
    """The error a create or pool update answers with: the most specific problem leads (a
    conflict, then a named host or profile, then a malformed field), the rest are listed."""

    def rank(p: Problem) -> int:
        return 0 if p.status == 409 else (1 if p.code != "InvalidRequest" else 2)

    return min(problems, key=rank).error(problems)


def _dict(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _str_map(value: Any) -> dict[str, str] | None:
    if value is None:
        return {}
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        return {str(k): v for k, v in value.items()}
    return None


def check_pool(
    entry: Any,
    path: str,
    *,
    scope: str,
    hosts: Mapping[str, HostRecord],
    cluster_uid: str | None,
    seen: dict[str, str],
) -> tuple[PoolBody | None, list[Problem]]:
    """One `v1EdgeNativeMachinePoolConfigEntity`; `seen` maps host uids already placed."""
    problems: list[Problem] = []

    def bad(msg: str, where: str, code: str = "InvalidRequest", status: int = 400) -> None:
        problems.append(Problem(status, code, msg, where, pool=pool_name or None))

    pool_name = ""
    entry = _dict(entry)
    if entry is None:
        bad("must be an object", path)
        return None, problems
    pool_cfg = _dict(entry.get("poolConfig"))
    if pool_cfg is None:
        bad("poolConfig is required", f"{path}.poolConfig")
        return None, problems
    pool_name = str(pool_cfg["name"]) if isinstance(pool_cfg.get("name"), str) else ""
    if not pool_name:
        bad("poolConfig.name is required", f"{path}.poolConfig.name")
    elif not NAME_RE.match(pool_name):
        bad(f"pool name {pool_name!r} must be a DNS label", f"{path}.poolConfig.name")
    size = pool_cfg.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        bad("poolConfig.size must be a positive integer", f"{path}.poolConfig.size")
    if "labels" in pool_cfg and not (
        isinstance(pool_cfg["labels"], list) and all(isinstance(x, str) for x in pool_cfg["labels"])
    ):
        bad("poolConfig.labels must be a list of strings", f"{path}.poolConfig.labels")
    arch = (_dict(pool_cfg.get("machinePoolProperties")) or {}).get("archType")
    cloud = _dict(entry.get("cloudConfig")) or {}
    edge_hosts = cloud.get("edgeHosts")
    if not isinstance(edge_hosts, list) or not edge_hosts:
        bad("cloudConfig.edgeHosts must list at least one host", f"{path}.cloudConfig.edgeHosts")
        return None, problems
    if isinstance(size, int) and size != len(edge_hosts):
        bad(
            f"poolConfig.size is {size} but cloudConfig.edgeHosts lists {len(edge_hosts)} hosts",
            f"{path}.poolConfig.size",
        )
    for i, item in enumerate(edge_hosts):
        where = f"{path}.cloudConfig.edgeHosts[{i}]"
        item = _dict(item)
        uid = item.get("hostUid") if item else None
        if not isinstance(uid, str) or not uid:
            bad("hostUid is required", f"{where}.hostUid")
            continue
        host = hosts.get(uid)
        if host is None or host.projectUid != scope:
            bad(
                f"edge host '{uid}' not found in the project",
                f"{where}.hostUid",
                "EdgeHostNotFound",
            )
            continue
        label = f"edge host '{host.name}' ({uid})"
        if uid in seen:
            bad(
                f"{label} is listed twice (also in {seen[uid]})",
                f"{where}.hostUid",
                "EdgeHostDuplicate",
            )
            continue
        seen[uid] = where
        held = [c for c in host.inUse if c.uid != cluster_uid]
        if held:
            bad(
                f"{label} is in use by cluster '{held[0].name}' ({held[0].uid})",
                f"{where}.hostUid",
                "EdgeHostInUse",
                409,
            )
        elif host.state == "unpaired":
            bad(f"{label} is unpaired, not ready", f"{where}.hostUid", "EdgeHostNotReady")
        if host.health != "healthy":
            why = f": {host.healthMessage}" if host.healthMessage else ""
            bad(f"{label} is unhealthy{why}", f"{where}.hostUid", "EdgeHostUnhealthy")
        if arch and arch != host.architecture:
            bad(
                f"{label} is {host.architecture}, the pool asks for {arch}",
                f"{where}.hostUid",
                "EdgeHostArchMismatch",
            )
    if problems:
        return None, problems
    return PoolBody(
        name=pool_name, poolConfig=dict(pool_cfg), edgeHosts=[dict(h) for h in edge_hosts]
    ), []


def check_cluster(
    body: Any,
    *,
    scope: str,
    hosts: Mapping[str, HostRecord],
    profile_visible: Callable[[str], ProfileRecord | None],
    name_taken: Callable[[str], bool],
) -> tuple[ClusterBody | None, list[Problem]]:
    """A `v1SpectroEdgeNativeClusterEntity`, checked whole."""
    problems: list[Problem] = []
    out = ClusterBody()
    body = _dict(body)
    if body is None:
        return None, [Problem(400, "InvalidRequest", "the body must be a JSON object", "body")]
    meta = _dict(body.get("metadata")) or {}
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        problems.append(
            Problem(400, "InvalidRequest", "metadata.name is required", "metadata.name")
        )
    elif not NAME_RE.match(name):
        problems.append(
            Problem(
                400,
                "InvalidRequest",
                f"cluster name {name!r} must be lowercase letters, digits and '-', at most 63",
                "metadata.name",
            )
        )
    elif name_taken(name):
        problems.append(
            Problem(
                409,
                "DuplicateClusterName",
                f"a cluster named '{name}' already exists",
                "metadata.name",
            )
        )
    else:
        out.name = name
    for key in ("labels", "annotations"):
        value = _str_map(meta.get(key))
        if value is None:
            problems.append(
                Problem(
                    400,
                    "InvalidRequest",
                    f"metadata.{key} must map strings to strings",
                    f"metadata.{key}",
                )
            )
        else:
            setattr(out, key, value)
    spec = _dict(body.get("spec"))
    if spec is None:
        problems.append(Problem(400, "InvalidRequest", "spec is required", "spec"))
        return None, problems
    for key in ("cloudConfig", "clusterConfig"):
        value = spec.get(key)
        if value is not None and _dict(value) is None:
            problems.append(
                Problem(400, "InvalidRequest", f"spec.{key} must be an object", f"spec.{key}")
            )
        else:
            setattr(out, key, dict(value or {}))
    profiles = spec.get("profiles")
    if not isinstance(profiles, list) or not profiles:
        problems.append(
            Problem(
                400,
                "InvalidRequest",
                "spec.profiles must name at least one cluster profile",
                "spec.profiles",
            )
        )
    else:
        for i, ref in enumerate(profiles):
            uid = ref.get("uid") if isinstance(ref, dict) else None
            if not isinstance(uid, str) or not uid:
                problems.append(
                    Problem(400, "InvalidRequest", "uid is required", f"spec.profiles[{i}].uid")
                )
            elif profile_visible(uid) is None:
                problems.append(
                    Problem(
                        400,
                        "ClusterProfileNotFound",
                        f"cluster profile '{uid}' not found",
                        f"spec.profiles[{i}].uid",
                        profile=uid,
                    )
                )
            else:
                out.profiles.append(dict(ref))
    pools = spec.get("machinepoolconfig", spec.get("machinePoolConfig"))
    if not isinstance(pools, list) or not pools:
        problems.append(
            Problem(
                400,
                "InvalidRequest",
                "spec.machinepoolconfig must list at least one pool",
                "spec.machinepoolconfig",
            )
        )
        return None, problems
    seen_hosts: dict[str, str] = {}
    names: set[str] = set()
    control_planes = 0
    for i, entry in enumerate(pools):
        path = f"spec.machinepoolconfig[{i}]"
        pool, found = check_pool(
            entry, path, scope=scope, hosts=hosts, cluster_uid=None, seen=seen_hosts
        )
        problems.extend(found)
        if pool is None:
            continue
        if pool.name in names:
            problems.append(
                Problem(
                    400,
                    "InvalidRequest",
                    f"two pools are named '{pool.name}'",
                    f"{path}.poolConfig.name",
                    pool=pool.name,
                )
            )
        names.add(pool.name)
        control_planes += bool(pool.poolConfig.get("isControlPlane"))
        out.pools.append(pool)
    if not problems and control_planes != 1:
        problems.append(
            Problem(
                400,
                "InvalidRequest",
                "exactly one pool must have poolConfig.isControlPlane: true"
                f" (found {control_planes})",
                "spec.machinepoolconfig",
            )
        )
    return (None if problems else out), problems


def validator_response(body: Any, problems: list[Problem]) -> dict[str, Any]:
    """`v1SpectroClusterValidatorResponse`: the problems per pool and per profile."""
    spec = (_dict(body) or {}).get("spec")
    spec = _dict(spec) or {}
    pools = spec.get("machinepoolconfig", spec.get("machinePoolConfig"))
    by_pool: dict[str, list[dict[str, str]]] = {}
    for p in problems:
        if p.profile is None:
            error = {"code": p.code, "message": f"{p.field}: {p.message}"}
            by_pool.setdefault(p.pool or "", []).append(error)
    results: list[dict[str, Any]] = []
    for entry in pools if isinstance(pools, list) else []:
        name = (_dict((_dict(entry) or {}).get("poolConfig")) or {}).get("name")
        if isinstance(name, str) and name and name not in {r["name"] for r in results}:
            results.append({"name": name, "displayName": name, "errors": by_pool.pop(name, [])})
    for name, errors in by_pool.items():  # problems not tied to a named pool
        results.append({"name": name, "displayName": name or "cluster", "errors": errors})
    profiles = []
    refs = spec.get("profiles")
    for ref in refs if isinstance(refs, list) else []:
        uid = (_dict(ref) or {}).get("uid")
        errors = [{"code": p.code, "message": p.message} for p in problems if p.profile == uid]
        check = {"name": "profile", "displayName": "profile", "errors": errors}
        profiles.append(
            {
                "uid": uid if isinstance(uid, str) else "",
                "packs": {"results": [check] if errors else []},
            }
        )
    return {"machinePools": {"results": results}, "profiles": profiles}


# ---- rendering --------------------------------------------------------------------------------


def conditions(c: ClusterRecord) -> list[dict[str, Any]]:
    """`v1ClusterCondition[]`: `Ready`, and `CloudInfrastructureCleanedUp` once deleting."""
    changed = ts(c.stateChangedAt)
    ready = {
        "type": "Ready",
        "status": "True" if c.state == "Running" else "False",
        "reason": {"Error": "ProvisioningFailed"}.get(c.state, c.state),
        "message": c.failMessage
        if c.state == "Error" and c.failMessage
        else f"cluster is {c.state}",
        "lastProbeTime": changed,
        "lastTransitionTime": changed,
    }
    out = [ready]
    if c.deletingAt is not None:
        done = c.state == "Deleted"
        out.append(
            {
                "type": "CloudInfrastructureCleanedUp",
                "status": "True" if done else "False",
                "reason": "Deleted" if done else "Deleting",
                "message": "hosts released" if done else "releasing hosts",
                "lastProbeTime": changed,
                "lastTransitionTime": changed,
            }
        )
    return out


def api_endpoints(c: ClusterRecord, hosts: Mapping[str, HostRecord]) -> list[dict[str, Any]]:
    if c.state != "Running":
        return []
    endpoint = _dict(c.cloudConfig.get("controlPlaneEndpoint")) or {}
    host = endpoint.get("host")
    if not host:
        cp = next((p for p in c.pools if p.is_control_plane), None)
        first = hosts.get(cp.host_uids[0]) if cp and cp.host_uids else None
        host = first.address if first else ""
    return [{"host": host, "port": 6443}]


def health(c: ClusterRecord, hosts: Mapping[str, HostRecord]) -> dict[str, Any]:
    """`v1SpectroClusterHealthStatus`: Healthy only when Running with every host healthy."""
    sick = [h for uid in c.host_uids if (h := hosts.get(uid)) and h.health != "healthy"]
    if c.state == "Running":
        state = "UnHealthy" if sick else "Healthy"
    elif c.state == "Error":
        state = "UnHealthy"
    else:
        state = "Unknown"
    return {
        "state": state,
        "agentVersion": "v4.7.0",
        "lastHeartBeatTimestamp": ts(c.modified),
        "conditions": [
            {
                "type": "EdgeHostUnhealthy",
                "message": f"edge host {h.name}: {h.healthMessage or 'unhealthy'}",
                "relatedObject": {"kind": "edgehost", "name": h.name, "uid": h.uid},
            }
            for h in sick
        ],
    }


def _pool_meta(c: ClusterRecord, hosts: Mapping[str, HostRecord]) -> list[dict[str, Any]]:
    out = []
    for p in c.pools:
        healthy = (
            sum(1 for uid in p.host_uids if (h := hosts.get(uid)) and h.health == "healthy")
            if c.state == "Running"
            else 0
        )
        out.append(
            {  # v1MachinePoolMeta has no name; pools are told apart by labels
                "cloudType": "edge-native",
                "isControlPlane": p.is_control_plane,
                "labels": list(p.poolConfig.get("labels") or []),
                "size": len(p.edgeHosts),
                "healthy": healthy,
                "maintenanceMode": 0,
            }
        )
    return out


def archs(c: ClusterRecord, hosts: Mapping[str, HostRecord]) -> list[str]:
    return sorted({h.architecture for uid in c.host_uids if (h := hosts.get(uid))})


def cluster(
    c: ClusterRecord, hosts: Mapping[str, HostRecord], profiles: Mapping[str, ProfileRecord]
) -> dict[str, Any]:
    """`v1SpectroCluster`."""
    templates = []
    for ref in c.profiles:
        prof = profiles.get(str(ref.get("uid")))
        if prof is not None:
            t = profile_template_meta(prof)
            templates.append(
                {k: t[k] for k in ("uid", "name", "cloudType", "type", "version", "packs")}
            )
    return {
        "apiVersion": "v1",
        "kind": "SpectroCluster",
        "metadata": cluster_meta(c),
        "spec": {
            "cloudType": "edge-native",
            "cloudConfigRef": {
                "kind": "EdgeNativeCloudConfig",
                "name": c.name,
                "uid": c.cloudConfigUid,
            },
            "clusterConfig": dict(c.clusterConfig),
            "clusterProfileTemplates": templates,
            "clusterType": "PureManage",
        },
        "status": {
            "state": c.state,
            "conditions": conditions(c),
            "apiEndpoints": api_endpoints(c, hosts),
            "packs": [],
            "services": [],
            "addOnServices": [],
            "upgrades": [],
            "repave": {"state": "Approved"},
            "fips": {"mode": "none"},
            "abortTimestamp": None,
        },
    }


def cluster_summary(
    c: ClusterRecord, hosts: Mapping[str, HostRecord], profiles: Mapping[str, ProfileRecord]
) -> dict[str, Any]:
    """`v1SpectroClusterUidSummary`: `GET /v1/dashboard/spectroclusters/{uid}`, with health."""
    templates = [
        profile_template_meta(p) for r in c.profiles if (p := profiles.get(str(r.get("uid"))))
    ]
    return {
        "metadata": cluster_meta(c),
        "spec": {
            "archTypes": archs(c, hosts),
            "cloudConfig": {
                "uid": c.cloudConfigUid,
                "cloudType": "edge-native",
                "machinePools": _pool_meta(c, hosts),
            },
            "clusterProfileTemplate": templates[0] if templates else None,
            "clusterProfileTemplates": templates,
        },
        "status": {
            "state": c.state,
            "conditions": conditions(c),
            "health": health(c, hosts),
            "apiEndpoints": api_endpoints(c, hosts),
            "kubeMeta": {
                "hasKubeConfig": c.state == "Running",
                "hasKubeConfigClient": c.state == "Running",
                "hasManifest": True,
                "kubernetesVersion": _k8s_version(c, profiles),
            },
            "fips": {"mode": "none"},
            "packs": [],
            "services": [],
            "upgrades": [],
        },
    }


def _k8s_version(c: ClusterRecord, profiles: Mapping[str, ProfileRecord]) -> str:
    for ref in c.profiles:
        prof = profiles.get(str(ref.get("uid")))
        for pack in prof.packs if prof else []:
            if pack.layer == "k8s":
                return pack.tag or pack.version
    return ""


def cluster_search_item(
    c: ClusterRecord,
    hosts: Mapping[str, HostRecord],
    profiles: Mapping[str, ProfileRecord],
    project_name: str,
) -> dict[str, Any]:
    """`v1SpectroClusterSummary`: one item of the cluster search."""
    templates = [
        profile_template_meta(p) for r in c.profiles if (p := profiles.get(str(r.get("uid"))))
    ]
    return {
        "metadata": cluster_meta(c),
        "specSummary": {
            "archTypes": archs(c, hosts),
            "cloudConfig": {
                "uid": c.cloudConfigUid,
                "cloudType": "edge-native",
                "machinePools": _pool_meta(c, hosts),
            },
            "clusterProfileTemplate": templates[0] if templates else None,
            "clusterProfileTemplates": templates,
            "projectMeta": {"name": project_name, "uid": c.projectUid},
        },
        "status": {"state": c.state, "health": health(c, hosts), "fips": {"mode": "none"}},
    }


def cloud_config(c: ClusterRecord, hosts: Mapping[str, HostRecord]) -> dict[str, Any]:
    """`v1EdgeNativeCloudConfig`."""
    return {
        "metadata": {
            "name": c.name,
            "uid": c.cloudConfigUid,
            "labels": {},
            "annotations": {},
            "creationTimestamp": ts(c.created),
            "lastModifiedTimestamp": ts(c.modified),
        },
        "spec": {
            "clusterConfig": dict(c.cloudConfig),
            "machinePoolConfig": [pool_config(p, hosts) for p in c.pools],
        },
        "status": {"conditions": conditions(c), "nodeImage": "", "sourceImageId": ""},
    }


_INSTANCE_STATE = {
    "Pending": "Pending",
    "Provisioning": "Provisioning",
    "Running": "Running",
    "Deleting": "Deleting",
    "Deleted": "Deleted",
    "Error": "Failed",
}


def machines(c: ClusterRecord, pool: PoolRecord, hosts: Mapping[str, HostRecord]) -> dict[str, Any]:
    """`v1EdgeNativeMachines`: one machine per host of the pool."""
    items = []
    for i, uid in enumerate(pool.host_uids):
        h = hosts.get(uid)
        healthy = h is not None and h.health == "healthy"
        running = c.state == "Running"
        items.append(
            {
                "apiVersion": "v1",
                "kind": "EdgeNativeMachine",
                "metadata": {
                    "name": f"{c.name}-{pool.name}-{i}",
                    "uid": f"{c.uid}-{pool.name}-{i}",
                    "labels": {},
                    "annotations": {},
                    "creationTimestamp": ts(pool.created),
                    "lastModifiedTimestamp": ts(pool.modified),
                },
                "spec": {
                    "edgeHostUid": uid,
                    "instanceType": {
                        "name": h.name if h else uid,
                        "numCPUs": h.cpuCores if h else 0,
                        "memoryMiB": h.memoryMB if h else 0,
                        "diskGiB": sum(d.sizeGB for d in h.disks) if h else 0,
                    },
                    "nics": [
                        {"index": j, "networkName": n.name, "privateIPs": [n.ip] if n.ip else []}
                        for j, n in enumerate(h.nics if h else [])
                    ],
                },
                "status": {
                    "instanceState": _INSTANCE_STATE[c.state],
                    "instanceStateLastUpdate": ts(c.stateChangedAt),
                    "ready": running and healthy,
                    "addresses": [{"type": "InternalIP", "address": h.address}]
                    if h and h.address
                    else [],
                    "health": {
                        "state": ("Healthy" if healthy else "UnHealthy") if running else "Unknown",
                        "lastHeartBeatTimestamp": ts(c.modified),
                        "conditions": [],
                    },
                    "maintenanceStatus": {"action": "", "message": "", "state": ""},
                },
            }
        )
    return {"items": items}
