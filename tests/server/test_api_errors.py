"""Bad input and refused requests: each is a Kubernetes `Status` with the right code and
reason, and none of them stores anything."""

from __future__ import annotations

import httpx
import pytest

from tests.server.conftest import Hub, cm, ns_obj, tenant

TENANTS = "/apis/axle.dev/v1alpha1/tenants"
CM = "/api/v1/namespaces/default/configmaps"


def _status(r: httpx.Response, code: int, reason: str) -> dict[str, object]:
    assert r.status_code == code, r.text
    body = r.json()
    assert body["kind"] == "Status" and body["status"] == "Failure"
    assert body["code"] == code and body["reason"] == reason
    return body


async def _tenant_names(client: httpx.AsyncClient) -> list[str]:
    return [i["metadata"]["name"] for i in (await client.get(TENANTS)).json()["items"]]


async def test_unknown_kind_is_404(client: httpx.AsyncClient) -> None:
    _status(await client.get("/apis/axle.dev/v1alpha1/widgets"), 404, "NotFound")
    _status(await client.get("/apis/nope.example/v1/things"), 404, "NotFound")
    _status(await client.post("/api/v1/namespaces/default/widgets", json={}), 404, "NotFound")


async def test_unknown_field_is_422_with_field_path(client: httpx.AsyncClient) -> None:
    body = tenant("acme")
    body["spec"]["colour"] = "blue"
    status = _status(await client.post(TENANTS, json=body), 422, "Invalid")
    fields = [c["field"] for c in status["details"]["causes"]]  # type: ignore[index]
    assert "spec.colour" in fields
    assert await _tenant_names(client) == []


async def test_field_validation_ignore_and_warn_drop_unknown_fields(
    client: httpx.AsyncClient,
) -> None:
    body = tenant("ign")
    body["spec"]["colour"] = "blue"
    r = await client.post(f"{TENANTS}?fieldValidation=Ignore", json=body)
    assert r.status_code == 201, r.text
    assert "colour" not in r.json()["spec"]
    body["metadata"]["name"] = "warn"
    r = await client.post(f"{TENANTS}?fieldValidation=Warn", json=body)
    assert r.status_code == 201, r.text
    assert "spec.colour" in r.headers["warning"]
    _status(await client.post(f"{TENANTS}?fieldValidation=Maybe", json=body), 400, "BadRequest")


async def test_wrong_type_is_422(client: httpx.AsyncClient) -> None:
    body = tenant("acme")
    body["spec"]["gpuLimits"] = {"H100": "lots"}
    status = _status(await client.post(TENANTS, json=body), 422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "spec.gpuLimits.H100"  # type: ignore[index]
    assert await _tenant_names(client) == []


async def test_invalid_name_is_422(client: httpx.AsyncClient) -> None:
    status = _status(await client.post(TENANTS, json=tenant("Not_Valid")), 422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "metadata.name"  # type: ignore[index]
    assert await _tenant_names(client) == []


@pytest.mark.parametrize(
    ("content", "ctype"),
    [
        (b'{"apiVersion": "axle.dev/v1alpha1", "kind": ', "application/json"),
        (b"apiVersion: v1\nkind: [unclosed\n", "application/yaml"),
        (b"- just\n- a list\n", "application/yaml"),
        (b"", "application/json"),
    ],
)
async def test_malformed_body_is_400(client: httpx.AsyncClient, content: bytes, ctype: str) -> None:
    r = await client.post(TENANTS, content=content, headers={"Content-Type": ctype})
    _status(r, 400, "BadRequest")
    assert await _tenant_names(client) == []


async def test_yaml_body_is_accepted(client: httpx.AsyncClient) -> None:
    body = b"apiVersion: axle.dev/v1alpha1\nkind: Tenant\nmetadata:\n  name: yam\n"
    r = await client.post(TENANTS, content=body, headers={"Content-Type": "application/yaml"})
    assert r.status_code == 201, r.text


async def test_oversized_body_is_413(hub: Hub, client: httpx.AsyncClient) -> None:
    big = tenant("big", description="x" * (hub.settings.max_body_bytes + 10))
    _status(await client.post(TENANTS, json=big), 413, "RequestEntityTooLarge")

    # Without a Content-Length (chunked), the stream is cut off at the limit too.
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(100):
            yield b"x" * 4096

    r = await client.post(TENANTS, content=chunks(), headers={"Content-Type": "application/json"})
    _status(r, 413, "RequestEntityTooLarge")
    assert await _tenant_names(client) == []


async def test_already_exists_is_409(client: httpx.AsyncClient) -> None:
    assert (await client.post(TENANTS, json=tenant("dup"))).status_code == 201
    _status(await client.post(TENANTS, json=tenant("dup")), 409, "AlreadyExists")


async def test_name_mismatch_on_update_is_400(client: httpx.AsyncClient) -> None:
    created = (await client.post(TENANTS, json=tenant("one"))).json()
    _status(await client.put(f"{TENANTS}/two", json=created), 400, "BadRequest")


async def test_unauthenticated_is_401(hub: Hub) -> None:
    async with hub.client(token="wrong") as c:
        _status(await c.get(TENANTS), 401, "Unauthorized")
        _status(await c.get("/api"), 401, "Unauthorized")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=hub.app), base_url="http://hub"
    ) as anon:
        assert (await anon.get("/healthz")).text == "ok"
        assert (await anon.get("/readyz")).status_code == 200
        _status(await anon.get("/version"), 401, "Unauthorized")


async def test_forbidden_names_verb_resource_namespace(hub: Hub) -> None:
    token = hub.user("vera", ["viewers"])
    async with hub.client(token=token) as c:
        body = _status(await c.get("/api/v1/namespaces/team-a/configmaps"), 403, "Forbidden")
        message = str(body["message"])
        assert "vera" in message and "list" in message and "configmaps" in message
        assert "team-a" in message
        # Discovery is open to every authenticated user.
        assert (await c.get("/apis")).status_code == 200


async def test_method_not_allowed_and_wrong_scope(client: httpx.AsyncClient) -> None:
    _status(await client.post(f"{TENANTS}/x/status", json=tenant("x")), 405, "MethodNotAllowed")
    _status(await client.get("/api/v1/namespaces/default/tenants"), 404, "NotFound")
    _status(await client.get("/apis/axle.dev/v1alpha1/namespaces/default/tenants"), 404, "NotFound")


async def test_terminating_namespace_refuses_new_objects(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    ns = ns_obj("closing")
    ns["metadata"]["finalizers"] = ["example.com/hold"]
    assert (await client.post("/api/v1/namespaces", json=ns)).status_code == 201
    r = await client.delete("/api/v1/namespaces/closing")
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["deletionTimestamp"]
    r = await client.post("/api/v1/namespaces/closing/configmaps", json=cm("x", ns="closing"))
    _status(r, 403, "Forbidden")
    assert "being terminated" in r.json()["message"]


async def test_delete_preconditions(client: httpx.AsyncClient) -> None:
    created = (await client.post(TENANTS, json=tenant("pre"))).json()
    r = await client.request(
        "DELETE",
        f"{TENANTS}/pre",
        json={"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": "other"}},
    )
    _status(r, 409, "Conflict")
    r = await client.request(
        "DELETE",
        f"{TENANTS}/pre",
        json={"preconditions": {"uid": created["metadata"]["uid"]}},
    )
    assert r.status_code == 200, r.text
    _status(await client.delete(f"{TENANTS}/pre?propagationPolicy=Sideways"), 400, "BadRequest")


async def test_audit_records_denied_and_failed_requests(hub: Hub) -> None:
    async with hub.client(token="wrong") as c:
        await c.get(TENANTS)
    async with hub.client() as c:
        await c.get(f"{TENANTS}/missing")
    hub.audit.flush()
    lines = (hub.tmp_path / "audit.log").read_text().splitlines()
    assert any('"code":401' in line for line in lines)
    assert any('"code":404' in line and '"name":"missing"' in line for line in lines)


async def test_unexpected_error_is_a_500_status(
    hub: Hub, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(hub.store, "get", broken)
    body = _status(await client.get(f"{TENANTS}/x"), 500, "InternalError")
    assert "disk on fire" in str(body["message"])
