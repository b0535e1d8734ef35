"""Many agents in one process: `axle spoke-agent host`, fed JSON lines on stdin.

The ComputePool installer runs one agent per simulated cluster; 200 pools as 200 processes
would cost 200 interpreters, so a host process runs them as asyncio tasks instead. Each line
on stdin starts one agent:

    {"hub": URL, "bootstrapToken": T, "spoke": NAME, "cluster": PATH|sim://NAME,
     "stateDir": DIR, "caFile": F}          (stateDir defaults to BASE/NAME)
    {"stop": NAME}                          stops that agent (its state stays)
    {"forget": NAME}                        stops it and deletes its state dir

Each agent's line (minus nothing: the bootstrap token is needed again if the agent had not
joined yet) is kept as `agent.json` in its state dir and the state dir is listed in
`BASE/agents.json`, so a restarted host resumes every agent it ran, with the credentials
they stored. The host answers each line on stdout with a JSON line
`{"spoke", "event": "started"|"running"|"joined"|"stopped"|"failed"|"error", "message"}`
("running": a line for an agent already running with the same settings changes nothing).
How a cluster reference becomes a `Cluster` is the caller's (the CLI's) `ClusterFactory`,
since only the CLI may import the simulator.

A host runs up to a thousand agents (the fleet benchmark), so what can be shared is: one
artifact cache (`BASE/artifacts`: a digest is the same content for every spoke, so it is
pulled once per host, not once per agent), and the HTTP machinery: agents borrow transports
from one `axle.client.TransportPool` (one TLS context per CA file, connection pools shared by
groups of agents), where each agent used to build two TLS contexts (join and client) that
were most of its memory and, while hundreds joined, most of the host's CPU. Each agent's
loops sleep until their next event (a Work change, a timer); none polls. `serve` also
raises the garbage collector's first threshold: a thousand agents keep millions of small
objects alive, and the default (700 allocations) makes the collector rescan them so often
it costs more than the agents' work.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from axle.client import TransportPool
from axle.kube.cluster import Cluster
from axle.spoke.agent import SpokeAgent
from axle.spoke.artifacts import ArtifactCache
from axle.spoke.files import write_private

log = logging.getLogger("axle.spoke.host")
AGENT_FILE = "agent.json"
INDEX_FILE = "agents.json"


GC_THRESHOLD0 = 50_000
# Parsed artifacts kept in memory for all agents: a pass reads its Work's manifests, and
# passes come in bursts (a rollout); each Work has its own digest, so a larger cache would
# hold a copy of every Work's manifests (10 KiB each) for passes that come every few minutes.
ARTIFACTS_IN_MEMORY = 256


def tune_gc() -> None:
    """Collect the youngest generation every 50,000 allocations instead of 700 (this process
    only runs agents; see the module docstring)."""
    _, second, third = gc.get_threshold()
    gc.set_threshold(max(GC_THRESHOLD0, gc.get_threshold()[0]), second, third)


@dataclass(frozen=True)
class AgentSpec:
    """What one agent needs: where the hub is, who it is, which cluster, where its state goes."""

    hub: str
    spoke: str
    cluster: str
    state_dir: Path
    bootstrap_token: str | None = None
    ca_file: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any], base_dir: Path) -> AgentSpec:
        """Read one stdin line's object; raises ValueError naming a missing field."""
        missing = [k for k in ("hub", "spoke", "cluster") if not data.get(k)]
        if missing:
            raise ValueError(f"missing field(s) {', '.join(missing)}")
        spoke = str(data["spoke"])
        state = Path(str(data.get("stateDir") or base_dir / spoke))
        return cls(
            hub=str(data["hub"]),
            spoke=spoke,
            cluster=str(data["cluster"]),
            state_dir=state,
            bootstrap_token=data.get("bootstrapToken") or None,
            ca_file=data.get("caFile") or None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "hub": self.hub,
            "spoke": self.spoke,
            "cluster": self.cluster,
            "stateDir": str(self.state_dir),
            "bootstrapToken": self.bootstrap_token,
            "caFile": self.ca_file,
        }


@dataclass
class ClusterHandle:
    """A cluster for one agent, and the loop that drives it (a simulator's controllers)."""

    cluster: Cluster
    loop: Callable[[], Awaitable[None]] | None = None


ClusterFactory = Callable[[AgentSpec], Awaitable[ClusterHandle]]
Emit = Callable[[dict[str, Any]], None]


@dataclass
class _Running:
    spec: AgentSpec
    agent: SpokeAgent
    handle: ClusterHandle
    task: asyncio.Task[None]
    watcher: asyncio.Task[None] | None = field(default=None)


class AgentHost:
    """Runs agents as tasks; `serve(lines)` follows the stdin protocol."""

    def __init__(
        self,
        base_dir: Path,
        make_cluster: ClusterFactory,
        *,
        emit: Emit | None = None,
        agent_options: dict[str, Any] | None = None,
    ) -> None:
        self.base_dir = base_dir
        self.make_cluster = make_cluster
        self.emit: Emit = emit or (lambda _msg: None)
        self.agent_options = agent_options or {}
        self.agents: dict[str, _Running] = {}
        self.artifacts = ArtifactCache(
            base_dir / "artifacts", self.agent_options.get("puller"), memory=ARTIFACTS_IN_MEMORY
        )
        self.transports = TransportPool()

    # ---- the index of state dirs -------------------------------------------------------------

    def _index(self) -> list[Path]:
        try:
            data = json.loads((self.base_dir / INDEX_FILE).read_text())
        except (OSError, ValueError):
            data = []
        found = [Path(p) for p in data if isinstance(p, str)]
        if self.base_dir.is_dir():
            found += [p.parent for p in sorted(self.base_dir.glob(f"*/{AGENT_FILE}"))]
        return list(dict.fromkeys(found))

    def _save_index(self, dirs: list[Path]) -> None:
        write_private(self.base_dir / INDEX_FILE, json.dumps([str(d) for d in dirs], indent=1))

    # ---- agents ------------------------------------------------------------------------------

    async def start(self, spec: AgentSpec) -> None:
        """Start (or restart with a new spec) the agent of `spec.spoke`."""
        current = self.agents.get(spec.spoke)
        if current is not None and current.spec == spec and not current.task.done():
            # Sent again (the installer re-sends every line after a restart): keep it running.
            self.emit({"spoke": spec.spoke, "event": "running"})
            return
        if current is not None:
            await self.stop(spec.spoke)
        spec.state_dir.mkdir(parents=True, exist_ok=True)
        write_private(spec.state_dir / AGENT_FILE, json.dumps(spec.to_json(), indent=1))
        dirs = self._index()
        if spec.state_dir not in dirs:
            self._save_index([*dirs, spec.state_dir])
        handle = await self.make_cluster(spec)
        options = dict(self.agent_options)
        # Tests inject their own transport (an in-process hub); otherwise one from the pool.
        options.setdefault("transport", self.transports.lend(spec.ca_file))
        agent = SpokeAgent(
            hub=spec.hub,
            spoke=spec.spoke,
            cluster=handle.cluster,
            state_dir=spec.state_dir,
            bootstrap_token=spec.bootstrap_token,
            ca_file=spec.ca_file,
            cluster_loop=handle.loop,
            artifacts=self.artifacts,
            **options,
        )
        task = asyncio.create_task(self._run(spec, agent, handle), name=f"agent-{spec.spoke}")
        running = _Running(spec, agent, handle, task)
        running.watcher = asyncio.create_task(self._report_join(spec.spoke, agent))
        self.agents[spec.spoke] = running
        self.emit({"spoke": spec.spoke, "event": "started"})

    async def _report_join(self, spoke: str, agent: SpokeAgent) -> None:
        await agent.joined.wait()
        self.emit({"spoke": spoke, "event": "joined", "namespace": agent.namespace})

    async def _run(self, spec: AgentSpec, agent: SpokeAgent, handle: ClusterHandle) -> None:
        try:
            await agent.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("agent of spoke %s stopped: %s", spec.spoke, exc)
            self.emit({"spoke": spec.spoke, "event": "failed", "message": str(exc)})
        else:
            self.emit({"spoke": spec.spoke, "event": "stopped"})
        finally:
            with contextlib.suppress(Exception):
                await handle.cluster.close()

    async def stop(self, spoke: str) -> bool:
        running = self.agents.pop(spoke, None)
        if running is None:
            return False
        running.agent.stop()
        if running.watcher is not None:
            running.watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(running.task, 30)
        return True

    async def forget(self, spoke: str) -> None:
        """Stop the agent and delete its state (its cluster is gone for good)."""
        running = self.agents.get(spoke)
        state = running.spec.state_dir if running else self._recorded_dir(spoke)
        await self.stop(spoke)
        self._save_index([d for d in self._index() if d != state])
        shutil.rmtree(state, ignore_errors=True)
        self.emit({"spoke": spoke, "event": "forgotten"})

    def _recorded_dir(self, spoke: str) -> Path:
        """The state dir recorded for `spoke` (it may lie outside the base dir)."""
        for state in self._index():
            try:
                if json.loads((state / AGENT_FILE).read_text()).get("spoke") == spoke:
                    return state
            except (OSError, ValueError):
                continue
        return self.base_dir / spoke

    async def resume(self) -> int:
        """Start every agent recorded under the base dir; returns how many."""
        count = 0
        for state in self._index():
            try:
                data = json.loads((state / AGENT_FILE).read_text())
                spec = AgentSpec.from_json(data, self.base_dir)
            except (OSError, ValueError) as exc:
                log.warning("cannot resume the agent in %s: %s", state, exc)
                continue
            if spec.spoke not in self.agents:
                await self.start(spec)
                count += 1
        return count

    async def handle_line(self, line: str) -> None:
        """Act on one stdin line; bad lines are answered with an error, never fatal."""
        if not line.strip():
            return
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            if data.get("stop"):
                await self.stop(str(data["stop"]))
                self.emit({"spoke": data["stop"], "event": "stopped"})
                return
            if data.get("forget"):
                await self.forget(str(data["forget"]))
                return
            spec = AgentSpec.from_json(data, self.base_dir)
            await self.start(spec)
        except Exception as exc:  # a bad line must not end the agents of the good ones
            self.emit({"event": "error", "message": f"{exc}", "line": line.strip()[:200]})

    async def serve(self, lines: AsyncIterator[str], stop: asyncio.Event) -> None:
        """Resume, then follow `lines` until `stop` is set; then stop every agent."""
        tune_gc()
        await self.resume()

        async def follow() -> None:
            async for line in lines:
                await self.handle_line(line)

        reader = asyncio.create_task(follow())
        try:
            await stop.wait()
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            await self.close()

    async def close(self) -> None:
        await asyncio.gather(*(self.stop(name) for name in list(self.agents)))
        await self.transports.aclose()
