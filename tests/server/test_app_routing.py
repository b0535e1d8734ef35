"""The hub's bare ASGI app routes as the Starlette router did: health checks without a token,
the spoke join endpoint for POST only, every other request to the API (errors as `Status`,
audited), a plain 405 for methods the API does not serve, and the lifespan messages."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from axle.server.app import HubApp, _join_name
from tests.server.conftest import Hub

JOIN = "/apis/axle.dev/v1alpha1/spokes/s1/join"


def _audit_lines(hub: Hub) -> list[dict[str, Any]]:
    hub.audit.flush()
    text = (hub.tmp_path / "audit.log").read_text()
    return [json.loads(line) for line in text.splitlines()]


async def test_health_paths_need_no_token_and_answer_plain_ok(hub: Hub) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=hub.app), base_url="http://hub"
    ) as anon:
        for path in ("/healthz", "/readyz", "/livez"):
            r = await anon.get(path)
            assert (r.status_code, r.text) == (200, "ok")
            assert r.headers["content-type"].startswith("text/plain")
        assert (await anon.head("/livez")).status_code == 200
        # Another method on a health path is an API request: no token, no entry.
        r = await anon.post("/healthz")
        assert r.status_code == 401
        assert r.json()["kind"] == "Status"


async def test_other_methods_on_health_paths_are_api_errors(client: httpx.AsyncClient) -> None:
    r = await client.delete("/healthz")
    assert r.status_code == 405
    assert r.json()["reason"] == "MethodNotAllowed"


async def test_join_path_takes_posts_only(hub: Hub, client: httpx.AsyncClient) -> None:
    r = await client.post(JOIN, content=b"{}", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["kind"] == "Status"
    assert "bootstrapToken" in r.json()["message"]
    # GET of the join path is a request for an unknown subresource of spokes.
    r = await client.get(JOIN)
    assert r.status_code == 404
    assert r.json()["kind"] == "Status"
    lines = _audit_lines(hub)
    assert [(e["verb"], e["resource"], e["subresource"], e["code"]) for e in lines[-2:]] == [
        ("create", "spokes", "join", 400),
        ("get", "spokes", "join", 404),
    ]


def test_join_name_is_one_path_segment() -> None:
    assert _join_name(JOIN) == "s1"
    assert _join_name("/apis/axle.dev/v1alpha1/spokes/a/b/join") is None
    assert _join_name("/apis/axle.dev/v1alpha1/spokes//join") is None
    assert _join_name("/apis/axle.dev/v1alpha1/spokes/s1") is None


async def test_methods_the_api_does_not_serve_get_a_plain_405(client: httpx.AsyncClient) -> None:
    r = await client.request("TRACE", "/api/v1/namespaces")
    assert r.status_code == 405
    assert r.text == "Method Not Allowed"
    assert "PATCH" in r.headers["allow"]


async def test_resource_errors_are_status_objects_and_audited(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    r = await client.get("/api/v1/namespaces/default/configmaps/missing")
    assert r.status_code == 404
    body = r.json()
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "NotFound", 404)
    entry = _audit_lines(hub)[-1]
    assert (entry["verb"], entry["resource"], entry["name"], entry["code"]) == (
        "get",
        "configmaps",
        "missing",
        404,
    )


async def test_lifespan_starts_and_ends_watches_on_shutdown(hub: Hub) -> None:
    app = hub.app
    assert isinstance(app, HubApp)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        outbox.append(message)

    inbox.put_nowait({"type": "lifespan.startup"})
    task = asyncio.create_task(app({"type": "lifespan"}, inbox.get, send))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not outbox:
        assert loop.time() < deadline
        await asyncio.sleep(0.01)
    assert outbox == [{"type": "lifespan.startup.complete"}]
    inbox.put_nowait({"type": "lifespan.shutdown"})
    await asyncio.wait_for(task, 10)
    assert outbox[-1] == {"type": "lifespan.shutdown.complete"}
    assert hub.api.watches.closed
