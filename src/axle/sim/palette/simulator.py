"""The simulated Palette: state, lifecycle, and the operations the HTTP routes call.

`PaletteSim` owns one `StateData` and answers in Palette's shapes (via `wire.py` and
`clusters.py`); the HTTP layer (`app.py`) only parses requests and picks the scope. Every
operation first calls `tick()`, which moves clusters along their lifecycle by comparing the
clock with the timestamps stored on each cluster, so no transition depends on a background
task having run. Every change bumps `generation` (which invalidates cached searches) and is
written to the state file.

Scope: a project uid (the `ProjectUid` header) or None for tenant scope, which sees every
project's hosts and clusters. Writes that create project resources need a project.

Search speed: a full sync of 5,000 hosts is ~100 page requests with the same body. The
ordered matches are cached per (scope, body digest, generation), and each host's rendered
summary per host until it changes, so a page costs a slice and a JSON encode.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from axle.sim.palette import clusters as cl
from axle.sim.palette import kubeconfig, wire
from axle.sim.palette.clock import Clock
from axle.sim.palette.errors import PaletteError, bad_request, conflict, not_found
from axle.sim.palette.model import (
    ClusterRecord,
    ClusterRef,
    ClusterState,
    HostRecord,
    PackRecord,
    PoolRecord,
    ProfileRecord,
    ProjectRecord,
    StateData,
)
from axle.sim.palette.persistence import StateFile
from axle.sim.palette.search import Page, Prop, Search, compile_search, page_request, paginate

_H = Prop[HostRecord]
_C = Prop[ClusterRecord]

HOST_PROPS: dict[str, Prop[HostRecord]] = {
    p.name: p
    for p in [
        _H("name", "string", lambda h: h.name, "Name", sort=True),
        _H("uid", "string", lambda h: h.uid, "UID"),
        _H(
            "state",
            "string",
            lambda h: h.state,
            "State",
            ("ready", "unpaired", "in-use"),
            sort=True,
        ),
        _H(
            "healthState",
            "string",
            lambda h: h.health,
            "Health",
            ("healthy", "unhealthy"),
            sort=True,
        ),
        _H("architecture", "string", lambda h: h.architecture, "Architecture", ("amd64", "arm64")),
        _H("archType", "string", lambda h: h.architecture, "Architecture", ("amd64", "arm64")),
        _H("tags", "keyValue", lambda h: h.tags, "Tags"),
        _H("labels", "keyValue", lambda h: h.tags, "Labels"),
        _H("cpuCores", "int", lambda h: h.cpuCores, "CPU cores"),
        _H("memoryMB", "int", lambda h: h.memoryMB, "Memory (MB)"),
        _H("gpuCount", "int", lambda h: sum(g.count for g in h.gpus), "GPU count"),
        _H("gpuVendor", "string", lambda h: [g.vendor for g in h.gpus], "GPU vendor"),
        _H("gpuModel", "string", lambda h: [g.model for g in h.gpus], "GPU model"),
        _H("inUse", "bool", lambda h: bool(h.inUse), "In use"),
        _H("clusterName", "string", lambda h: [c.name for c in h.inUse], "Cluster"),
        _H("creationTimestamp", "date", lambda h: h.created, "Created", sort=True),
        _H("lastModifiedTimestamp", "date", lambda h: h.modified, "Modified", sort=True),
    ]
}
# The spec's only sort enum is the cluster one; its names map onto host properties.
HOST_SORT_ALIASES = {"clusterName": "name", "clusterState": "state"}

CLUSTER_PROPS: dict[str, Prop[ClusterRecord]] = {
    p.name: p
    for p in [
        _C("clusterName", "string", lambda c: c.name, "Name", sort=True),
        _C("uid", "string", lambda c: c.uid, "UID"),
        _C(
            "clusterState",
            "string",
            lambda c: c.state,
            "State",
            ("Pending", "Provisioning", "Running", "Deleting", "Error"),
            sort=True,
        ),
        _C(
            "environment",
            "string",
            lambda c: "edge-native",
            "Environment",
            ("edge-native",),
            sort=True,
        ),
        _C("tags", "keyValue", lambda c: c.labels, "Tags"),
        _C("labels", "keyValue", lambda c: c.labels, "Labels"),
        _C("creationTimestamp", "date", lambda c: c.created, "Created", sort=True),
        _C("lastModifiedTimestamp", "date", lambda c: c.modified, "Modified", sort=True),
    ]
}


@dataclass
class Timings:
    """How long lifecycle steps take; changeable at run time (admin API), for new steps."""

    provisioning_seconds: float = 20.0
    deletion_seconds: float = 5.0
    pending_seconds: float = 1.0  # part of provisioning spent Pending before Provisioning


def new_uid() -> str:
    """A 24-hex uid, the shape of Palette's object ids."""
    return uuid.uuid4().hex[:24]


class PaletteSim:
    def __init__(
        self,
        state: StateData,
        *,
        clock: Clock,
        timings: Timings | None = None,
        store: StateFile | None = None,
    ) -> None:
        self.clock = clock
        self.timings = timings or Timings()
        self.store = store
        self.generation = 0
        self.provision_failures: list[str] = []  # messages of the next provisionings to fail
        self._summaries: dict[str, dict[str, Any]] = {}
        self._searches: OrderedDict[tuple[Any, ...], list[Any]] = OrderedDict()
        self.load(state)

    # ---- state --------------------------------------------------------------------------------

    def load(self, state: StateData) -> None:
        """Adopt `state` whole (start-up, admin reset)."""
        self.state = state
        self.hosts: dict[str, HostRecord] = {h.uid: h for h in state.hosts}
        self.clusters: dict[str, ClusterRecord] = {c.uid: c for c in state.clusters}
        self.by_config: dict[str, ClusterRecord] = {c.cloudConfigUid: c for c in state.clusters}
        self.profiles: dict[str, ProfileRecord] = {p.uid: p for p in state.profiles}
        self.projects: dict[str, ProjectRecord] = {p.uid: p for p in state.projects}
        self._summaries.clear()
        self._searches.clear()
        self.generation += 1

    def commit(self) -> None:
        """Record a change: invalidate cached searches, write the state file."""
        self.generation += 1
        self._searches.clear()
        if self.store is not None:
            self.store.save(self.state)

    def _touch_host(self, h: HostRecord, now: float) -> None:
        h.modified = now
        self._summaries.pop(h.uid, None)

    def tick(self) -> None:
        """Move every cluster to the state its timestamps and the clock say it is in."""
        now = self.clock()
        changed = False
        for c in self.state.clusters:
            if c.state == "Deleted":
                continue
            target = self._target_state(c, now)
            if target != c.state:
                self._enter(c, target, self._due(c, target, now))
                changed = True
        if changed:
            self.commit()

    @staticmethod
    def _target_state(c: ClusterRecord, now: float) -> ClusterState:
        if c.deletingAt is not None:
            return "Deleted" if c.deletedAt is not None and now >= c.deletedAt else "Deleting"
        if now < c.provisioningAt:
            return "Pending"
        if now < c.runningAt:
            return "Provisioning"
        return "Error" if c.failMessage else "Running"

    @staticmethod
    def _due(c: ClusterRecord, state: ClusterState, now: float) -> float:
        """When the step to `state` happened: its scheduled time, which may lie in the past
        if nobody looked (or the simulator was down) meanwhile."""
        due = {
            "Provisioning": c.provisioningAt,
            "Running": c.runningAt,
            "Error": c.runningAt,
            "Deleted": c.deletedAt,
        }.get(state)
        return min(due, now) if due is not None else now

    def _enter(self, c: ClusterRecord, state: ClusterState, now: float) -> None:
        c.state = state
        c.modified = now
        c.stateChangedAt = now
        if state == "Deleted":
            for uid in c.host_uids:
                self._release(uid, c.uid, now)

    def _claim(self, uid: str, c: ClusterRecord, now: float) -> None:
        h = self.hosts[uid]
        if all(r.uid != c.uid for r in h.inUse):
            h.inUse.append(ClusterRef(uid=c.uid, name=c.name))
        h.state = "in-use"
        self._touch_host(h, now)

    def _release(self, uid: str, cluster_uid: str, now: float) -> None:
        h = self.hosts.get(uid)
        if h is None:
            return
        h.inUse = [r for r in h.inUse if r.uid != cluster_uid]
        if not h.inUse and h.state == "in-use":
            h.state = "ready"
        self._touch_host(h, now)

    # ---- scope --------------------------------------------------------------------------------

    def authenticate(self, api_key: str | None) -> bool:
        return bool(api_key) and api_key in self.state.apiKeys

    def project(self, uid: str) -> ProjectRecord:
        p = self.projects.get(uid)
        if p is None:
            raise not_found("project", uid)
        return p

    @staticmethod
    def _in_scope(project_uid: str | None, scope: str | None) -> bool:
        return scope is None or project_uid is None or project_uid == scope

    def _need_project(self, scope: str | None) -> str:
        if scope is None:
            raise bad_request(
                "this call is project-scoped: send the ProjectUid header", "ProjectUidRequired"
            )
        return scope

    # ---- users and projects ------------------------------------------------------------------

    def user_info(self) -> dict[str, Any]:
        t = self.state.tenant
        return {"orgName": t.orgName, "tenantUid": t.uid, "userUid": t.userUid}

    def projects_meta(self, name: str | None) -> dict[str, Any]:
        items = [p for p in self.state.projects if name is None or p.name == name]
        return {"items": [{"metadata": {"name": p.name, "uid": p.uid}} for p in items]}

    # ---- edge hosts ---------------------------------------------------------------------------

    def host(self, uid: str, scope: str | None) -> HostRecord:
        self.tick()
        h = self.hosts.get(uid)
        if h is None or not self._in_scope(h.projectUid, scope):
            raise not_found("edge host", uid)
        return h

    def host_device(self, uid: str, scope: str | None) -> dict[str, Any]:
        h = self.host(uid, scope)
        return wire.host_device(h, self.projects.get(h.projectUid), self.state.tenant)

    def _summary(self, h: HostRecord) -> dict[str, Any]:
        out = self._summaries.get(h.uid)
        if out is None:
            out = wire.host_summary(h, self.projects.get(h.projectUid))
            self._summaries[h.uid] = out
        return out

    def warm(self) -> None:
        """Render every host's search summary now, so the first full sync pays no rendering."""
        for h in self.state.hosts:
            self._summary(h)

    def _cached(
        self,
        kind: str,
        scope: str | None,
        search: Search[Any],
        make: Callable[[], list[Any]],
    ) -> list[Any]:
        key = (kind, scope, search.digest, self.generation)
        hit = self._searches.get(key)
        if hit is None:
            hit = make()
            self._searches[key] = hit
            while len(self._searches) > 16:
                self._searches.popitem(last=False)
        return hit

    def search_hosts(self, scope: str | None, body: Any, query: dict[str, Any]) -> dict[str, Any]:
        """`POST /v1/dashboard/edgehosts/search`: `v1EdgeHostsSearchSummary`."""
        self.tick()
        search = compile_search(body, HOST_PROPS, HOST_SORT_ALIASES)
        page = self._page(query, search)
        matches = self._cached(
            "hosts",
            scope,
            search,
            lambda: search.apply(
                [h for h in self.state.hosts if self._in_scope(h.projectUid, scope)],
                lambda h: (h.name, h.uid),
            ),
        )
        chunk, meta = paginate(matches, page, search.digest)
        return {"items": [self._summary(h) for h in chunk], "listmeta": meta}

    @staticmethod
    def _page(query: dict[str, Any], search: Search[Any]) -> Page:
        return page_request(
            query.get("limit"), query.get("offset"), query.get("continue"), search.digest
        )

    def hosts_meta(
        self, scope: str | None, host_type: str | None, quick: str | None
    ) -> dict[str, Any]:
        """`GET /v1/edgehosts/metadata`: `v1EdgeHostsMeta`, every host, no paging."""
        self.tick()
        if host_type not in (None, "", "edge-native", "vsphere"):
            raise bad_request(
                f"query type must be edge-native or vsphere, not {host_type!r}", field="type"
            )
        if quick not in (None, "", "unusedEdgeHosts"):
            raise bad_request(
                f"query quickFilter must be unusedEdgeHosts, not {quick!r}", field="quickFilter"
            )
        hosts = [
            h
            for h in sorted(self.state.hosts, key=lambda h: (h.name, h.uid))
            if self._in_scope(h.projectUid, scope)
            and host_type != "vsphere"
            and not (quick == "unusedEdgeHosts" and h.inUse)
        ]
        return {"edgeHosts": [wire.host_meta(h) for h in hosts]}

    def host_tags(self, scope: str | None) -> dict[str, Any]:
        """`GET /v1/edgehosts/tags`: `v1EdgeHostsTags`."""
        self.tick()
        tags = {
            t
            for h in self.state.hosts
            if self._in_scope(h.projectUid, scope)
            for t in wire.tag_strings(h.tags)
        }
        return {"tags": sorted(tags)}

    def update_host_meta(self, uid: str, scope: str | None, body: Any) -> None:
        """`PUT /v1/edgehosts/{uid}/meta`: rename and retag (labels replaced whole)."""
        h = self.host(uid, scope)
        meta = body.get("metadata") if isinstance(body, dict) else None
        if not isinstance(meta, dict):
            raise bad_request("metadata is required", field="metadata")
        if meta.get("uid") not in (None, "", uid):
            raise bad_request(
                f"metadata.uid {meta['uid']!r} does not match the path", field="metadata.uid"
            )
        name = meta.get("name")
        if name is not None and (not isinstance(name, str) or not name):
            raise bad_request("metadata.name must be a non-empty string", field="metadata.name")
        labels = meta.get("labels")
        if labels is not None and not (
            isinstance(labels, dict)
            and all(isinstance(k, str) and k and isinstance(v, str) for k, v in labels.items())
        ):
            raise bad_request(
                "metadata.labels must map non-empty strings to strings", field="metadata.labels"
            )
        if (
            name
            and name != h.name
            and any(o.name == name for o in self.state.hosts if o.uid != uid)
        ):
            raise conflict(f"an edge host named '{name}' already exists", "DuplicateEdgeHostName")
        if name:
            h.name = name
        if labels is not None:
            h.tags = dict(labels)
        self._touch_host(h, self.clock())
        self.commit()

    def find_host(self, ref: str) -> HostRecord:
        """A host by uid or name (admin calls accept either)."""
        h = self.hosts.get(ref) or next((x for x in self.state.hosts if x.name == ref), None)
        if h is None:
            raise not_found("edge host", ref)
        return h

    def set_host(
        self, ref: str, *, health: str | None, message: str | None, state: str | None
    ) -> HostRecord:
        """Admin: change a host's health (with a message) or pairing state."""
        self.tick()
        h = self.find_host(ref)
        # Check everything before changing anything: a refused call leaves the host as it was.
        if health not in (None, "healthy", "unhealthy"):
            raise bad_request("health must be healthy or unhealthy", field="health")
        if state not in (None, "ready", "unpaired"):
            raise bad_request(
                "state must be ready or unpaired (in-use comes from clusters)", field="state"
            )
        if state is not None and h.inUse:
            raise conflict(f"edge host '{h.name}' is in use by a cluster", "EdgeHostInUse")
        if health is not None:
            h.health = "healthy" if health == "healthy" else "unhealthy"
            h.healthMessage = message or ""
        elif message is not None:
            h.healthMessage = message
        if state is not None:
            h.state = "ready" if state == "ready" else "unpaired"
        self._touch_host(h, self.clock())
        self.commit()
        return h

    # ---- cluster profiles ---------------------------------------------------------------------

    def _profile_visible(self, uid: str, scope: str | None) -> ProfileRecord | None:
        p = self.profiles.get(uid)
        return p if p is not None and self._in_scope(p.projectUid, scope) else None

    def profile(self, uid: str, scope: str | None) -> dict[str, Any]:
        self.tick()
        p = self._profile_visible(uid, scope)
        if p is None:
            raise not_found("cluster profile", uid)
        users = [
            c
            for c in self.state.clusters
            if c.state != "Deleted" and any(r.get("uid") == uid for r in c.profiles)
        ]
        return wire.profile(p, users)

    def profiles_meta(self, scope: str | None) -> dict[str, Any]:
        items = sorted(
            (p for p in self.state.profiles if self._in_scope(p.projectUid, scope)),
            key=lambda p: (p.name, p.uid),
        )
        return {"items": [wire.profile_meta(p) for p in items]}

    def import_profile(self, scope: str | None, body: Any, publish: bool) -> ProfileRecord:
        """`POST /v1/clusterprofiles/import`: a profile from an exported document."""
        if not isinstance(body, dict):
            raise bad_request("the body must be a JSON object", field="body")
        meta: dict[str, Any] = body["metadata"] if isinstance(body.get("metadata"), dict) else {}
        spec: dict[str, Any] = body["spec"] if isinstance(body.get("spec"), dict) else {}
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            raise bad_request("metadata.name is required", field="metadata.name")
        template: dict[str, Any] = (
            spec["template"] if isinstance(spec.get("template"), dict) else {}
        )
        packs_raw = template.get("packs") or []
        if not isinstance(packs_raw, list):
            raise bad_request("spec.template.packs must be a list", field="spec.template.packs")
        packs = []
        for i, pack in enumerate(packs_raw):
            if (
                not isinstance(pack, dict)
                or not isinstance(pack.get("name"), str)
                or not pack["name"]
            ):
                raise bad_request("each pack needs a name", field=f"spec.template.packs[{i}].name")
            packs.append(
                PackRecord.model_validate({k: v for k, v in pack.items() if v is not None})
            )
        version = spec.get("version") or "1.0.0"
        if any(
            p.name == name and p.version == version and self._in_scope(p.projectUid, scope)
            for p in self.state.profiles
        ):
            raise conflict(
                f"cluster profile '{name}' version {version} already exists",
                "DuplicateClusterProfile",
            )
        labels: dict[str, Any] = meta["labels"] if isinstance(meta.get("labels"), dict) else {}
        variables: list[Any] = spec["variables"] if isinstance(spec.get("variables"), list) else []
        now = self.clock()
        p = ProfileRecord(
            uid=new_uid(),
            name=name,
            version=str(version),
            cloudType=str(template.get("cloudType") or "edge-native"),
            type=str(template.get("type") or "cluster"),
            description=str(meta.get("description") or ""),
            labels={str(k): str(v) for k, v in labels.items()},
            packs=packs,
            variables=[v for v in variables if isinstance(v, dict)],
            published=publish,
            projectUid=scope,
            created=now,
            modified=now,
        )
        self.state.profiles.append(p)
        self.profiles[p.uid] = p
        self.commit()
        return p

    # ---- clusters -----------------------------------------------------------------------------

    def _name_taken(self, scope: str) -> Callable[[str], bool]:
        return lambda name: any(
            c.name == name and c.projectUid == scope and c.state != "Deleted"
            for c in self.state.clusters
        )

    def _check(self, scope: str, body: Any) -> tuple[cl.ClusterBody | None, list[cl.Problem]]:
        return cl.check_cluster(
            body,
            scope=scope,
            hosts=self.hosts,
            profile_visible=lambda uid: self._profile_visible(uid, scope),
            name_taken=self._name_taken(scope),
        )

    def validate_cluster(self, scope: str | None, body: Any) -> dict[str, Any]:
        """`POST /v1/spectroclusters/edge-native/validate`: every problem, nothing created."""
        self.tick()
        _, problems = self._check(self._need_project(scope), body)
        return cl.validator_response(body, problems)

    def create_cluster(self, scope: str | None, body: Any) -> ClusterRecord:
        """`POST /v1/spectroclusters/edge-native`: hosts become in-use at once, as in Palette."""
        self.tick()
        project = self._need_project(scope)
        parsed, problems = self._check(project, body)
        if parsed is None:
            raise cl.refusal(problems)
        now = self.clock()
        t = self.timings
        fail = self.provision_failures.pop(0) if self.provision_failures else None
        c = ClusterRecord(
            uid=new_uid(),
            name=parsed.name,
            projectUid=project,
            labels=parsed.labels,
            annotations=parsed.annotations,
            cloudConfigUid=new_uid(),
            cloudConfig=parsed.cloudConfig,
            clusterConfig=parsed.clusterConfig,
            profiles=parsed.profiles,
            pools=[
                PoolRecord(
                    name=p.name,
                    poolConfig=p.poolConfig,
                    edgeHosts=p.edgeHosts,
                    created=now,
                    modified=now,
                )
                for p in parsed.pools
            ],
            created=now,
            modified=now,
            provisioningAt=now + min(t.pending_seconds, t.provisioning_seconds),
            runningAt=now + t.provisioning_seconds,
            failMessage=fail,
            stateChangedAt=now,
        )
        self.state.clusters.append(c)
        self.clusters[c.uid] = c
        self.by_config[c.cloudConfigUid] = c
        for uid in c.host_uids:
            self._claim(uid, c, now)
        self.commit()
        self.tick()  # zero durations: straight to Running
        return c

    def cluster(self, uid: str, scope: str | None) -> ClusterRecord:
        self.tick()
        c = self.clusters.get(uid)
        if c is None or not self._in_scope(c.projectUid, scope):
            raise not_found("cluster", uid)
        return c

    def cluster_doc(self, uid: str, scope: str | None) -> dict[str, Any]:
        return cl.cluster(self.cluster(uid, scope), self.hosts, self.profiles)

    def cluster_summary(self, uid: str, scope: str | None) -> dict[str, Any]:
        return cl.cluster_summary(self.cluster(uid, scope), self.hosts, self.profiles)

    def cluster_hosts(self, uid: str, scope: str | None) -> dict[str, Any]:
        """`GET /v1/spectroclusters/{uid}/edge-native/edgeHosts`: `v1EdgeHostDevices`."""
        c = self.cluster(uid, scope)
        items = [
            wire.host_device(h, self.projects.get(h.projectUid), self.state.tenant)
            for u in c.host_uids
            if (h := self.hosts.get(u)) is not None
        ]
        return {
            "items": items,
            "listmeta": {"continue": "", "count": len(items), "limit": len(items), "offset": 0},
        }

    def kubeconfig(self, uid: str, scope: str | None, *, admin: bool) -> tuple[str, str]:
        """(file name, YAML) of a Running cluster's kubeconfig; 404 before it runs."""
        c = self.cluster(uid, scope)
        if c.state != "Running":
            raise PaletteError(
                404,
                "KubeconfigNotFound",
                f"cluster '{c.name}' has no kubeconfig while {c.state}",
                details={"state": c.state},
            )
        name = f"{c.name}{'-admin' if admin else ''}.kubeconfig"
        return name, kubeconfig.render(
            c.name,
            c.uid,
            c.projectUid,
            admin=admin,
            nodes=kubeconfig.nodes_of(c, self.hosts),
            kubernetes_version=cl._k8s_version(c, self.profiles),
        )

    def delete_cluster(self, uid: str, scope: str | None, force: bool) -> None:
        """`DELETE /v1/spectroclusters/{uid}`: Deleting for a while, then Deleted, hosts freed."""
        c = self.cluster(uid, scope)
        if c.state == "Deleted":
            return
        now = self.clock()
        if c.deletingAt is None:
            c.deletingAt = now
            c.deletedAt = now if force else now + self.timings.deletion_seconds
            self._enter(c, "Deleting", now)
        elif force:
            c.deletedAt = now
        self.commit()
        self.tick()

    def update_cluster_meta(self, uid: str, scope: str | None, body: Any) -> None:
        """`PATCH /v1/spectroclusters/{uid}/metadata`: name, labels, annotations (each given
        one replaced whole)."""
        c = self.cluster(uid, scope)
        self._writable(c)
        meta = body.get("metadata") if isinstance(body, dict) else None
        if not isinstance(meta, dict):
            raise bad_request("metadata is required", field="metadata")
        name = meta.get("name")
        if name is not None and (not isinstance(name, str) or not cl.NAME_RE.match(name)):
            raise bad_request(f"metadata.name {name!r} must be a DNS label", field="metadata.name")
        maps: dict[str, dict[str, str]] = {}
        for key in ("labels", "annotations"):
            value = meta.get(key)
            if value is None:
                continue
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise bad_request(
                    f"metadata.{key} must map strings to strings", field=f"metadata.{key}"
                )
            maps[key] = dict(value)
        if name and name != c.name and self._name_taken(c.projectUid)(name):
            raise conflict(f"a cluster named '{name}' already exists", "DuplicateClusterName")
        now = self.clock()
        if name and name != c.name:
            c.name = name
            for host_uid in c.host_uids:  # hosts show the holder's current name
                h = self.hosts[host_uid]
                h.inUse = [
                    ClusterRef(uid=r.uid, name=name) if r.uid == c.uid else r for r in h.inUse
                ]
                self._touch_host(h, now)
        c.labels = maps.get("labels", c.labels)
        c.annotations = maps.get("annotations", c.annotations)
        c.modified = now
        self.commit()

    def search_clusters(
        self, scope: str | None, body: Any, query: dict[str, Any]
    ) -> dict[str, Any]:
        """`POST /v1/dashboard/spectroclusters/search`: clusters not yet Deleted."""
        self.tick()
        search = compile_search(body, CLUSTER_PROPS)
        page = self._page(query, search)
        matches = self._cached(
            "clusters",
            scope,
            search,
            lambda: search.apply(
                [
                    c
                    for c in self.state.clusters
                    if c.state != "Deleted" and self._in_scope(c.projectUid, scope)
                ],
                lambda c: (c.name, c.uid),
            ),
        )
        chunk, meta = paginate(matches, page, search.digest)
        items = [
            cl.cluster_search_item(c, self.hosts, self.profiles, self.projects[c.projectUid].name)
            for c in chunk
        ]
        return {"items": items, "listmeta": meta}

    # ---- cloud configs and machine pools ------------------------------------------------------

    def config_cluster(self, config_uid: str, scope: str | None) -> ClusterRecord:
        self.tick()
        c = self.by_config.get(config_uid)
        if c is None or not self._in_scope(c.projectUid, scope):
            raise not_found("cloud config", config_uid)
        return c

    def cloud_config(self, config_uid: str, scope: str | None) -> dict[str, Any]:
        return cl.cloud_config(self.config_cluster(config_uid, scope), self.hosts)

    def _pool(self, c: ClusterRecord, name: str) -> PoolRecord:
        pool = c.pool(name)
        if pool is None:
            raise not_found("machine pool", name)
        return pool

    def machines(self, config_uid: str, name: str, scope: str | None) -> dict[str, Any]:
        c = self.config_cluster(config_uid, scope)
        return cl.machines(c, self._pool(c, name), self.hosts)

    def _writable(self, c: ClusterRecord) -> None:
        if c.state in ("Deleting", "Deleted"):
            raise conflict(f"cluster '{c.name}' is {c.state}", "ClusterNotWritable", state=c.state)

    def _checked_pool(self, c: ClusterRecord, body: Any, others: list[PoolRecord]) -> cl.PoolBody:
        seen = {uid: f"pool {p.name}" for p in others for uid in p.host_uids}
        pool, problems = cl.check_pool(
            body, "body", scope=c.projectUid, hosts=self.hosts, cluster_uid=c.uid, seen=seen
        )
        if pool is None:
            raise cl.refusal(problems)
        return pool

    def put_pool(self, config_uid: str, name: str, scope: str | None, body: Any) -> None:
        """Replace a pool: hosts added become in-use, hosts removed become ready."""
        c = self.config_cluster(config_uid, scope)
        self._writable(c)
        old = self._pool(c, name)
        pool = self._checked_pool(c, body, [p for p in c.pools if p.name != name])
        if pool.name != name:
            raise bad_request(
                f"poolConfig.name {pool.name!r} does not match the path's {name!r}",
                field="body.poolConfig.name",
            )
        if bool(pool.poolConfig.get("isControlPlane")) != old.is_control_plane:
            raise bad_request(
                "poolConfig.isControlPlane cannot change", field="body.poolConfig.isControlPlane"
            )
        now = self.clock()
        removed = set(old.host_uids) - {str(h["hostUid"]) for h in pool.edgeHosts}
        old.poolConfig, old.edgeHosts, old.modified = pool.poolConfig, pool.edgeHosts, now
        for uid in removed:
            self._release(uid, c.uid, now)
        for uid in old.host_uids:
            self._claim(uid, c, now)
        c.modified = now
        self.commit()

    def add_pool(self, config_uid: str, scope: str | None, body: Any) -> PoolRecord:
        c = self.config_cluster(config_uid, scope)
        self._writable(c)
        pool = self._checked_pool(c, body, list(c.pools))
        if c.pool(pool.name) is not None:
            raise conflict(f"machine pool '{pool.name}' already exists", "DuplicateMachinePool")
        if pool.poolConfig.get("isControlPlane"):
            raise bad_request(
                "a cluster has one control-plane pool", field="body.poolConfig.isControlPlane"
            )
        now = self.clock()
        record = PoolRecord(
            name=pool.name,
            poolConfig=pool.poolConfig,
            edgeHosts=pool.edgeHosts,
            created=now,
            modified=now,
        )
        c.pools.append(record)
        for uid in record.host_uids:
            self._claim(uid, c, now)
        c.modified = now
        self.commit()
        return record

    def delete_pool(self, config_uid: str, name: str, scope: str | None) -> None:
        c = self.config_cluster(config_uid, scope)
        self._writable(c)
        pool = self._pool(c, name)
        if pool.is_control_plane:
            raise bad_request("the control-plane pool cannot be removed", field="machinePoolName")
        now = self.clock()
        c.pools.remove(pool)
        for uid in pool.host_uids:
            self._release(uid, c.uid, now)
        c.modified = now
        self.commit()
