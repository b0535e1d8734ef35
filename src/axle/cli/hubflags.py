"""Command-line flags for every hub setting, generated from `HubSettings`.

DESIGN section 8: every setting has a flag and an `AXLE_*` environment variable. Generating
the flags from the settings model keeps the two from drifting apart: a field added to
`HubSettings` is a flag of `axle up` at once, with its description as the help text. A flag
that is not given leaves the setting to its environment variable, then its default.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic.fields import FieldInfo

from axle.settings import HubSettings

F = TypeVar("F", bound=Callable[..., Any])


def _json_object(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """Parse a JSON-object flag (e.g. `--controller-concurrency '{"project": 4}'`)."""
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise click.BadParameter("must be a JSON object")
    return parsed


def _base_type(annotation: Any) -> Any:
    """`int | None` -> int; other annotations unchanged."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else str
    return typing.get_origin(annotation) or annotation


def _default_text(field: FieldInfo) -> str:
    if field.default_factory is not None:
        return ""
    if field.default is None:
        return ""
    return f"; default {field.default}"


def _option(name: str, field: FieldInfo) -> Callable[[F], F]:
    flag = "--" + name.replace("_", "-")
    env = f"AXLE_{name.upper()}"
    text = field.description or name
    help_text = f"{text[:1].upper()}{text[1:]} [env {env}{_default_text(field)}]."
    base = _base_type(field.annotation)
    if base is bool:
        return click.option(
            f"{flag}/--no-{name.replace('_', '-')}", name, default=None, help=help_text
        )
    param_type: Any
    if base is Path:
        param_type = click.Path(path_type=Path)
    elif base is int:
        param_type = click.INT
    elif base is float:
        param_type = click.FLOAT
    elif base is dict:
        return click.option(
            flag, name, metavar="JSON", default=None, callback=_json_object, help=help_text
        )
    else:
        param_type = click.STRING
    return click.option(flag, name, type=param_type, default=None, help=help_text)


def hub_setting_options(func: F) -> F:
    """Decorate a command with one option per `HubSettings` field (in declaration order)."""
    for name, field in reversed(list(HubSettings.model_fields.items())):
        func = _option(name, field)(func)
    return func


def settings_from_flags(values: dict[str, Any]) -> HubSettings:
    """HubSettings from the flags given (None = not given), the environment, the defaults."""
    return HubSettings(**{k: v for k, v in values.items() if v is not None})
