"""Many agents in one process: JSON lines start them, a restarted host resumes them all."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from axle.client import Client
from axle.spoke.host import AgentHost, AgentSpec, ClusterHandle
from tests.client.hubthread import HubThread
from tests.spoke.conftest import enroll, until
from tests.spoke.fakecluster import FakeCluster

OPTIONS = {"resync_seconds": 0.5, "requeue_seconds": 0.1, "capacity_seconds": 0.2}


@pytest.fixture(autouse=True)
def gc_threshold() -> Iterator[None]:
    """`serve` tunes the collector for a host process; the test process gets it back."""
    before = gc.get_threshold()
    yield
    assert gc.get_threshold()[0] >= 50_000 or before[0] >= 50_000
    gc.set_threshold(*before)


class Lines:
    """An async iterator of lines the test feeds."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue()

    def send(self, obj: Any) -> None:
        self.queue.put_nowait(obj if isinstance(obj, str) else json.dumps(obj))

    async def __aiter__(self) -> AsyncIterator[str]:
        while True:
            yield await self.queue.get()


async def host_run(
    base: Path,
) -> tuple[AgentHost, list[dict[str, Any]], Lines, asyncio.Event, asyncio.Task[None], list[str]]:
    events: list[dict[str, Any]] = []
    made: list[str] = []

    async def make(spec: AgentSpec) -> ClusterHandle:
        made.append(spec.cluster)
        return ClusterHandle(FakeCluster())

    host = AgentHost(base, make, emit=events.append, agent_options=OPTIONS)
    lines, stop = Lines(), asyncio.Event()
    task = asyncio.create_task(host.serve(lines.__aiter__(), stop))
    return host, events, lines, stop, task, made


def joined(events: list[dict[str, Any]]) -> set[str]:
    return {e["spoke"] for e in events if e.get("event") == "joined"}


async def test_host_runs_many_agents_and_resumes_them(hub: HubThread, tmp_path: Path) -> None:
    names = ["h-one", "h-two", "h-three"]
    tokens = {n: await enroll(hub, n) for n in names}
    base, elsewhere = tmp_path / "base", tmp_path / "elsewhere" / "h-three"
    host, events, lines, stop, task, made = await host_run(base)
    for name in names:
        line = {
            "hub": hub.url,
            "bootstrapToken": tokens[name],
            "spoke": name,
            "cluster": f"sim://{name}",
        }
        if name == "h-three":  # a state dir outside the base dir is remembered too
            line["stateDir"] = str(elsewhere)
        lines.send(line)
    lines.send("not json")
    lines.send({"spoke": "x"})

    async def all_joined() -> bool:
        return joined(events) == set(names)

    await until(all_joined, "every agent joined")
    # One artifact cache serves every agent of the host.
    assert {id(r.agent.processor.artifacts) for r in host.agents.values()} == {id(host.artifacts)}
    errors = [e for e in events if e.get("event") == "error"]
    assert len(errors) == 2 and "missing field(s) hub, cluster" in errors[1]["message"]
    assert made == [f"sim://{n}" for n in names]
    # A line sent again for an agent running with the same settings changes nothing.
    lines.send(
        {
            "hub": hub.url,
            "bootstrapToken": tokens["h-one"],
            "spoke": "h-one",
            "cluster": "sim://h-one",
        }
    )
    await until(
        lambda: _async(lambda: any(e.get("event") == "running" for e in events)),
        "the repeated line answered",
    )
    assert len(made) == 3
    assert all((base / n / "agent.json").exists() for n in names[:2])
    assert (elsewhere / "agent.json").exists()
    lines.send({"stop": "h-three"})
    await until(lambda: _async(lambda: "h-three" not in host.agents), "h-three stopped")
    stop.set()
    await asyncio.wait_for(task, 20)
    assert host.agents == {}

    # A new host on the same base dir resumes all three from their stored credentials
    # (their bootstrap tokens are used up, so a join would fail).
    host2, events2, _, stop2, task2, made2 = await host_run(base)
    await until(lambda: _async(lambda: joined(events2) == set(names)), "every agent resumed")
    assert sorted(made2) == sorted(f"sim://{n}" for n in names)
    async with Client(hub.url, hub.token) as admin:
        for name in names:
            lease = await admin.get("leases", "spoke-agent", f"spoke-{name}")
            assert lease["spec"]["renewTime"]
    await host2.forget("h-two")
    assert not (base / "h-two").exists()
    stop2.set()
    await asyncio.wait_for(task2, 20)
    _, events3, _, stop3, task3, made3 = await host_run(base)
    await until(lambda: _async(lambda: joined(events3) == {"h-one", "h-three"}), "resumed")
    assert sorted(made3) == ["sim://h-one", "sim://h-three"]
    stop3.set()
    await asyncio.wait_for(task3, 20)
    # Forgetting an agent that is not running finds its state dir from the record.
    idle = idle_host(base)
    await idle.forget("h-three")
    assert not elsewhere.exists()
    assert [p.name for p in idle_host(base)._index()] == ["h-one"]


def idle_host(base: Path) -> AgentHost:
    async def make(spec: AgentSpec) -> ClusterHandle:
        return ClusterHandle(FakeCluster())

    return AgentHost(base, make, agent_options=OPTIONS)


async def _async(fn: Any) -> Any:
    return fn()
