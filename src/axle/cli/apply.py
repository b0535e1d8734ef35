"""`axle apply -f FILE|DIR|-`: create or update objects from manifests, reporting like kubectl.

Server-side apply by default (the hub merges, and owns conflict detection); `--server-side=false`
creates missing objects and JSON-merge-patches existing ones instead. Each object is reported as
`tenant.axle.dev/acme created|configured|unchanged`, decided by reading it before and comparing
resourceVersions after (for a dry run, by comparing the contents). Objects go in dependency order
(see `axle.client.manifests`); one failing object is reported and the others still go.
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
from axle.client import Client, ConnectionFailed, Manifest, load_manifests
from axle.client.discovery import Resource
from axle.errors import ApiError, NotFound

# How long an object waits for a namespace that an earlier object of the same apply makes (a
# Namespace, a Tenant's `tenant-<name>`, a Project's own) when the hub makes it asynchronously.
NAMESPACE_WAIT = 15.0
_VOLATILE_META = ("resourceVersion", "managedFields", "generation", "uid", "creationTimestamp")


def _comparable(obj: dict[str, Any] | None) -> dict[str, Any]:
    if obj is None:
        return {}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _VOLATILE_META}
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}


def namespaces_made_by(m: Manifest) -> set[str]:
    """Namespaces that exist once `m` is applied (soon, if a controller makes them)."""
    meta = m.obj.get("metadata") or {}
    if m.kind == "Namespace":
        return {str(meta.get("name"))}
    if m.kind == "Tenant":
        return {f"tenant-{meta.get('name')}"}
    if m.kind == "Project" and meta.get("namespace"):
        return {str(meta["namespace"])}
    return set()


async def _namespace_exists(c: Client, ns: str) -> bool:
    try:
        await c.get("namespaces", ns)
    except NotFound:
        return False
    return True


async def _namespace_appears(c: Client, ns: str) -> bool:
    deadline = time.monotonic() + NAMESPACE_WAIT
    delay = 0.05
    while time.monotonic() < deadline:
        if await _namespace_exists(c, ns):
            return True
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)
    return False


async def apply_one(
    c: Client,
    m: Manifest,
    namespace: str | None,
    *,
    server_side: bool,
    dry_run: bool,
    force: bool,
    field_manager: str,
    promised: set[str],
) -> tuple[Resource, str, str]:
    """Apply one manifest; returns (resource, name, created|configured|unchanged)."""
    res, body = await c.prepare(m.obj, namespace)
    meta = body["metadata"]
    name, ns = meta.get("name"), meta.get("namespace")
    if not name:  # generateName: the server picks the name, only create makes sense
        created = await c.create(body, dry_run=dry_run)
        return res, created["metadata"]["name"], "created"
    try:
        before: dict[str, Any] | None = await c.get(res, name, ns)
    except NotFound:
        before = None
    for attempt in (1, 2):
        try:
            if server_side:
                after = await c.apply(body, field_manager, force=force, dry_run=dry_run)
            elif before is None:
                after = await c.create(body, dry_run=dry_run)
            else:
                patch = {k: v for k, v in body.items() if k != "status"}
                after = await c.patch(res, name, patch, ns, dry_run=dry_run)
            break
        except NotFound:
            # The namespace may be on its way (made by a Tenant or Project applied just before).
            if attempt == 2 or not (res.namespaced and ns in promised):
                raise
            if await _namespace_exists(c, ns):
                raise  # the 404 is about something else
            echo_err(f'waiting for namespace "{ns}" (made by an object applied before)')
            if not await _namespace_appears(c, ns):
                raise
    if before is None:
        return res, name, "created"
    if dry_run:
        changed = _comparable(before) != _comparable(after)
    else:
        changed = before["metadata"].get("resourceVersion") != after["metadata"].get(
            "resourceVersion"
        )
    return res, name, "configured" if changed else "unchanged"


@click.command("apply")
@click.option(
    "-f",
    "--filename",
    "files",
    multiple=True,
    required=True,
    metavar="FILE|DIR|-",
    help="Manifest file, directory of .yaml/.yml/.json files, or - for stdin (repeatable).",
)
@click.option("-R", "--recursive", is_flag=True, help="Read directories recursively.")
@click.option(
    "--server-side/--client-side",
    "server_side",
    default=True,
    show_default=True,
    help="Server-side apply (default), or create + JSON merge patch.",
)
@click.option("--dry-run", is_flag=True, help="Let the server check and show the result only.")
@click.option(
    "--force-conflicts/--no-force-conflicts",
    default=True,
    show_default=True,
    help="Take over fields another field manager owns (server-side apply only).",
)
@click.option("--field-manager", default="axle", show_default=True, help="Field manager name.")
@namespace_option
@connection_options
@click.pass_context
def apply_cmd(
    ctx: click.Context,
    files: tuple[str, ...],
    recursive: bool,
    server_side: bool,
    dry_run: bool,
    force_conflicts: bool,
    field_manager: str,
) -> None:
    """Create or update objects from manifests.

    Reads YAML (several documents per file), JSON or `kind: List` from files, directories or
    stdin, and applies them in dependency order: Namespaces, Tenants, Projects, Secrets,
    Settings, ... before what refers to them. Objects without a namespace go to -n (or the
    context's namespace). Examples:

    \b
      axle apply -f examples/quickstart/
      axle apply -f tenant.yaml --dry-run
      cat project.yaml | axle apply -f -
    """
    ns = globals_of(ctx).namespace
    out = Out()
    suffix = " (server dry run)" if dry_run else ""

    async def body() -> int:
        manifests = load_manifests(list(files), recursive=recursive)
        failures = 0
        promised: set[str] = set()
        async with open_client(ctx) as c:
            for m in manifests:
                try:
                    res, name, verdict = await apply_one(
                        c,
                        m,
                        ns,
                        server_side=server_side,
                        dry_run=dry_run,
                        force=force_conflicts,
                        field_manager=field_manager,
                        promised=promised,
                    )
                    out.echo(f"{res.qualified_kind}/{name} {verdict}{suffix}")
                except ConnectionFailed:
                    raise
                except ApiError as err:
                    failures += 1
                    text = describe_error(err)
                    head, sep, rest = text.partition(": ")
                    echo_err(f"{head}: error when applying {m.where}: {rest}" if sep else text)
                promised |= namespaces_made_by(m)
        return failures

    if run(body()):
        raise SystemExit(1)
