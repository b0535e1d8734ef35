"""Server-side table output (`meta.k8s.io/v1` `Table`), what `kubectl get` prints.

kubectl asks for `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` and prints the
columns the server defines; that is how `kubectl get tenants` shows a STATUS column without
knowing the kind. Columns come from the kind's `PrinterColumn`s, framed like a CRD's
additionalPrinterColumns: NAME first, AGE last. Column paths use the small JSONPath subset CRDs
use in practice (`.a.b`, `[0]`, `[*]`, `[?(@.type=="Ready")]`), evaluated here rather than
with a general JSONPath engine because a table is computed for every row of every list.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

from axle.api.registry import KindInfo, PrinterColumn

TABLE_API_VERSIONS = ("meta.k8s.io/v1", "meta.k8s.io/v1beta1")

_NAME_COLUMN = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "description": "Name must be unique within a namespace.",
    "priority": 0,
}
_AGE_DESCRIPTION = "CreationTimestamp is the time the object was created."

# One step of a column path: `.field`, `[3]`, `[*]` or `[?(@.path=="value")]` (also != ).
_STEP = re.compile(
    r"""\.(?P<field>(?:[A-Za-z0-9_$\-/]|\\\.)+)
      | \[(?P<kq>["'])(?P<key>.*?)(?P=kq)\]
      | \[(?P<index>-?\d+)\]
      | \[(?P<star>\*)\]
      | \[\?\(@\.(?P<fpath>[A-Za-z0-9_.\-/]+)\s*(?P<op>==|!=)\s*(?P<q>["'])(?P<value>.*?)(?P=q)\)\]
    """,
    re.VERBOSE,
)

Step = tuple[str, Any]


@lru_cache(maxsize=512)
def compile_path(path: str) -> tuple[Step, ...]:
    """Parse a column path once; raises ValueError on anything outside the subset."""
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    if text.startswith("$"):
        text = text[1:]
    if text and not text.startswith((".", "[")):
        text = "." + text
    steps: list[Step] = []
    pos = 0
    while pos < len(text):
        m = _STEP.match(text, pos)
        if m is None:
            raise ValueError(f"unsupported JSONPath {path!r} at {text[pos:]!r}")
        if m.group("field") is not None:
            # `.metadata.labels.axle\.dev/tier`: an escaped dot belongs to the key.
            steps.append(("field", m.group("field").replace("\\.", ".")))
        elif m.group("key") is not None:
            steps.append(("field", m.group("key")))  # `.metadata.labels['axle.dev/tier']`
        elif m.group("index") is not None:
            steps.append(("index", int(m.group("index"))))
        elif m.group("star") is not None:
            steps.append(("star", None))
        else:
            fpath = tuple(m.group("fpath").split("."))
            steps.append(("filter", (fpath, m.group("op"), m.group("value"))))
        pos = m.end()
    return tuple(steps)


def evaluate(obj: Any, path: str) -> list[Any]:
    """All values the path selects in `obj` (empty when nothing matches)."""
    current: list[Any] = [obj]
    for kind, arg in compile_path(path):
        nxt: list[Any] = []
        for value in current:
            if kind == "field":
                if isinstance(value, dict) and arg in value:
                    nxt.append(value[arg])
            elif kind == "index":
                if isinstance(value, list) and -len(value) <= arg < len(value):
                    nxt.append(value[arg])
            elif kind == "star":
                if isinstance(value, list):
                    nxt.extend(value)
                elif isinstance(value, dict):
                    nxt.extend(value.values())
            else:
                fpath, op, want = arg
                items = value if isinstance(value, list) else []
                for item in items:
                    got: Any = item
                    for key in fpath:
                        got = got.get(key) if isinstance(got, dict) else None
                    matched = _as_text(got) == want
                    if matched == (op == "=="):
                        nxt.append(item)
        current = nxt
    return current


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def human_duration(seconds: float) -> str:
    """Age as kubectl shows it (k8s.io/apimachinery/pkg/util/duration.HumanDuration)."""
    s = int(seconds)
    if s < 0:
        return "<invalid>" if s < -1 else "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rem = s % 60
        return f"{minutes}m{rem}s" if rem else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rem = (s % 3600) // 60
        return f"{hours}h{rem}m" if rem else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rem = hours % 24
        return f"{hours // 24}d{rem}h" if rem else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = hours // 24
        rem = days % 365
        return f"{days // 365}y{rem}d" if rem else f"{days // 365}y"
    return f"{hours // 24 // 365}y"


def _age(timestamp: Any, now: datetime) -> str:
    if not isinstance(timestamp, str) or not timestamp:
        return "<unknown>"
    try:
        then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    return human_duration((now - then).total_seconds())


class TableConverter:
    """Column definitions and row cells for one kind, computed once per kind."""

    def __init__(self, info: KindInfo) -> None:
        # NAME is always first; AGE stays where the kind puts it (before the `-o wide`
        # columns, as kubectl prints pods) or goes last when the kind shows no time at all
        # (a kind with its own time column, like an Event's LAST SEEN, gets no extra AGE).
        cols: list[PrinterColumn] = [c for c in info.columns if c.name.lower() != "name"]
        if not any(
            c.type == "date" or c.json_path.strip() == ".metadata.creationTimestamp" for c in cols
        ):
            cols.append(
                PrinterColumn(
                    name="Age",
                    json_path=".metadata.creationTimestamp",
                    type="date",
                    description=_AGE_DESCRIPTION,
                )
            )
        self.columns = cols
        self.column_definitions: list[dict[str, Any]] = [dict(_NAME_COLUMN)]
        for col in cols:
            self.column_definitions.append(
                {
                    "name": col.name,
                    "type": col.type,
                    "format": "",
                    "description": col.description or _default_description(col),
                    "priority": col.priority,
                }
            )

    def cells(self, obj: dict[str, Any], now: datetime) -> list[Any]:
        meta = obj.get("metadata") or {}
        out: list[Any] = [meta.get("name", "")]
        for col in self.columns:
            out.append(self._cell(col, obj, now))
        return out

    @staticmethod
    def _cell(col: PrinterColumn, obj: dict[str, Any], now: datetime) -> Any:
        try:
            values = evaluate(obj, col.json_path)
        except ValueError:
            return "<invalid>"
        if not values:
            return None if col.type in ("integer", "number") else "<none>"
        value = values[0] if len(values) == 1 else values
        if col.type == "date":
            return _age(value, now)
        if col.type in ("integer", "number", "boolean") and not isinstance(value, list):
            return value
        if isinstance(value, list):
            return ",".join(
                _as_text(v) if not isinstance(v, dict) else orjson.dumps(v).decode() for v in value
            )
        if isinstance(value, dict):
            return orjson.dumps(value).decode()
        return _as_text(value)

    def table(
        self,
        objects: Sequence[dict[str, Any]],
        *,
        api_version: str,
        include_object: str,
        list_meta: dict[str, Any] | None = None,
        column_definitions: bool = True,
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        rows = [
            {"cells": self.cells(obj, now), "object": row_object(obj, include_object, api_version)}
            for obj in objects
        ]
        for row in rows:
            if row["object"] is None:
                del row["object"]
        return {
            "kind": "Table",
            "apiVersion": api_version,
            "metadata": list_meta or {},
            "columnDefinitions": self.column_definitions if column_definitions else [],
            "rows": rows,
        }


def _default_description(col: PrinterColumn) -> str:
    return f"Custom resource definition column (in JSONPath format): {col.json_path}"


def row_object(obj: dict[str, Any], include_object: str, api_version: str) -> Any:
    """The `object` of a table row as `includeObject` asks (None, Metadata or Object)."""
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    meta_version = api_version if api_version in TABLE_API_VERSIONS else TABLE_API_VERSIONS[0]
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": meta_version,
        "metadata": obj.get("metadata") or {},
    }
