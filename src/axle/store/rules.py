"""The object rules every store backend applies, free of SQL.

What Kubernetes' generic registry does around storage lives here: the error messages (worded
as the API server words them, so kubectl users recognise them), which fields a create sets
and an update keeps, when `generation` moves, how `generateName` expands, and the opaque
`continue` token of paginated lists. Keeping these pure lets a PostgreSQL backend reuse them
and lets tests check them without a database.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import uuid
from typing import Any

import orjson

from axle.api.registry import KindInfo
from axle.errors import AlreadyExists, BadRequest, Cause, Conflict, Gone, Invalid, NotFound

Obj = dict[str, Any]

FOREGROUND_FINALIZER = "foregroundDeletion"
ORPHAN_FINALIZER = "orphan"
# Kubernetes' alphabet for generated name suffixes: lowercase letters and digits without
# vowels and look-alikes, so generated names never spell words or confuse 1/l and 0/o.
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_SUFFIX_LEN = 5
_MAX_GENERATED_NAME = 63

CONTINUE_TOO_OLD = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted between "
    "the time the first chunk was returned and now may show up in the list."
)


def resource_name(info: KindInfo) -> str:
    """How Kubernetes names a resource in messages: `tenants.axle.dev`, or `secrets` (core)."""
    return f"{info.plural}.{info.group}" if info.group else info.plural


def not_found(info: KindInfo, name: str) -> NotFound:
    return NotFound(
        f'{resource_name(info)} "{name}" not found',
        kind=info.plural,
        group=info.group,
        name=name,
    )


def already_exists(info: KindInfo, name: str) -> AlreadyExists:
    return AlreadyExists(
        f'{resource_name(info)} "{name}" already exists',
        kind=info.plural,
        group=info.group,
        name=name,
    )


def conflict(info: KindInfo, name: str, why: str | None = None) -> Conflict:
    why = why or (
        "the object has been modified; please apply your changes to the latest version "
        "and try again"
    )
    return Conflict(
        f'Operation cannot be fulfilled on {resource_name(info)} "{name}": {why}',
        kind=info.plural,
        group=info.group,
        name=name,
    )


def invalid(info: KindInfo, name: str, field: str, message: str) -> Invalid:
    kind = f"{info.kind}.{info.group}" if info.group else info.kind
    return Invalid(
        f'{kind} "{name}" is invalid: {field}: {message}',
        kind=info.kind,
        group=info.group,
        name=name or None,
        causes=[Cause(field=field, message=message)],
    )


def gone_continue() -> Gone:
    return Gone(CONTINUE_TOO_OLD)


def gone_watch(resource_version: int, oldest: int) -> Gone:
    return Gone(f"too old resource version: {resource_version} ({oldest})")


def parse_resource_version(value: str | None, what: str = "resourceVersion") -> int | None:
    """A resourceVersion string as an integer (None for absent); BadRequest if malformed."""
    if value is None or value == "":
        return None
    try:
        rv = int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"invalid {what} {value!r}: must be an integer") from None
    if rv < 0:
        raise BadRequest(f"invalid {what} {value!r}: must not be negative")
    return rv


def metadata_of(info: KindInfo, obj: Obj) -> dict[str, Any]:
    """The object's metadata dict, refusing bodies whose metadata is not an object."""
    if not isinstance(obj, dict):
        raise BadRequest(f"a {info.kind} must be a JSON object")
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    if not isinstance(meta, dict):
        raise invalid(info, "", "metadata", "must be an object")
    labels = meta.get("labels")
    if labels is not None and (
        not isinstance(labels, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items())
    ):
        raise invalid(info, str(meta.get("name") or ""), "metadata.labels", "must map strings")
    return meta


def object_namespace(info: KindInfo, meta: dict[str, Any], name: str) -> str:
    """The storage namespace: required for namespaced kinds, '' for cluster-scoped ones."""
    if not info.namespaced:
        meta.pop("namespace", None)
        return ""
    ns = meta.get("namespace")
    if not isinstance(ns, str) or not ns:
        raise invalid(
            info, name, "metadata.namespace", f"Required value: {info.kind} is namespaced"
        )
    return ns


def key_namespace(info: KindInfo, namespace: str | None) -> str:
    """The storage namespace of a get/delete key."""
    return (namespace or "") if info.namespaced else ""


def generate_name(prefix: str) -> str:
    """`generateName` + 5 random characters, the prefix trimmed so the name fits in 63."""
    suffix = "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(_SUFFIX_LEN))
    return prefix[: _MAX_GENERATED_NAME - _SUFFIX_LEN] + suffix


def new_uid() -> str:
    return str(uuid.uuid4())


def spec_part(obj: Obj) -> Obj:
    """Everything `generation` tracks: the object without metadata, status and type fields."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def owner_uids(obj: Obj) -> list[str]:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [str(r["uid"]) for r in refs if isinstance(r, dict) and r.get("uid")]


def encode_continue(revision: int, namespace: str, name: str) -> str:
    raw = orjson.dumps({"rv": revision, "ns": namespace, "n": name})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str, str]:
    """(revision, namespace, name) of the last item of the previous page."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = orjson.loads(raw)
        rv, ns, name = data["rv"], data["ns"], data["n"]
        if not (isinstance(rv, int) and isinstance(ns, str) and isinstance(name, str)):
            raise ValueError
    except (binascii.Error, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise BadRequest(f"invalid continue token {token!r}") from None
    return rv, ns, name
