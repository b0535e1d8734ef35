"""Self reviews (`kubectl auth can-i`, `kubectl auth whoami`): answered by the RBAC
authorizer, never stored."""

from __future__ import annotations

import httpx

from tests.server.conftest import Hub

SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


def _ssar(**attrs: str) -> dict[str, object]:
    return {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attrs},
    }


async def test_access_review_asks_rbac(hub: Hub, client: httpx.AsyncClient) -> None:
    r = await client.post(SSAR, json=_ssar(verb="create", group="axle.dev", resource="tenants"))
    assert r.status_code == 201, r.text
    assert r.json()["status"]["allowed"] is True
    token = hub.user("vera", ["nobody-special"])
    async with hub.client(token=token) as c:
        r = await c.post(SSAR, json=_ssar(verb="create", group="axle.dev", resource="tenants"))
        assert r.status_code == 201, r.text
        assert r.json()["status"]["allowed"] is False
        r = await c.post(
            SSAR,
            json={"spec": {"nonResourceAttributes": {"path": "/version", "verb": "get"}}},
        )
        assert r.json()["status"]["allowed"] is True
        r = await c.post(SSAR, json={"spec": {}})
        assert r.status_code == 400


async def test_whoami(hub: Hub) -> None:
    token = hub.user("vera", ["team-a"])
    async with hub.client(token=token) as c:
        r = await c.post(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            json={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        )
    assert r.status_code == 201, r.text
    info = r.json()["status"]["userInfo"]
    assert info["username"] == "vera" and "team-a" in info["groups"]


async def test_reviews_are_discoverable(client: httpx.AsyncClient) -> None:
    groups = {g["name"] for g in (await client.get("/apis")).json()["groups"]}
    assert {"authorization.k8s.io", "authentication.k8s.io"} <= groups
    doc = (await client.get("/apis/authorization.k8s.io/v1")).json()
    assert [r["name"] for r in doc["resources"]] == ["selfsubjectaccessreviews"]
    r = await client.get(SSAR)
    assert r.status_code == 405
