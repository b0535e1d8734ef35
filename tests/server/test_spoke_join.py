"""The spoke join endpoint, spoke credentials and their RBAC, and revocation, over HTTP."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from axle.api import spoketokens as st
from axle.server.app import build_app
from axle.server.hub import bind_socket
from axle.server.spokeauth import SpokeTokenAuthenticator
from axle.settings import HubSettings
from tests.server.conftest import Hub, _open_store, ns_obj

SPOKES = "/apis/axle.dev/v1alpha1/spokes"
SECRETS = "/api/v1/namespaces/axle-system/secrets"
DIGEST = "sha256:" + "a" * 64


class SpokeHub(Hub):
    """The conftest hub, with the spoke authenticator chained in."""

    def __init__(self, tmp_path: Path, store: Any, settings: HubSettings) -> None:
        super().__init__(tmp_path, store, settings)
        self.spokes = SpokeTokenAuthenticator(store)
        self.app = build_app(
            settings,
            store,
            self.authenticator,
            self.authorizer,
            self.audit,
            bookmark_seconds=0.2,
            spokes=self.spokes,
        )

    def anonymous(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=self.base_url, timeout=10
        )


@pytest.fixture
async def shub(tmp_path: Path) -> AsyncIterator[SpokeHub]:
    store = await _open_store(tmp_path)
    await store.start()
    settings = HubSettings(data_dir=tmp_path, max_body_bytes=64 * 1024, controllers=False)
    h = SpokeHub(tmp_path, store, settings)
    await h.authorizer.start()
    await h.spokes.start()
    try:
        async with h.client() as admin:
            r = await admin.post("/api/v1/namespaces", json=ns_obj("axle-system"))
            assert r.status_code == 201, r.text
        yield h
    finally:
        h.api.watches.close_all()
        await h.spokes.stop()
        await h.authorizer.stop()
        h.audit.close()
        await store.close()


async def eventually(predicate: Any, *, within: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        last = value
        if value:
            return value
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


async def issue(hub: SpokeHub, spoke: str, **kwargs: Any) -> str:
    """What an admin (or the ComputePool controller) does: record a bootstrap token."""
    token = st.new_bootstrap_token()
    async with hub.client() as admin:
        r = await admin.post(SECRETS, json=st.bootstrap_secret(spoke, token, **kwargs))
        assert r.status_code == 201, r.text
    return token


async def join(hub: SpokeHub, spoke: str, token: str) -> httpx.Response:
    async with hub.anonymous() as anon:
        return await anon.post(f"{SPOKES}/{spoke}/join", json={"bootstrapToken": token})


async def joined(hub: SpokeHub, spoke: str) -> str:
    r = await join(hub, spoke, await issue(hub, spoke))
    assert r.status_code == 200, r.text
    token: str = r.json()["token"]
    await eventually(lambda: hub.spokes.spoke_of(token) == spoke, what="the credential to load")
    return token


def work(name: str, ns: str) -> dict[str, Any]:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "Work",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"artifact": {"url": "oci://registry/app", "digest": DIGEST}},
    }


def lease(ns: str) -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": st.SPOKE_LEASE_NAME, "namespace": ns},
        "spec": {
            "holderIdentity": "agent",
            "leaseDurationSeconds": 60,
            "renewTime": "2026-01-01T00:00:00.000000Z",
        },
    }


# --- join ----------------------------------------------------------------------------------


async def test_join_happy_path(shub: SpokeHub) -> None:
    token = await issue(shub, "gpu-a")
    r = await join(shub, "gpu-a", token)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["spoke"] == "gpu-a"
    assert body["namespace"] == "spoke-gpu-a"
    assert body["leaseDurationSeconds"] == 60
    credential = body["token"]
    assert credential and credential != token

    async with shub.client() as admin:
        # The bootstrap token is used up; the credential is recorded by its hash only.
        token_id = token.split(".")[0]
        assert (await admin.get(f"{SECRETS}/bootstrap-token-{token_id}")).status_code == 404
        cred = (await admin.get(f"{SECRETS}/spoke-credential-gpu-a")).json()
        assert cred["type"] == st.SPOKE_CREDENTIAL_TYPE
        assert credential not in json.dumps(cred)
        assert base64.b64decode(cred["data"]["token-sha256"]).decode() == st.sha256_hex(credential)
        spoke = (await admin.get(f"{SPOKES}/gpu-a")).json()
        assert spoke["spec"]["hubAcceptsClient"] is True
        assert cred["metadata"]["ownerReferences"][0]["uid"] == spoke["metadata"]["uid"]
        assert (await admin.get("/api/v1/namespaces/spoke-gpu-a")).status_code == 200
        rbac = "/apis/rbac.authorization.k8s.io/v1"
        role = (await admin.get(f"{rbac}/namespaces/spoke-gpu-a/roles/axle-spoke-agent")).json()
        assert {"works"} in [set(rule["resources"]) for rule in role["rules"]]
        rb = await admin.get(f"{rbac}/namespaces/spoke-gpu-a/rolebindings/axle-spoke-agent")
        assert rb.json()["subjects"][0]["name"] == "system:spoke:gpu-a"
        crb = (await admin.get(f"{rbac}/clusterrolebindings/axle-spoke-gpu-a")).json()
        assert crb["roleRef"]["name"] == "axle-spoke-gpu-a"
        cr = (await admin.get(f"{rbac}/clusterroles/axle-spoke-gpu-a")).json()
        assert cr["rules"][0]["resourceNames"] == ["gpu-a"]

    async with shub.client(credential) as agent:
        who = await agent.post(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            json={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        )
        assert who.status_code == 201, who.text
        info = who.json()["status"]["userInfo"]
        assert info["username"] == "system:spoke:gpu-a"
        assert set(info["groups"]) == {"system:spokes", "system:authenticated"}


async def test_join_uses_an_existing_spoke_and_its_lease_duration(shub: SpokeHub) -> None:
    async with shub.client() as admin:
        spoke = {"apiVersion": "axle.dev/v1alpha1", "kind": "Spoke", "metadata": {"name": "s1"}}
        spoke["spec"] = {"leaseDurationSeconds": 9}
        assert (await admin.post(SPOKES, json=spoke)).status_code == 201
    r = await join(shub, "s1", await issue(shub, "s1"))
    assert r.status_code == 200, r.text
    assert r.json()["leaseDurationSeconds"] == 9


async def test_a_bootstrap_token_is_one_time(shub: SpokeHub) -> None:
    token = await issue(shub, "gpu-a")
    assert (await join(shub, "gpu-a", token)).status_code == 200
    again = await join(shub, "gpu-a", token)
    assert again.status_code == 401
    status = again.json()
    assert status["reason"] == "Unauthorized"
    assert "already used" in status["message"]


async def test_concurrent_joins_with_one_token_let_exactly_one_through(shub: SpokeHub) -> None:
    token = await issue(shub, "gpu-a")
    answers = await asyncio.gather(*(join(shub, "gpu-a", token) for _ in range(5)))
    assert sorted(r.status_code for r in answers) == [200, 401, 401, 401, 401]


async def test_expired_token_is_401_and_discarded(shub: SpokeHub) -> None:
    past = datetime.now(UTC) - timedelta(hours=2)
    token = await issue(shub, "gpu-a", ttl_seconds=60, now=past)
    r = await join(shub, "gpu-a", token)
    assert r.status_code == 401
    assert "expired at" in r.json()["message"]
    async with shub.client() as admin:
        name = f"bootstrap-token-{token.split('.')[0]}"
        assert (await admin.get(f"{SECRETS}/{name}")).status_code == 404
        assert (await admin.get(f"{SPOKES}/gpu-a")).status_code == 404


async def test_wrong_spoke_name_is_401_and_keeps_the_token(shub: SpokeHub) -> None:
    token = await issue(shub, "gpu-a")
    r = await join(shub, "gpu-b", token)
    assert r.status_code == 401
    assert "not valid for spoke gpu-b" in r.json()["message"]
    assert (await join(shub, "gpu-a", token)).status_code == 200


async def test_wrong_secret_and_malformed_tokens_are_401(shub: SpokeHub) -> None:
    token = await issue(shub, "gpu-a")
    token_id, secret = token.split(".")
    forged = f"{token_id}.{'0' * 16 if secret != '0' * 16 else '1' * 16}"
    assert (await join(shub, "gpu-a", forged)).status_code == 401
    bad = await join(shub, "gpu-a", "not-a-token")
    assert bad.status_code == 401
    assert "malformed bootstrap token" in bad.json()["message"]
    assert (await join(shub, "gpu-a", token)).status_code == 200


async def test_bad_body_is_400(shub: SpokeHub) -> None:
    async with shub.anonymous() as anon:
        r = await anon.post(f"{SPOKES}/gpu-a/join", json={"token": "x"})
        assert r.status_code == 400
        r = await anon.post(
            f"{SPOKES}/gpu-a/join", content=b"{", headers={"content-type": "application/json"}
        )
        assert r.status_code == 400


async def test_hub_not_accepting_the_spoke_is_403_and_keeps_the_token(shub: SpokeHub) -> None:
    async with shub.client() as admin:
        spoke = {
            "apiVersion": "axle.dev/v1alpha1",
            "kind": "Spoke",
            "metadata": {"name": "gpu-a"},
            "spec": {"hubAcceptsClient": False},
        }
        assert (await admin.post(SPOKES, json=spoke)).status_code == 201
        token = await issue(shub, "gpu-a")
        r = await join(shub, "gpu-a", token)
        assert r.status_code == 403
        assert "hubAcceptsClient is false" in r.json()["message"]
        assert (await admin.get(f"{SECRETS}/spoke-credential-gpu-a")).status_code == 404
        patch = {"spec": {"hubAcceptsClient": True}}
        r = await admin.patch(
            f"{SPOKES}/gpu-a",
            json=patch,
            headers={"content-type": "application/merge-patch+json"},
        )
        assert r.status_code == 200, r.text
    assert (await join(shub, "gpu-a", token)).status_code == 200


async def test_join_is_audited_and_in_discovery(shub: SpokeHub) -> None:
    token = await issue(shub, "gpu-a")
    assert (await join(shub, "gpu-a", token)).status_code == 200
    assert (await join(shub, "gpu-a", token)).status_code == 401
    log_path = shub.tmp_path / "audit.log"

    def joins() -> list[dict[str, Any]]:
        if not log_path.exists():
            return []
        lines = [json.loads(line) for line in log_path.read_text().splitlines()]
        return [x for x in lines if x.get("subresource") == "join"]

    lines = await eventually(lambda: len(joins()) == 2 and joins(), what="two audit lines")
    assert [x["code"] for x in lines] == [200, 401]
    assert lines[0]["user"] == f"system:bootstrap:{token.split('.')[0]}"
    assert lines[0]["resource"] == "spokes" and lines[0]["name"] == "gpu-a"
    async with shub.client() as admin:
        doc = (await admin.get("/apis/axle.dev/v1alpha1")).json()
        entry = next(r for r in doc["resources"] if r["name"] == "spokes/join")
        assert entry["verbs"] == ["create"]


# --- what a spoke credential may do --------------------------------------------------------


async def test_spoke_credential_is_limited_to_its_own_works_status_and_lease(
    shub: SpokeHub,
) -> None:
    credential = await joined(shub, "gpu-a")
    await joined(shub, "gpu-b")
    async with shub.client() as admin:
        for ns in ("spoke-gpu-a", "spoke-gpu-b"):
            r = await admin.post(
                f"/apis/axle.dev/v1alpha1/namespaces/{ns}/works", json=work("w", ns)
            )
            assert r.status_code == 201, r.text
        tenant = {"apiVersion": "axle.dev/v1alpha1", "kind": "Tenant", "metadata": {"name": "t1"}}
        tenant["spec"] = {}
        assert (await admin.post("/apis/axle.dev/v1alpha1/tenants", json=tenant)).status_code == 201

    own = "/apis/axle.dev/v1alpha1/namespaces/spoke-gpu-a/works"
    other = "/apis/axle.dev/v1alpha1/namespaces/spoke-gpu-b/works"
    leases = "/apis/coordination.k8s.io/v1/namespaces/spoke-gpu-a/leases"
    async with shub.client(credential) as agent:
        # Allowed: its Works (read), their status (write), its Lease, its Spoke, Events.
        assert (await agent.get(own)).status_code == 200
        w = await agent.get(f"{own}/w")
        assert w.status_code == 200
        body = w.json()
        body["status"] = {"appliedDigest": DIGEST}
        r = await agent.put(f"{own}/w/status", json=body)
        assert r.status_code == 200, r.text
        assert r.json()["status"]["appliedDigest"] == DIGEST
        r = await agent.post(leases, json=lease("spoke-gpu-a"))
        assert r.status_code == 201, r.text
        renewed = r.json()
        renewed["spec"]["renewTime"] = "2026-01-01T00:00:20.000000Z"
        assert (await agent.put(f"{leases}/spoke-agent", json=renewed)).status_code == 200
        assert (await agent.get(f"{SPOKES}/gpu-a")).status_code == 200
        me = (await agent.get(f"{SPOKES}/gpu-a")).json()
        me["status"] = {"capacity": {"nvidia.com/gpu": 16}}
        r = await agent.put(f"{SPOKES}/gpu-a/status", json=me)
        assert r.status_code == 200, r.text
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "e1", "namespace": "spoke-gpu-a"},
            "involvedObject": {"kind": "Work", "name": "w", "namespace": "spoke-gpu-a"},
            "reason": "Applied",
            "message": "applied",
            "type": "Normal",
        }
        r = await agent.post("/api/v1/namespaces/spoke-gpu-a/events", json=event)
        assert r.status_code == 201, r.text
        assert (await agent.get("/apis")).status_code == 200

        # Allowed since issue 6: updating its own Works (the agent removes the cleanup finalizer
        # once it has pruned) and reading the Secrets of its own namespace (copied to its
        # cluster by reference). A stale body is a 409, not a 403: the request was authorized.
        assert (await agent.put(f"{own}/w", json=body)).status_code in (200, 409)
        assert (await agent.get("/api/v1/namespaces/spoke-gpu-a/secrets")).status_code == 200

        # Refused: another spoke's Works, creating or deleting Works, tenant objects, other
        # namespaces' Secrets, other Spokes.
        forbidden = [
            agent.get(other),
            agent.get(f"{other}/w"),
            agent.get(f"{other}?watch=1&timeoutSeconds=1"),
            agent.post(own, json=work("new", "spoke-gpu-a")),
            agent.put(f"{other}/w", json=body),
            agent.delete(f"{own}/w"),
            agent.get("/apis/axle.dev/v1alpha1/works"),
            agent.get("/apis/axle.dev/v1alpha1/tenants"),
            agent.get("/apis/axle.dev/v1alpha1/tenants/t1"),
            agent.get("/apis/axle.dev/v1alpha1/projects"),
            agent.get("/apis/axle.dev/v1alpha1/namespaces/tenant-t1/projects"),
            agent.get("/api/v1/namespaces/axle-system/secrets"),
            agent.get("/api/v1/namespaces/axle-system/secrets/spoke-credential-gpu-a"),
            agent.get("/api/v1/namespaces/spoke-gpu-b/secrets"),
            agent.get("/api/v1/namespaces"),
            agent.get(f"{SPOKES}/gpu-b"),
            agent.get(SPOKES),
            agent.delete(f"{SPOKES}/gpu-a"),
            agent.get("/apis/coordination.k8s.io/v1/namespaces/spoke-gpu-b/leases"),
            agent.get("/apis/rbac.authorization.k8s.io/v1/namespaces/spoke-gpu-a/roles"),
        ]
        for request, answer in zip(forbidden, await asyncio.gather(*forbidden), strict=True):
            assert answer.status_code == 403, (request, answer.request.url, answer.text)
            assert answer.json()["reason"] == "Forbidden"


# --- revocation ----------------------------------------------------------------------------


async def test_deleting_the_credential_secret_revokes_it(shub: SpokeHub) -> None:
    credential = await joined(shub, "gpu-a")
    async with shub.client(credential) as agent:
        assert (await agent.get(f"{SPOKES}/gpu-a")).status_code == 200
        async with shub.client() as admin:
            r = await admin.delete(f"{SECRETS}/spoke-credential-gpu-a")
            assert r.status_code == 200

        async def refused() -> bool:
            return (await agent.get(f"{SPOKES}/gpu-a")).status_code == 401

        await eventually(refused, what="the revoked credential to be refused")
        assert (await agent.get("/apis")).status_code == 401


async def test_joining_again_replaces_the_credential(shub: SpokeHub) -> None:
    first = await joined(shub, "gpu-a")
    second = await joined(shub, "gpu-a")
    assert first != second
    async with shub.client(first) as old, shub.client(second) as new:
        assert (await new.get(f"{SPOKES}/gpu-a")).status_code == 200
        assert (await old.get(f"{SPOKES}/gpu-a")).status_code == 401


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="off", ws="none", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        app.state.api.watches.close_all()
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


async def test_revocation_closes_open_watches(shub: SpokeHub) -> None:
    credential = await joined(shub, "gpu-a")
    async with shub.client() as admin:
        r = await admin.post(
            "/apis/axle.dev/v1alpha1/namespaces/spoke-gpu-a/works", json=work("w", "spoke-gpu-a")
        )
        assert r.status_code == 201
    async with serve(shub.app) as url:
        headers = {"Authorization": f"Bearer {credential}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as agent:
            path = "/apis/axle.dev/v1alpha1/namespaces/spoke-gpu-a/works?watch=1"
            async with agent.stream("GET", path) as stream:
                assert stream.status_code == 200
                lines = stream.aiter_lines()
                first = json.loads(await asyncio.wait_for(lines.__anext__(), 10))
                assert first["type"] == "ADDED"
                assert first["object"]["metadata"]["name"] == "w"
                async with shub.client() as admin:
                    r = await admin.delete(f"{SECRETS}/spoke-credential-gpu-a")
                    assert r.status_code == 200
                rest = [line async for line in lines]  # ends when the hub closes the stream
                assert rest == []
            assert (await agent.get(path.split("?")[0])).status_code == 401


async def test_other_users_watches_are_not_guarded(shub: SpokeHub) -> None:
    async with shub.client() as admin:
        r = await admin.get("/api/v1/namespaces?watch=1&timeoutSeconds=1")
        assert r.status_code == 200
        assert b"axle-system" in r.content


async def test_spoke_table_shows_nodes_and_gpus(shub: SpokeHub) -> None:
    credential = await joined(shub, "gpu-a")
    async with shub.client(credential) as agent:
        me = (await agent.get(f"{SPOKES}/gpu-a")).json()
        me["status"] = {"capacity": {"nodes": 3, "nvidia.com/gpu": 16}}
        assert (await agent.put(f"{SPOKES}/gpu-a/status", json=me)).status_code == 200
    async with shub.client() as admin:
        r = await admin.get(
            SPOKES, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
        )
        table = r.json()
        names = [c["name"] for c in table["columnDefinitions"]]
        row = dict(zip(names, table["rows"][0]["cells"], strict=True))
        assert (row["Name"], row["Nodes"], row["GPUs"]) == ("gpu-a", 3, 16)
