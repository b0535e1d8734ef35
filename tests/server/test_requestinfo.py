"""Request parsing follows the Kubernetes API server's RequestInfoFactory."""

from __future__ import annotations

import pytest

from axle.server.requestinfo import parse_query, parse_request


@pytest.mark.parametrize(
    ("method", "path", "query", "expect"),
    [
        ("GET", "/api/v1/namespaces", "", ("list", "", "v1", "", "namespaces", "", "")),
        ("GET", "/api/v1/namespaces/a", "", ("get", "", "v1", "a", "namespaces", "a", "")),
        (
            "PUT",
            "/api/v1/namespaces/a/status",
            "",
            ("update", "", "v1", "a", "namespaces", "a", "status"),
        ),
        (
            "GET",
            "/api/v1/namespaces/a/configmaps",
            "watch=1",
            ("watch", "", "v1", "a", "configmaps", "", ""),
        ),
        (
            "GET",
            "/api/v1/watch/namespaces/a/configmaps",
            "",
            ("watch", "", "v1", "a", "configmaps", "", ""),
        ),
        (
            "PATCH",
            "/apis/axle.dev/v1alpha1/namespaces/p/projects/p/status",
            "",
            ("patch", "axle.dev", "v1alpha1", "p", "projects", "p", "status"),
        ),
        (
            "GET",
            "/apis/axle.dev/v1alpha1/tenants",
            "watch=true",
            ("watch", "axle.dev", "v1alpha1", "", "tenants", "", ""),
        ),
        (
            "DELETE",
            "/apis/axle.dev/v1alpha1/tenants",
            "",
            ("deletecollection", "axle.dev", "v1alpha1", "", "tenants", "", ""),
        ),
        (
            "DELETE",
            "/apis/axle.dev/v1alpha1/tenants/t",
            "",
            ("delete", "axle.dev", "v1alpha1", "", "tenants", "t", ""),
        ),
        ("POST", "/apis/g/v/x", "", ("create", "g", "v", "", "x", "", "")),
    ],
)
def test_resource_requests(method: str, path: str, query: str, expect: tuple[str, ...]) -> None:
    ri = parse_request(method, path, parse_query(query))
    assert ri.is_resource
    got = (ri.verb, ri.group, ri.version, ri.namespace, ri.resource, ri.name, ri.subresource)
    assert got == expect


@pytest.mark.parametrize(
    "path",
    [
        "/api",
        "/api/v1",
        "/apis",
        "/apis/axle.dev",
        "/apis/axle.dev/v1alpha1",
        "/version",
        "/openapi/v3/apis/axle.dev/v1alpha1",
        "/",
    ],
)
def test_non_resource_requests(path: str) -> None:
    ri = parse_request("GET", path, {})
    assert not ri.is_resource and ri.verb == "get"


def test_query_flags() -> None:
    q = parse_query("watch=true&dryRun=All&dryRun=All&labelSelector=a%3Db%2Cc")
    assert q["labelSelector"] == "a=b,c" and q["dryRun"] == "All"
    assert parse_request("GET", "/api/v1/pods", q).flag("watch")
