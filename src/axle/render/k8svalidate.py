"""Validation of rendered objects against the Kubernetes schemas `kubernetes-validate` ships.

`kubernetes_validate.validate()` reads and compiles a schema on every call (about 12 ms per
object, DESIGN §5), far too slow for rendering hundreds of bundles a second. So this module
loads the package's schema files itself, builds ONE jsonschema validator per
(Kubernetes version, apiVersion, kind) and caches it for the life of the process.

The common case, a valid object, is decided by a compiled Rust validator (`jsonschema-rs`,
about 1 µs per Deployment against about 0.3 ms for `jsonschema`, which resolves `$ref`s and
builds a child validator at every step); only an object it finds invalid goes through the
`jsonschema` validator, which gives the error messages and field paths (so they are the
same as they always were, and `jsonschema` stays the judge: an object only it accepts passes).

The *strict* schemas are used: they refuse unknown fields, so a typo in a definition's
template (`replica:`) is an error and not a silently ignored field. Kinds the package has no
schema for (custom resources such as Flux's `HelmRelease`) pass with a note, since the spoke
cluster, not the hub, knows their CRDs.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import jsonschema
import jsonschema_rs
from kubernetes_validate import utils as kv
from referencing import Registry, Resource

from axle.errors import Cause, Invalid


@lru_cache(maxsize=1)
def default_version() -> str:
    """The newest Kubernetes version whose schemas are installed (`"1.37"`).

    Cached: the package answers by listing its schema directories, which cost a third of a
    millisecond per object validated before it was cached."""
    return str(kv.latest_version())


def _schema_dir(version: str) -> str:
    wanted = kv.major_minor(version.removeprefix("v"))
    known = [v for v in kv.all_versions() if kv.major_minor(v) <= wanted]
    if not known:
        raise Invalid(f"no Kubernetes schemas for version {version}")
    return f"kubernetes-json-schema/v{known[-1]}-local-strict"


@lru_cache(maxsize=8)
def _registry(version: str) -> tuple[str, Registry[Any]]:
    # `_definitions.json` is shared by every kind of a version: load it once per version.
    schema_dir = _schema_dir(version)
    defs = kv.schema_contents(f"{schema_dir}/_definitions.json", version)
    return schema_dir, Resource.from_contents(defs) @ Registry()


@lru_cache(maxsize=8)
def _fast_registry(version: str) -> jsonschema_rs.Registry:
    schema_dir = _schema_dir(version)
    defs = kv.schema_contents(f"{schema_dir}/_definitions.json", version)
    return jsonschema_rs.Registry([(str(defs["$id"]), defs)])


def _schema(api_version: str, kind: str, version: str) -> dict[str, Any] | None:
    schema_dir = _schema_dir(version)
    # Same file naming as kubernetes_validate: rbac.authorization.k8s.io/v1 -> rbac-v1.
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema: dict[str, Any] = kv.schema_contents(
            f"{schema_dir}/{kind.lower()}-{group_version}.json", version
        )
    except FileNotFoundError:
        return None
    return schema


@lru_cache(maxsize=512)
def fast_validator_for(api_version: str, kind: str, version: str) -> jsonschema_rs.Validator | None:
    """The compiled `jsonschema-rs` validator of `apiVersion`/`kind` (formats not checked,
    as `jsonschema` does not check them either), or None when no schema is shipped."""
    schema = _schema(api_version, kind, version)
    if schema is None:
        return None
    return jsonschema_rs.Draft202012Validator(
        schema, registry=_fast_registry(version), validate_formats=False, offline=True
    )


def _surely_valid(obj: dict[str, Any], api_version: str, kind: str, version: str) -> bool:
    fast = fast_validator_for(api_version, kind, version)
    try:
        return fast is not None and bool(fast.is_valid(obj))
    except (ValueError, TypeError):
        # A value JSON cannot hold: let the reference validator say what is wrong.
        return False


@lru_cache(maxsize=512)
def validator_for(api_version: str, kind: str, version: str) -> jsonschema.Validator | None:
    """The compiled validator of `apiVersion`/`kind`, or None when no schema is shipped."""
    _, registry = _registry(version)
    schema = _schema(api_version, kind, version)
    if schema is None:
        return None
    resource: Resource[Any] = Resource.from_contents(schema)
    validator: jsonschema.Validator = jsonschema.Draft202012Validator(
        schema, registry=resource @ registry
    )
    return validator


def _path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validate_object(
    obj: dict[str, Any], *, version: str | None = None, field: str = ""
) -> str | None:
    """Validate one object; return a note when its kind is unknown (it is let through).

    Raises `Invalid` naming the object (`Deployment web`) and each bad field, prefixed by
    `field` (e.g. `manifests[2]`) when given.
    """
    version = version or default_version()
    api_version = str(obj.get("apiVersion", ""))
    kind = str(obj.get("kind", ""))
    name = str((obj.get("metadata") or {}).get("name", ""))
    if not api_version or not kind:
        message = f"object {name!r} has no apiVersion or kind"
        raise Invalid(message, causes=[Cause(field=field or "kind", message=message)])
    if _surely_valid(obj, api_version, kind, version):
        return None
    validator = validator_for(api_version, kind, version)
    if validator is None:
        return f"{api_version} {kind} {name}: no built-in schema, not validated"
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    if not errors:
        return None
    causes = []
    for err in errors:
        path = _path(err.absolute_path)
        full = ".".join(p for p in (field, path) if p)
        causes.append(Cause(field=full or "<root>", message=f"{kind} {name}: {err.message}"))
    first = causes[0]
    raise Invalid(
        f"{kind} {name!r} fails Kubernetes {version} validation at {first.field}: "
        f"{errors[0].message}",
        kind=kind,
        name=name,
        causes=causes,
    )


def validate_objects(
    objects: list[dict[str, Any]], *, version: str | None = None, field: str = "manifests"
) -> list[str]:
    """Validate every object; return the notes of those whose kind has no schema."""
    notes = []
    for i, obj in enumerate(objects):
        note = validate_object(obj, version=version, field=f"{field}[{i}]")
        if note is not None:
            notes.append(note)
    return notes
