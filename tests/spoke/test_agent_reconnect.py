"""The agent survives its hub going away: it keeps retrying, then resumes watch and heartbeats."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from axle.client import Client
from axle.oci import build_artifact, push
from axle.spoke.agent import SpokeAgent
from tests.client.hubthread import HubThread
from tests.spoke.conftest import enroll, until
from tests.spoke.fakecluster import FakeCluster


def work(name: str, url: str, digest: str) -> dict[str, Any]:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "Work",
        "metadata": {"name": name, "namespace": "spoke-epsilon"},
        "spec": {"artifact": {"url": url, "digest": digest}},
    }


async def test_hub_restart_is_survived(tmp_path: Path) -> None:
    hub = await asyncio.to_thread(HubThread(tmp_path / "hub").start)
    port = urlparse(hub.url).port
    assert port is not None
    url = f"file://{tmp_path / 'oci'}"
    one = await push(build_artifact([_cm("one")], source="axle://t/w", revision="1"), url, "a")
    two = await push(build_artifact([_cm("two")], source="axle://t/w", revision="2"), url, "b")
    token = await enroll(hub, "epsilon")
    cluster = FakeCluster()
    agent = SpokeAgent(
        hub=hub.url,
        spoke="epsilon",
        cluster=cluster,
        state_dir=tmp_path / "s",
        bootstrap_token=token,
        resync_seconds=0.5,
        requeue_seconds=0.1,
        capacity_seconds=0.2,
    )
    task = asyncio.create_task(agent.run())
    try:
        async with Client(hub.url, hub.token) as admin:
            await until(lambda: _ready(agent), "join")
            await admin.create(work("one", url, one))
            await until(lambda: _has(cluster, "one"), "first Work applied")
        await asyncio.to_thread(hub.stop)
        beats = agent.heartbeats
        hub = await asyncio.to_thread(HubThread(tmp_path / "hub", port=port).start)
        async with Client(hub.url, hub.token) as admin:
            await admin.create(work("two", url, two))
            await until(lambda: _has(cluster, "two"), "Work created after the restart applied")
            await until(lambda: _more(agent, beats), "heartbeats resumed")
            assert not task.done()
    finally:
        agent.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
        await asyncio.to_thread(hub.stop)


def _cm(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "ml"},
        "data": {"k": name},
    }


async def _ready(agent: SpokeAgent) -> bool:
    return agent.joined.is_set()


async def _more(agent: SpokeAgent, beats: int) -> bool:
    return agent.heartbeats > beats + 1


async def _has(cluster: FakeCluster, name: str) -> bool:
    return any(k[3] == name for k in cluster.objects)
