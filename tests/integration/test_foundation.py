"""The must-show list of the hub foundation, against a real `axle up` process.

Each test starts its own hub on a free port with a fresh data dir and talks to it over HTTP
exactly as kubectl or the axle CLI would.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from axle.server.auth import add_user
from tests.integration.hubproc import HubProcess, obj, wait_for

pytestmark = pytest.mark.integration

AXLE = "/apis/axle.dev/v1alpha1"
TENANTS = f"{AXLE}/tenants"


def tenant(name: str, groups: list[str], **limits: int) -> dict[str, Any]:
    spec: dict[str, Any] = {"tenantRoleMapping": {"groups": groups}}
    if limits:
        spec["gpuLimits"] = limits
    return obj("axle.dev/v1alpha1", "Tenant", name, spec=spec)


def project(name: str, tenant_name: str, **role_mapping: list[str]) -> dict[str, Any]:
    return obj(
        "axle.dev/v1alpha1",
        "Project",
        name,
        name,
        spec={"tenantRef": {"name": tenant_name}, "roleMapping": role_mapping},
    )


def phase(http: httpx.Client, path: str) -> str | None:
    r = http.get(path)
    return (r.json().get("status") or {}).get("phase") if r.status_code == 200 else None


def make_ready_project(http: httpx.Client, t: str, p: str, **roles: list[str]) -> None:
    if http.get(f"{TENANTS}/{t}").status_code == 404:
        assert http.post(TENANTS, json=tenant(t, [f"{t}-admins"])).status_code == 201
    r = http.post(f"{AXLE}/namespaces/{p}/projects", json=project(p, t, **roles))
    assert r.status_code == 201, r.text
    wait_for(
        lambda: phase(http, f"{AXLE}/namespaces/{p}/projects/{p}") == "Ready",
        what=f"project {p} Ready",
    )


def test_stale_update_gets_409(hub: HubProcess) -> None:
    with hub.client() as http:
        cm = obj("v1", "ConfigMap", "cfg", "default", data={"a": "1"})
        created = http.post("/api/v1/namespaces/default/configmaps", json=cm).json()
        first = dict(created, data={"a": "2"})
        assert http.put("/api/v1/namespaces/default/configmaps/cfg", json=first).status_code == 200
        stale = dict(created, data={"a": "3"})  # still carries the old resourceVersion
        r = http.put("/api/v1/namespaces/default/configmaps/cfg", json=stale)
        assert r.status_code == 409
        assert r.json()["reason"] == "Conflict"
        assert http.get("/api/v1/namespaces/default/configmaps/cfg").json()["data"] == {"a": "2"}


def test_watch_resume_sees_each_later_event_once_in_order(hub: HubProcess) -> None:
    path = "/api/v1/namespaces/default/configmaps"
    with hub.client() as http:
        first = http.post(path, json=obj("v1", "ConfigMap", "w0", "default")).json()
        start_rv = first["metadata"]["resourceVersion"]
        expected: list[tuple[str, str, str]] = []
        for i in range(1, 6):
            r = http.post(path, json=obj("v1", "ConfigMap", f"w{i}", "default", data={"i": "0"}))
            expected.append(("ADDED", f"w{i}", r.json()["metadata"]["resourceVersion"]))
        for i in range(1, 4):
            r = http.patch(
                f"{path}/w{i}",
                content=json.dumps({"data": {"i": "1"}}),
                headers={"Content-Type": "application/merge-patch+json"},
            )
            expected.append(("MODIFIED", f"w{i}", r.json()["metadata"]["resourceVersion"]))
        r = http.delete(f"{path}/w2")
        assert r.status_code == 200
        deleted_rv = http.get(path).json()["metadata"]["resourceVersion"]
        expected.append(("DELETED", "w2", deleted_rv))

        seen: list[tuple[str, str, str]] = []
        params = {"watch": "1", "resourceVersion": start_rv, "timeoutSeconds": "5"}
        with http.stream("GET", path, params=params, timeout=10) as stream:
            for line in stream.iter_lines():
                if not line.strip():
                    continue
                ev = json.loads(line)
                meta = ev["object"]["metadata"]
                seen.append((ev["type"], meta["name"], meta["resourceVersion"]))
                if len(seen) >= len(expected):
                    break
        assert [(t, n) for t, n, _ in seen] == [(t, n) for t, n, _ in expected]
        revs = [int(rv) for _, _, rv in seen]
        assert revs == sorted(revs) and len(set(revs)) == len(revs)


def test_project_viewer_reads_but_cannot_create(hub: HubProcess) -> None:
    viewer = add_user(hub.data_dir, "vera", ["research-viewers"])
    with hub.client() as admin:
        make_ready_project(admin, "acme", "research", viewer=["research-viewers"])
        admin.post(
            "/api/v1/namespaces/research/configmaps",
            json=obj("v1", "ConfigMap", "notes", "research"),
        )
    with hub.client(viewer) as http:

        def can_read() -> bool:
            return http.get(f"{AXLE}/namespaces/research/projects/research").status_code == 200

        wait_for(can_read, what="viewer can read its project")
        assert http.get(f"{AXLE}/namespaces/research/aiworkloads").status_code == 200
        r = http.post(
            f"{AXLE}/namespaces/research/computepools",
            json=obj("axle.dev/v1alpha1", "ComputePool", "pool-a", "research", spec={}),
        )
        assert r.status_code == 403, r.text
        status = r.json()
        assert status["reason"] == "Forbidden"
        assert 'User "vera" cannot create resource "computepools"' in status["message"]
        assert 'in the namespace "research"' in status["message"]


def test_tenant_a_member_reads_nothing_of_tenant_b(hub: HubProcess) -> None:
    alice = add_user(hub.data_dir, "alice", ["a-admins", "a-editors"])
    with hub.client() as admin:
        admin.post(TENANTS, json=tenant("tenant-a-co", ["a-admins"]))
        admin.post(TENANTS, json=tenant("tenant-b-co", ["b-admins"]))
        make_ready_project(admin, "tenant-a-co", "proj-a", editor=["a-editors"])
        make_ready_project(admin, "tenant-b-co", "proj-b", editor=["b-editors"])
        admin.post(
            "/api/v1/namespaces/proj-b/secrets",
            json=obj("v1", "Secret", "b-secret", "proj-b", stringData={"k": "v"}),
        )
    with hub.client(alice) as http:
        wait_for(
            lambda: http.get(f"{AXLE}/namespaces/proj-a/projects").status_code == 200,
            what="alice can read her own project",
        )
        for path in (
            f"{AXLE}/namespaces/proj-b/projects",
            f"{AXLE}/namespaces/proj-b/projects/proj-b",
            f"{AXLE}/namespaces/proj-b/settings",
            "/api/v1/namespaces/proj-b/secrets",
            "/api/v1/namespaces/proj-b/secrets/b-secret",
            "/api/v1/namespaces/proj-b/configmaps",
            "/api/v1/namespaces/tenant-tenant-b-co/configmaps",
            f"{TENANTS}/tenant-b-co",
            f"{AXLE}/projects",
        ):
            r = http.get(path)
            assert r.status_code == 403, (path, r.status_code, r.text)


def test_secret_value_not_stored_in_clear(hub: HubProcess) -> None:
    marker = "s3cr3t-value-that-must-not-leak-7f3a"
    with hub.client() as http:
        r = http.post(
            "/api/v1/namespaces/default/secrets",
            json=obj("v1", "Secret", "creds", "default", stringData={"password": marker}),
        )
        assert r.status_code == 201, r.text
        got = http.get("/api/v1/namespaces/default/secrets/creds").json()
        assert got["data"]["password"]  # served back (base64) to an authorised reader
    hub.stop()
    import base64

    needles = [marker.encode(), base64.b64encode(marker.encode())]
    for f in hub.data_dir.iterdir():
        if f.is_file():
            blob = f.read_bytes()
            for needle in needles:
                assert needle not in blob, f"secret found in clear in {f.name}"


def test_tenant_deletion_waits_for_projects(hub: HubProcess) -> None:
    with hub.client() as http:
        make_ready_project(http, "doomed", "doomed-proj")
        assert http.delete(f"{TENANTS}/doomed").status_code in (200, 202)

        def held() -> dict[str, Any] | None:
            t = http.get(f"{TENANTS}/doomed").json()
            return t if (t.get("status") or {}).get("phase") == "Deleting" else None

        t = wait_for(held, what="tenant Deleting")
        assert t["metadata"].get("deletionTimestamp")
        messages = " ".join(c.get("message", "") for c in t["status"].get("conditions", []))
        assert "doomed-proj" in messages
        assert http.delete(f"{AXLE}/namespaces/doomed-proj/projects/doomed-proj").status_code in (
            200,
            202,
        )
        wait_for(
            lambda: http.get(f"{TENANTS}/doomed").status_code == 404,
            what="tenant removed after its projects",
        )


def test_restart_loses_nothing(tmp_path: Path) -> None:
    hub = HubProcess(tmp_path / "data").start()
    try:
        with hub.client() as http:
            make_ready_project(http, "keep", "keep-proj")
            for i in range(20):
                r = http.post(
                    "/api/v1/namespaces/default/configmaps",
                    json=obj("v1", "ConfigMap", f"c{i}", "default", data={"i": str(i)}),
                )
                assert r.status_code == 201
            before = {
                p: http.get(p).json()["items"]
                for p in ("/api/v1/namespaces/default/configmaps", TENANTS, f"{AXLE}/projects")
            }
            rv_before = int(http.get(TENANTS).json()["metadata"]["resourceVersion"])
        assert hub.stop() == 0
        hub.start()
        with hub.client() as http:
            for path, items in before.items():
                after = http.get(path).json()["items"]
                key = {(o["metadata"].get("namespace"), o["metadata"]["name"]) for o in items}
                assert key <= {
                    (o["metadata"].get("namespace"), o["metadata"]["name"]) for o in after
                }
            r = http.post(
                "/api/v1/namespaces/default/configmaps",
                json=obj("v1", "ConfigMap", "after", "default"),
            )
            assert int(r.json()["metadata"]["resourceVersion"]) > rv_before
    finally:
        hub.stop()


@pytest.mark.parametrize(
    ("body", "content_type", "code", "reason", "field"),
    [
        (
            {
                **tenant("bad-field", ["g"]),
                "spec": {"tenantRoleMapping": {"groups": ["g"]}, "bogus": 1},
            },
            "application/json",
            422,
            "Invalid",
            "spec.bogus",
        ),
        (
            {**tenant("bad-type", ["g"]), "spec": {"tenantRoleMapping": {"groups": "g"}}},
            "application/json",
            422,
            "Invalid",
            "spec.tenantRoleMapping.groups",
        ),
        (tenant("Bad_Name!", ["g"]), "application/json", 422, "Invalid", "metadata.name"),
        (
            "apiVersion: axle.dev/v1alpha1\nkind: Tenant\nmetadata: {name: [oops\n",
            "application/yaml",
            400,
            "BadRequest",
            None,
        ),
        ("{not json", "application/json", 400, "BadRequest", None),
    ],
)
def test_bad_input_is_refused_and_stores_nothing(
    hub: HubProcess, body: Any, content_type: str, code: int, reason: str, field: str | None
) -> None:
    with hub.client() as http:
        before = http.get(TENANTS).json()["items"]
        content = (
            body
            if isinstance(body, str)
            else (yaml.safe_dump(body) if "yaml" in content_type else json.dumps(body))
        )
        r = http.post(TENANTS, content=content, headers={"Content-Type": content_type})
        assert r.status_code == code, r.text
        status = r.json()
        assert status["kind"] == "Status" and status["reason"] == reason
        assert status["message"]
        if field:
            fields = [c["field"] for c in status["details"]["causes"]]
            assert any(f.startswith(field) for f in fields), fields
        assert http.get(TENANTS).json()["items"] == before


def test_oversized_body_and_unknown_kind(hub: HubProcess) -> None:
    with hub.client() as http:
        big = obj("v1", "ConfigMap", "big", "default", data={"x": "y" * (4 * 1024 * 1024)})
        r = http.post("/api/v1/namespaces/default/configmaps", json=big)
        assert r.status_code == 413 and r.json()["reason"] == "RequestEntityTooLarge"
        assert http.get("/api/v1/namespaces/default/configmaps/big").status_code == 404
        r = http.post(
            f"{AXLE}/namespaces/default/frobnicators",
            json=obj("axle.dev/v1alpha1", "Frobnicator", "f", "default"),
        )
        assert r.status_code == 404 and r.json()["kind"] == "Status"


def test_concurrent_writers_lose_nothing(hub: HubProcess) -> None:
    """Every acknowledged create is there afterwards, even from many threads at once."""
    acked: list[str] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        with hub.client() as http:
            for i in range(25):
                name = f"cc-{n}-{i}"
                r = http.post(
                    "/api/v1/namespaces/default/configmaps",
                    json=obj("v1", "ConfigMap", name, "default"),
                )
                if r.status_code == 201:
                    with lock:
                        acked.append(name)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with hub.client() as http:
        names = {
            o["metadata"]["name"]
            for o in http.get("/api/v1/namespaces/default/configmaps").json()["items"]
        }
    assert len(acked) == 200
    assert set(acked) <= names
