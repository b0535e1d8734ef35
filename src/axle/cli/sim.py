"""`axle sim palette`: run the Palette simulator in the foreground.

The simulator serves the subset of Palette's REST API that axle uses (docs/palette-simulator.md)
from an inventory file, so the hub's Palette integration can be pointed at it. The simulator's
modules load only when the command runs, keeping `axle` itself quick to start.
"""

from __future__ import annotations

from pathlib import Path

import click

from axle.cli.state import echo_err, fail
from axle.errors import ApiError


@click.group("sim", short_help="Run simulators (Palette).")
def sim_grp() -> None:
    """Run the simulators axle is tested against, as real servers."""


@sim_grp.command("palette", short_help="Run the Palette API simulator.")
@click.option(
    "--inventory",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Inventory YAML: API keys, projects, cluster profiles, edge hosts.",
)
@click.option(
    "--port",
    default=8700,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free port).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Keep the state here across restarts (default: in memory only).",
)
@click.option("--reset-state", is_flag=True, help="Ignore an existing state file; reseed it.")
@click.option(
    "--provisioning-seconds",
    default=20.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Time from cluster create to Running.",
)
@click.option(
    "--deletion-seconds",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Time a deleted cluster stays Deleting before its hosts are freed.",
)
@click.option(
    "--latency-ms",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Latency added to every /v1 request.",
)
@click.option(
    "--fail-rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Fraction of /v1 requests answered 500.",
)
@click.option(
    "--admin-key",
    default=None,
    help="Require this X-Admin-Key on /admin (overrides the inventory's adminKey).",
)
@click.option(
    "--seed", default=0, show_default=True, type=int, help="Seed of the fault-rate randomness."
)
def palette_cmd(
    inventory: Path,
    port: int,
    host: str,
    state_file: Path | None,
    reset_state: bool,
    provisioning_seconds: float,
    deletion_seconds: float,
    latency_ms: float,
    fail_rate: float,
    admin_key: str | None,
    seed: int,
) -> None:
    """Serve a simulated Palette API seeded from INVENTORY until Ctrl-C/SIGTERM.

    With --state-file, clusters and host states survive a restart (the inventory then only
    seeds a missing file). Faults can be injected while it runs through /admin (loopback only).
    """
    from axle.sim.palette import SimConfig, run  # loaded only when the simulator runs

    config = SimConfig(
        inventory=inventory,
        host=host,
        port=port,
        state_file=state_file,
        reset_state=reset_state,
        provisioning_seconds=provisioning_seconds,
        deletion_seconds=deletion_seconds,
        latency_ms=latency_ms,
        fail_rate=fail_rate,
        admin_key=admin_key,
        seed=seed,
    )

    def ready(url: str) -> None:
        click.echo(f"Palette simulator serving on {url}", nl=True)
        click.echo(f"  inventory:  {inventory}")
        click.echo(f"  state file: {state_file or '(in memory)'}")
        click.echo(f"  admin API:  {url}/admin/requests (loopback only)")
        click.echo("Press Ctrl-C to stop.")

    try:
        run(config, on_ready=ready)
    except ApiError as err:
        for cause in err.causes[1:]:
            echo_err(f"  {cause.field}: {cause.message}")
        fail(f"error: {err.message}")
    except OSError as exc:
        fail(f"error: cannot serve on {host}:{port}: {exc.strerror or exc}")
    click.echo("Palette simulator stopped")
