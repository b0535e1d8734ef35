"""Finding Palette objects by name: clusters (for idempotent creates) and cluster profiles.

The ComputePool controller names each Palette cluster deterministically and, before creating
one, asks whether a cluster of that name already exists in the project: a hub killed between
sending the create and recording the uid must find its cluster again instead of making a
second one. `find_cluster_by_name` does that through `POST /v1/dashboard/spectroclusters/search`
(clusters not yet Deleted), filtered on `clusterName` and checked again here in case a server
ignores the filter.

A ProfileBundle names its Palette cluster profile by name (and optionally version or uid);
`resolve_cluster_profile` turns a name into the uid the create body needs through
`GET /v1/dashboard/clusterprofiles/metadata`.

Kept beside `PaletteClient` rather than in it: they are compositions of one paged call each,
used by one controller, and take the client as their first argument.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from axle.providers.base import BadResponse, NotFound
from axle.providers.palette.client import PAGE_LIMIT, PaletteClient
from axle.providers.palette.session import decode
from axle.providers.palette.wire import ListMeta, ObjectMeta, Wire


class ClusterSearchPage(Wire):
    items: list[dict[str, Any]] = Field(default_factory=list)
    listmeta: ListMeta | None = None


class ProfileMetaSpec(Wire):
    cloudType: str | None = None
    version: str | None = None


class ProfileMeta(Wire):
    metadata: ObjectMeta | None = None
    spec: ProfileMetaSpec | None = None


class ProfilesMetadata(Wire):
    items: list[ProfileMeta] = Field(default_factory=list)


def cluster_name_filter(name: str) -> dict[str, Any]:
    """The search body selecting clusters named exactly `name`."""
    condition = {
        "string": {
            "operator": "eq",
            "negation": False,
            "ignoreCase": False,
            "match": {"conjunction": "or", "values": [name]},
        }
    }
    return {
        "filter": {
            "conjunction": "and",
            "filterGroups": [
                {
                    "conjunction": "and",
                    "filters": [
                        {"property": "clusterName", "type": "string", "condition": condition}
                    ],
                }
            ],
        },
        "sort": [],
    }


async def find_cluster_by_name(client: PaletteClient, name: str) -> str | None:
    """The uid of the project's (not Deleted) cluster named `name`, or None."""
    body = cluster_name_filter(name)
    token: str | None = None
    seen: set[str] = set()
    while True:
        params: dict[str, Any] = {"limit": PAGE_LIMIT}
        if token:
            params["continue"] = token
        response = await client.session.request(
            "clusters.search",
            "POST",
            "/v1/dashboard/spectroclusters/search",
            params=params,
            json=body,
            idempotent=True,
        )
        page = decode(response, ClusterSearchPage, "clusters.search")
        for item in page.items:
            meta = item.get("metadata") if isinstance(item, dict) else None
            if isinstance(meta, dict) and meta.get("name") == name and meta.get("uid"):
                return str(meta["uid"])
        token = page.listmeta.continue_ if page.listmeta else None
        if not token:
            return None
        if token in seen:
            raise BadResponse("Palette clusters.search: continue token repeated")
        seen.add(token)


async def resolve_cluster_profile(
    client: PaletteClient, name: str, version: str | None = None
) -> str:
    """The uid of the cluster profile `name` (and `version`, when given); NotFound otherwise.

    Several versions of one name: the highest version string wins when none is asked for.
    """
    page = await client.session.call_json(
        "clusterprofiles.metadata",
        "GET",
        "/v1/dashboard/clusterprofiles/metadata",
        ProfilesMetadata,
    )
    matches = [
        p
        for p in page.items
        if p.metadata
        and p.metadata.uid
        and p.metadata.name == name
        and (version is None or (p.spec is not None and p.spec.version == version))
    ]
    if not matches:
        wanted = f"{name} version {version}" if version else name
        raise NotFound(f"Palette has no cluster profile {wanted} in this project")
    matches.sort(key=lambda p: (p.spec.version or "") if p.spec else "")
    meta = matches[-1].metadata
    assert meta is not None and meta.uid is not None
    return meta.uid
