"""The `axle` command: the embedded hub (`up`) and kubectl-like commands over the client SDK.

Each command lives in a module named after it (`get`, `apply`, `describe`, `delete`); this
module holds the group, the global options, and the small commands (`up`, `login`, `config`,
`version`). Importing it is cheap: the hub's modules load only when `axle up` runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import click

from axle import __version__
from axle.cli import state
from axle.cli.apply import apply_cmd
from axle.cli.clone import clone_cmd
from axle.cli.delete import delete_cmd
from axle.cli.describe import describe_cmd
from axle.cli.get import get_cmd
from axle.cli.hubflags import hub_setting_options, settings_from_flags
from axle.cli.palettesim import SimulatorFailed, palette_simulator
from axle.cli.printers import Out, TableView
from axle.cli.render import render_cmd
from axle.cli.rollout import rollout_grp
from axle.cli.sim import sim_grp
from axle.cli.spoke import spoke_agent_grp
from axle.cli.state import (
    all_namespaces_option,
    connection,
    connection_options,
    echo_err,
    fail,
    namespace_option,
    open_client,
    run,
)
from axle.cli.token import token_grp
from axle.client import Client
from axle.client.config import ConfigFile, Context, config_path
from axle.client.errors import ConfigError
from axle.errors import ApiError
from axle.settings import HubSettings


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@namespace_option
@all_namespaces_option
@connection_options
@click.version_option(__version__, "--version", prog_name="axle", message="%(prog)s %(version)s")
def cli() -> None:
    """axle: an open hub-and-spoke control plane for AI/ML platforms.

    Start a hub with `axle up`, point the CLI at it (`axle login`, or AXLE_SERVER and
    AXLE_TOKEN), then manage tenants, projects and the rest like kubectl does. Global options
    may come before or after the command.
    """


cli.add_command(get_cmd)
cli.add_command(apply_cmd)
cli.add_command(describe_cmd)
cli.add_command(render_cmd)
cli.add_command(rollout_grp)
cli.add_command(clone_cmd)
cli.add_command(delete_cmd)
cli.add_command(token_grp)
cli.add_command(sim_grp)
cli.add_command(spoke_agent_grp)


# ---- up ------------------------------------------------------------------------------------


def _ready_message(url: str, settings: HubSettings) -> str:
    token_path = (settings.data_dir / "admin-token").resolve()
    kubeconfig = (settings.data_dir / "kubeconfig").resolve()
    return "\n".join(
        [
            f"axle hub serving on {url}",
            f"  admin token: {token_path}",
            f"  kubeconfig:  {kubeconfig}  (kubectl --kubeconfig {kubeconfig} get tenants)",
            "Use it from another shell with:",
            f'  axle login --server {url} --token "$(cat {token_path})"',
            "or",
            f'  export AXLE_SERVER={url} AXLE_TOKEN="$(cat {token_path})"',
            "Press Ctrl-C to stop.",
        ]
    )


@cli.command("up", short_help="Run an embedded hub in the foreground.")
@hub_setting_options
@click.option(
    "--palette-sim",
    is_flag=True,
    help="Also run the Palette simulator (a separate process) for machines and clusters.",
)
@click.option(
    "--inventory",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Inventory YAML of the simulated fleet (with --palette-sim), e.g. "
    "examples/inventory/small-fleet.yaml.",
)
@click.option(
    "--palette-sim-port",
    type=click.IntRange(0, 65535),
    default=8700,
    show_default=True,
    help="Port of the Palette simulator (the quickstart's Palette Secret points at 8700).",
)
@click.option(
    "--palette-sim-provisioning-seconds",
    type=click.FloatRange(0),
    default=None,
    help="How long the simulator takes to provision a cluster [simulator default: 20].",
)
def up_cmd(
    palette_sim: bool,
    inventory: Path | None,
    palette_sim_port: int,
    palette_sim_provisioning_seconds: float | None,
    **flags: Any,
) -> None:
    """Run an embedded hub in the foreground (SQLite in the data dir) until Ctrl-C/SIGTERM.

    Every hub setting is a flag here and an AXLE_* environment variable; a flag wins over the
    variable. The admin token is written to DATA_DIR/admin-token (mode 0600) and a kubeconfig
    for kubectl to DATA_DIR/kubeconfig.

    With --palette-sim --inventory FILE, the Palette simulator runs beside the hub (its state
    in DATA_DIR/palette-sim.json), and Settings whose Palette Secret names its URL discover
    the simulated machines.
    """
    from axle.server import hub  # the server stack loads only for `axle up`

    try:
        settings = settings_from_flags(flags)
    except ValueError as exc:
        fail(f"error: invalid hub settings: {exc}")
    if palette_sim and inventory is None:
        fail(
            "error: --palette-sim needs --inventory FILE (e.g. examples/inventory/small-fleet.yaml)"
        )
    if inventory is not None and not palette_sim:
        fail("error: --inventory is the simulated fleet: use it with --palette-sim")
    out = Out()
    with contextlib.ExitStack() as stack:
        if palette_sim and inventory is not None:
            try:
                sim_url = stack.enter_context(
                    palette_simulator(
                        inventory,
                        palette_sim_port,
                        settings.data_dir,
                        provisioning_seconds=palette_sim_provisioning_seconds,
                    )
                )
            except SimulatorFailed as exc:
                fail(f"error: the Palette simulator did not start: {exc}")
            out.echo(f"Palette simulator serving on {sim_url} (inventory {inventory})")
        try:
            hub.run(settings, on_ready=lambda url: out.echo(_ready_message(url, settings)))
        except OSError as exc:
            fail(f"error: cannot start the hub on {settings.host}:{settings.port}: {exc}")
    out.echo("axle hub stopped")


# ---- login and config ------------------------------------------------------------------------


def _context_name(server: str) -> str:
    parsed = urlparse(server)
    return re.sub(r"[^A-Za-z0-9.:_-]", "-", parsed.netloc or server) or "default"


async def _check_server(server: str, token: str | None, ca_file: str | None) -> str:
    """The server's version; raises if it cannot be reached or refuses the token."""
    async with Client(server, token, timeout=10, transport=state.TRANSPORT, ca_file=ca_file) as c:
        version = await c.version()
        await c.discover()  # needs a valid token: fails with 401 if it is not
    return str(version.get("gitVersion") or "unknown")


@cli.command("login", short_help="Save a server and token as a context.")
@click.option("--server", required=True, envvar="AXLE_SERVER", help="Hub URL [env AXLE_SERVER].")
@click.option("--token", required=True, envvar="AXLE_TOKEN", help="Bearer token [env AXLE_TOKEN].")
@click.option(
    "--context",
    "context_name",
    default=None,
    help="Context name (default: the server's host:port).",
)
@click.option("-n", "--namespace", default=None, help="Default namespace of this context.")
@click.option(
    "--certificate-authority",
    "ca_file",
    type=click.Path(exists=True, dir_okay=False, resolve_path=True),
    default=None,
    help="CA file to trust for an https:// server (the hub's is DATA_DIR/ca.crt).",
)
@click.option("--no-check", is_flag=True, help="Save without checking that the server answers.")
def login_cmd(
    server: str,
    token: str,
    context_name: str | None,
    namespace: str | None,
    ca_file: str | None,
    no_check: bool,
) -> None:
    """Save a server and token as a context of ~/.axle/config (or $AXLE_CONFIG) and use it.

    The server must answer and accept the token, unless --no-check. The file is written with
    mode 0600, since it holds the token.
    """
    server = server.rstrip("/")
    version = None
    if not no_check:
        version = run(_check_server(server, token, ca_file))
    cfg = ConfigFile.load(config_path())
    name = context_name or _context_name(server)
    cfg.set_context(
        Context(name=name, server=server, token=token, namespace=namespace, ca_file=ca_file)
    )
    cfg.save()
    out = Out()
    answered = f" (server {version})" if version else ""
    out.echo(f'Logged in to {server}{answered} as context "{name}"; saved to {cfg.path}')


@cli.group("config", short_help="Show and switch contexts.")
def config_grp() -> None:
    """Show and switch contexts of the contexts file (~/.axle/config or $AXLE_CONFIG)."""


def _load_config() -> ConfigFile:
    try:
        return ConfigFile.load(config_path())
    except ConfigError as err:
        fail(err)


@config_grp.command("get-contexts")
def get_contexts_cmd() -> None:
    """List the contexts; the current one is marked with *."""
    cfg = _load_config()
    if not cfg.contexts:
        echo_err(f"no contexts in {cfg.path}; add one with `axle login`")
        return
    view = TableView(["CURRENT", "NAME", "SERVER", "NAMESPACE"])
    for ctx in cfg.contexts.values():
        mark = "*" if ctx.name == cfg.current_context else ""
        view.rows.append([mark, ctx.name, ctx.server, ctx.namespace or ""])
    Out().table(view)


@config_grp.command("use-context")
@click.argument("name")
def use_context_cmd(name: str) -> None:
    """Make NAME the current context."""
    cfg = _load_config()
    try:
        cfg.use(name)
    except ConfigError as err:
        fail(err)
    cfg.save()
    Out().echo(f'Switched to context "{name}".')


@config_grp.command("current-context")
def current_context_cmd() -> None:
    """Print the current context's name."""
    cfg = _load_config()
    if not cfg.current_context:
        fail("error: current-context is not set")
    Out().echo(cfg.current_context)


# ---- api-resources -----------------------------------------------------------------------------


@cli.command("api-resources", short_help="List the kinds the hub serves.")
@click.option(
    "--namespaced", type=bool, default=None, help="Only namespaced (true) or cluster (false) kinds."
)
@click.option("--api-group", default=None, help="Only kinds of this group ('' for core).")
@connection_options
@click.pass_context
def api_resources_cmd(ctx: click.Context, namespaced: bool | None, api_group: str | None) -> None:
    """List the kinds the hub serves, with the names `axle get` accepts for them."""
    out = Out()

    async def body() -> None:
        async with open_client(ctx) as c:
            resources = (await c.discover()).resources
        view = TableView(["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"])
        for res in sorted(resources, key=lambda r: (r.group, r.plural)):
            if namespaced is not None and res.namespaced != namespaced:
                continue
            if api_group is not None and res.group != api_group:
                continue
            view.rows.append(
                [
                    res.plural,
                    ",".join(res.short_names),
                    res.api_version,
                    "true" if res.namespaced else "false",
                    res.kind,
                ]
            )
        out.table(view)

    run(body())


# ---- version -----------------------------------------------------------------------------------


@cli.command("version", short_help="Print the client and server versions.")
@connection_options
@click.pass_context
def version_cmd(ctx: click.Context) -> None:
    """Print the client version, and the server's if it can be reached."""
    out = Out()
    out.echo(f"Client Version: {__version__}")

    async def server_version() -> dict[str, Any]:
        async with open_client(ctx, timeout=5) as c:
            return await c.version()

    try:
        info = asyncio.run(server_version())
    except ApiError as err:
        echo_err(f"Server Version: unavailable ({connection(ctx).server}): {err.message}")
        return
    out.echo(f"Server Version: {info.get('gitVersion', 'unknown')}")


def main() -> None:
    cli(prog_name="axle")


if __name__ == "__main__":
    main()
