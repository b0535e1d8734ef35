"""`axle delete`: delete objects by kind and name, by selector, or from manifests.

Prints `tenant.axle.dev "acme" deleted` like kubectl. With `--wait` it polls each object until
it is gone, and when one is held (finalizers, a controller still cleaning up) it says why, from
the object's finalizers and its Ready condition, since "still waiting" alone helps nobody.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import click

from axle.cli.printers import Out
from axle.cli.state import (
    connection_options,
    describe_error,
    echo_err,
    globals_of,
    namespace_option,
    open_client,
    run,
)
from axle.client import Client, ConnectionFailed, load_manifests
from axle.client.discovery import Resource
from axle.client.errors import ManifestError
from axle.client.manifests import sort_for_delete
from axle.errors import ApiError, NotFound

Target = tuple[Resource, str, str | None]  # resource, name, namespace


def held_because(obj: dict[str, Any]) -> str:
    """Why an object with a deletionTimestamp still exists, from what it says about itself."""
    meta = obj.get("metadata") or {}
    reasons = []
    finalizers = meta.get("finalizers") or []
    if finalizers:
        reasons.append("finalizers: " + ", ".join(finalizers))
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready" and cond.get("message"):
            reasons.append(
                f"Ready={cond.get('status')} {cond.get('reason') or ''}: {cond['message']}"
            )
    phase = (obj.get("status") or {}).get("phase")
    if phase and not reasons:
        reasons.append(f"phase {phase}")
    return "; ".join(reasons) or "waiting for the server to remove it"


async def wait_gone(c: Client, targets: list[Target], within: float, out: Out) -> bool:
    """Poll until every target is gone; report each once gone, and changes in why one is held."""
    pending = list(targets)
    said: dict[tuple[str, str, str | None], str] = {}
    deadline = time.monotonic() + within
    delay = 0.05
    while pending:
        still = []
        for res, name, ns in pending:
            try:
                obj = await c.get(res, name, ns)
            except NotFound:
                out.echo(f'{res.qualified_kind} "{name}" deleted')
                continue
            still.append((res, name, ns))
            why = held_because(obj)
            key = (res.qualified_kind, name, ns)
            if said.get(key) != why:
                said[key] = why
                echo_err(f'{res.qualified_kind} "{name}" is being deleted; held by {why}')
        pending = still
        if not pending:
            break
        if time.monotonic() >= deadline:
            for res, name, ns in pending:
                echo_err(
                    f'error: timed out after {within:g}s waiting for {res.qualified_kind} "{name}"'
                    f" to be deleted; held by {said.get((res.qualified_kind, name, ns), '?')}"
                )
            return False
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)
    return True


@click.command("delete")
@click.argument("args", nargs=-1, metavar="[KIND NAME... | KIND/NAME...]")
@click.option(
    "-f",
    "--filename",
    "files",
    multiple=True,
    metavar="FILE|DIR|-",
    help="Delete the objects these manifests describe (in reverse dependency order).",
)
@click.option("-R", "--recursive", is_flag=True, help="Read directories recursively.")
@click.option(
    "-l",
    "--selector",
    "label_selector",
    metavar="SEL",
    help="Delete objects matching this label selector.",
)
@click.option("--all", "all_", is_flag=True, help="Delete every object of KIND in the namespace.")
@click.option(
    "--wait", is_flag=True, help="Wait until the objects are gone (and say what holds them)."
)
@click.option(
    "--timeout",
    type=float,
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="How long --wait waits.",
)
@click.option(
    "--ignore-not-found", is_flag=True, help="Treat objects that do not exist as deleted."
)
@click.option("--dry-run", is_flag=True, help="Let the server check the deletion without doing it.")
@click.option(
    "--cascade",
    type=click.Choice(["background", "foreground", "orphan"]),
    default=None,
    help="What happens to the objects it owns (the server's default: background).",
)
@namespace_option
@connection_options
@click.pass_context
def delete_cmd(
    ctx: click.Context,
    args: tuple[str, ...],
    files: tuple[str, ...],
    recursive: bool,
    label_selector: str | None,
    all_: bool,
    wait: bool,
    timeout: float,
    ignore_not_found: bool,
    dry_run: bool,
    cascade: str | None,
) -> None:
    """Delete objects.

    \b
      axle delete project ml-prod -n ml-prod
      axle delete tenant/acme --wait
      axle delete -f examples/quickstart/
      axle delete configmaps -l app=demo -n ml-prod
    """
    if files and args:
        raise click.UsageError("give either -f FILE or KIND NAME..., not both")
    if not files and not args:
        raise click.UsageError("You must provide one or more resources by argument or filename.")
    ns_flag = globals_of(ctx).namespace
    out = Out()
    propagation = cascade.capitalize() if cascade else None
    suffix = " (server dry run)" if dry_run else ""

    async def targets(c: Client) -> list[Target]:
        if files:
            found = []
            for m in sort_for_delete(load_manifests(list(files), recursive=recursive)):
                res, body = await c.prepare(m.obj, ns_flag)
                found.append(
                    (res, str(body["metadata"]["name"]), body["metadata"].get("namespace"))
                )
            return found
        if all("/" in a for a in args):
            pairs = [a.partition("/") for a in args]
            return [(await c.resolve(k), n, ns_flag) for k, _, n in pairs]
        res = await c.resolve(args[0])
        names = list(args[1:])
        if label_selector or all_:
            if names:
                raise click.UsageError("names cannot be given with --selector or --all")
            items = (await c.list(res, ns_flag, label_selector=label_selector))["items"]
            return [(res, o["metadata"]["name"], o["metadata"].get("namespace")) for o in items]
        if not names:
            raise ManifestError(
                "resource(s) were provided, but no name was specified"
                f" (use --all to delete every {res.kind})"
            )
        return [(res, n, ns_flag) for n in names]

    async def body() -> bool:
        ok = True
        async with open_client(ctx) as c:
            chosen = await targets(c)
            if not chosen:
                echo_err("No resources found")
            deleted: list[Target] = []
            for res, name, ns in chosen:
                try:
                    await c.delete(res, name, ns, propagation, dry_run=dry_run)
                except ConnectionFailed:
                    raise
                except NotFound as err:
                    if not ignore_not_found:
                        echo_err(describe_error(err))
                        ok = False
                    continue
                except ApiError as err:
                    echo_err(describe_error(err))
                    ok = False
                    continue
                if wait and not dry_run:
                    deleted.append((res, name, ns))
                else:
                    out.echo(f'{res.qualified_kind} "{name}" deleted{suffix}')
            if deleted and not await wait_gone(c, deleted, timeout, out):
                ok = False
        return ok

    if not run(body()):
        raise SystemExit(1)
