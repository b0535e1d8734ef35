"""Stand-ins for modules other helpers are still writing (removed as each one lands).

Installed into `sys.modules` only when the real module cannot be imported, so the server can
be exercised before the whole tree exists; each stand-in does the least that keeps its
contract (no admission rules, apply as a plain merge, schema from the pydantic model).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _merge(base.get(k), v)
        return out
    return over


def _apply_module() -> types.ModuleType:
    mod = types.ModuleType("axle.server.apply")

    def server_side_apply(
        info: Any, current: Any, applied: Any, *, manager: str, force: bool
    ) -> Any:
        return _merge(current or {}, applied)

    def track_update(
        info: Any, old: Any, new: Any, *, manager: str, operation: str, subresource: Any
    ) -> Any:
        return new

    mod.server_side_apply = server_side_apply  # type: ignore[attr-defined]
    mod.track_update = track_update  # type: ignore[attr-defined]
    return mod


def _plugins_module() -> types.ModuleType:
    mod = types.ModuleType("axle.server.admission_plugins")

    async def validate_admission(
        store: Any, info: Any, obj: Any, old: Any, operation: str, user: Any
    ) -> None:
        return None

    async def mutate_admission(
        store: Any, info: Any, obj: Any, old: Any, operation: str, user: Any
    ) -> Any:
        return obj

    mod.validate_admission = validate_admission  # type: ignore[attr-defined]
    mod.mutate_admission = mutate_admission  # type: ignore[attr-defined]
    return mod


def _schema_module() -> types.ModuleType:
    mod = types.ModuleType("axle.api.schema")

    def openapi_schema(info: Any) -> dict[str, Any]:
        return info.model.model_json_schema(ref_template="#/$defs/{model}")

    mod.openapi_schema = openapi_schema  # type: ignore[attr-defined]
    return mod


def install() -> None:
    for name, build in (
        ("axle.server.apply", _apply_module),
        ("axle.server.admission_plugins", _plugins_module),
        ("axle.api.schema", _schema_module),
    ):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError:
            sys.modules[name] = build()
