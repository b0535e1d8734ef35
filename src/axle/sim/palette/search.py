"""Palette's search body (`v1SearchFilterSummarySpec`): filters, sort, and page tokens.

The same body drives the edge host and the cluster searches; what differs is the set of
properties a filter may name, which each search declares as `Prop`s (and publishes through
its `/search/schema` call). `compile_search` checks the whole body once and returns a
predicate and a sort key, so paging through thousands of hosts re-evaluates nothing: the
simulator caches the ordered matches per (scope, body, state generation).

Semantics, as Palette documents them:
  * filters in a group combine with the group's `conjunction` (default `and`), groups with the
    filter's `conjunction` (default `and`); the misspelt `conjuction` that Palette's own
    scripts send is accepted at both levels;
  * a condition compares the property with each of `match.values`, combined with
    `match.conjunction` (default `or`); a multi-valued property (tags, GPU models) matches
    when any of its values does; `negation` inverts the result; an empty `values` list only
    asks that the property (or, for `keyValue`, the key) be present;
  * `keyValue` conditions test one label: `key` plus a string operator on its value;
  * a `keyValue` property may also be filtered as `string`, against its `key:value` strings.

Page tokens are opaque to clients: base64 of the next offset and a digest of the body, so a
token replayed with a different body is refused instead of silently skipping results.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson

from axle.sim.palette.errors import PaletteError, bad_request
from axle.sim.palette.wire import tag_strings

T = TypeVar("T")

MAX_LIMIT = 50
STRING_OPS = ("eq", "contains", "beginsWith")
NUMBER_OPS = ("eq", "gt", "gte", "lt", "lte")
DATE_OPS = (*NUMBER_OPS, "range")


@dataclass(frozen=True)
class Prop(Generic[T]):
    """A property a search filter may name."""

    name: str
    type: str  # string | int | float | bool | date | keyValue
    get: Callable[[T], Any]  # a value, a list of values (multi-valued), or a dict (keyValue)
    display: str = ""
    enum: tuple[str, ...] = ()
    sort: bool = False  # usable as a sort field


@dataclass(frozen=True)
class Search(Generic[T]):
    """A checked search body: what matches, in which order, and its digest for tokens."""

    match: Callable[[T], bool]
    order: list[tuple[Callable[[T], Any], bool]] = field(default_factory=list)  # (key, desc)
    digest: str = ""

    def apply(self, items: Sequence[T], base_key: Callable[[T], Any]) -> list[T]:
        out = sorted((i for i in items if self.match(i)), key=base_key)
        for key, desc in reversed(self.order):
            out.sort(key=key, reverse=desc)  # stable: ties keep the base order
        return out


def _err(path: str, message: str) -> PaletteError:
    return bad_request(f"{path}: {message}", "InvalidFilter", field=path)


def _conj(obj: dict[str, Any], path: str, default: str = "and") -> str:
    value = obj.get("conjunction", obj.get("conjuction", default)) or default
    if value not in ("and", "or"):
        raise _err(f"{path}.conjunction", f"must be 'and' or 'or', not {value!r}")
    return str(value)


def _as_dict(obj: Any, path: str) -> dict[str, Any]:
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        raise _err(path, "must be an object")
    return obj


def _as_list(obj: Any, path: str) -> list[Any]:
    if obj is None:
        return []
    if not isinstance(obj, list):
        raise _err(path, "must be a list")
    return obj


def _parse_time(value: Any, path: str) -> float:
    if not isinstance(value, str):
        raise _err(path, "must be an RFC 3339 time string")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise _err(path, f"not an RFC 3339 time: {value!r}") from None


def _combine(results: list[bool], conj: str) -> bool:
    return all(results) if conj == "and" else any(results)


def _values(raw: Any) -> list[Any]:
    if raw is None:
        return []
    if isinstance(raw, list | tuple | set):
        return [v for v in raw if v is not None]
    return [raw]


def _string_test(op: str, ignore_case: bool) -> Callable[[str, str], bool]:
    def test(have: str, want: str) -> bool:
        if ignore_case:
            have, want = have.lower(), want.lower()
        if op == "eq":
            return have == want
        if op == "contains":
            return want in have
        return have.startswith(want)

    return test


def _number_test(op: str) -> Callable[[float, float], bool]:
    return {
        "eq": lambda a, b: a == b,
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }[op]


def _compile_item(item: Any, path: str, props: dict[str, Prop[T]]) -> Callable[[T], bool]:
    item = _as_dict(item, path)
    name = item.get("property")
    if not isinstance(name, str) or not name:
        raise _err(f"{path}.property", "required")
    prop = props.get(name)
    if prop is None:
        known = ", ".join(sorted(props))
        raise _err(f"{path}.property", f"unknown property {name!r} (known: {known})")
    ftype = item.get("type") or prop.type
    cond_all = _as_dict(item.get("condition"), f"{path}.condition")
    allowed = {prop.type} | ({"string"} if prop.type == "keyValue" else set())
    if prop.type == "int":
        allowed.add("float")
    if ftype not in allowed:
        raise _err(f"{path}.type", f"property {name!r} is {prop.type}, not {ftype!r}")
    cpath = f"{path}.condition.{ftype}"
    cond = _as_dict(cond_all.get(ftype), cpath)
    if ftype == "bool":
        want = cond.get("value")
        if not isinstance(want, bool):
            raise _err(f"{cpath}.value", "must be true or false")
        return lambda obj: bool(prop.get(obj)) == want
    negation = bool(cond.get("negation", False))
    match = _as_dict(cond.get("match"), f"{cpath}.match")
    mconj = _conj(match, f"{cpath}.match", default="or")
    wanted = _as_list(match.get("values"), f"{cpath}.match.values")
    op = cond.get("operator") or "eq"

    def have_values(obj: T) -> list[Any]:
        raw = prop.get(obj)
        if prop.type == "keyValue":
            return tag_strings(raw or {})
        return _values(raw)

    test: Callable[[list[Any]], bool]
    if ftype in ("string", "keyValue"):
        if op not in STRING_OPS:
            raise _err(f"{cpath}.operator", f"must be one of {', '.join(STRING_OPS)}")
        if not all(isinstance(v, str) for v in wanted):
            raise _err(f"{cpath}.match.values", "must be strings")
        stest = _string_test(op, bool(cond.get("ignoreCase", False)))
        if ftype == "keyValue":
            key = cond.get("key")
            if not isinstance(key, str) or not key:
                raise _err(f"{cpath}.key", "required")

            def kv(obj: T) -> bool:
                labels = prop.get(obj) or {}
                if key not in labels:
                    return False
                if not wanted:
                    return True
                return _combine([stest(str(labels[key]), w) for w in wanted], mconj)

            return (lambda obj: not kv(obj)) if negation else kv

        def test(have: list[Any]) -> bool:
            if not wanted:
                return bool(have)
            return _combine([any(stest(str(h), w) for h in have) for w in wanted], mconj)

    elif ftype in ("int", "float"):
        if op not in NUMBER_OPS:
            raise _err(f"{cpath}.operator", f"must be one of {', '.join(NUMBER_OPS)}")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in wanted):
            raise _err(f"{cpath}.match.values", "must be numbers")
        ntest = _number_test(op)

        def test(have: list[Any]) -> bool:
            if not wanted:
                return bool(have)
            return _combine([any(ntest(float(h), float(w)) for h in have) for w in wanted], mconj)

    else:  # date
        if op not in DATE_OPS:
            raise _err(f"{cpath}.operator", f"must be one of {', '.join(DATE_OPS)}")
        times = [_parse_time(v, f"{cpath}.match.values[{i}]") for i, v in enumerate(wanted)]
        if op == "range":
            if len(times) != 2:
                raise _err(f"{cpath}.match.values", "range needs exactly two times")
            lo, hi = times

            def test(have: list[Any]) -> bool:
                return any(lo <= float(h) <= hi for h in have)

        else:
            dtest = _number_test(op)

            def test(have: list[Any]) -> bool:
                if not times:
                    return bool(have)
                return _combine([any(dtest(float(h), t) for h in have) for t in times], mconj)

    if negation:
        return lambda obj: not test(have_values(obj))
    return lambda obj: test(have_values(obj))


def _always(_: Any) -> bool:
    return True


def compile_search(
    body: Any, props: dict[str, Prop[T]], sort_aliases: dict[str, str] | None = None
) -> Search[T]:
    """Check a `v1SearchFilterSummarySpec` body; raise a 400 `PaletteError` naming the field."""
    body = _as_dict(body, "body")
    digest = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
    flt = _as_dict(body.get("filter"), "filter")
    groups = []
    for gi, group in enumerate(_as_list(flt.get("filterGroups"), "filter.filterGroups")):
        gpath = f"filter.filterGroups[{gi}]"
        group = _as_dict(group, gpath)
        items = [
            _compile_item(item, f"{gpath}.filters[{fi}]", props)
            for fi, item in enumerate(_as_list(group.get("filters"), f"{gpath}.filters"))
        ]
        if items:
            groups.append((items, _conj(group, gpath)))
    top = _conj(flt, "filter")

    def match(obj: T) -> bool:
        results = (
            (all if gconj == "and" else any)(f(obj) for f in items) for items, gconj in groups
        )
        return all(results) if top == "and" else any(results)

    order: list[tuple[Callable[[T], Any], bool]] = []
    for si, spec in enumerate(_as_list(body.get("sort"), "sort")):
        spath = f"sort[{si}]"
        spec = _as_dict(spec, spath)
        name = spec.get("field")
        name = (sort_aliases or {}).get(str(name), name)
        prop = props.get(str(name)) if isinstance(name, str) else None
        if prop is None or not prop.sort:
            fields = sorted({p.name for p in props.values() if p.sort} | set(sort_aliases or {}))
            raise _err(
                f"{spath}.field",
                f"cannot sort by {spec.get('field')!r} (one of: {', '.join(fields)})",
            )
        direction = spec.get("order") or "asc"
        if direction not in ("asc", "desc"):
            raise _err(f"{spath}.order", "must be 'asc' or 'desc'")
        order.append((prop.get, direction == "desc"))
    return Search(match=match if groups else _always, order=order, digest=digest)


@dataclass(frozen=True)
class Page:
    offset: int
    limit: int


def page_request(limit: Any, offset: Any, token: Any, digest: str) -> Page:
    """Where a page starts and how long it is, from the query (`continue` wins over `offset`)."""

    def number(raw: Any, name: str, default: int) -> int:
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise bad_request(f"query {name} must be an integer, not {raw!r}", field=name) from None
        if value < 0:
            raise bad_request(f"query {name} must not be negative", field=name)
        return value

    size = number(limit, "limit", MAX_LIMIT)
    size = MAX_LIMIT if size == 0 else min(size, MAX_LIMIT)
    start = number(offset, "offset", 0)
    if token:
        start = decode_token(str(token), digest)
    return Page(offset=start, limit=size)


def encode_token(offset: int, digest: str) -> str:
    raw = orjson.dumps({"o": offset, "q": digest})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, digest: str) -> int:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        offset, seen = data["o"], data["q"]
        if not isinstance(offset, int) or offset < 0 or not isinstance(seen, str):
            raise ValueError(token)
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise bad_request(
            "query continue: not a token this server issued",
            "InvalidContinueToken",
            field="continue",
        ) from None
    if seen != digest:
        raise bad_request(
            "query continue: the token belongs to a different search body",
            "InvalidContinueToken",
            field="continue",
        )
    return offset


def paginate(items: Sequence[T], page: Page, digest: str) -> tuple[Sequence[T], dict[str, Any]]:
    """One page and its `v1ListMetaData` (`continue` is "" on the last page)."""
    chunk = items[page.offset : page.offset + page.limit]
    end = page.offset + len(chunk)
    token = encode_token(end, digest) if end < len(items) else ""
    meta = {"continue": token, "count": len(items), "limit": page.limit, "offset": page.offset}
    return chunk, meta


def schema(props: dict[str, Prop[Any]]) -> dict[str, Any]:
    """`v1SearchFilterSchemaSpec` for a set of properties."""
    return {
        "schema": {
            "properties": [
                {
                    "name": p.name,
                    "displayName": p.display or p.name,
                    "type": p.type,
                    "enum": list(p.enum),
                    "enumValues": [{"value": v, "displayValue": v} for v in p.enum],
                    "default": "",
                    "hideDisplay": False,
                    "isDeprecated": False,
                }
                for p in props.values()
            ]
        }
    }
