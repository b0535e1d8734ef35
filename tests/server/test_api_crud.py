"""Every verb through the app, in process: create/get/list/update/patch/delete, and the
error paths a user can hit (each a Status with the right code, and nothing stored)."""

from __future__ import annotations

import httpx

from tests.server.conftest import cm, ns_obj, tenant

CM = "/api/v1/namespaces/default/configmaps"
TENANTS = "/apis/axle.dev/v1alpha1/tenants"


async def _ns(client: httpx.AsyncClient, name: str = "default") -> None:
    r = await client.post("/api/v1/namespaces", json=ns_obj(name))
    assert r.status_code in (201, 409), r.text


async def test_create_get_list_update_delete(client: httpx.AsyncClient) -> None:
    await _ns(client)
    r = await client.post(CM, json=cm("one", a="1"))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["metadata"]["uid"] and created["metadata"]["resourceVersion"]
    assert created["data"] == {"a": "1"}

    r = await client.get(f"{CM}/one")
    assert r.status_code == 200 and r.json()["data"] == {"a": "1"}

    r = await client.get(CM)
    body = r.json()
    assert body["kind"] == "ConfigMapList" and body["apiVersion"] == "v1"
    assert [i["metadata"]["name"] for i in body["items"]] == ["one"]
    assert body["metadata"]["resourceVersion"]

    r = await client.get("/api/v1/configmaps")  # all namespaces
    assert [i["metadata"]["name"] for i in r.json()["items"]] == ["one"]

    updated = {**created, "data": {"a": "2"}}
    r = await client.put(f"{CM}/one", json=updated)
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"a": "2"}

    # A stale update (the old resourceVersion) is a 409 Conflict and changes nothing.
    r = await client.put(f"{CM}/one", json={**created, "data": {"a": "3"}})
    assert r.status_code == 409, r.text
    assert r.json()["reason"] == "Conflict"
    assert (await client.get(f"{CM}/one")).json()["data"] == {"a": "2"}

    r = await client.delete(f"{CM}/one")
    assert r.status_code == 200, r.text
    assert r.json()["kind"] == "Status" and r.json()["status"] == "Success"
    r = await client.get(f"{CM}/one")
    assert r.status_code == 404 and r.json()["reason"] == "NotFound"


async def test_cluster_scoped_and_alias_group(client: httpx.AsyncClient) -> None:
    r = await client.post(TENANTS, json=tenant("acme", displayName="Acme"))
    assert r.status_code == 201, r.text
    assert r.json()["apiVersion"] == "axle.dev/v1alpha1"
    # Read through the PaletteAI alias group: same object, the alias apiVersion.
    r = await client.get("/apis/spectrocloud.com/v1beta1/tenants/acme")
    assert r.status_code == 200, r.text
    assert r.json()["apiVersion"] == "spectrocloud.com/v1beta1"
    assert r.json()["spec"]["displayName"] == "Acme"
    # Written through the alias: stored as axle.dev.
    alias = {**tenant("beta"), "apiVersion": "spectrocloud.com/v1alpha1"}
    r = await client.post("/apis/spectrocloud.com/v1alpha1/tenants", json=alias)
    assert r.status_code == 201, r.text
    r = await client.get(f"{TENANTS}/beta")
    assert r.json()["apiVersion"] == "axle.dev/v1alpha1"


async def test_merge_patch_and_json_patch(client: httpx.AsyncClient) -> None:
    await _ns(client)
    await client.post(CM, json=cm("p", a="1"))
    r = await client.patch(
        f"{CM}/p",
        content=b'{"data":{"b":"2"}}',
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"a": "1", "b": "2"}
    r = await client.patch(
        f"{CM}/p",
        content=b'[{"op":"remove","path":"/data/a"}]',
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"b": "2"}
    r = await client.patch(
        f"{CM}/p", content=b'{"data":{}}', headers={"Content-Type": "text/plain"}
    )
    assert r.status_code == 415


async def test_server_side_apply_creates_then_updates(client: httpx.AsyncClient) -> None:
    await _ns(client)
    body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: s\ndata:\n  k: v\n"
    headers = {"Content-Type": "application/apply-patch+yaml"}
    r = await client.patch(f"{CM}/s?fieldManager=me", content=body, headers=headers)
    assert r.status_code == 201, r.text
    r = await client.patch(
        f"{CM}/s?fieldManager=me", content=body.replace(b"k: v", b"k: w"), headers=headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"k": "w"}
    r = await client.patch(f"{CM}/s", content=body, headers=headers)
    assert r.status_code == 400  # apply needs a field manager


async def test_dry_run_stores_nothing(client: httpx.AsyncClient) -> None:
    await _ns(client)
    r = await client.post(f"{CM}?dryRun=All", json=cm("dry", a="1"))
    assert r.status_code == 201, r.text
    assert r.json()["metadata"]["name"] == "dry"
    assert (await client.get(f"{CM}/dry")).status_code == 404
    await client.post(CM, json=cm("real", a="1"))
    current = (await client.get(f"{CM}/real")).json()
    r = await client.put(f"{CM}/real?dryRun=All", json={**current, "data": {"a": "9"}})
    assert r.status_code == 200 and r.json()["data"] == {"a": "9"}
    assert (await client.get(f"{CM}/real")).json()["data"] == {"a": "1"}
    r = await client.delete(f"{CM}/real?dryRun=All")
    assert r.status_code == 200
    assert (await client.get(f"{CM}/real")).status_code == 200
    r = await client.post(f"{CM}?dryRun=Some", json=cm("x"))
    assert r.status_code == 400


async def test_deletecollection_with_selector(client: httpx.AsyncClient) -> None:
    await _ns(client)
    for name, team in (("a", "x"), ("b", "x"), ("c", "y")):
        obj = cm(name)
        obj["metadata"]["labels"] = {"team": team}
        assert (await client.post(CM, json=obj)).status_code == 201
    r = await client.request("DELETE", f"{CM}?labelSelector=team%3Dx")
    assert r.status_code == 200, r.text
    assert sorted(i["metadata"]["name"] for i in r.json()["items"]) == ["a", "b"]
    names = [i["metadata"]["name"] for i in (await client.get(CM)).json()["items"]]
    assert names == ["c"]


async def test_status_subresource_ignores_spec(client: httpx.AsyncClient) -> None:
    r = await client.post(TENANTS, json=tenant("st", displayName="before"))
    obj = r.json()
    obj["spec"]["displayName"] = "changed"
    obj["status"] = {"phase": "Ready"}
    r = await client.put(f"{TENANTS}/st/status", json=obj)
    assert r.status_code == 200, r.text
    got = (await client.get(f"{TENANTS}/st")).json()
    assert got["status"]["phase"] == "Ready"
    assert got["spec"]["displayName"] == "before"
    # And the main resource ignores status.
    got["status"] = {"phase": "NotReady"}
    got["spec"]["displayName"] = "after"
    r = await client.put(f"{TENANTS}/st", json=got)
    assert r.status_code == 200, r.text
    again = (await client.get(f"{TENANTS}/st/status")).json()
    assert again["status"]["phase"] == "Ready" and again["spec"]["displayName"] == "after"


async def test_namespace_must_exist(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/namespaces/nope/configmaps", json=cm("x", ns="nope"))
    assert r.status_code == 404, r.text
    assert 'namespaces "nope" not found' in r.json()["message"]


async def test_namespace_mismatch_and_kind_mismatch(client: httpx.AsyncClient) -> None:
    await _ns(client)
    r = await client.post(CM, json=cm("x", ns="other"))
    assert r.status_code == 400 and r.json()["reason"] == "BadRequest"
    r = await client.post(CM, json={**cm("x"), "kind": "Secret"})
    assert r.status_code == 400, r.text
    assert (await client.get(f"{CM}/x")).status_code == 404


async def test_list_pagination_with_limit_and_continue(client: httpx.AsyncClient) -> None:
    await _ns(client)
    for i in range(5):
        assert (await client.post(CM, json=cm(f"page-{i}"))).status_code == 201
    names: list[str] = []
    url = f"{CM}?limit=2"
    pages = 0
    while True:
        body = (await client.get(url)).json()
        pages += 1
        names += [i["metadata"]["name"] for i in body["items"]]
        token = body["metadata"].get("continue")
        if not token:
            break
        url = f"{CM}?limit=2&continue={token}"
    assert names == [f"page-{i}" for i in range(5)] and pages == 3


async def test_apply_field_conflict_is_409_and_force_takes_over(
    client: httpx.AsyncClient,
) -> None:
    headers = {"Content-Type": "application/apply-patch+yaml"}
    body = (
        b"apiVersion: axle.dev/v1alpha1\nkind: Tenant\nmetadata:\n  name: own\n"
        b"spec:\n  displayName: A\n"
    )
    r = await client.patch(f"{TENANTS}/own?fieldManager=alice", content=body, headers=headers)
    assert r.status_code == 201, r.text
    other = body.replace(b"displayName: A", b"displayName: B")
    r = await client.patch(f"{TENANTS}/own?fieldManager=bob", content=other, headers=headers)
    assert r.status_code == 409 and r.json()["reason"] == "Conflict", r.text
    assert "spec.displayName" in r.json()["message"]
    r = await client.patch(
        f"{TENANTS}/own?fieldManager=bob&force=true", content=other, headers=headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["spec"]["displayName"] == "B"


async def test_dry_run_update_keeps_the_live_resource_version(client: httpx.AsyncClient) -> None:
    created = (await client.post(TENANTS, json=tenant("drv", displayName="a"))).json()
    r = await client.patch(
        f"{TENANTS}/drv?dryRun=All",
        content=b'{"spec":{"displayName":"b"}}',
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["spec"]["displayName"] == "b"
    assert r.json()["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert (await client.get(f"{TENANTS}/drv")).json()["spec"]["displayName"] == "a"


async def test_alias_group_patch_and_put(client: httpx.AsyncClient) -> None:
    alias = "/apis/spectrocloud.com/v1alpha1/tenants"
    await client.post(TENANTS, json=tenant("al", displayName="a"))
    r = await client.patch(
        f"{alias}/al",
        content=b'{"spec":{"displayName":"b"}}',
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["apiVersion"] == "spectrocloud.com/v1alpha1"
    obj = r.json()
    obj["spec"]["displayName"] = "c"
    r = await client.put(f"{alias}/al", json=obj)
    assert r.status_code == 200, r.text
    stored = (await client.get(f"{TENANTS}/al")).json()
    assert stored["apiVersion"] == "axle.dev/v1alpha1" and stored["spec"]["displayName"] == "c"


async def test_deletecollection_dry_run_deletes_nothing(client: httpx.AsyncClient) -> None:
    await _ns(client)
    await client.post(CM, json=cm("keep-me"))
    r = await client.request("DELETE", f"{CM}?dryRun=All")
    assert r.status_code == 200, r.text
    assert [i["metadata"]["name"] for i in r.json()["items"]] == ["keep-me"]
    assert (await client.get(f"{CM}/keep-me")).status_code == 200


async def test_immediate_delete_of_an_axle_kind_returns_the_object(
    client: httpx.AsyncClient,
) -> None:
    # Served like a custom resource. (A Tenant keeps a finalizer only when its controller
    # runs; none runs here, so the delete is immediate.)
    await client.post(TENANTS, json=tenant("gone"))
    r = await client.delete(f"{TENANTS}/gone")
    assert r.status_code == 200, r.text
    assert r.json()["kind"] == "Tenant" and r.json()["metadata"]["name"] == "gone"
    assert (await client.get(f"{TENANTS}/gone")).status_code == 404


async def test_applying_secret_string_data_again_is_a_no_op_for_any_manager(
    client: httpx.AsyncClient,
) -> None:
    await _ns(client)
    body = b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  pw: hunter2\n"
    headers = {"Content-Type": "application/apply-patch+yaml"}
    url = "/api/v1/namespaces/default/secrets/creds"
    first = await client.patch(f"{url}?fieldManager=axle", content=body, headers=headers)
    assert first.status_code == 201, first.text
    assert first.json()["data"] == {"pw": "aHVudGVyMg=="}
    again = await client.patch(f"{url}?fieldManager=axle", content=body, headers=headers)
    assert again.status_code == 200, again.text
    rv = first.json()["metadata"]["resourceVersion"]
    assert again.json()["metadata"]["resourceVersion"] == rv  # nothing changed, nothing written
    # Another manager applying the same value shares ownership instead of conflicting.
    other = await client.patch(f"{url}?fieldManager=kubectl", content=body, headers=headers)
    assert other.status_code == 200, other.text
    changed = body.replace(b"hunter2", b"hunter3")
    clash = await client.patch(f"{url}?fieldManager=kubectl", content=changed, headers=headers)
    assert clash.status_code == 409
    assert ".data.pw" in clash.json()["message"]


async def test_a_new_namespace_holds_the_lifecycle_finalizer_from_creation(
    client: httpx.AsyncClient,
) -> None:
    from axle.api.core import NAMESPACE_FINALIZER

    r = await client.post("/api/v1/namespaces", json=ns_obj("fresh"))
    assert r.status_code == 201, r.text
    assert NAMESPACE_FINALIZER in r.json()["metadata"]["finalizers"]
    # Deleting it before any controller ran still leaves it Terminating, not gone with its
    # contents left behind.
    await client.post("/api/v1/namespaces/fresh/configmaps", json=cm("left", "fresh"))
    r = await client.delete("/api/v1/namespaces/fresh")
    assert r.status_code == 200
    got = (await client.get("/api/v1/namespaces/fresh")).json()
    assert got["metadata"]["deletionTimestamp"]
