"""The hub side of the spoke protocol against a real `axle up` process, the test playing agent.

Over plain HTTP, exactly as an agent would: an admin records a bootstrap token, the "agent"
joins with it, heartbeats on its Lease, watches its Works and resumes the watch from the last
resourceVersion after a disconnect, writes Work status, goes silent (Available=Unknown) and
comes back, and is locked out when the hub stops accepting it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from axle.api import spoketokens as st
from tests.integration.hubproc import HubProcess, wait_for

pytestmark = pytest.mark.integration

SPOKES = "/apis/axle.dev/v1alpha1/spokes"
WORKS = "/apis/axle.dev/v1alpha1/namespaces/spoke-edge-1/works"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/spoke-edge-1/leases"
DIGEST = "sha256:" + "b" * 64


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    proc = HubProcess(tmp_path / "data").start()
    try:
        yield proc
    finally:
        proc.stop()


def work(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "Work",
        "metadata": {"name": name, "namespace": "spoke-edge-1"},
        "spec": {"artifact": {"url": "oci://registry.local/app", "digest": DIGEST}},
    }


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def condition(http: httpx.Client, type_: str) -> dict[str, Any]:
    spoke = http.get(f"{SPOKES}/edge-1").json()
    for cond in (spoke.get("status") or {}).get("conditions") or []:
        if cond["type"] == type_:
            return dict(cond)
    return {}


def renew(agent: httpx.Client) -> None:
    current = agent.get(f"{LEASES}/spoke-agent")
    if current.status_code == 404:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "spoke-agent", "namespace": "spoke-edge-1"},
            "spec": {"holderIdentity": "edge-1", "leaseDurationSeconds": 1, "renewTime": now()},
        }
        r = agent.post(LEASES, json=body)
        assert r.status_code == 201, r.text
        return
    lease = current.json()
    lease["spec"]["renewTime"] = now()
    r = agent.put(f"{LEASES}/spoke-agent", json=lease)
    assert r.status_code == 200, r.text


def test_agent_joins_heartbeats_watches_with_resume_and_is_revoked(hub: HubProcess) -> None:
    with hub.client() as admin, httpx.Client(base_url=hub.url, timeout=10) as anon:
        spoke = {"apiVersion": "axle.dev/v1alpha1", "kind": "Spoke", "metadata": {"name": "edge-1"}}
        spoke["spec"] = {"leaseDurationSeconds": 1}
        assert admin.post(SPOKES, json=spoke).status_code == 201
        token = st.new_bootstrap_token()
        secret = st.bootstrap_secret("edge-1", token, ttl_seconds=600)
        r = admin.post("/api/v1/namespaces/axle-system/secrets", json=secret)
        assert r.status_code == 201, r.text

        r = anon.post(f"{SPOKES}/edge-1/join", json={"bootstrapToken": token})
        assert r.status_code == 200, r.text
        joined = r.json()
        assert joined["namespace"] == "spoke-edge-1" and joined["leaseDurationSeconds"] == 1
        again = anon.post(f"{SPOKES}/edge-1/join", json={"bootstrapToken": token})
        assert again.status_code == 401

        headers = {"Authorization": f"Bearer {joined['token']}"}
        with httpx.Client(base_url=hub.url, headers=headers, timeout=10) as agent:
            renew(agent)
            wait_for(
                lambda: (
                    condition(admin, "Joined").get("reason") == "AgentJoined"
                    and condition(admin, "Available").get("reason") == "LeaseRenewed"
                ),
                what="Joined and Available",
            )

            # Watch with resume: list, watch from the list's revision, drop the connection,
            # miss a change while away, then resume from the last revision seen.
            assert admin.post(WORKS, json=work("w1")).status_code == 201
            listed = agent.get(WORKS).json()
            assert [w["metadata"]["name"] for w in listed["items"]] == ["w1"]
            rv = listed["metadata"]["resourceVersion"]
            params = {"watch": "1", "resourceVersion": rv, "timeoutSeconds": "30"}
            with agent.stream("GET", WORKS, params=params) as stream:
                assert stream.status_code == 200
                assert admin.post(WORKS, json=work("w2")).status_code == 201
                event = json.loads(next(stream.iter_lines()))
            assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "w2")
            rv = event["object"]["metadata"]["resourceVersion"]
            assert admin.post(WORKS, json=work("w3")).status_code == 201  # while away
            params["resourceVersion"] = rv
            with agent.stream("GET", WORKS, params=params) as stream:
                event = json.loads(next(stream.iter_lines()))
            assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "w3")

            w3 = agent.get(f"{WORKS}/w3").json()
            w3["status"] = {"appliedDigest": DIGEST}
            assert agent.put(f"{WORKS}/w3/status", json=w3).status_code == 200
            assert admin.get(f"{WORKS}/w3").json()["status"]["appliedDigest"] == DIGEST

            # A spoke credential reaches nothing else.
            assert agent.post(WORKS, json=work("w4")).status_code == 403
            assert agent.get("/api/v1/namespaces/axle-system/secrets").status_code == 403
            assert agent.get("/apis/axle.dev/v1alpha1/tenants").status_code == 403

            # Silence: three missed periods make the spoke Unknown; a renewal recovers it.
            unknown = wait_for(
                lambda: (
                    condition(admin, "Available").get("status") == "Unknown"
                    and condition(admin, "Available")
                ),
                what="Available=Unknown after missed heartbeats",
            )
            assert unknown["reason"] == "LeaseExpired"
            assert unknown["message"].startswith("spoke edge-1 unreachable since ")
            renew(agent)
            wait_for(
                lambda: condition(admin, "Available").get("status") == "True",
                what="Available=True after a renewal",
            )

            # Revocation: the hub stops accepting the spoke; its open watch ends, then 401.
            with agent.stream("GET", WORKS, params={"watch": "1"}) as stream:
                lines = stream.iter_lines()
                assert json.loads(next(lines))["type"] == "ADDED"
                r = admin.patch(
                    f"{SPOKES}/edge-1",
                    json={"spec": {"hubAcceptsClient": False}},
                    headers={"Content-Type": "application/merge-patch+json"},
                )
                assert r.status_code == 200, r.text
                rest = [json.loads(line) for line in lines if line]
            assert {e["type"] for e in rest} <= {"ADDED"}  # the stream ended, no error
            assert agent.get(WORKS).status_code == 401
            wait_for(
                lambda: condition(admin, "Joined").get("reason") == "ClientNotAccepted",
                what="Joined=False ClientNotAccepted",
            )
