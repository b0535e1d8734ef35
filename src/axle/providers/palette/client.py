"""`PaletteClient`: the Palette implementation of the `Provider` protocol.

One client per Palette integration (per Settings), one connection pool, async throughout.
Each public method is one Palette operation (or a few run concurrently, for `get_cluster`);
retries, errors and request counting live in `PaletteSession`. Method names say what the hub
wants; docstrings name the Palette endpoint they call, so the contract
(`palette-api-notes.md`) can be checked against the code.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from axle.providers.base import (
    BadResponse,
    Capability,
    ClusterInfo,
    Host,
    InvalidConfiguration,
    InvalidRequest,
    NotFound,
)
from axle.providers.palette.clusters import (
    ClusterProfile,
    ClusterStatusOnly,
    ClusterSummary,
    EdgeNativeCloudConfig,
    EdgeNativeClusterEntity,
    MachinePool,
    SpectroCluster,
    ValidationResult,
    cluster_info,
)
from axle.providers.palette.credentials import PaletteCredentials
from axle.providers.palette.mapping import host_from_wire
from axle.providers.palette.retry import RetryPolicy
from axle.providers.palette.session import PaletteSession, Sleep, decode, json_of
from axle.providers.palette.wire import (
    EdgeHostList,
    EdgeHostSearchPage,
    Project,
    ProjectsMetadata,
    SearchSchema,
    Uid,
    UserInfo,
    tag_filter,
)

PAGE_LIMIT = 50  # the API's maximum page size
MAX_PAGES = 10_000  # 500,000 hosts: beyond that a server handing out fresh tokens is looping


class PaletteClient:
    """Async client for one Palette tenant/project; implements `Provider` and `ClusterProvider`.

    `transport` replaces the network (httpx.MockTransport in unit tests); `sleep` and `rng`
    make the retry loop testable. `tag_property` is the search property tags are filtered on;
    by default it is learned once from `GET /v1/dashboard/edgehosts/search/schema` (the spec
    does not name the filterable properties, only that call does), and when the server offers
    no `keyValue` property the tags are filtered here alone.
    """

    name = "palette"
    capabilities: frozenset[Capability] = frozenset(
        {Capability.INVENTORY, Capability.CLUSTERS, Capability.KUBECONFIG, Capability.MACHINE_POOLS}
    )

    def __init__(
        self,
        creds: PaletteCredentials,
        *,
        timeout: float = 10.0,
        max_retries: int = 4,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] | None = None,
        tag_property: str | None = None,
    ) -> None:
        self.creds = creds
        self._tag_property: str | None = tag_property
        self._tag_property_known = tag_property is not None
        self._tag_property_lock = asyncio.Lock()
        self.session = PaletteSession(
            creds,
            timeout=timeout,
            policy=RetryPolicy(
                max_retries=max_retries, backoff_base=backoff_base, backoff_max=backoff_max
            ),
            transport=transport,
            sleep=sleep,
            rng=rng,
            clock=clock or time.time,
        )

    @property
    def calls(self) -> Mapping[str, int]:
        """HTTP requests made so far, per operation (every retry counts)."""
        return self.session.calls

    @property
    def requests_made(self) -> int:
        return self.session.requests_made

    async def close(self) -> None:
        await self.session.close()

    async def __aenter__(self) -> PaletteClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- credentials and projects ------------------------------------------------------

    async def user_info(self) -> UserInfo:
        """`GET /v1/users/info` (tenant-scoped): who the API key belongs to."""
        return await self.session.call_json(
            "users.info", "GET", "/v1/users/info", UserInfo, project_scoped=False
        )

    async def check_credentials(self) -> None:
        """A cheap authenticated call; raises InvalidCredentials, Unreachable, ..."""
        await self.user_info()

    async def get_project(self, uid: str) -> Project:
        """`GET /v1/projects/{uid}` (tenant-scoped: no ProjectUid header)."""
        return await self.session.call_json(
            "projects.get", "GET", f"/v1/projects/{uid}", Project, project_scoped=False
        )

    async def check_project(self) -> None:
        """That `defaultProjectID` names a project the key can see.

        `check_credentials` proves the key only (`/v1/users/info` is tenant-scoped); a wrong
        project id would otherwise surface later as a 403 on every inventory call.
        """
        project_id = self.creds.defaultProjectID
        try:
            await self.get_project(project_id)
        except NotFound:
            raise InvalidConfiguration(
                f"Palette at {self.creds.hostUrl} has no project {project_id!r} (defaultProjectID)",
                fields=("defaultProjectID",),
            ) from None

    async def list_projects(self) -> dict[str, str]:
        """`GET /v1/dashboard/projects/metadata` (tenant-scoped): project name -> uid."""
        page = await self.session.call_json(
            "projects.metadata",
            "GET",
            "/v1/dashboard/projects/metadata",
            ProjectsMetadata,
            project_scoped=False,
        )
        return {
            p.metadata.name: p.metadata.uid
            for p in page.items
            if p.metadata and p.metadata.name and p.metadata.uid
        }

    # ---- inventory ---------------------------------------------------------------------

    async def list_hosts(self, tags: Mapping[str, str] | None = None) -> list[Host]:
        """Every edge host carrying all of `tags`, across all pages, each once.

        `POST /v1/dashboard/edgehosts/search?limit=50[&continue=T]` with a keyValue filter
        per tag, repeated with `listmeta.continue` until it is empty. Tags are checked again
        here, in case a server ignores the filter; a host seen on two pages (the list may
        shift while paging) is kept once, last record wins.
        """
        wanted = dict(tags or {})
        prop = await self.tag_property() if wanted else None
        body = tag_filter(wanted if prop else {}, property_name=prop or "")
        hosts: dict[str, Host] = {}
        token: str | None = None
        seen_tokens: set[str] = set()
        while True:
            params: dict[str, Any] = {"limit": PAGE_LIMIT}
            if token:
                params["continue"] = token
            response = await self.session.request(
                "edgehosts.search",
                "POST",
                "/v1/dashboard/edgehosts/search",
                params=params,
                json=body,
                idempotent=True,  # a search changes nothing
            )
            page = decode(response, EdgeHostSearchPage, "edgehosts.search")
            for raw in page.items:
                host = host_from_wire(raw)
                if all(host.tags.get(k) == v for k, v in wanted.items()):
                    hosts[host.uid] = host
            token = page.listmeta.continue_ if page.listmeta else None
            if not token:
                return list(hosts.values())
            if token in seen_tokens or len(seen_tokens) >= MAX_PAGES:
                raise BadResponse(
                    f"Palette edgehosts.search: continue token {token!r} repeated or more "
                    f"than {MAX_PAGES} pages; the server's pagination loops"
                )
            seen_tokens.add(token)

    async def tag_property(self) -> str | None:
        """The search property holding host tags, learned once from the search schema.

        Prefers a `keyValue` property named like tags (`tags`, `labels`, ...), else the only
        `keyValue` one; None when there is none (or no schema endpoint): filter client-side.
        """
        async with self._tag_property_lock:
            if not self._tag_property_known:
                try:
                    schema = await self.search_schema()
                except NotFound:
                    schema = None
                self._tag_property = _pick_tag_property(schema)
                self._tag_property_known = True
            return self._tag_property

    async def get_host(self, uid: str) -> Host:
        """`GET /v1/edgehosts/{uid}`: one host's full record."""
        response = await self.session.request("edgehosts.get", "GET", f"/v1/edgehosts/{uid}")
        try:
            raw = json_of(response)
        except ValueError:
            raise BadResponse(f"Palette edgehosts.get {uid!r}: body is not JSON") from None
        return host_from_wire(raw)

    async def search_schema(self) -> SearchSchema:
        """`GET /v1/dashboard/edgehosts/search/schema`: the properties search can filter on."""
        return await self.session.call_json(
            "edgehosts.searchSchema", "GET", "/v1/dashboard/edgehosts/search/schema", SearchSchema
        )

    # ---- clusters ----------------------------------------------------------------------

    async def validate_edge_native_cluster(self, spec: EdgeNativeClusterEntity) -> list[str]:
        """`POST /v1/spectroclusters/edge-native/validate`: problems found (empty when none).

        A dry run changes nothing, so it is retried like a read.
        """
        result = await self.session.call_json(
            "clusters.validate",
            "POST",
            "/v1/spectroclusters/edge-native/validate",
            ValidationResult,
            json=spec.to_wire(),
            idempotent=True,
        )
        return result.errors()

    async def create_edge_native_cluster(self, spec: EdgeNativeClusterEntity) -> str:
        """`POST /v1/spectroclusters/edge-native` -> the new cluster's uid.

        Not idempotent: retried only on 429 or when the request never left (see session).
        """
        uid = await self.session.call_json(
            "clusters.create",
            "POST",
            "/v1/spectroclusters/edge-native",
            Uid,
            json=spec.to_wire(),
        )
        return uid.uid

    async def get_cluster(self, uid: str) -> ClusterInfo:
        """State, conditions, health, API endpoints and hosts of one cluster.

        Three reads run concurrently: `GET /v1/spectroclusters/{uid}` (state, conditions,
        endpoints, cloud config ref), `GET /v1/dashboard/spectroclusters/{uid}` (health,
        kubeconfig readiness; optional) and `GET /v1/spectroclusters/{uid}/edge-native/edgeHosts`.
        """
        cluster_t = self.session.call_json(
            "clusters.get", "GET", f"/v1/spectroclusters/{uid}", SpectroCluster
        )
        summary_t = self._optional(
            self.session.call_json(
                "clusters.summary", "GET", f"/v1/dashboard/spectroclusters/{uid}", ClusterSummary
            )
        )
        hosts_t = self._optional(
            self.session.call_json(
                "clusters.edgeHosts",
                "GET",
                f"/v1/spectroclusters/{uid}/edge-native/edgeHosts",
                EdgeHostList,
            )
        )
        cluster, summary, hosts = await asyncio.gather(cluster_t, summary_t, hosts_t)
        host_uids: list[str] = []
        for raw in hosts.items if hosts else []:
            meta = raw.get("metadata") if isinstance(raw, dict) else None
            host_uid = meta.get("uid") if isinstance(meta, dict) else None
            if isinstance(host_uid, str) and host_uid and host_uid not in host_uids:
                host_uids.append(host_uid)
        return cluster_info(uid, cluster, summary, host_uids)

    @staticmethod
    async def _optional(call: Any) -> Any:
        # A summary or host list that is not there (yet) does not hide the cluster itself.
        try:
            return await call
        except NotFound:
            return None

    async def get_cluster_status(self, uid: str) -> str:
        """`GET /v1/spectroclusters/{uid}/status`: the lifecycle state only."""
        result = await self.session.call_json(
            "clusters.status", "GET", f"/v1/spectroclusters/{uid}/status", ClusterStatusOnly
        )
        if result.status is None or not result.status.state:
            raise BadResponse(f"Palette clusters.status {uid!r}: missing status.state")
        return result.status.state

    async def delete_cluster(self, uid: str, force: bool = False) -> None:
        """`DELETE /v1/spectroclusters/{uid}[?forceDelete=true]` (force skips cleanup)."""
        params = {"forceDelete": "true"} if force else None
        await self.session.request(
            "clusters.delete", "DELETE", f"/v1/spectroclusters/{uid}", params=params
        )

    async def download_kubeconfig(self, uid: str, admin: bool = False) -> str:
        """`GET /v1/spectroclusters/{uid}/assets/{kubeconfig|adminKubeconfig}` as text."""
        asset = "adminKubeconfig" if admin else "kubeconfig"
        response = await self.session.request(
            f"clusters.{asset}",
            "GET",
            f"/v1/spectroclusters/{uid}/assets/{asset}",
            accept="application/octet-stream",
        )
        try:
            text = response.content.decode("utf-8")
        except UnicodeDecodeError:
            raise BadResponse(f"Palette clusters.{asset} {uid!r}: not UTF-8 text") from None
        if not text.strip():
            raise BadResponse(f"Palette clusters.{asset} {uid!r}: empty kubeconfig")
        return text

    # ---- machine pools -----------------------------------------------------------------

    async def get_cloud_config(self, config_uid: str) -> EdgeNativeCloudConfig:
        """`GET /v1/cloudconfigs/edge-native/{configUid}`: the cluster's machine pools."""
        return await self.session.call_json(
            "cloudconfigs.get",
            "GET",
            f"/v1/cloudconfigs/edge-native/{config_uid}",
            EdgeNativeCloudConfig,
        )

    async def update_machine_pool(self, config_uid: str, pool_name: str, pool: MachinePool) -> None:
        """`PUT .../machinePools/{name}`: replace a pool (add or remove hosts, resize)."""
        if pool.poolConfig.name != pool_name:
            raise InvalidRequest(
                f"machine pool update: body names pool {pool.poolConfig.name!r}, "
                f"path names {pool_name!r}"
            )
        await self.session.request(
            "machinePools.update",
            "PUT",
            f"/v1/cloudconfigs/edge-native/{config_uid}/machinePools/{pool_name}",
            json=pool.to_wire(),
        )

    # ---- cluster profiles --------------------------------------------------------------

    async def get_cluster_profile(self, uid: str) -> ClusterProfile:
        """`GET /v1/clusterprofiles/{uid}`."""
        return await self.session.call_json(
            "clusterprofiles.get", "GET", f"/v1/clusterprofiles/{uid}", ClusterProfile
        )


_TAG_NAMES = ("tags", "labels", "metadata.labels", "tag")


def _pick_tag_property(schema: SearchSchema | None) -> str | None:
    props = schema.schema_.properties if schema and schema.schema_ else None
    key_values = [
        p.name for p in props or [] if p.name and p.type == "keyValue" and not p.isDeprecated
    ]
    for name in _TAG_NAMES:
        if name in key_values:
            return name
    for name in key_values:
        if "tag" in name.lower() or "label" in name.lower():
            return name
    return key_values[0] if len(key_values) == 1 else None
