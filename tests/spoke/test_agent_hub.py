"""The agent against a real hub (in a thread): join, reuse, heartbeats, capacity, Works, revoke."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from axle.api.spoke import WORK_FINALIZER
from axle.api.spoketokens import SYSTEM_NAMESPACE, credential_secret_name
from axle.client import Client
from axle.errors import Forbidden, NotFound
from axle.oci import build_artifact, push
from axle.spoke import credential as cred
from axle.spoke.agent import SpokeAgent
from tests.client.hubthread import HubThread
from tests.spoke.conftest import enroll, until
from tests.spoke.fakecluster import FakeCluster


@contextlib.asynccontextmanager
async def running(agent: SpokeAgent) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(agent.run())
    try:
        yield task
    finally:
        agent.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)


def agent(
    hub: HubThread,
    name: str,
    state: Path,
    cluster: FakeCluster,
    token: str | None = None,
    url: str | None = None,
    **kw: Any,
) -> SpokeAgent:
    kw.setdefault("resync_seconds", 0.5)
    kw.setdefault("requeue_seconds", 0.1)
    kw.setdefault("capacity_seconds", 0.1)
    return SpokeAgent(
        hub=url or hub.url,
        spoke=name,
        cluster=cluster,
        state_dir=state,
        bootstrap_token=token,
        **kw,
    )


async def test_join_heartbeat_capacity_and_reuse(hub: HubThread, tmp_path: Path) -> None:
    token = await enroll(hub, "alpha")
    cluster = FakeCluster()
    first = agent(hub, "alpha", tmp_path, cluster, token)
    async with Client(hub.url, hub.token) as admin:
        async with running(first):
            await until(lambda: _done(first.joined.wait()), "join")
            path = tmp_path / cred.CREDENTIAL_FILE
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert cred.load(tmp_path).namespace == "spoke-alpha"  # type: ignore[union-attr]

            async def lease() -> Any:
                found = await admin.get("leases", "spoke-agent", "spoke-alpha")
                return found if first.heartbeats >= 2 else None

            renewed = await until(lease, "two heartbeats")
            assert renewed["spec"]["leaseDurationSeconds"] == 3

            async def capacity() -> Any:
                status = (await admin.get("spokes", "alpha")).get("status") or {}
                return status if status.get("capacity") else None

            status = await until(capacity, "capacity in Spoke.status")
            assert status["capacity"]["nodes"] == 2
            assert status["capacity"]["gpus"] == {"NVIDIA-H100-80GB-HBM3": 8}
            assert status["capacity"]["cpu"] == "112"
            assert status["capacity"]["memory"] == "576Gi"
            assert status["version"]["kubernetes"] == "v1.30.4"
            # Capacity changes are reported.
            cluster.nodes = cluster.nodes[:1]

            async def shrunk() -> Any:
                cap = ((await admin.get("spokes", "alpha")).get("status") or {})["capacity"]
                # The GPU node went away: its model is gone from the report, not kept.
                return cap["nodes"] == 1 and cap["gpus"] == {}

            await until(shrunk, "capacity change")
        renew_before = (await admin.get("leases", "spoke-agent", "spoke-alpha"))["spec"][
            "renewTime"
        ]
        # Restart without a bootstrap token (it was used): the stored credential is reused.
        second = agent(hub, "alpha", tmp_path, cluster)
        async with running(second):

            async def renewed_again() -> bool:
                found = await admin.get("leases", "spoke-agent", "spoke-alpha")
                return bool(found["spec"]["renewTime"] != renew_before)

            await until(renewed_again, "a heartbeat after the restart")


async def _done(aw: Any) -> bool:
    await asyncio.wait_for(aw, 10)
    return True


async def test_used_bootstrap_token_is_refused(hub: HubThread, tmp_path: Path) -> None:
    token = await enroll(hub, "beta")
    await cred.join(hub.url, "beta", token)
    with pytest.raises(cred.JoinRefused, match="bootstrap token"):
        await agent(hub, "beta", tmp_path, FakeCluster(), token).run()
    assert cred.load(tmp_path) is None


async def test_revoked_credential_stops_the_agent(hub: HubThread, tmp_path: Path) -> None:
    token = await enroll(hub, "gamma")
    first = agent(hub, "gamma", tmp_path, FakeCluster(), token)
    async with running(first):
        await until(lambda: _done(first.joined.wait()), "join")
    async with Client(hub.url, hub.token) as admin:
        await admin.delete("secrets", credential_secret_name("gamma"), SYSTEM_NAMESPACE)
    with pytest.raises(cred.CredentialRejected, match="revoked"):
        await asyncio.wait_for(agent(hub, "gamma", tmp_path, FakeCluster()).run(), 20)


def _work(name: str, url: str, digest: str, policy: str = "Foreground") -> dict[str, Any]:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "Work",
        "metadata": {"name": name, "namespace": "spoke-delta"},
        "spec": {
            "artifact": {"url": url, "digest": digest},
            "deleteOption": {"propagationPolicy": policy},
        },
    }


async def test_work_status_round_trip(hub: HubThread, tmp_path: Path) -> None:
    token = await enroll(hub, "delta")
    cluster = FakeCluster()
    layout = tmp_path / "oci"
    url = f"file://{layout}"
    manifests = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "cfg", "namespace": "ml"},
            "data": {"a": "1"},
        },
    ]
    digest = await push(build_artifact(manifests, source="axle://t/w", revision="w@1"), url, "v1")
    spoke = agent(hub, "delta", tmp_path / "state", cluster, token)
    async with Client(hub.url, hub.token) as admin, running(spoke):
        await until(lambda: _done(spoke.joined.wait()), "join")
        await admin.create(_work("llm", url, digest))

        async def applied() -> Any:
            status = (await admin.get("works", "llm", "spoke-delta")).get("status") or {}
            return status if status.get("appliedDigest") == digest else None

        status = await until(applied, "the Work applied")
        conds = {c["type"]: c for c in status["conditions"]}
        assert conds["Applied"]["status"] == "True"
        assert conds["Available"]["status"] == "True"
        assert status["resourceStatus"][0]["name"] == "cfg"
        assert status["observedGeneration"] == 1
        assert ("v1", "ConfigMap", "ml", "cfg") in cluster.objects
        # Drift: someone deletes the object on the cluster; the agent puts it back.
        await cluster.delete("v1", "ConfigMap", "ml", "cfg")
        await until(lambda: _has(cluster, "cfg"), "drift re-applied")
        # A bad digest reaches the status as ArtifactPullFailed, with the OCI message.
        await admin.create(_work("bad", url, "sha256:" + "1" * 64))

        async def pull_failed() -> Any:
            status = (await admin.get("works", "bad", "spoke-delta")).get("status") or {}
            found = {c["type"]: c for c in status.get("conditions") or []}
            return found.get("Applied", {}).get("reason") == "ArtifactPullFailed" and found

        found = await until(pull_failed, "ArtifactPullFailed")
        assert "1111" in found["Applied"]["message"]
        # Failures are recorded as Warning Events on the Work, for `axle describe work`.
        bad = await admin.get("works", "bad", "spoke-delta")

        async def warned() -> Any:
            events = await admin.events_for(bad)
            return [e for e in events if e["reason"] == "ArtifactPullFailed"]

        event = (await until(warned, "an ArtifactPullFailed event"))[0]
        assert event["type"] == "Warning" and "1111" in event["message"]
        good = await admin.get("works", "llm", "spoke-delta")
        # Routine progress (applied, available as expected) records no Event.
        assert await admin.events_for(good) == []
        # Deleting the Work removes its objects.
        await admin.delete("works", "llm", "spoke-delta")
        await until(lambda: _gone(cluster, "cfg"), "objects removed")
        with pytest.raises(NotFound):
            await admin.get("works", "llm", "spoke-delta")


async def _has(cluster: FakeCluster, name: str) -> bool:
    return any(k[3] == name for k in cluster.objects)


async def _gone(cluster: FakeCluster, name: str) -> bool:
    return not await _has(cluster, name)


async def test_join_and_heartbeat_over_tls(hub: HubThread, tmp_path: Path) -> None:
    token = await enroll(hub, "theta")
    https = hub.url.replace("http://", "https://")
    ca = str(hub.settings.data_dir / "ca.crt")
    spoke = agent(hub, "theta", tmp_path, FakeCluster(), token, https, ca_file=ca)
    async with running(spoke):
        await until(lambda: _done(spoke.joined.wait()), "join over TLS")
        await until(lambda: _async(spoke.heartbeats >= 1), "a heartbeat over TLS")
    assert cred.load(tmp_path).hub == https  # type: ignore[union-attr]


async def _async(value: Any) -> Any:
    return value


async def test_finalizer_and_secrets(hub: HubThread, tmp_path: Path) -> None:
    token = await enroll(hub, "kappa")
    cluster = FakeCluster()
    url = f"file://{tmp_path / 'oci'}"
    manifests = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "ml"}}
    ]
    digest = await push(build_artifact(manifests, source="axle://t/w", revision="w@1"), url, "v1")
    value = base64.b64encode(b"hf_token_value").decode()
    spoke = agent(hub, "kappa", tmp_path / "state", cluster, token)
    async with Client(hub.url, hub.token) as admin, running(spoke):
        await until(lambda: _done(spoke.joined.wait()), "join")
        work = _work("llm", url, digest)
        work["metadata"] = {
            "name": "llm",
            "namespace": "spoke-kappa",
            "finalizers": [WORK_FINALIZER],
        }
        work["spec"]["secretRefs"] = [{"name": "llm-hf", "targetName": "model-credentials"}]
        await admin.create(work)

        async def condition(reason: str) -> Any:
            status = (await admin.get("works", "llm", "spoke-kappa")).get("status") or {}
            found = {c["type"]: c for c in status.get("conditions") or []}
            return found.get("Applied", {}).get("reason") == reason and found["Applied"]

        missing = await until(lambda: condition("SecretMissing"), "SecretMissing")
        assert "'llm-hf' not found in the hub namespace spoke-kappa" in missing["message"]
        assert not await _has(cluster, "cfg")
        # B puts the copy there: the agent copies it to the cluster and applies the rest.
        await admin.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "llm-hf", "namespace": "spoke-kappa"},
                "data": {"token": value},
            }
        )
        await until(lambda: condition("Applied"), "the Work applied")
        secret = cluster.objects[("v1", "Secret", "ml", "model-credentials")]
        assert secret["data"] == {"token": value}
        status = (await admin.get("works", "llm", "spoke-kappa"))["status"]
        assert value not in json.dumps(status)
        # Delete: the Work stays (finalizer) until the agent has removed its objects.
        await admin.delete("works", "llm", "spoke-kappa")

        async def gone() -> bool:
            try:
                await admin.get("works", "llm", "spoke-kappa")
            except NotFound:
                return True
            return False

        await until(gone, "the Work gone after its finalizer was removed")
        assert not await _has(cluster, "cfg")
        assert not await _has(cluster, "model-credentials")


async def test_spoke_credential_scope(hub: HubThread, tmp_path: Path) -> None:
    """Works (update) and Secrets (read) of its own namespace; nothing of another spoke."""
    token = await enroll(hub, "lambda")
    joined = await cred.join(hub.url, "lambda", token)
    async with Client(hub.url, hub.token) as admin:
        await admin.create(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "spoke-mu"}}
        )
        for ns in ("spoke-lambda", "spoke-mu"):
            await admin.create(
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": "copy", "namespace": ns},
                    "data": {"k": "dg=="},
                }
            )
            work = _work("w", "file:///x", "sha256:" + "2" * 64)
            work["metadata"] = {"name": "w", "namespace": ns, "finalizers": [WORK_FINALIZER]}
            await admin.create(work)
        async with Client(hub.url, joined.token, namespace="spoke-lambda") as spoke:
            assert (await spoke.get("secrets", "copy", "spoke-lambda"))["data"] == {"k": "dg=="}
            with pytest.raises(Forbidden):
                await spoke.get("secrets", "copy", "spoke-mu")
            with pytest.raises(Forbidden):
                await spoke.list("secrets", "axle-system")
            # Removing its finalizer from its own Work: allowed; another spoke's: refused.
            own = await spoke.get("works", "w", "spoke-lambda")
            own["metadata"]["finalizers"] = []
            await spoke.replace(own, "spoke-lambda")
            other = await admin.get("works", "w", "spoke-mu")
            other["metadata"]["finalizers"] = []
            with pytest.raises(Forbidden):
                await spoke.replace(other, "spoke-mu")
            new = _work("new", "file:///x", "sha256:" + "3" * 64)
            new["metadata"]["namespace"] = "spoke-lambda"
            with pytest.raises(Forbidden):
                await spoke.create(new)
        assert (await admin.get("works", "w", "spoke-lambda"))["metadata"].get("finalizers") in (
            None,
            [],
        )
        assert (await admin.get("works", "w", "spoke-mu"))["metadata"]["finalizers"] == [
            WORK_FINALIZER
        ]
        await admin.delete("works", "w", "spoke-mu")
