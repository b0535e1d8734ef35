"""Discovery documents: Kubernetes' legacy JSON (`/api`, `/apis`, `/apis/{g}`, `/apis/{g}/{v}`)
and aggregated discovery (`apidiscovery.k8s.io/v2`).

kubectl asks `/api` and `/apis` for aggregated discovery first (through its Accept header)
and, when it gets it, learns every group, version and resource in those two requests instead
of one per group/version; clients that ask for plain JSON get the legacy documents. Both are
built from the same entries, so they cannot disagree. Every document is rendered to bytes
once, when the app is built: discovery is hit by every kubectl invocation and never changes
at run time.
"""

from __future__ import annotations

from typing import Any

import orjson

from axle.server.resources import RouteTable, Served

# What every served kind's subresources support.
_STATUS_VERBS = ["get", "patch", "update"]


def _resource_entry(served: Served) -> dict[str, Any]:
    info = served.info
    entry: dict[str, Any] = {
        "name": info.plural,
        "singularName": info.singular,
        "namespaced": info.namespaced,
        "kind": info.kind,
        "verbs": sorted(info.verbs),
    }
    # The alias groups publish no short names or categories: kubectl warns about (and may pick
    # either of) two groups sharing a short name, and `tnt` must mean axle.dev's tenants.
    if info.short_names and not served.is_alias:
        entry["shortNames"] = list(info.short_names)
    if info.categories and not served.is_alias:
        entry["categories"] = list(info.categories)
    return entry


def _status_entry(served: Served) -> dict[str, Any]:
    info = served.info
    return {
        "name": f"{info.plural}/status",
        "singularName": "",
        "namespaced": info.namespaced,
        "kind": info.kind,
        "verbs": list(_STATUS_VERBS),
    }


class Discovery:
    """All discovery documents, pre-rendered to JSON bytes."""

    def __init__(
        self,
        routes: RouteTable,
        server_address: str = "",
        virtual: dict[tuple[str, str], list[dict[str, Any]]] | None = None,
    ) -> None:
        """`virtual`: resources served outside the registry (the self reviews), by group and
        version, as their discovery entries."""
        virtual = virtual or {}
        self.api_versions = orjson.dumps(
            {
                "kind": "APIVersions",
                "versions": ["v1"] if ("", "v1") in routes.by_gv else [],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
                ],
            }
        )
        groups: list[dict[str, Any]] = []
        self.group_docs: dict[str, bytes] = {}
        group_versions = {g: list(v) for g, v in routes.group_versions.items()}
        for group, version in virtual:
            group_versions.setdefault(group, [])
            if version not in group_versions[group]:
                group_versions[group].append(version)
        for group, versions in group_versions.items():
            if group == "":
                continue
            entry = _api_group(group, versions)
            groups.append(entry)
            self.group_docs[group] = orjson.dumps({"kind": "APIGroup", "apiVersion": "v1", **entry})
        self.api_group_list = orjson.dumps(
            {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
        )
        entries_by_gv: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for (group, version), table in routes.by_gv.items():
            resources: list[dict[str, Any]] = []
            for served in table.values():
                resources.append(_resource_entry(served))
                if served.info.has_status:
                    resources.append(_status_entry(served))
            entries_by_gv[(group, version)] = resources
        for gv, entries in virtual.items():
            entries_by_gv.setdefault(gv, []).extend(entries)
        self.resource_lists: dict[tuple[str, str], bytes] = {
            (group, version): orjson.dumps(
                {
                    "kind": "APIResourceList",
                    "apiVersion": "v1",
                    "groupVersion": f"{group}/{version}" if group else version,
                    "resources": entries,
                }
            )
            for (group, version), entries in entries_by_gv.items()
        }
        self.aggregated_api = _aggregated(
            [("", ["v1"])] if ("", "v1") in entries_by_gv else [], entries_by_gv
        )
        self.aggregated_apis = _aggregated(
            [(g, v) for g, v in group_versions.items() if g], entries_by_gv
        )


AGGREGATED_MEDIA_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def wants_aggregated(accept: str | None) -> bool:
    """Whether the Accept header's first usable choice is aggregated discovery (v2)."""
    for clause in (accept or "").split(","):
        parts = [p.strip() for p in clause.split(";")]
        params = dict(p.partition("=")[::2] for p in parts[1:])
        if params.get("as") == "APIGroupDiscoveryList":
            if params.get("g") == "apidiscovery.k8s.io" and params.get("v") == "v2":
                return True
            continue  # v2beta1: not served; look at the next choice
        if parts[0] in ("application/json", "*/*", "application/*"):
            return False
    return False


def _aggregated(
    groups: list[tuple[str, list[str]]],
    entries_by_gv: dict[tuple[str, str], list[dict[str, Any]]],
) -> bytes:
    """An `apidiscovery.k8s.io/v2` APIGroupDiscoveryList: every group, version and resource
    in one document, so kubectl discovers the whole server in one request per root."""
    items: list[dict[str, Any]] = []
    for group, versions in groups:
        out_versions = []
        for version in versions:
            resources: dict[str, dict[str, Any]] = {}
            for entry in entries_by_gv.get((group, version), []):
                kind = {"group": group, "version": version, "kind": entry["kind"]}
                name, _, sub = entry["name"].partition("/")
                if sub:
                    parent = resources.get(name)
                    if parent is not None:
                        parent.setdefault("subresources", []).append(
                            {"subresource": sub, "responseKind": kind, "verbs": entry["verbs"]}
                        )
                    continue
                res: dict[str, Any] = {
                    "resource": name,
                    "responseKind": kind,
                    "scope": "Namespaced" if entry["namespaced"] else "Cluster",
                    "singularResource": entry["singularName"],
                    "verbs": entry["verbs"],
                }
                for key in ("shortNames", "categories"):
                    if entry.get(key):
                        res[key] = entry[key]
                resources[name] = res
            out_versions.append(
                {"version": version, "resources": list(resources.values()), "freshness": "Current"}
            )
        items.append(
            {"metadata": {"name": group, "creationTimestamp": None}, "versions": out_versions}
        )
    return orjson.dumps(
        {
            "kind": "APIGroupDiscoveryList",
            "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {},
            "items": items,
        }
    )


def _api_group(group: str, versions: list[str]) -> dict[str, Any]:
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": gvs, "preferredVersion": gvs[0]}
