"""`axle get`: list or show objects as tables (the server's columns), names, YAML or JSON.

Several kinds at once (`tenants,projects`) print one table per kind, names qualified as
`tenant.axle.dev/acme` the way kubectl does; `-w` prints the table and then one row per change
until interrupted (or `--timeout`), resuming the watch across dropped connections.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import click

from axle.cli import compute, printers
from axle.cli.printers import Out
from axle.cli.state import (
    all_namespaces_option,
    connection_options,
    describe_error,
    echo_err,
    globals_of,
    namespace_option,
    open_client,
    run,
)
from axle.client import Client
from axle.client.discovery import Resource
from axle.client.errors import ManifestError
from axle.errors import NotFound

OUTPUTS = ("table", "wide", "yaml", "json", "name")
# A watch whose hub went away gives up after this many failed reconnects (about 30 s).
WATCH_RECONNECTS = 8
# No name given: one fetch of the whole (selected) listing.
_ALL: list[str | None] = [None]


@dataclass
class Query:
    kinds: list[str]
    names: list[str]
    namespace: str | None
    all_namespaces: bool
    label_selector: str | None
    field_selector: str | None
    output: str
    show_labels: bool = False

    def layout(
        self, res: Resource, table: dict[str, Any], *, qualified_names: bool = False
    ) -> printers.Layout:
        return printers.Layout(
            res,
            table.get("columnDefinitions") or [],
            wide=self.output == "wide",
            with_namespace=self.all_namespaces,
            qualified_names=qualified_names,
            show_labels=self.show_labels,
        )


def parse_targets(args: tuple[str, ...]) -> list[tuple[str, list[str]]]:
    """`KIND[,KIND] [NAME...]` or `KIND/NAME...` into (kind, names) pairs, in order."""
    if not args:
        raise click.UsageError(
            "You must specify the type of resource to get, e.g. `axle get tenants`"
            " (`axle api-resources` lists them)."
        )
    if all("/" in a for a in args):
        pairs: dict[str, list[str]] = {}
        for arg in args:
            kind, _, name = arg.partition("/")
            if not kind or not name:
                raise click.UsageError(f"{arg!r} is not KIND/NAME")
            pairs.setdefault(kind, []).append(name)
        return list(pairs.items())
    if any("/" in a for a in args):
        raise click.UsageError(
            "there is no need to specify a resource type as a separate argument when passing"
            " arguments in resource/name form"
        )
    kinds = [k for k in args[0].split(",") if k]
    names = list(args[1:])
    if names and len(kinds) > 1:
        raise click.UsageError(
            "you may name objects only with one resource type (or use KIND/NAME)"
        )
    return [(k, names) for k in kinds]


def _no_resources(res: Resource | None, q: Query, conn_ns: str) -> str:
    if q.all_namespaces or (res is not None and not res.namespaced):
        return "No resources found"
    return f"No resources found in {q.namespace or conn_ns} namespace."


async def _fetch(
    c: Client, res: Resource, name: str | None, q: Query, *, table: bool
) -> dict[str, Any] | None:
    """One name's object (or the whole listing) as a Table or a list; None if it is not found,
    after saying so (kubectl goes on with the other names and fails at the end)."""
    try:
        if table:
            return await c.table(
                res, name, q.namespace, q.all_namespaces, q.label_selector, q.field_selector
            )
        if name:
            return {"items": [await c.get(res, name, q.namespace)]}
        return await c.list(res, q.namespace, q.all_namespaces, q.label_selector, q.field_selector)
    except NotFound as err:
        echo_err(describe_error(err))
        return None


async def _print_documents(
    c: Client, resolved: list[tuple[Resource, list[str]]], q: Query, out: Out
) -> tuple[int, bool]:
    """-o yaml|json|name: one object when one was named, else a `List`."""
    objs: list[tuple[Resource, dict[str, Any]]] = []
    ok = True
    for res, names in resolved:
        for name in names or _ALL:
            found = await _fetch(c, res, name, q, table=False)
            ok = ok and found is not None
            objs += [(res, o) for o in (found or {}).get("items", [])]
    if q.output == "name":
        for res, o in objs:
            out.echo(printers.object_name(res, o))
        return len(objs), ok
    if not objs and not ok:
        return 0, ok
    single = len(resolved) == 1 and len(resolved[0][1]) == 1 and len(objs) == 1
    body = (
        printers.clean(objs[0][1])
        if single
        else printers.as_list(printers.clean(o) for _, o in objs)
    )
    text = printers.to_yaml(body).rstrip("\n") if q.output == "yaml" else printers.to_json(body)
    out.echo(text)
    return len(objs), ok


async def _print_tables(
    c: Client, resolved: list[tuple[Resource, list[str]]], q: Query, out: Out
) -> tuple[int, bool]:
    """table|wide: one table per kind, names qualified when several kinds are shown."""
    shown, ok, first = 0, True, True
    for res, names in resolved:
        if q.output == "wide" and (res.group, res.kind) == (compute.GROUP, compute.KIND):
            # A Compute's wide view is its machines, one row each (cli/compute.py).
            found = [await _fetch(c, res, name, q, table=False) for name in names or _ALL]
            ok = ok and all(f is not None for f in found)
            objs = [o for f in found for o in (f or {}).get("items", [])]
            view = compute.machines_view(objs, with_namespace=q.all_namespaces)
            if objs:
                if not first:
                    out.echo()
                first = False
                out.table(view)
            shown += len(objs)
            continue
        table: dict[str, Any] | None = None
        rows: list[dict[str, Any]] = []
        for name in names or _ALL:
            part = await _fetch(c, res, name, q, table=True)
            if part is None:
                ok = False
                continue
            table = table or part
            rows += part.get("rows") or []
        if table is None or not rows:
            continue
        view = q.layout(res, table, qualified_names=len(resolved) > 1).view(rows)
        if not first:
            out.echo()
        first = False
        out.table(view)
        shown += len(rows)
    return shown, ok


async def show(
    c: Client, targets: list[tuple[str, list[str]]], q: Query, out: Out
) -> tuple[int, bool]:
    """Print every target; returns how many objects were shown and whether all were found."""
    resolved = [(await c.resolve(k), names) for k, names in targets]
    if q.output in ("yaml", "json", "name"):
        return await _print_documents(c, resolved, q, out)
    return await _print_tables(c, resolved, q, out)


async def watch(c: Client, kind: str, names: list[str], q: Query, out: Out) -> None:
    """The table, then a row per change (or an object per change with -o yaml|json|name)."""
    res = await c.resolve(kind)
    name = names[0] if names else None
    fsel = ",".join(filter(None, [q.field_selector, f"metadata.name={name}" if name else None]))
    tabular = q.output in ("table", "wide")
    if not tabular:
        # -o yaml|json|name: the watch's own initial list prints the objects as they are now.
        async for event in c.watch(
            res,
            q.namespace,
            q.all_namespaces,
            q.label_selector,
            fsel or None,
            max_reconnects=WATCH_RECONNECTS,
        ):
            _print_object(res, event["object"], q.output, out)
        return
    table = await c.table(res, None, q.namespace, q.all_namespaces, q.label_selector, fsel or None)
    layout = q.layout(res, table)
    view = layout.view(table.get("rows") or [])
    last_rows = {_row_key(row): row for row in table.get("rows") or []}
    rv: str | None = (table.get("metadata") or {}).get("resourceVersion") or None
    if rv is None:
        # No resourceVersion to resume from: let the watch list (ADDED events) instead.
        view.rows, last_rows = [], {}
    elif view.rows:
        out.table(view)
    header_shown = bool(view.rows)
    async for event in c.watch(
        res,
        q.namespace,
        q.all_namespaces,
        q.label_selector,
        fsel or None,
        rv,
        as_table=True,
        max_reconnects=WATCH_RECONNECTS,
    ):
        obj = event["object"]
        if obj.get("kind") == "Table" and obj.get("rows"):
            # The server's row as of this event (what kubectl prints).
            row = obj["rows"][0]
            key = _row_key(row)
        else:
            # A plain object (from a re-list): its row as the server shows it now.
            key = _row_key({"object": obj})
            row = last_rows.get(key)
            if event["type"] != "DELETED":
                try:
                    fresh = await c.table(res, key[1], key[0] or None)
                    row = (fresh.get("rows") or [row])[0]
                except NotFound:
                    pass  # gone again already: show what we last knew
        if row is None:
            row = {"cells": [key[1]], "object": obj}
        last_rows[key] = row
        cells = layout.cells(row)
        if not header_shown:
            view.rows = [cells]
            view.fit()
            out.header(view.line(view.headers))
            header_shown = True
        out.row(view.line(cells))


def _print_object(res: Resource, obj: dict[str, Any], output: str, out: Out) -> None:
    if output == "name":
        out.echo(printers.object_name(res, obj))
    elif output == "json":
        out.echo(printers.to_json(printers.clean(obj)))
    else:
        out.echo("---\n" + printers.to_yaml(printers.clean(obj)).rstrip("\n"))


def _row_key(row: dict[str, Any]) -> tuple[str, str]:
    meta = (row.get("object") or {}).get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


@click.command("get")
@click.argument("targets", nargs=-1, metavar="KIND[,KIND...] [NAME...] | KIND/NAME...")
@click.option(
    "-l",
    "--selector",
    "label_selector",
    metavar="SEL",
    help="Label selector, e.g. `tier=gold,env!=dev`.",
)
@click.option("--field-selector", metavar="SEL", help="Field selector, e.g. `metadata.name=acme`.")
@click.option(
    "-o",
    "--output",
    type=click.Choice(OUTPUTS),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option("--show-labels", is_flag=True, help="Add a LABELS column to tables.")
@click.option(
    "-w", "--watch", "watch_", is_flag=True, help="After listing, print a row for every change."
)
@click.option(
    "--timeout",
    type=float,
    default=0,
    metavar="SECONDS",
    help="Stop watching after this long (0: until Ctrl-C).",
)
@namespace_option
@all_namespaces_option
@connection_options
@click.pass_context
def get_cmd(
    ctx: click.Context,
    targets: tuple[str, ...],
    label_selector: str | None,
    field_selector: str | None,
    output: str,
    show_labels: bool,
    watch_: bool,
    timeout: float,
) -> None:
    """Show objects of one or more kinds.

    KIND is any name the hub knows a kind by: plural, singular, short name or Kind, optionally
    with its group (`tenants`, `tenant`, `Tenant`, `cp`, `computepools.axle.dev`). Several kinds
    are separated by commas. Examples:

    \b
      axle get tenants
      axle get projects -A -o wide
      axle get tenants,projects -A
      axle get project ml-prod -n ml-prod -o yaml
      axle get projects -A -l axle.dev/tenant=acme
      axle get tenants -w
      axle get compute -n ml-prod -o wide   # a Compute's machines, one row each
    """
    pairs = parse_targets(targets)
    g = globals_of(ctx)
    q = Query(
        kinds=[k for k, _ in pairs],
        names=[n for _, ns in pairs for n in ns],
        namespace=g.namespace,
        all_namespaces=g.all_namespaces,
        label_selector=label_selector,
        field_selector=field_selector,
        output=output,
        show_labels=show_labels,
    )
    out = Out()

    async def body() -> None:
        async with open_client(ctx) as c:
            if watch_:
                if len(pairs) != 1 or len(pairs[0][1]) > 1:
                    raise ManifestError(
                        "watch is only supported on one resource type (and at most one name)"
                    )
                try:
                    async with asyncio.timeout(timeout or None):
                        await watch(c, pairs[0][0], pairs[0][1], q, out)
                except TimeoutError:
                    pass  # --timeout reached: a normal end of a bounded watch
                return
            count, ok = await show(c, pairs, q, out)
            if count == 0 and ok:
                res = await c.resolve(pairs[0][0]) if len(pairs) == 1 else None
                echo_err(_no_resources(res, q, c.namespace))
            if not ok:
                raise SystemExit(1)

    run(body())
