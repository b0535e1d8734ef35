"""Admission: the one path by which a written object is normalized, defaulted and validated.

`admit()` is what the server runs on every create, update, patch and apply (after decoding
and before the store), so that every stored object is in canonical shape: apiVersion in
`axle.dev` even when written for `spectrocloud.com`, defaults filled, schema and cross-field
rules checked, immutable fields unchanged. It is pure (no store, no clock) so the same checks
run in the server, in tests and in `axle apply --dry-run` without a hub.

Failures raise `axle.errors.Invalid` with the message and `details.causes` Kubernetes would
give (`Tenant.axle.dev "acme" is invalid: spec.gpuLimits.H100: Invalid value: -1: must be
greater than or equal to 0`); a body whose apiVersion or kind does not match the resource it
was sent to raises `BadRequest`, as the Kubernetes API server does.

Status semantics follow Kubernetes' status subresource: a create discards any `status` it is
given (the kind's defaulter may set an initial one), an update of the main resource keeps the
stored status, and an update of the `status` subresource changes only `status`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from axle.api import validation as v
from axle.api.meta import ALIAS_GROUPS, GROUP
from axle.api.registry import REGISTRY, KindInfo, UnknownKind
from axle.errors import BadRequest, Cause, Invalid

# PaletteAI's versions whose manifests are accepted for axle kinds.
ALIAS_VERSIONS = ("v1alpha1", "v1beta1")
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_TYPE_NAMES = {
    "int": "integer",
    "float": "number",
    "string": "string",
    "str": "string",
    "bool": "boolean",
    "dict": "object",
    "model": "object",
    "list": "array",
}


def normalize_api_version(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of `obj` with a `spectrocloud.com/{v1alpha1,v1beta1}` apiVersion rewritten to
    `axle.dev/v1alpha1` when its kind is an axle kind; any other object is returned as a copy
    unchanged (so an unknown kind still fails later with a clear error)."""
    out = dict(obj)
    api_version = obj.get("apiVersion")
    kind = obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return out
    group, _, version = api_version.rpartition("/")
    if group not in ALIAS_GROUPS or version not in ALIAS_VERSIONS:
        return out
    try:
        info = REGISTRY.by_group_kind(group, kind)
    except UnknownKind:
        return out
    if info.group == GROUP:
        out["apiVersion"] = info.api_version
    return out


def qualified_kind(info: KindInfo) -> str:
    """`Tenant.axle.dev`, or just `Secret` for the core group, as Kubernetes names kinds."""
    return f"{info.kind}.{info.group}" if info.group else info.kind


def admit(
    info: KindInfo,
    obj: dict[str, Any],
    old: dict[str, Any] | None = None,
    *,
    subresource: str | None = None,
) -> dict[str, Any]:
    """Normalize, default and validate `obj` (a create when `old` is None, else an update of
    `old`); return the object to store, a new dict. `obj` and `old` are not modified.

    Raises `Invalid` (422) listing every problem found, or `BadRequest` (400) when the body is
    not an object of `info`'s kind.
    """
    if not isinstance(obj, dict):
        raise BadRequest(f"the body of a {info.kind} must be a JSON object")
    if info.model is None:
        raise BadRequest(f"{qualified_kind(info)} has no schema and cannot be written")
    if subresource not in (None, "status"):
        raise BadRequest(f"{qualified_kind(info)} has no subresource {subresource!r}")
    if subresource == "status" and (old is None or not info.has_status):
        raise BadRequest(f"{qualified_kind(info)} has no status to update")

    new = copy.deepcopy(normalize_api_version(obj))
    _check_type_meta(info, new)
    if not isinstance(new.get("metadata"), dict):
        new["metadata"] = {} if new.get("metadata") is None else new["metadata"]
    if isinstance(new["metadata"], dict) and not info.namespaced:
        # Kubernetes clears the namespace of a cluster-scoped object rather than refusing it.
        new["metadata"].pop("namespace", None)
    new = _apply_status_rules(info, new, old, subresource)
    name = _display_name(new)

    # Schema first (so defaulters only ever see well-typed input), then defaults, then the
    # schema again over the defaulted object, whose dump is the canonical stored form.
    model, causes = _validate_schema(info, new, subresource)
    if causes:
        # Report bad metadata alongside schema errors when metadata itself is well-typed, so
        # one round trip shows every problem, as Kubernetes does.
        if not any(c.field.startswith("metadata") for c in causes):
            causes += [_to_cause(new, p, m) for p, m in _metadata_errors(info, new, old)]
        _raise(info, name, causes)
    if info.default is not None and subresource is None:
        info.default(new)
        model, causes = _validate_schema(info, new, subresource)
        _raise(info, name, causes)
    # A status write over a stored object that no longer fits the schema keeps it as stored.
    result = (
        model.model_dump(mode="json", by_alias=True, exclude_none=True)
        if model is not None
        else new
    )
    if not info.has_status:
        result.pop("status", None)

    errors = _metadata_errors(info, result, old)
    if subresource is None:
        if info.validate_object is not None:
            errors.extend(info.validate_object(result))
        if old is not None and info.validate_update is not None:
            errors.extend(info.validate_update(old, result))
    _raise(info, name, [_to_cause(result, path, msg) for path, msg in errors])
    return result


# --- steps -------------------------------------------------------------------------------


def _check_type_meta(info: KindInfo, new: dict[str, Any]) -> None:
    kind = new.get("kind")
    if kind in (None, ""):
        new["kind"] = info.kind
    elif kind != info.kind:
        raise BadRequest(
            f"the kind in the data ({kind}) does not match the expected kind ({info.kind})",
            kind=info.kind,
        )
    api_version = new.get("apiVersion")
    if api_version in (None, ""):
        new["apiVersion"] = info.api_version
    elif api_version != info.api_version:
        raise BadRequest(
            f"the API version in the data ({api_version}) does not match the expected API "
            f"version ({info.api_version})",
            kind=info.kind,
        )


def _apply_status_rules(
    info: KindInfo, new: dict[str, Any], old: dict[str, Any] | None, subresource: str | None
) -> dict[str, Any]:
    if not info.has_status:
        return new
    if subresource == "status":
        assert old is not None
        base = copy.deepcopy(normalize_api_version(old))
        base["status"] = new.get("status")
        meta = base.setdefault("metadata", {})
        # The client's resourceVersion is kept so the store can compare-and-swap on it.
        rv = (
            new.get("metadata", {}).get("resourceVersion")
            if isinstance(new.get("metadata"), dict)
            else None
        )
        if rv is not None:
            meta["resourceVersion"] = rv
        if base["status"] is None:
            base.pop("status")
        return base
    if old is None:
        new.pop("status", None)
    elif old.get("status") is not None:
        new["status"] = copy.deepcopy(old["status"])
    else:
        new.pop("status", None)
    return new


def _display_name(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return ""
    name = meta.get("name") or meta.get("generateName") or ""
    return name if isinstance(name, str) else ""


def _validate_schema(
    info: KindInfo, obj: dict[str, Any], subresource: str | None
) -> tuple[BaseModel | None, list[Cause]]:
    """The validated model, or the causes of failure. For a status write only causes in
    `status` (and metadata) count: the rest is the stored object, judged when it was stored."""
    assert info.model is not None
    try:
        return info.model.model_validate(obj, strict=True), []
    except ValidationError as exc:
        causes = [_pydantic_cause(err) for err in exc.errors()]
    if subresource == "status":
        causes = [c for c in causes if c.field.startswith(("status", "metadata")) or not c.field]
    return None, causes


def _metadata_errors(
    info: KindInfo, obj: dict[str, Any], old: dict[str, Any] | None
) -> list[v.FieldError]:
    meta: dict[str, Any] = obj.get("metadata") or {}
    errs: list[v.FieldError] = []
    rule = info.name_rule or v.dns1123_subdomain
    name = meta.get("name")
    generate = meta.get("generateName")
    if name:
        errs.extend(rule(name, "metadata.name"))
    elif old is None and generate:
        errs.extend(v.generate_name(generate, rule))
    else:
        errs.append(v.required("metadata.name", "name or generateName is required"))
    if info.namespaced:
        namespace = meta.get("namespace")
        if not namespace:
            errs.append(v.required("metadata.namespace"))
        else:
            errs.extend(v.dns1123_label(namespace, "metadata.namespace"))
    errs.extend(v.labels(meta.get("labels") or {}))
    errs.extend(v.annotations(meta.get("annotations") or {}))
    errs.extend(v.finalizers(meta.get("finalizers") or []))
    controllers = [r for r in meta.get("ownerReferences") or [] if r.get("controller")]
    if len(controllers) > 1:
        errs.append(
            v.invalid(
                "metadata.ownerReferences",
                [r.get("name") for r in controllers],
                "Only one reference can have Controller set to true",
            )
        )
    if old is not None:
        old_meta: dict[str, Any] = old.get("metadata") or {}
        for field in ("name", "namespace", "uid"):
            before, after = old_meta.get(field), meta.get(field)
            if field == "namespace" and not info.namespaced:
                continue
            if before and after and before != after:
                errs.append(v.invalid(f"metadata.{field}", after, "field is immutable"))
    return errs


# --- error shaping -----------------------------------------------------------------------


def _raise(info: KindInfo, name: str, causes: list[Cause]) -> None:
    if not causes:
        return
    causes = _dedupe(causes)
    parts = [f"{c.field}: {c.message}" if c.field else c.message for c in causes]
    detail = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    raise Invalid(
        f'{qualified_kind(info)} "{name}" is invalid: {detail}',
        kind=info.kind,
        name=name,
        group=info.group,
        causes=causes,
    )


def _dedupe(causes: Iterable[Cause]) -> list[Cause]:
    seen: set[tuple[str, str]] = set()
    out: list[Cause] = []
    for c in causes:
        if (c.field, c.message) not in seen:
            seen.add((c.field, c.message))
            out.append(c)
    return out


def _to_cause(obj: dict[str, Any], path: str, message: str) -> Cause:
    """A hook's `(path, message)` as a Status cause; a bare detail is prefixed with the
    offending value (or `Required value` when the path holds nothing), as Kubernetes does."""
    for prefix, reason in v.REASON_PREFIXES:
        if message.startswith(prefix):
            return Cause(field=path, message=message, reason=reason)
    value = _lookup(obj, path)
    if value is None:
        return Cause(field=path, message=f"Required value: {message}", reason="FieldValueRequired")
    return Cause(field=path, message=v.invalid(path, value, message)[1], reason="FieldValueInvalid")


_PATH_TOKEN = re.compile(r"\.?([^.\[\]]+)|\[([^\]]*)\]")


def _lookup(obj: Any, path: str) -> Any:
    cur = obj
    for match in _PATH_TOKEN.finditer(path):
        attr, index = match.group(1), match.group(2)
        key: Any = attr if attr is not None else index
        if isinstance(cur, list):
            try:
                cur = cur[int(key)]
            except (ValueError, IndexError):
                return None
        elif isinstance(cur, dict):
            if key not in cur:
                return None
            cur = cur[key]
        else:
            return None
    return cur


def loc_to_path(loc: Iterable[int | str]) -> str:
    """A pydantic error location as a Kubernetes field path: `spec.roleMapping.viewer[0]`;
    map keys that are not plain words are bracketed (`metadata.labels[example.com/x]`)."""
    out = ""
    for item in loc:
        if isinstance(item, int):
            out += f"[{item}]"
        elif item == "[key]":
            continue
        elif out and not _PLAIN_KEY.match(item):
            out += f"[{item}]"
        else:
            out += f".{item}" if out else item
    return out


def _pydantic_cause(err: Any) -> Cause:
    path = loc_to_path(err["loc"])
    kind: str = err["type"]
    ctx: dict[str, Any] = err.get("ctx") or {}
    value = err.get("input")
    if kind == "missing":
        return Cause(field=path, message="Required value", reason="FieldValueRequired")
    if kind == "extra_forbidden":
        return Cause(
            field=path,
            message=f"Invalid value: {v.format_value(value)}: field not declared in schema",
            reason="FieldValueInvalid",
        )
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace(" or ", ", ")
        allowed = [a.strip().strip("'") for a in expected.split(", ") if a.strip()]
        return Cause(
            field=path,
            message=v.not_supported(path, value, allowed)[1],
            reason="FieldValueNotSupported",
        )
    return Cause(field=path, message=v.invalid(path, value, _detail(kind, err["msg"], ctx))[1])


def _detail(kind: str, msg: str, ctx: dict[str, Any]) -> str:
    if kind.endswith("_type") or kind in ("int_from_float", "int_parsing", "float_parsing"):
        base = kind.split("_")[0]
        return f"must be of type {_TYPE_NAMES.get(base, base)}"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if kind == "string_too_long":
        return f"must be no more than {ctx.get('max_length')} characters"
    if kind == "string_too_short":
        if ctx.get("min_length") == 1:
            return "must be non-empty"
        return f"must be at least {ctx.get('min_length')} characters"
    if kind in ("too_short", "too_long"):
        bound = ctx.get("min_length" if kind == "too_short" else "max_length")
        items = "item" if bound == 1 else "items"
        return f"must have at {'least' if kind == 'too_short' else 'most'} {bound} {items}"
    if kind == "string_pattern_mismatch":
        return f"must match the regular expression '{ctx.get('pattern')}'"
    return msg.replace("Input should be", "must be").replace("Value should be", "must be")
