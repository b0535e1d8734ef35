"""Turn a request's method, path and query into the Kubernetes request attributes.

Mirrors the API server's RequestInfoFactory (k8s.io/apiserver/pkg/endpoints/request): a path is
either a resource request (`/api/v1/...`, `/apis/{group}/{version}/...`, optionally with the
legacy `watch/` prefix) or a non-resource request (`/version`, `/healthz`, discovery roots).
Authorization, audit and dispatch all read the same parsed value, so a path is interpreted in
exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs

# `namespaces/{name}/status` and `/finalize` are subresources of the Namespace itself, not a
# resource named "status" inside namespace {name}.
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})

_TRUE = frozenset({"1", "true", "True", "TRUE", "yes"})


@dataclass
class RequestInfo:
    """What a request asks for, in the terms RBAC and audit use."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    is_resource: bool = False
    verb: str = ""
    api_prefix: str = ""  # "api" or "apis"
    group: str = ""  # as written in the URL (aliases not yet resolved)
    version: str = ""
    namespace: str = ""
    resource: str = ""
    name: str = ""
    subresource: str = ""
    parts: tuple[str, ...] = ()

    def flag(self, key: str) -> bool:
        """A boolean query parameter (`watch=1`, `watch=true`)."""
        return self.query.get(key, "") in _TRUE


def parse_query(raw: str) -> dict[str, str]:
    """The query string as a flat dict (the last value of a repeated key wins)."""
    if not raw:
        return {}
    return {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}


def parse_request(method: str, path: str, query: dict[str, str]) -> RequestInfo:
    """Parse one request the way the Kubernetes API server does."""
    info = RequestInfo(method=method, path=path, query=query)
    segments = [s for s in path.strip("/").split("/") if s]
    if not segments or segments[0] not in ("api", "apis"):
        info.verb = method.lower()
        return info
    prefix = segments[0]
    rest = segments[1:]
    if prefix == "api":
        if len(rest) < 2:  # `/api` or `/api/v1` are discovery
            info.verb = method.lower()
            return info
        group, version, rest = "", rest[0], rest[1:]
    else:
        if len(rest) < 3:  # `/apis`, `/apis/{g}`, `/apis/{g}/{v}` are discovery
            info.verb = method.lower()
            return info
        group, version, rest = rest[0], rest[1], rest[2:]

    info.is_resource = True
    info.api_prefix = prefix
    info.group = group
    info.version = version

    legacy_watch = False
    if rest and rest[0] == "watch":
        legacy_watch = True
        rest = rest[1:]

    if rest and rest[0] == "namespaces" and len(rest) > 1:
        info.namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    info.parts = tuple(rest)
    if len(rest) >= 3:
        info.subresource = rest[2]
    if len(rest) >= 2:
        info.name = rest[1]
    if len(rest) >= 1:
        info.resource = rest[0]

    method = method.upper()
    if legacy_watch or (method == "GET" and info.flag("watch")):
        info.verb = "watch"
    elif method in ("GET", "HEAD"):
        info.verb = "get" if info.name else "list"
    elif method == "POST":
        info.verb = "create"
    elif method == "PUT":
        info.verb = "update"
    elif method == "PATCH":
        info.verb = "patch"
    elif method == "DELETE":
        info.verb = "delete" if info.name else "deletecollection"
    else:
        info.verb = method.lower()
    return info
