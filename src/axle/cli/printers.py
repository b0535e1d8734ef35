"""How `axle` prints objects: kubectl-style tables, names, YAML and JSON.

Tables are the server's (`meta.k8s.io/v1` Table: the hub decides the columns per kind); this
module only lays them out the way kubectl does: uppercase headers, columns left-aligned and
separated by three spaces, a NAMESPACE column first with `-A`, `kind.group/name` names when
several kinds are shown, and only priority-0 columns unless `-o wide`. Output is plain text,
so it pipes and diffs cleanly; colour is added only on a terminal (see `Out`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

import yaml
from rich.console import Console
from rich.text import Text

from axle.client.discovery import Resource
from axle.server.tables import human_duration

GAP = "   "
# Status words coloured on a terminal, as a glance at a table should tell what needs attention.
GOOD = {"Ready", "Running", "Available", "True", "Active", "Bound", "Succeeded", "Normal"}
BAD = {"Failed", "NotReady", "Degraded", "Error", "False", "Warning", "Terminating"}
BUSY = {"Pending", "Provisioning", "Joining", "Deleting", "Unknown", "Progressing"}


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) < 20 or value[4:5] != "-":
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def age(timestamp: Any, now: datetime | None = None) -> str:
    """`5s`, `3m2s`, `4h`, `2d` since an RFC 3339 timestamp, as kubectl shows AGE."""
    when = parse_time(timestamp)
    if when is None:
        return "<unknown>"
    return human_duration(((now or datetime.now(UTC)) - when).total_seconds())


def cell_text(value: Any, column: dict[str, Any] | None = None) -> str:
    if value is None:
        return "<none>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(cell_text(v) for v in value) or "<none>"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    if column is not None and column.get("type") == "date" and parse_time(value):
        # The hub humanizes dates itself; a server that sends raw timestamps gets them here.
        return age(value)
    return str(value)


def object_name(res: Resource, obj: dict[str, Any]) -> str:
    """`tenant.axle.dev/acme`: how kubectl names an object with `-o name`."""
    return f"{res.qualified_kind}/{(obj.get('metadata') or {}).get('name', '')}"


@dataclass
class TableView:
    """One kind's table, reduced to the columns to show and their text, ready to align."""

    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    widths: list[int] = field(default_factory=list)

    def fit(self) -> None:
        self.widths = [len(h) for h in self.headers]
        for row in self.rows:
            self.widths = [max(w, len(c)) for w, c in zip(self.widths, row, strict=False)]

    def line(self, cells: Sequence[str]) -> str:
        if not self.widths:
            self.fit()
        padded = [c.ljust(w) for c, w in zip(cells[:-1], self.widths, strict=False)]
        return GAP.join([*padded, cells[-1]]).rstrip() if cells else ""

    def lines(self) -> list[str]:
        self.fit()
        return [self.line(self.headers), *(self.line(r) for r in self.rows)]


def grid(rows: list[list[str]], pad: str = "") -> list[str]:
    """`rows` (the first one the headers) aligned like kubectl's tables, each line led by
    `pad`: the tables inside `describe` output."""
    view = TableView(rows[0], [list(r) for r in rows[1:]])
    return [pad + line for line in view.lines()]


@dataclass(frozen=True)
class Layout:
    """Which of a server Table's columns to show for one kind, and how to render a row."""

    res: Resource
    columns: list[dict[str, Any]]
    wide: bool = False  # -o wide: priority > 0 columns too
    with_namespace: bool = False  # -A: a NAMESPACE column first (namespaced kinds only)
    qualified_names: bool = False  # several kinds: `kind.group/name`
    show_labels: bool = False  # --show-labels: a LABELS column last

    @property
    def shown(self) -> list[int]:
        return [
            i
            for i, col in enumerate(self.columns)
            if self.wide or int(col.get("priority") or 0) == 0
        ]

    @property
    def namespace_column(self) -> bool:
        return self.with_namespace and self.res.namespaced

    def headers(self) -> list[str]:
        names = [str(self.columns[i].get("name", "")).upper() for i in self.shown]
        if self.namespace_column:
            names.insert(0, "NAMESPACE")
        if self.show_labels:
            names.append("LABELS")
        return names

    def cells(self, row: dict[str, Any]) -> list[str]:
        values = row.get("cells") or []
        meta = (row.get("object") or {}).get("metadata") or {}
        out = []
        for i in self.shown:
            text = cell_text(values[i] if i < len(values) else None, self.columns[i])
            if self.qualified_names and self.columns[i].get("format") == "name":
                text = f"{self.res.qualified_kind}/{text}"
            out.append(text)
        if self.namespace_column:
            out.insert(0, str(meta.get("namespace") or ""))
        if self.show_labels:
            labels = meta.get("labels") or {}
            out.append(",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>")
        return out

    def view(self, rows: list[dict[str, Any]]) -> TableView:
        return TableView(self.headers(), [self.cells(r) for r in rows])


def clean(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as a user wants to read it: managedFields dropped (kubectl hides them too)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    return obj


class _Dumper(yaml.SafeDumper):
    """Block-style YAML with multi-line strings as `|` blocks, keys in the server's order."""


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_presenter)


def to_yaml(obj: Any) -> str:
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1 << 16)


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=4)


def as_list(items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "List",
        "metadata": {"resourceVersion": ""},
        "items": list(items),
    }


class Out:
    """Where output goes: plain text when piped, colour when stdout is a terminal."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        tty = self.stream.isatty()
        self.console = Console(file=self.stream, highlight=False, soft_wrap=True) if tty else None

    def echo(self, text: str = "") -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def header(self, text: str) -> None:
        if self.console is not None:
            self.console.print(Text(text, style="bold"))
        else:
            self.echo(text)

    def row(self, text: str) -> None:
        if self.console is None:
            self.echo(text)
            return
        rich_line = Text(text)
        for words, style in ((GOOD, "green"), (BAD, "red"), (BUSY, "yellow")):
            for word in words:
                rich_line.highlight_regex(rf"(?<![\w/.-]){word}(?![\w/.-])", style)
        self.console.print(rich_line)

    def table(self, view: TableView, *, header: bool = True) -> None:
        lines = view.lines()
        if header:
            self.header(lines[0])
        for line in lines[1:]:
            self.row(line)
