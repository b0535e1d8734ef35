"""`axle describe`: one object as readable sections, with its recent Events, like kubectl.

Identity first (Name, Namespace, Labels, Annotations, API Version, Kind), then the rest of
metadata, the spec and the status as indented `Key:  value` blocks with camelCase keys split
into words (kubectl's custom-resource describer does the same), the status conditions as a
table (what a user reads first when something is stuck) and the object's Events last.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import click

from axle.cli import compute, definitions, workloads
from axle.cli.printers import Out, age, grid
from axle.cli.state import (
    all_namespaces_option,
    connection_options,
    echo_err,
    globals_of,
    namespace_option,
    open_client,
    run,
)

INDENT = "  "
# Split camelCase at a lower-to-upper step, except inside binary units (`memoryMiB`).
_WORD = re.compile(r"(?<=[a-z0-9])(?<!Ki)(?<!Mi)(?<!Gi)(?<!Ti)(?=[A-Z])")
# Words written in capitals wherever they appear in a key (`gpuLimits` -> `GPU Limits`).
_UPPER_WORDS = {"api", "cpu", "gpu", "id", "ip", "ssh", "ntp", "vip", "cidr", "url", "uid"}
# Metadata shown in the identity section, or not worth showing (managedFields).
# Maps whose keys are the user's data, not field names: never re-cased.
_USER_KEYED = {
    "data",
    "stringData",
    "binaryData",
    "labels",
    "annotations",
    "matchLabels",
    "nodeSelector",
    "variables",
}
_ACRONYMS = {"uid": "UID", "url": "URL", "ip": "IP"}
_SHOWN_META = {"name", "namespace", "labels", "annotations", "managedFields"}


def title(key: str) -> str:
    """`gpuLimits` -> `GPU Limits`, `memoryMiB` -> `Memory MiB`; keys that are not camelCase
    (`NVIDIA-H100`) stay as they are."""
    if key in _ACRONYMS:
        return _ACRONYMS[key]
    if not key or not key[0].islower():
        return key
    words = _WORD.sub(" ", key).split(" ")
    return " ".join(
        w.upper() if w.lower() in _UPPER_WORDS else w[:1].upper() + w[1:] for w in words
    )


def _scalar(value: Any) -> str:
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _block(value: Any, level: int, *, verbatim: bool = False) -> list[str]:
    """Nested mappings and lists as indented lines, values aligned within one mapping.

    Field names are titled (`gpuLimits` -> `Gpu Limits`); keys of user-keyed maps (`verbatim`:
    data, labels, ...) are shown exactly as written.
    """
    pad = INDENT * level
    lines: list[str] = []

    def name(key: Any) -> str:
        return str(key) if verbatim else title(str(key))

    if isinstance(value, dict):
        scalars = [k for k, v in value.items() if not isinstance(v, (dict, list)) or not v]
        width = max((len(name(k)) for k in scalars), default=0)
        for key, item in value.items():
            label = name(key) + ":"
            if isinstance(item, (dict, list)) and item:
                lines.append(pad + label)
                lines += _block(item, level + 1, verbatim=key in _USER_KEYED)
            else:
                shown = "<none>" if isinstance(item, (dict, list)) else _scalar(item)
                text = shown.splitlines() or [""]
                lines.append(f"{pad}{label.ljust(width + 1)}  {text[0]}".rstrip())
                lines += [f"{pad}{INDENT}{t}" for t in text[1:]]
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and item:
                sub = _block(item, level + 1)
                # The first line of each item carries the dash, the rest align under it.
                first = sub[0][len(pad) + len(INDENT) :]
                lines.append(f"{pad}- {first}")
                lines += sub[1:]
            else:
                lines.append(f"{pad}- {_scalar(item)}")
    else:
        lines.append(pad + _scalar(value))
    return lines


def _map_lines(label: str, mapping: dict[str, Any] | None) -> list[str]:
    entries = [f"{k}={v}" for k, v in sorted((mapping or {}).items())] or ["<none>"]
    head = _label(label)
    return [head + entries[0]] + [" " * len(head) + e for e in entries[1:]]


def _label(label: str) -> str:
    """The identity section's labels, values aligned after the longest (`Annotations:`)."""
    return f"{label}:".ljust(len("Annotations:") + 2)


def conditions_table(conditions: list[dict[str, Any]], level: int) -> list[str]:
    rows = [["Type", "Status", "Reason", "Message", "Last Transition"]]
    rows.append(["-" * len(h) for h in rows[0]])
    for cond in conditions:
        rows.append(
            [
                str(cond.get("type", "")),
                str(cond.get("status", "")),
                str(cond.get("reason") or ""),
                " ".join(str(cond.get("message") or "").split()),
                str(cond.get("lastTransitionTime") or ""),
            ]
        )
    return grid(rows, INDENT * level)


def events_table(events: list[dict[str, Any]]) -> list[str]:
    if not events:
        return ["Events:  <none>"]
    rows = [["Type", "Reason", "Age", "From", "Message"]]
    rows.append(["-" * len(h) for h in rows[0]])
    for ev in events[-20:]:
        when = ev.get("lastTimestamp") or ev.get("eventTime") or ev.get("firstTimestamp")
        count = int(ev.get("count") or 1)
        shown_age = age(when)
        if count > 1:
            shown_age += f" (x{count} over {age(ev.get('firstTimestamp'))})"
        source = ev.get("source") or {}
        rows.append(
            [
                str(ev.get("type") or ""),
                str(ev.get("reason") or ""),
                shown_age,
                str(source.get("component") or ev.get("reportingComponent") or ""),
                " ".join(str(ev.get("message") or "").split()),
            ]
        )
    return ["Events:", *grid(rows, INDENT)]


def _secret_sizes(obj: dict[str, Any]) -> dict[str, Any]:
    """A Secret with its values replaced by their sizes: describe never prints secrets."""
    data = obj.get("data") or {}
    sizes = {}
    for key, value in data.items():
        try:
            sizes[key] = f"{len(base64.b64decode(str(value)))} bytes"
        except (ValueError, binascii.Error):
            sizes[key] = "<not base64>"
    return {k: v for k, v in obj.items() if k != "stringData"} | {"data": sizes}


def describe(obj: dict[str, Any], events: list[dict[str, Any]]) -> str:
    if obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1":
        obj = _secret_sizes(obj)
    meta = obj.get("metadata") or {}
    lines = [
        _label("Name") + str(meta.get("name", "")),
        (_label("Namespace") + str(meta.get("namespace") or "")).rstrip(),
        *_map_lines("Labels", meta.get("labels")),
        *_map_lines("Annotations", meta.get("annotations")),
        _label("API Version") + str(obj.get("apiVersion", "")),
        _label("Kind") + str(obj.get("kind", "")),
    ]
    rest_meta = {k: v for k, v in meta.items() if k not in _SHOWN_META}
    if rest_meta:
        lines.append("Metadata:")
        lines += _block(rest_meta, 1)
    for key, value in obj.items():
        if key in ("apiVersion", "kind", "metadata", "status"):
            continue
        if isinstance(value, (dict, list)) and value:
            lines.append(f"{title(key)}:")
            lines += _block(value, 1, verbatim=key in _USER_KEYED)
        else:
            lines.append(
                f"{title(key) + ':'}  {_scalar(value) if value not in ({}, []) else '<none>'}"
            )
    status = obj.get("status")
    if isinstance(status, dict) and status:
        lines.append("Status:")
        conditions = status.get("conditions")
        rest = {k: v for k, v in status.items() if k != "conditions"}
        if isinstance(conditions, list) and conditions:
            lines.append(INDENT + "Conditions:")
            lines += conditions_table(conditions, 2)
        if rest and compute.is_compute(obj):
            lines += compute.status_lines(status, 1)
        elif workloads.is_aiworkload(obj):
            lines += workloads.status_lines(status, 1)
        elif rest:
            lines += _block(rest, 1)
    if definitions.is_definition(obj):
        lines += definitions.definition_lines(obj)
    lines += events_table(events)
    return "\n".join(lines)


@click.command("describe", short_help="Show objects in detail, with their Events.")
@click.argument("kind", metavar="KIND")
@click.argument("names", nargs=-1, metavar="[NAME...]")
@click.option(
    "-l",
    "--selector",
    "label_selector",
    metavar="SEL",
    help="Describe objects matching this label selector.",
)
@namespace_option
@all_namespaces_option
@connection_options
@click.pass_context
def describe_cmd(
    ctx: click.Context, kind: str, names: tuple[str, ...], label_selector: str | None
) -> None:
    """Show one object (or every object of KIND) in detail, with its recent Events.

    \b
      axle describe tenant acme
      axle describe project ml-prod -n ml-prod
      axle describe projects -A
    """
    g = globals_of(ctx)
    out = Out()

    async def body() -> None:
        async with open_client(ctx) as c:
            if "/" in kind and not names:
                k, _, n = kind.partition("/")
                res, wanted = await c.resolve(k), [n]
            else:
                res, wanted = await c.resolve(kind), list(names)
            if wanted:
                objs = [await c.get(res, n, g.namespace) for n in wanted]
            else:
                objs = (await c.list(res, g.namespace, g.all_namespaces, label_selector))["items"]
                if not objs:
                    echo_err("No resources found")
            for i, obj in enumerate(objs):
                if i:
                    out.echo()
                out.echo(describe(obj, await c.events_for(obj)))

    run(body())
