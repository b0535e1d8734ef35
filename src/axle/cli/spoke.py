"""`axle spoke-agent`: run the spoke agent for one cluster, or many agents in one host process.

    axle spoke-agent --hub URL --bootstrap-token T --spoke NAME \\
        --cluster KUBECONFIG_FILE|sim://NAME --state-dir DIR [--ca-file F]
    axle spoke-agent host --base-dir DIR          (JSON lines on stdin, see axle.spoke.host)

This module is where the agent gets its cluster: a kubeconfig whose server is `sim://NAME`
(or `--cluster sim://NAME` itself) is a simulated cluster, run in this process by
`axle.sim.cluster.SimCluster` with its state file in the agent's state dir (the Palette
simulator's kubeconfig carries the nodes; a bare `sim://NAME` is a single-node cluster of
8 cores and 32 GiB without GPUs, for trying the agent out); anything else is a real cluster,
driven through `axle.kube.real.RealCluster`. The agent itself never imports the simulator
(the layer rule), it is handed a `Cluster`. SIGTERM and SIGINT stop the agents cleanly
(watches closed, the current pass of each Work finished or abandoned safely).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import yaml

from axle.cli.state import echo_err, fail

if TYPE_CHECKING:  # the agent's modules load only when the command runs
    from axle.spoke.host import AgentSpec, ClusterHandle

log = logging.getLogger("axle.cli.spoke")
SIM_SCHEME = "sim://"
IN_CLUSTER = "in-cluster"  # the agent runs as a pod of the cluster it manages
# The kubeconfig extension that carries a simulated cluster's nodes (sim/palette/kubeconfig).
SIM_EXTENSION = "palette-sim.axle.dev"


def _kubeconfig_server(config: dict[str, Any]) -> str:
    """The server URL of the kubeconfig's current context (or its only cluster)."""
    clusters = {c.get("name"): c.get("cluster") or {} for c in config.get("clusters") or []}
    contexts = {c.get("name"): c.get("context") or {} for c in config.get("contexts") or []}
    current = contexts.get(config.get("current-context")) or {}
    cluster = clusters.get(current.get("cluster"))
    if cluster is None and clusters:
        cluster = next(iter(clusters.values()))
    return str((cluster or {}).get("server") or "")


def read_cluster_ref(ref: str) -> tuple[str, dict[str, Any] | str]:
    """("sim"|"real", kubeconfig) for `--cluster` (`sim://NAME`, `in-cluster` or a file)."""
    if ref.startswith(SIM_SCHEME):
        name = ref[len(SIM_SCHEME) :]
        node = {"name": f"{name}-node-1", "cpuCores": 8, "memoryMB": 32768}
        config: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": name,
                    "cluster": {
                        "server": ref,
                        "extensions": [{"name": SIM_EXTENSION, "extension": {"nodes": [node]}}],
                    },
                }
            ],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "users": [{"name": name, "user": {}}],
            "current-context": name,
        }
        return "sim", config
    if ref == IN_CLUSTER:
        return "real", IN_CLUSTER
    path = Path(ref)
    try:
        text = path.read_text()
        parsed = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise click.ClickException(f"cannot read the kubeconfig {ref}: {exc}") from exc
    if not isinstance(parsed, dict):
        raise click.ClickException(f"{ref} is not a kubeconfig (expected a YAML mapping)")
    if _kubeconfig_server(parsed).startswith(SIM_SCHEME):
        return "sim", text
    return "real", str(path)


async def make_cluster(spec: AgentSpec) -> ClusterHandle:
    """The Cluster an agent drives: the simulator for `sim://` servers, else the real one."""
    from axle.spoke.host import ClusterHandle

    kind, config = read_cluster_ref(spec.cluster)
    if kind == "sim":
        from axle.sim.cluster import SimCluster  # the CLI may import the simulator

        sim = SimCluster.from_kubeconfig(config, state_path=spec.state_dir / "cluster.json")
        return ClusterHandle(sim, sim.run)
    from axle.kube.real import RealCluster

    cache = spec.state_dir / "discovery.json"
    if config == IN_CLUSTER:
        return ClusterHandle(RealCluster.in_cluster(discovery_cache=cache))
    cluster = RealCluster(str(config), discovery_cache=cache)
    return ClusterHandle(cluster)


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "httpcore", "kubernetes", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


@click.group(
    "spoke-agent",
    invoke_without_command=True,
    short_help="Run the spoke agent (joins a hub, applies its Works to a cluster).",
)
@click.option("--hub", envvar="AXLE_HUB", help="Hub URL [env AXLE_HUB].")
@click.option(
    "--bootstrap-token",
    envvar="AXLE_BOOTSTRAP_TOKEN",
    default=None,
    help="One-time token to join with (not needed once DIR holds a credential).",
)
@click.option("--spoke", "spoke_name", help="Name of this spoke on the hub.")
@click.option(
    "--cluster",
    "cluster_ref",
    help="Kubeconfig file of the cluster, sim://NAME, or in-cluster (running as its pod).",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the credential, artifact cache and inventory are kept.",
)
@click.option(
    "--ca-file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="CA to trust for an https:// hub (the hub's DATA_DIR/ca.crt).",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.pass_context
def spoke_agent_grp(
    ctx: click.Context,
    hub: str | None,
    bootstrap_token: str | None,
    spoke_name: str | None,
    cluster_ref: str | None,
    state_dir: Path | None,
    ca_file: str | None,
    verbose: bool,
) -> None:
    """Run the spoke agent of one cluster in the foreground until SIGTERM/SIGINT.

    It joins the hub with the bootstrap token (or reuses the credential an earlier join left
    in --state-dir), renews its Lease, reports the cluster's capacity, and applies the Works
    of its namespace. Exits non-zero if the hub refuses the token or the stored credential.
    """
    if ctx.invoked_subcommand is not None:
        return
    _configure_logging(verbose)
    missing = [
        flag
        for flag, value in (
            ("--hub", hub),
            ("--spoke", spoke_name),
            ("--cluster", cluster_ref),
            ("--state-dir", state_dir),
        )
        if not value
    ]
    if missing:
        fail(f"error: {', '.join(missing)} required")
    assert hub and spoke_name and cluster_ref and state_dir
    from axle.spoke.host import AgentSpec

    spec = AgentSpec(
        hub=hub,
        spoke=spoke_name,
        cluster=cluster_ref,
        state_dir=state_dir,
        bootstrap_token=bootstrap_token,
        ca_file=ca_file,
    )
    try:
        asyncio.run(_run_one(spec))
    except click.ClickException:
        raise
    except Exception as exc:
        fail(f"error: {exc}")


async def _run_one(spec: AgentSpec) -> None:
    from axle.spoke.agent import SpokeAgent

    spec.state_dir.mkdir(parents=True, exist_ok=True)
    handle = await make_cluster(spec)
    agent = SpokeAgent(
        hub=spec.hub,
        spoke=spec.spoke,
        cluster=handle.cluster,
        state_dir=spec.state_dir,
        bootstrap_token=spec.bootstrap_token,
        ca_file=spec.ca_file,
        cluster_loop=handle.loop,
    )
    stop = asyncio.Event()
    _stop_on_signals(stop)
    task = asyncio.create_task(agent.run())
    waiter = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            log.info("spoke %s: stopping", spec.spoke)
        agent.stop()
        await task
    finally:
        waiter.cancel()
        await handle.cluster.close()


@spoke_agent_grp.command("host", short_help="Run many agents in one process (JSON lines on stdin).")
@click.option(
    "--base-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Base state dir: one sub-directory per agent; resumed on restart.",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def host_cmd(base_dir: Path, verbose: bool) -> None:
    """Run many spoke agents as tasks of one process.

    Each stdin line is a JSON object {"hub", "bootstrapToken", "spoke", "cluster", "stateDir"}
    starting one agent ({"stop": NAME} stops one, {"forget": NAME} also deletes its state).
    Every agent recorded under --base-dir is resumed at start. Progress is reported as JSON
    lines on stdout ({"spoke", "event", "message"}).
    """
    _configure_logging(verbose)
    base_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(_run_host(base_dir))


def _emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def _stdin_lines() -> AsyncIterator[str]:
    """Lines of stdin, read by a daemon thread (a blocked read must not delay exit)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def reader() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line)
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=reader, name="stdin", daemon=True).start()
    while (line := await queue.get()) is not None:
        yield line
    # stdin closed: the agents keep running until a signal.


async def _run_host(base_dir: Path) -> None:
    from axle.spoke.host import AgentHost

    stop = asyncio.Event()
    _stop_on_signals(stop)
    host = AgentHost(base_dir, make_cluster, emit=_emit)
    await host.serve(_stdin_lines(), stop)
    echo_err("spoke agent host stopped")
