"""The hub's spoke installer: puts a spoke agent on a new cluster, given its kubeconfig.

Two kinds of cluster, one interface (`SpokeInstaller`):

- simulated clusters (the Palette simulator's kubeconfigs, `server: sim://<name>`): the agent
  runs on this machine. One long-lived child process, `axle spoke-agent host --state-dir
  DATA_DIR/spokes`, hosts every simulated spoke's agent; it is started lazily on the first
  install, fed one JSON line per agent on its stdin
  (`{"hub", "bootstrapToken", "spoke", "cluster": <kubeconfig path>, "stateDir"}`; removal is
  `{"forget": <spoke>}`, which also deletes the agent's state), and restarted (with every
  agent it hosted sent again) when it has died; a host left behind by a hub killed with
  SIGKILL (a host outlives its stdin) is found by its pid file and stopped first. One
  process rather than one per spoke keeps 200 spokes to one interpreter's memory.
  An agent's state dir keeps its spoke credential, so an agent sent again after a restart of
  the host process (or of the hub) reconnects without a new join;
- real clusters: the agent's manifests (`agent_manifests`: namespace, ServiceAccount,
  ClusterRoleBinding, the bootstrap Secret and a Deployment running `axle spoke-agent`) are
  applied with server-side apply through the kubeconfig (`axle.kube.real.RealCluster`, or the
  `cluster_factory` a test passes).

`install` is idempotent and cheap when nothing changed, so the ComputePool reconciler calls it
on every pass until the spoke has joined, and again after a hub restart (a new hub process has
no agent host yet). Installing never waits for the agent to join: the reconciler watches the
Spoke's `Joined` condition instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from axle.kube.cluster import Cluster

log = logging.getLogger(__name__)

AGENT_NAMESPACE = "axle-system"
PID_FILE = "agent-host.pid"
# Restart delays of a dead agent host (seconds), and how long it must live to count healthy.
RESTART_MIN = 0.5
RESTART_MAX = 30.0
RESTART_HEALTHY = 60.0
AGENT_IMAGE = "ghcr.io/axle-dev/axle:latest"
SIM_SCHEME = "sim://"


@dataclass(frozen=True)
class AgentRequest:
    """Everything an agent needs to join: where the hub is, a one-time token, the cluster."""

    hub_url: str
    bootstrap_token: str
    spoke: str
    kubeconfig: str  # the kubeconfig's text


class InstallError(Exception):
    """The agent could not be installed; `reason` is a condition reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class SpokeInstaller(Protocol):
    async def install(self, request: AgentRequest) -> None:
        """Make sure an agent for `request.spoke` runs (idempotent); raises InstallError."""

    def installed(self, spoke: str) -> bool:
        """Whether this process has installed the agent of `spoke` (and it still runs)."""

    async def uninstall(self, spoke: str, kubeconfig: str | None = None) -> None:
        """Stop the agent of `spoke` (idempotent)."""

    async def aclose(self) -> None: ...


def kubeconfig_server(kubeconfig: str) -> str:
    """The current context's cluster server URL ('' when unreadable)."""
    try:
        doc: Any = yaml.safe_load(kubeconfig)
    except yaml.YAMLError:
        return ""
    if not isinstance(doc, dict):
        return ""
    clusters = {c.get("name"): c.get("cluster") or {} for c in doc.get("clusters") or []}
    contexts = {c.get("name"): c.get("context") or {} for c in doc.get("contexts") or []}
    ctx = contexts.get(doc.get("current-context")) or {}
    cluster = clusters.get(ctx.get("cluster")) or next(iter(clusters.values()), {})
    return str(cluster.get("server") or "")


def _cmdline(pid: int) -> list[bytes]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")


def _running(pid: int) -> bool:
    """Whether `pid` is a live process (not a zombie waiting for its parent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def is_simulated(kubeconfig: str) -> bool:
    return kubeconfig_server(kubeconfig).startswith(SIM_SCHEME)


# --- simulated clusters: one agent-host child process ------------------------------------


class SimAgentHost:
    """Runs the agents of simulated spokes in one child process, restarted if it dies."""

    def __init__(self, base_dir: Path, command: list[str] | None = None) -> None:
        self.base_dir = base_dir
        self.command = command or [
            sys.executable,
            "-m",
            "axle.cli.main",
            "spoke-agent",
            "host",
            "--base-dir",
            str(base_dir),
        ]
        self._proc: asyncio.subprocess.Process | None = None
        self._lines: dict[str, dict[str, Any]] = {}  # spoke -> the line that started it
        self._lock = asyncio.Lock()
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False
        # Delay before restarting a host that died; doubles while it keeps dying young.
        self.restart_delay = RESTART_MIN

    def installed(self, spoke: str) -> bool:
        return spoke in self._lines and self._alive()

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def _ensure_process(self) -> asyncio.subprocess.Process:
        if self._proc is not None and self._proc.returncode is None:
            return self._proc
        if self._proc is not None:
            log.warning("spoke agent host exited (%s); restarting it", self._proc.returncode)
        self.base_dir.mkdir(parents=True, exist_ok=True)
        await self._stop_orphan()
        logfile = (self.base_dir / "agent-host.log").open("ab")
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self.command,
                stdin=asyncio.subprocess.PIPE,
                stdout=logfile,
                stderr=logfile,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        finally:
            logfile.close()
        (self.base_dir / PID_FILE).write_text(str(self._proc.pid))
        # Agents the dead process hosted come back from their state dirs.
        for line in self._lines.values():
            await self._send(self._proc, line)
        if self._supervisor is None or self._supervisor.done():
            self._supervisor = asyncio.create_task(self._supervise(), name="agent-host-supervisor")
        return self._proc

    async def _supervise(self) -> None:
        """Restart the host as soon as it dies (not at the next pool reconcile): its agents
        hold the Works of every simulated spoke, and a rollout must not wait minutes for a
        resync. A host that keeps dying young is restarted with a growing delay."""
        loop = asyncio.get_running_loop()
        while not self._closing and self._proc is not None:
            proc = self._proc
            started = loop.time()
            await proc.wait()
            if self._closing or proc is not self._proc:
                return
            if loop.time() - started > RESTART_HEALTHY:
                self.restart_delay = RESTART_MIN
            await asyncio.sleep(self.restart_delay)
            self.restart_delay = min(self.restart_delay * 2, RESTART_MAX)
            async with self._lock:
                if self._closing or not self._lines:
                    return
                try:
                    await self._ensure_process()
                except (OSError, ConnectionError) as exc:
                    log.error("could not restart the spoke agent host: %s", exc)

    async def _stop_orphan(self) -> None:
        """Stop an agent host a previous hub process left running (a hub killed with SIGKILL
        cannot stop its child, and a host outlives its stdin): the new host resumes every
        agent from the state dirs, so two hosts must never run the same agents."""
        try:
            pid = int((self.base_dir / PID_FILE).read_text().strip())
            cmdline = _cmdline(pid)
        except (OSError, ValueError):
            return
        if b"spoke-agent" not in cmdline or str(self.base_dir).encode() not in cmdline:
            return  # the pid was reused by something else
        log.warning("stopping spoke agent host %d left by a previous hub process", pid)
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = asyncio.get_running_loop().time() + wait
            while _running(pid):
                if asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.05)
            else:
                return

    @staticmethod
    async def _send(proc: asyncio.subprocess.Process, line: dict[str, Any]) -> None:
        assert proc.stdin is not None
        proc.stdin.write((json.dumps(line) + "\n").encode())
        await proc.stdin.drain()

    async def install(self, request: AgentRequest) -> None:
        async with self._lock:
            if request.spoke in self._lines and self._alive():
                return
            state_dir = self.base_dir / request.spoke
            state_dir.mkdir(parents=True, exist_ok=True)
            kubeconfig = state_dir / "kubeconfig"
            kubeconfig.write_text(request.kubeconfig)
            kubeconfig.chmod(0o600)
            line = {
                "hub": request.hub_url,
                "bootstrapToken": request.bootstrap_token,
                "spoke": request.spoke,
                "cluster": str(kubeconfig),
                "stateDir": str(state_dir),
            }
            try:
                was_running = self._alive()
                self._lines[request.spoke] = line
                # A (re)started host is sent every line, this one included.
                proc = await self._ensure_process()
                if was_running:
                    await self._send(proc, line)
            except (OSError, ConnectionError) as exc:
                raise InstallError(
                    "AgentHostFailed", f"could not start the spoke agent host: {exc}"
                ) from exc

    async def uninstall(self, spoke: str, kubeconfig: str | None = None) -> None:
        async with self._lock:
            if self._lines.pop(spoke, None) is None or not self._alive():
                return
            assert self._proc is not None
            with contextlib.suppress(OSError, ConnectionError):
                await self._send(self._proc, {"forget": spoke})

    async def aclose(self) -> None:
        self._closing = True
        proc, self._proc = self._proc, None
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        if proc is None or proc.returncode is not None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


# --- real clusters: the agent's manifests, applied through the kubeconfig ----------------

ClusterFactory = Callable[[str], Cluster]


def agent_manifests(request: AgentRequest, image: str = AGENT_IMAGE) -> list[dict[str, Any]]:
    """What runs the agent on a real cluster, in apply order."""
    name = "axle-spoke-agent"
    labels = {"app.kubernetes.io/name": name, "axle.dev/spoke": request.spoke}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": AGENT_NAMESPACE}},
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": AGENT_NAMESPACE, "labels": labels},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": labels},
            # The agent applies whatever the workloads hold (CRDs, namespaces, RBAC).
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": AGENT_NAMESPACE}],
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": f"{name}-bootstrap",
                "namespace": AGENT_NAMESPACE,
                "labels": labels,
            },
            "type": "Opaque",
            "stringData": {
                "hub": request.hub_url,
                "spoke": request.spoke,
                "bootstrap-token": request.bootstrap_token,
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": AGENT_NAMESPACE, "labels": labels},
            "spec": {
                "replicas": 1,
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": name,
                        "containers": [
                            {
                                "name": "agent",
                                "image": image,
                                "args": [
                                    "spoke-agent",
                                    "--hub",
                                    "$(AXLE_HUB)",
                                    "--bootstrap-token",
                                    "$(AXLE_BOOTSTRAP_TOKEN)",
                                    "--spoke",
                                    request.spoke,
                                    "--cluster",
                                    "in-cluster",
                                    "--state-dir",
                                    "/var/lib/axle-agent",
                                ],
                                "env": [
                                    _secret_env("AXLE_HUB", f"{name}-bootstrap", "hub"),
                                    _secret_env(
                                        "AXLE_BOOTSTRAP_TOKEN",
                                        f"{name}-bootstrap",
                                        "bootstrap-token",
                                    ),
                                ],
                                "volumeMounts": [
                                    {"name": "state", "mountPath": "/var/lib/axle-agent"}
                                ],
                                "resources": {
                                    "requests": {"cpu": "50m", "memory": "128Mi"},
                                    "limits": {"memory": "512Mi"},
                                },
                            }
                        ],
                        "volumes": [{"name": "state", "emptyDir": {}}],
                    },
                },
            },
        },
    ]


def _secret_env(env: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": env, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def real_cluster_factory(kubeconfig: str) -> Cluster:
    """`axle.kube.real.RealCluster` for a kubeconfig's text (parsed here: it takes a dict)."""
    try:
        from axle.kube.real import RealCluster
    except ImportError as exc:
        raise InstallError(
            "InstallerUnavailable", "this hub cannot reach real clusters (axle.kube.real missing)"
        ) from exc
    try:
        config = yaml.safe_load(kubeconfig)
    except yaml.YAMLError as exc:
        raise InstallError(
            "InvalidKubeconfig", f"the cluster's kubeconfig is not YAML: {exc}"
        ) from exc
    if not isinstance(config, dict):
        raise InstallError("InvalidKubeconfig", "the cluster's kubeconfig is not a mapping")
    try:
        return RealCluster(config)
    except Exception as exc:  # the client's own checks of the kubeconfig
        raise InstallError(
            "InvalidKubeconfig", f"the cluster's kubeconfig is unusable: {exc}"
        ) from exc


class ManifestInstaller:
    """Applies the agent's manifests to a real cluster through its kubeconfig."""

    def __init__(self, cluster_factory: ClusterFactory = real_cluster_factory) -> None:
        self.cluster_factory = cluster_factory
        self._done: set[str] = set()

    def installed(self, spoke: str) -> bool:
        return spoke in self._done

    async def install(self, request: AgentRequest) -> None:
        if request.spoke in self._done:
            return
        cluster = self.cluster_factory(request.kubeconfig)
        try:
            for obj in agent_manifests(request):
                await cluster.apply(obj, field_manager="axle")
        except InstallError:
            raise
        except Exception as exc:
            raise InstallError(
                "AgentInstallFailed",
                f"applying the spoke agent to cluster {request.spoke} failed: {exc}",
            ) from exc
        finally:
            await cluster.close()
        self._done.add(request.spoke)

    async def uninstall(self, spoke: str, kubeconfig: str | None = None) -> None:
        self._done.discard(spoke)
        if kubeconfig is None:
            return
        cluster = self.cluster_factory(kubeconfig)
        try:
            with contextlib.suppress(Exception):
                await cluster.delete("apps/v1", "Deployment", AGENT_NAMESPACE, "axle-spoke-agent")
        finally:
            await cluster.close()

    async def aclose(self) -> None:
        self._done.clear()


class DefaultInstaller:
    """Simulated clusters to the agent host, real ones to the manifest installer."""

    def __init__(
        self,
        data_dir: Path,
        *,
        sim: SimAgentHost | None = None,
        real: ManifestInstaller | None = None,
    ) -> None:
        self.sim = sim or SimAgentHost(data_dir / "spokes")
        self.real = real or ManifestInstaller()
        self._kind: dict[str, bool] = {}  # spoke -> simulated

    def installed(self, spoke: str) -> bool:
        simulated = self._kind.get(spoke)
        if simulated is None:
            return False
        return self.sim.installed(spoke) if simulated else self.real.installed(spoke)

    async def install(self, request: AgentRequest) -> None:
        simulated = is_simulated(request.kubeconfig)
        self._kind[request.spoke] = simulated
        await (self.sim if simulated else self.real).install(request)

    async def uninstall(self, spoke: str, kubeconfig: str | None = None) -> None:
        simulated = self._kind.pop(spoke, None)
        if simulated is None and kubeconfig is not None:
            simulated = is_simulated(kubeconfig)
        if simulated is None or simulated:
            await self.sim.uninstall(spoke)
        if simulated is None or not simulated:
            await self.real.uninstall(spoke, kubeconfig)

    async def aclose(self) -> None:
        await self.sim.aclose()
        await self.real.aclose()
