"""What `axle describe` adds for Component/Trait/PolicyDefinitions: their parameters.

A definition's parameters are an OpenAPI v3 schema, which the generic describe would print as
a deep nest of `Properties:` blocks. Users want what `helm show values` or KubeVela's
`vela show` give: one row per parameter with its type, whether it is required, its default
and its description. Nested objects are flattened with dots (`resources.limits.cpu`), array
items shown as `name[]` when they are objects. Traits also say which components they apply to,
and every definition its latest DefinitionRevision.
"""

from __future__ import annotations

import json
from typing import Any

from axle.cli.printers import grid

DEFINITION_KINDS = ("ComponentDefinition", "TraitDefinition", "PolicyDefinition")
_HEADERS = ["Name", "Type", "Required", "Default", "Description"]


def is_definition(obj: dict[str, Any]) -> bool:
    return obj.get("kind") in DEFINITION_KINDS and str(obj.get("apiVersion", "")).startswith(
        "axle.dev/"
    )


def _type(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items") or {}
        return f"[]{_type(items)}" if isinstance(items, dict) and items.get("type") else "array"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map[string]{_type(schema['additionalProperties'])}"
    if "enum" in schema and not kind:
        return "enum"
    if kind is None:
        alts = schema.get("oneOf") or schema.get("anyOf")
        if isinstance(alts, list) and alts:
            return "|".join(_type(a) for a in alts if isinstance(a, dict))
        return "any"
    return str(kind)


def _default(schema: dict[str, Any]) -> str:
    if "default" not in schema:
        return ""
    return json.dumps(schema["default"], sort_keys=True, separators=(",", ":"))


def _description(schema: dict[str, Any]) -> str:
    text = " ".join(str(schema.get("description") or "").split())
    if "enum" in schema:
        allowed = ", ".join(str(v) for v in schema["enum"])
        text = f"{text} (one of: {allowed})".strip()
    return text


def parameter_rows(schema: dict[str, Any] | None, prefix: str = "") -> list[list[str]]:
    """One row per parameter of an OpenAPI v3 object schema, nested objects flattened."""
    if not isinstance(schema, dict):
        return []
    required = set(schema.get("required") or [])
    rows: list[list[str]] = []
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, dict):
            continue
        path = f"{prefix}{name}"
        rows.append(
            [
                path,
                _type(prop),
                "yes" if name in required else "no",
                _default(prop),
                _description(prop),
            ]
        )
        if prop.get("properties"):
            rows += parameter_rows(prop, f"{path}.")
        items = prop.get("items")
        if prop.get("type") == "array" and isinstance(items, dict) and items.get("properties"):
            rows += parameter_rows(items, f"{path}[].")
    return rows


def definition_lines(obj: dict[str, Any]) -> list[str]:
    """The Parameters table, `Applies To` (traits) and `Latest Revision` of a definition."""
    spec = obj.get("spec") or {}
    lines: list[str] = []
    if obj.get("kind") == "TraitDefinition":
        applies = spec.get("appliesToWorkloads") or ["*"]
        lines.append(f"Applies To:  {', '.join(str(a) for a in applies)}")
    latest = (obj.get("status") or {}).get("latestRevision") or {}
    if latest:
        lines.append(f"Latest Revision:  {latest.get('revision')} ({latest.get('name')})")
    else:
        lines.append("Latest Revision:  <none>")
    rows = parameter_rows(((spec.get("schema") or {}).get("openAPIV3Schema")) or {})
    if not rows:
        lines.append("Parameters:  <none>")
        return lines
    lines.append("Parameters:")
    table = [_HEADERS, ["-" * len(h) for h in _HEADERS], *rows]
    lines += grid(table, "  ")
    return lines
