"""The macro grammar of workload profiles (DESIGN §5, notes §13), parsed by axle itself.

PaletteAI writes macros Go-template style; axle accepts exactly this small grammar and
nothing more, so a typo is a field-path error instead of a silently rendered string:

    {{ .var.NAME }}                 hub: a user variable
    {{ .def.COMPONENT.OUTPUT }}     hub: a definition output (`.def.C.TRAIT.OUTPUT` for a trait's)
    {{ .obj.OUTPUT }}               hub: an object output
    {{ .sys.NAME }}                 hub: a system output
    {{ spoke ".def.C.O" }}          spoke: a definition output, resolved by the agent
    {{ spoke ".def.C.T.O" }}        spoke: a trait's definition output
    {{ spoke ".obj.O" }}            spoke: an object output
    {{ "TEXT" }}                    an escape: the literal TEXT, e.g. `{{"{{"}}` for `{{`

Whitespace inside the braces is optional. Any other `{{` is an error: there is no silent
pass-through. A lone `}}` is plain text, as in Go templates.

Rendering happens in two steps. `resolve_hub` replaces the hub-context macros and leaves
spoke macros *and escapes* in place, so its output is itself valid macro text that the agent
parses again with `resolve_spoke`, which produces the final value. For that reason every text
the hub inserts (variable values, outputs) is encoded so that it cannot be mistaken for a
macro on the spoke: a `{` followed by another `{` becomes `{{"{"}}`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from axle.errors import Cause, Invalid

HUB_NAMESPACES = ("var", "def", "obj", "sys")
SPOKE_NAMESPACES = ("def", "obj")
# The number of names after the namespace each namespace takes.
_ARITY: dict[str, tuple[int, ...]] = {"var": (1,), "def": (2, 3), "obj": (1,), "sys": (1,)}
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*\Z")
_PATH_CHARS = re.compile(r"[A-Za-z0-9_.\-]*")
_WS = re.compile(r"\s*")
_FIELD_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")


class MacroError(Invalid):
    """A macro that is malformed or names something unknown, at `field` and `position`."""

    def __init__(self, message: str, *, field: str, position: int) -> None:
        where = f"{field}: " if field else ""
        super().__init__(
            f"{where}{message} (at position {position})",
            causes=[
                Cause(
                    field=field,
                    message=f"{message} (at position {position})",
                    reason="FieldValueInvalid",
                )
            ],
        )
        self.field = field
        self.position = position


@dataclass(frozen=True)
class Text:
    """Literal text between macros."""

    text: str
    position: int

    @property
    def raw(self) -> str:
        return self.text


@dataclass(frozen=True)
class Escape:
    """`{{ "TEXT" }}`: stands for TEXT, kept verbatim until the final (spoke) resolution."""

    raw: str
    position: int
    text: str


@dataclass(frozen=True)
class Macro:
    """One macro: `kind` says who resolves it, `names` are the path after the namespace."""

    raw: str
    position: int
    kind: Literal["hub", "spoke"]
    namespace: str
    names: tuple[str, ...]

    @property
    def path(self) -> str:
        """The dotted path, as written: `.def.server.address`."""
        return "." + ".".join((self.namespace, *self.names))


Segment = Text | Escape | Macro


@dataclass(frozen=True)
class MacroRef:
    """A macro found in a JSON value: the field it sits in and where in that string."""

    field: str
    position: int
    macro: Macro


def parse(text: str, field: str = "") -> list[Segment]:
    """Split `text` into literal text, escapes and macros; `"".join(s.raw ...) == text`.

    Raises MacroError (naming `field` and the character position) for anything that opens
    with `{{` and is not one of the forms of the grammar.
    """
    segments: list[Segment] = []
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            if pos < len(text):
                segments.append(Text(text[pos:], pos))
            return segments
        if start > pos:
            segments.append(Text(text[pos:start], pos))
        segment = _parse_macro(text, start, field)
        segments.append(segment)
        pos = start + len(segment.raw)


def _parse_macro(text: str, start: int, field: str) -> Escape | Macro:
    def fail(message: str) -> MacroError:
        return MacroError(message, field=field, position=start)

    end = text.find("}}", start + 2)
    if end < 0:
        raise fail("unclosed macro: '{{' without a matching '}}'")
    i = _WS.match(text, start + 2).end()  # type: ignore[union-attr]
    kind: Literal["hub", "spoke"]
    if text.startswith('"', i):
        # An escape: a string literal; it may contain `}}`, so its end is the closing quote.
        close = text.find('"', i + 1)
        if close < 0:
            raise fail("unterminated string literal")
        literal = text[i + 1 : close]
        if "\\" in literal or "\n" in literal:
            raise fail("string literal may not contain backslashes or newlines")
        j = _WS.match(text, close + 1).end()  # type: ignore[union-attr]
        if not text.startswith("}}", j):
            raise fail("expected '}}' after the string literal")
        return Escape(text[start : j + 2], start, literal)
    if text.startswith("spoke", i):
        j = i + len("spoke")
        k = _WS.match(text, j).end()  # type: ignore[union-attr]
        if k == j or not text.startswith('"', k):
            raise fail('spoke takes one double-quoted path: {{ spoke ".def.C.O" }}')
        close = text.find('"', k + 1)
        if close < 0 or close > end:
            raise fail("unterminated string literal in spoke macro")
        path = text[k + 1 : close]
        k = _WS.match(text, close + 1).end()  # type: ignore[union-attr]
        if k != end:
            raise fail("expected '}}' after the spoke path")
        kind = "spoke"
    elif text.startswith(".", i):
        m = _PATH_CHARS.match(text, i)
        assert m is not None  # the pattern matches the empty string
        path = m.group()
        k = _WS.match(text, m.end()).end()  # type: ignore[union-attr]
        if k != end:
            raise fail(f"unexpected {text[k:end][:20]!r} in macro")
        kind = "hub"
    else:
        body = text[i:end].strip()
        if not body:
            raise fail("empty macro")
        raise fail(f"not a macro of the grammar: {body[:40]!r}")
    namespace, names = _split_path(path, kind, fail)
    return Macro(text[start : end + 2], start, kind, namespace, names)


def _split_path(
    path: str, kind: str, fail: Callable[[str], MacroError]
) -> tuple[str, tuple[str, ...]]:
    if not path.startswith(".") or path == ".":
        raise fail(f"empty or relative path {path!r}; paths start with '.', e.g. '.var.name'")
    parts = path[1:].split(".")
    for part in parts:
        if not _NAME.match(part):
            raise fail(f"bad name {part!r} in path {path!r}")
    namespace, names = parts[0], tuple(parts[1:])
    allowed = SPOKE_NAMESPACES if kind == "spoke" else HUB_NAMESPACES
    if namespace not in allowed:
        hint = " (variables and system outputs are hub-context only)" if kind == "spoke" else ""
        raise fail(
            f"unknown namespace {namespace!r} in {path!r}; {kind} macros take "
            f"{', '.join('.' + n for n in allowed)}{hint}"
        )
    arity = _ARITY[namespace]
    if len(names) not in arity:
        forms = {
            "var": ".var.NAME",
            "def": ".def.COMPONENT.OUTPUT or .def.COMPONENT.TRAIT.OUTPUT",
            "obj": ".obj.OUTPUT",
            "sys": ".sys.NAME",
        }
        raise fail(f"wrong number of names in {path!r}; expected {forms[namespace]}")
    return namespace, names


def _child(path: str, key: str) -> str:
    if _FIELD_KEY.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{key}]"


def find_macros(value: Any, path: str = "") -> list[MacroRef]:
    """Every macro (hub and spoke) in a JSON value, in dict keys and string values.

    Raises MacroError on the first malformed macro.
    """
    refs: list[MacroRef] = []

    def walk(v: Any, p: str) -> None:
        if isinstance(v, str):
            if "{{" in v:  # nothing else can hold a macro, or be malformed
                refs.extend(MacroRef(p, s.position, s) for s in parse(v, p) if isinstance(s, Macro))
        elif isinstance(v, Mapping):
            for key, item in v.items():
                child = _child(p, str(key))
                if isinstance(key, str):
                    refs.extend(
                        MacroRef(child, s.position, s)
                        for s in parse(key, child)
                        if isinstance(s, Macro)
                    )
                walk(item, child)
        elif isinstance(v, list | tuple):
            for i, item in enumerate(v):
                walk(item, f"{p}[{i}]")

    walk(value, path)
    return refs


def encode_text(text: str, followed_by_brace: bool = False) -> str:
    """`text` made safe to re-parse: each `{` followed by `{` becomes `{{"{"}}`."""
    if "{" not in text:
        return text
    out: list[str] = []
    for i, ch in enumerate(text):
        nxt_brace = text[i + 1] == "{" if i + 1 < len(text) else followed_by_brace
        out.append('{{"{"}}' if ch == "{" and nxt_brace else ch)
    return "".join(out)


def _encode_value(value: Any) -> Any:
    if isinstance(value, str):
        return encode_text(value)
    if isinstance(value, Mapping):
        return {encode_text(str(k)): _encode_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode_value(v) for v in value]
    return value


def _as_text(value: Any) -> str:
    # JSON spelling for non-strings, so `true` not `True`, and a deterministic map order.
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


_KEEP = object()
# Given a macro and where it is, the value to put in its place or _KEEP to leave it.
_Lookup = Callable[[Macro, str], Any]


def _substitute(text: str, field: str, lookup: _Lookup, final: bool) -> Any:
    if "{" not in text:
        # No macro, escape or brace to encode: the text is its own result (most strings).
        return text
    segments = parse(text, field)
    if len(segments) == 1 and isinstance(segments[0], Macro):
        found = lookup(segments[0], field)
        if found is _KEEP:
            return text
        return found if final else _encode_value(found)
    # Runs of final text are gathered so a `{` next to a kept macro is encoded too.
    out: list[str] = []
    run: list[str] = []

    def flush(before_kept: bool) -> None:
        joined = "".join(run)
        out.append(joined if final else encode_text(joined, before_kept))
        run.clear()

    for seg in segments:
        if isinstance(seg, Text):
            run.append(seg.text)
        elif isinstance(seg, Escape):
            if final:
                run.append(seg.text)
            else:
                flush(True)
                out.append(seg.raw)
        else:
            found = lookup(seg, field)
            if found is _KEEP:
                flush(True)
                out.append(seg.raw)
            else:
                run.append(_as_text(found))
    flush(False)
    return "".join(out)


def _walk(value: Any, path: str, lookup: _Lookup, final: bool) -> Any:
    if isinstance(value, str):
        return _substitute(value, path, lookup, final)
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key, item in value.items():
            child = _child(path, str(key))
            new_key = key
            if isinstance(key, str):
                new_key = _as_text(_substitute(key, child, lookup, final))
                if new_key in result:
                    raise MacroError(
                        f"key {new_key!r} appears twice after macro resolution",
                        field=child,
                        position=0,
                    )
            result[new_key] = _walk(item, child, lookup, final)
        return result
    if isinstance(value, list | tuple):
        return [_walk(item, f"{path}[{i}]", lookup, final) for i, item in enumerate(value)]
    return value


def _lookup_def(
    macro: Macro, field: str, definition_outputs: Mapping[str, Mapping[str, Any]]
) -> Any:
    component, output = macro.names[0], ".".join(macro.names[1:])
    if component not in definition_outputs:
        raise MacroError(
            f"unknown component {component!r} in {macro.path!r}",
            field=field,
            position=macro.position,
        )
    outputs = definition_outputs[component]
    if output not in outputs:
        raise MacroError(
            f"component {component!r} has no output {output!r} (in {macro.path!r})",
            field=field,
            position=macro.position,
        )
    return outputs[output]


def _lookup_one(macro: Macro, field: str, table: Mapping[str, Any], what: str) -> Any:
    name = macro.names[0]
    if name not in table:
        raise MacroError(
            f"unknown {what} {name!r} in {macro.path!r}", field=field, position=macro.position
        )
    return table[name]


def resolve_hub(
    value: Any,
    *,
    variables: Mapping[str, Any],
    definition_outputs: Mapping[str, Mapping[str, Any]],
    object_outputs: Mapping[str, Any],
    system: Mapping[str, Any],
    path: str = "",
) -> Any:
    """A new value with every hub-context macro replaced; spoke macros and escapes kept.

    A string that is exactly one macro becomes the value itself (`{{ .var.replicas }}` -> 2);
    otherwise values are interpolated as text (non-strings in their JSON spelling). Trait
    outputs are looked up as `definition_outputs[C]["TRAIT.OUTPUT"]`. Raises MacroError with
    the field path (prefixed by `path`) and position for anything malformed or unknown.
    """

    def lookup(macro: Macro, field: str) -> Any:
        if macro.kind == "spoke":
            return _KEEP
        if macro.namespace == "var":
            return _lookup_one(macro, field, variables, "variable")
        if macro.namespace == "def":
            return _lookup_def(macro, field, definition_outputs)
        if macro.namespace == "obj":
            return _lookup_one(macro, field, object_outputs, "object output")
        return _lookup_one(macro, field, system, "system output")

    return _walk(value, path, lookup, final=False)


def resolve_spoke(
    value: Any,
    *,
    definition_outputs: Mapping[str, Mapping[str, Any]],
    object_outputs: Mapping[str, Any],
    path: str = "",
) -> Any:
    """The final value on the spoke: spoke macros replaced, escapes turned into their text.

    Meant for the output of `resolve_hub`; a hub-context macro still present is an error.
    """

    def lookup(macro: Macro, field: str) -> Any:
        if macro.kind == "hub":
            raise MacroError(
                f"hub-context macro {macro.path!r} was not resolved on the hub",
                field=field,
                position=macro.position,
            )
        if macro.namespace == "def":
            return _lookup_def(macro, field, definition_outputs)
        return _lookup_one(macro, field, object_outputs, "object output")

    return _walk(value, path, lookup, final=True)
