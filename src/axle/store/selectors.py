"""Kubernetes label and field selectors: parsing, matching, formatting.

Pure functions with no I/O, so the store (list and watch filtering), the server (validating
`?labelSelector=`) and the CLI (`-l`) share one grammar and one set of error messages. The
grammar follows `k8s.io/apimachinery/pkg/labels` and `.../fields`:

label selector   requirement ("," requirement)*
requirement      key | "!" key | key ("="|"=="|"!=") value | key ("in"|"notin") "(" values ")"
                 | key (">"|"<") integer

field selector   key ("="|"=="|"!=") value ("," ...)*, with `\\,` `\\=` `\\\\` escapes in values;
                 the key is any dotted path into the object (`metadata.name`, `status.phase`).

A parse error is an `axle.errors.BadRequest` whose message names the offending part.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from axle.errors import BadRequest

LabelOp = Literal["=", "!=", "in", "notin", "exists", "!", "gt", "lt"]
FieldOp = Literal["=", "!="]

_NAME_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def validate_label_key(key: str) -> str | None:
    """Why `key` is not a valid label key, or None if it is."""
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN_RE.match(prefix)):
        return f"prefix part of {key!r} must be a DNS subdomain (lowercase, at most 253)"
    if not name:
        return f"name part of {key!r} must not be empty"
    if len(name) > 63:
        return f"name part of {key!r} must be no more than 63 characters"
    if not _NAME_RE.match(name):
        return (
            f"name part of {key!r} must consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an alphanumeric character"
        )
    return None


def validate_label_value(value: str) -> str | None:
    """Why `value` is not a valid label value, or None if it is."""
    if value == "":
        return None
    if len(value) > 63:
        return f"label value {value!r} must be no more than 63 characters"
    if not _NAME_RE.match(value):
        return (
            f"label value {value!r} must consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an alphanumeric character"
        )
    return None


@dataclass(frozen=True)
class Requirement:
    key: str
    op: LabelOp
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.op
        if op == "=":
            return labels.get(self.key) == self.values[0]
        if op == "!=":
            return labels.get(self.key) != self.values[0]
        if op == "in":
            return self.key in labels and labels[self.key] in self.values
        if op == "notin":
            return labels.get(self.key) not in self.values
        if op == "exists":
            return self.key in labels
        if op == "!":
            return self.key not in labels
        value = labels.get(self.key)
        if value is None:
            return False
        try:
            number = int(value)
        except ValueError:
            return False
        bound = int(self.values[0])
        return number > bound if op == "gt" else number < bound

    def __str__(self) -> str:
        if self.op in ("=", "!="):
            return f"{self.key}{self.op}{self.values[0]}"
        if self.op in ("in", "notin"):
            return f"{self.key} {self.op} ({','.join(self.values)})"
        if self.op == "exists":
            return self.key
        if self.op == "!":
            return f"!{self.key}"
        return f"{self.key}{'>' if self.op == 'gt' else '<'}{self.values[0]}"


@dataclass(frozen=True)
class LabelSelector:
    """A conjunction of requirements; the empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _label_error(selector: str, why: str) -> BadRequest:
    return BadRequest(f"unable to parse requirement: {why} (in label selector {selector!r})")


# Tokens: identifiers (keys and values), operators, parentheses and commas.
_LABEL_TOKEN_RE = re.compile(r"\s*(?:(==|!=|=|!|\(|\)|,|>|<)|([^\s=!(),<>]+))")


def _tokenize_labels(selector: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(selector):
        if selector[pos:].strip() == "":
            break
        m = _LABEL_TOKEN_RE.match(selector, pos)
        if m is None or m.end() == pos:
            raise _label_error(selector, f"unexpected character at position {pos}")
        op, ident = m.group(1), m.group(2)
        if op is not None:
            tokens.append(("op", op))
        elif ident in ("in", "notin"):
            tokens.append(("kw", ident))
        else:
            tokens.append(("id", ident))
        pos = m.end()
    return tokens


def parse_label_selector(selector: str | None) -> LabelSelector:
    """Parse a label selector string; `None` or blank gives the match-everything selector."""
    if selector is None or not selector.strip():
        return LabelSelector()
    tokens = _tokenize_labels(selector)
    reqs: list[Requirement] = []
    i = 0

    def peek(offset: int = 0) -> tuple[str, str] | None:
        return tokens[i + offset] if i + offset < len(tokens) else None

    def key_at(tok: tuple[str, str] | None) -> str:
        if tok is None:
            raise _label_error(selector, "expected a label key, found end of selector")
        if tok[0] != "id":
            raise _label_error(selector, f"expected a label key, found {tok[1]!r}")
        why = validate_label_key(tok[1])
        if why:
            raise _label_error(selector, why)
        return tok[1]

    while True:
        tok = peek()
        if tok == ("op", "!"):
            i += 1
            reqs.append(Requirement(key_at(peek()), "!"))
            i += 1
        else:
            key = key_at(tok)
            i += 1
            nxt = peek()
            if nxt is None or nxt == ("op", ","):
                reqs.append(Requirement(key, "exists"))
            elif nxt[0] == "op" and nxt[1] in ("=", "==", "!="):
                i += 1
                val_tok = peek()
                value = ""
                if val_tok is not None and val_tok[0] in ("id", "kw"):
                    value = val_tok[1]
                    i += 1
                why = validate_label_value(value)
                if why:
                    raise _label_error(selector, why)
                reqs.append(Requirement(key, "!=" if nxt[1] == "!=" else "=", (value,)))
            elif nxt[0] == "op" and nxt[1] in (">", "<"):
                i += 1
                val_tok = peek()
                if val_tok is None or val_tok[0] != "id" or not re.fullmatch(r"-?\d+", val_tok[1]):
                    raise _label_error(
                        selector, f"for {nxt[1]!r} the value must be a single integer"
                    )
                i += 1
                reqs.append(Requirement(key, "gt" if nxt[1] == ">" else "lt", (val_tok[1],)))
            elif nxt[0] == "kw":
                i += 1
                if peek() != ("op", "("):
                    raise _label_error(selector, f"expected '(' after {nxt[1]!r}")
                i += 1
                values: list[str] = []
                while True:
                    val_tok = peek()
                    if val_tok is None:
                        raise _label_error(selector, "expected ')' to close the value list")
                    if val_tok == ("op", ")"):
                        i += 1
                        break
                    if val_tok == ("op", ","):
                        i += 1
                        continue
                    if val_tok[0] == "op":
                        raise _label_error(selector, f"unexpected {val_tok[1]!r} in value list")
                    why = validate_label_value(val_tok[1])
                    if why:
                        raise _label_error(selector, why)
                    values.append(val_tok[1])
                    i += 1
                if not values:
                    raise _label_error(
                        selector, f"for {nxt[1]!r} the set of values must not be empty"
                    )
                op: LabelOp = "in" if nxt[1] == "in" else "notin"
                reqs.append(Requirement(key, op, tuple(values)))
            else:
                raise _label_error(selector, f"unexpected {nxt[1]!r} after key {key!r}")
        tok = peek()
        if tok is None:
            break
        if tok != ("op", ","):
            raise _label_error(selector, f"expected ',' between requirements, found {tok[1]!r}")
        i += 1
        if peek() is None:
            raise _label_error(selector, "trailing ',' at end of selector")
    return LabelSelector(tuple(reqs))


def selector_from_match_labels(match_labels: Mapping[str, str] | None) -> LabelSelector:
    """The selector that requires every given label (a `matchLabels` map)."""
    return LabelSelector(
        tuple(Requirement(k, "=", (str(v),)) for k, v in sorted((match_labels or {}).items()))
    )


def selector_from_spec(spec: Mapping[str, Any] | None) -> LabelSelector:
    """A Kubernetes `LabelSelector` object (`matchLabels` + `matchExpressions`) as a selector."""
    if not spec:
        return LabelSelector()
    reqs = list(selector_from_match_labels(spec.get("matchLabels")).requirements)
    ops: dict[str, LabelOp] = {
        "In": "in",
        "NotIn": "notin",
        "Exists": "exists",
        "DoesNotExist": "!",
    }
    for i, expr in enumerate(spec.get("matchExpressions") or []):
        op = ops.get(str(expr.get("operator")))
        if op is None:
            raise BadRequest(
                f"matchExpressions[{i}].operator: {expr.get('operator')!r} is not one of "
                "In, NotIn, Exists, DoesNotExist"
            )
        values = tuple(str(v) for v in expr.get("values") or [])
        if op in ("in", "notin") and not values:
            raise BadRequest(f"matchExpressions[{i}].values: must be non-empty for {op}")
        reqs.append(Requirement(str(expr.get("key")), op, values))
    return LabelSelector(tuple(reqs))


@dataclass(frozen=True)
class FieldRequirement:
    path: tuple[str, ...]
    op: FieldOp
    value: str

    @property
    def field(self) -> str:
        return ".".join(self.path)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        equal = field_value(obj, self.path) == self.value
        return equal if self.op == "=" else not equal

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")
        return f"{self.field}{self.op}{escaped}"


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(r.matches(obj) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def field_value(obj: Mapping[str, Any], path: tuple[str, ...]) -> str:
    """The value at a dotted path as a field selector compares it ('' when absent)."""
    cur: Any = obj
    for part in path:
        if not isinstance(cur, Mapping):
            return ""
        cur = cur.get(part)
        if cur is None:
            return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    if isinstance(cur, str | int | float):
        return str(cur)
    return ""


def _split_unescaped(text: str, sep: str) -> list[str]:
    """Split on `sep` where it is not preceded by a backslash escape."""
    parts: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur.append(text[i : i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


def _unescape(value: str, selector: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\":
            if i + 1 >= len(value) or value[i + 1] not in "\\,=":
                raise BadRequest(
                    f"invalid field selector {selector!r}: invalid escape sequence in {value!r}"
                )
            out.append(value[i + 1])
            i += 2
            continue
        if ch in ",=":
            raise BadRequest(
                f"invalid field selector {selector!r}: unescaped {ch!r} in value {value!r}"
            )
        out.append(ch)
        i += 1
    return "".join(out)


_FIELD_PATH_RE = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")


def parse_field_selector(selector: str | None) -> FieldSelector:
    """Parse a field selector string; `None` or blank gives the match-everything selector."""
    if selector is None or not selector.strip():
        return FieldSelector()
    reqs: list[FieldRequirement] = []
    for part in _split_unescaped(selector, ","):
        if not part.strip():
            raise BadRequest(f"invalid field selector {selector!r}: empty requirement")
        m = re.match(r"^\s*([^=!\s]+)\s*(==|!=|=)(.*)$", part, re.S)
        if m is None:
            raise BadRequest(
                f"invalid field selector {selector!r}: {part!r} is not of the form "
                "field=value, field==value or field!=value"
            )
        path, op, raw = m.group(1), m.group(2), m.group(3)
        if not _FIELD_PATH_RE.match(path):
            raise BadRequest(f"invalid field selector {selector!r}: bad field path {path!r}")
        value = _unescape(raw.strip(), selector)
        reqs.append(FieldRequirement(tuple(path.split(".")), "!=" if op == "!=" else "=", value))
    return FieldSelector(tuple(reqs))
