"""Block YAML for the common shape of a Kubernetes object, byte for byte as PyYAML writes it.

Packing an artifact writes every rendered object as YAML with sorted keys, and at fleet scale
that was two thirds of building an artifact: PyYAML represents each value as a node in Python
and its emitter calls back into the Python resolver for every scalar, even with libyaml.

`dump(obj)` writes the same text as `yaml.dump(obj, Dumper=CSafeDumper, sort_keys=True,
default_flow_style=False, allow_unicode=True, width=<huge>)`, directly, for objects made of
what Kubernetes objects are mostly made of: mappings with string keys, lists, integers,
booleans, null, and strings that are plain or single-quoted (a restricted ASCII alphabet, so
no escapes, line breaks or indicators). Anything else (a float, a list directly inside a list,
a string with quotes, `#`, `: `, a tab, non-ASCII text, ...) returns None and the caller uses
PyYAML for the whole object: the fast path never guesses, so the bytes, and so the digests of
artifacts, are the same either way (the tests compare both on generated objects).

Which strings PyYAML writes plain is decided as it decides it: a string whose plain form its
resolver would read as something else (`"8080"`, `"true"`, `"1.5"`, `"~"`, `"2024-01-01"`)
is single-quoted, using PyYAML's own implicit resolvers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

# Strings written without escapes: safe first character, then a conservative alphabet
# (spaces, `:` and `,` allowed; the checks in `_scalar` exclude `: `, ` #`, `- ` at the start,
# and a trailing `:`, `-` alone or a space, which PyYAML would quote).
_SAFE = re.compile(r"[A-Za-z0-9_./-][A-Za-z0-9_./=+@%,:$ -]*\Z")
_RESOLVERS = yaml.resolver.Resolver.yaml_implicit_resolvers
_STR = "tag:yaml.org,2002:str"


class _Unsupported(Exception):
    """The object holds something only PyYAML writes right."""


def dump(obj: Mapping[str, Any]) -> str | None:
    """`obj` as PyYAML's block YAML with sorted keys, or None when the fast path cannot say."""
    if not obj:
        return None
    lines: list[str] = []
    try:
        _mapping(obj, 0, lines, "", set())
    except (_Unsupported, TypeError):  # TypeError: keys that do not sort (mixed types)
        return None
    lines.append("")
    return "\n".join(lines)


# str -> its YAML form, for the strings every object repeats (keys, kinds, labels); bounded.
_WRITTEN: dict[str, str] = {}
_WRITTEN_MAX = 65536


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return str(value)
    if type(value) is not str:
        raise _Unsupported
    known = _WRITTEN.get(value)
    if known is None:
        known = _string(value)
        if len(_WRITTEN) >= _WRITTEN_MAX:
            _WRITTEN.clear()
        _WRITTEN[value] = known
    return known


def _string(value: str) -> str:
    if not value:
        return "''"
    if (
        not _SAFE.match(value)
        or value[-1] in ": "
        or value == "-"
        or value.startswith("- ")
        or ": " in value
        or " #" in value
        or "  " in value
    ):
        raise _Unsupported
    for tag, regexp in _RESOLVERS.get(value[0], ()):
        if tag != _STR and regexp.match(value):
            # Plain, it would read back as a number, a boolean, a date...: PyYAML quotes it.
            return f"'{value}'"
    return value


def _key(key: Any) -> str:
    # PyYAML writes a key of 128 characters or more as a complex key (`? key`).
    if type(key) is not str or len(key) >= 120:
        raise _Unsupported
    return _scalar(key)


def _empty(value: Any) -> str | None:
    """The one-line form of `value` (a scalar, `{}`, `[]`), or None for a block."""
    kind = type(value)
    if kind is dict or (kind is not list and isinstance(value, Mapping)):
        return None if value else "{}"
    if kind is list:
        return None if value else "[]"
    return _scalar(value)


def _seen(container: Any, seen: set[int]) -> None:
    # The same dict or list twice in one object is written by PyYAML as an anchor and an
    # alias (`&id001` / `*id001`), which this writer does not do.
    if id(container) in seen:
        raise _Unsupported
    seen.add(id(container))


def _mapping(
    obj: Mapping[str, Any], indent: int, lines: list[str], first: str, seen: set[int]
) -> None:
    """Write `obj` at column `indent`; its first line starts with `first` (a `- ` of the
    sequence item it is) in place of the indentation."""
    _seen(obj, seen)
    pad = " " * indent
    for i, key in enumerate(sorted(obj)):
        value = obj[key]
        head = (first if i == 0 and first else pad) + _key(key) + ":"
        inline = _empty(value)
        if inline is not None:
            lines.append(f"{head} {inline}")
        elif isinstance(value, Mapping):
            lines.append(head)
            _mapping(value, indent + 2, lines, "", seen)
        else:
            lines.append(head)
            _sequence(value, indent, lines, seen)


def _sequence(items: list[Any], indent: int, lines: list[str], seen: set[int]) -> None:
    """Write `items` at column `indent` (PyYAML does not indent a list under its key)."""
    _seen(items, seen)
    dash = " " * indent + "- "
    for item in items:
        inline = _empty(item)
        if inline is not None:
            lines.append(dash + inline)
        elif isinstance(item, Mapping):
            _mapping(item, indent + 2, lines, dash, seen)
        else:
            raise _Unsupported  # a list directly in a list
