"""PATCH bodies: JSON patch, JSON merge patch and strategic merge patch, as pure functions.

The server's PATCH handler reads the stored object, calls `apply_patch` with the request's
`Content-Type`, and then runs the patched object through the same admission, field tracking
and compare-and-swap write as a PUT. Keeping the patch logic free of I/O lets it be tested
table-driven against Kubernetes' documented examples, and makes the error mapping explicit:

- a body that is not JSON, or not the shape its patch type requires: 400 BadRequest;
- a JSON patch that cannot be applied (missing path, failed `test`): 422 Invalid, like the
  apiserver, which answers any error from applying a JSON patch with 422;
- a JSON patch of more than 10,000 operations: 413, the apiserver's limit;
- strategic merge patch on an axle kind, or an unknown patch type: 415, with the message
  Kubernetes gives for custom resources (kubectl then falls back to a merge patch);
- a patch that renames the object or moves it to another namespace: 400, with the apiserver's
  messages; one that changes its `uid`: 409 (the uid acts as a precondition); `kind` or
  `apiVersion`: 400.

`metadata.resourceVersion` set by a patch is kept in the result on purpose: the store's
compare-and-swap then refuses a stale one with 409, which is how Kubernetes treats it.
"""

from __future__ import annotations

from typing import Any

import jsonpatch
import jsonpointer
import orjson

from axle.api.registry import REGISTRY, KindInfo
from axle.errors import BadRequest, Conflict, Invalid, RequestEntityTooLarge, UnsupportedMediaType
from axle.server.listtypes import is_builtin
from axle.server.smp import strategic_merge
from axle.utils.jsoncopy import copy_json

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# The apiserver refuses JSON patches with more operations than this.
MAX_JSON_PATCH_OPERATIONS = 10_000

_OPS_NEEDING_VALUE = frozenset({"add", "replace", "test"})
_OPS_NEEDING_FROM = frozenset({"move", "copy"})
_OPS = _OPS_NEEDING_VALUE | _OPS_NEEDING_FROM | {"remove"}


def patch_types(info: KindInfo) -> tuple[str, ...]:
    """The PATCH content types the kind accepts (apply included), in Kubernetes' order."""
    if is_builtin(info):
        return (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)
    return (JSON_PATCH, MERGE_PATCH, APPLY_PATCH)


def media_type(content_type: str) -> str:
    """`application/merge-patch+json; charset=utf-8` -> `application/merge-patch+json`."""
    return content_type.split(";", 1)[0].strip().lower()


def unsupported_patch_type(info: KindInfo) -> UnsupportedMediaType:
    """The 415 the apiserver returns for a patch type the kind does not accept."""
    return UnsupportedMediaType(
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(patch_types(info))
    )


def apply_patch(
    info: KindInfo, current: dict[str, Any], body: bytes, content_type: str
) -> dict[str, Any]:
    """`current` with the PATCH `body` applied; `current` itself is left unchanged.

    Server-side apply (`application/apply-patch+yaml`) is not a patch in this sense: the
    server calls `axle.server.apply.server_side_apply` for it instead, so it is refused here.
    """
    kind = media_type(content_type)
    if kind == JSON_PATCH:
        patched = _json_patch(current, _decode(body, "JSON patch"))
    elif kind == MERGE_PATCH:
        patch = _decode(body, "merge patch")
        if not isinstance(patch, dict):
            raise BadRequest("a JSON merge patch must be a JSON object")
        patched = merge_patch(current, patch)
    elif kind == STRATEGIC_MERGE_PATCH and is_builtin(info):
        patched = strategic_merge(info, current, _decode(body, "strategic merge patch"))
    else:
        raise unsupported_patch_type(info)
    return _check_identity(info, current, patched)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch of `target` by `patch`; `target` is left unchanged."""
    if not isinstance(patch, dict):
        return copy_json(patch)
    result = copy_json(target) if isinstance(target, dict) else {}
    _merge_into(result, patch)
    return result


def _merge_into(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            child = target.get(key)
            if not isinstance(child, dict):
                child = target[key] = {}
            _merge_into(child, value)
        else:
            target[key] = copy_json(value)


def _decode(body: bytes, what: str) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the {what} is not valid JSON: {exc}") from None


def _json_patch(current: dict[str, Any], ops: Any) -> Any:
    if not isinstance(ops, list):
        raise BadRequest("a JSON patch must be a JSON array of operations")
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:
        raise RequestEntityTooLarge(
            f"The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, "
            f"got {len(ops)}"
        )
    for index, op in enumerate(ops):
        _check_operation(index, op)
    try:
        return jsonpatch.apply_patch(current, ops, in_place=False)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise Invalid(f"the JSON patch could not be applied: {exc}") from None


def _check_operation(index: int, op: Any) -> None:
    """Refuse a malformed operation with 400 before anything is applied."""
    where = f"operation {index}"
    if not isinstance(op, dict):
        raise BadRequest(f"JSON patch {where} is not an object")
    name = op.get("op")
    if name not in _OPS:
        raise BadRequest(f"JSON patch {where}: unknown op {name!r}")
    if not isinstance(op.get("path"), str):
        raise BadRequest(f'JSON patch {where} ("{name}"): missing string "path"')
    if name in _OPS_NEEDING_VALUE and "value" not in op:
        raise BadRequest(f'JSON patch {where} ("{name}"): missing "value"')
    if name in _OPS_NEEDING_FROM and not isinstance(op.get("from"), str):
        raise BadRequest(f'JSON patch {where} ("{name}"): missing string "from"')


def _check_identity(info: KindInfo, current: dict[str, Any], patched: Any) -> dict[str, Any]:
    """Refuse a patch that changes what the object is rather than what it says."""
    if not isinstance(patched, dict):
        raise BadRequest("the patched object is not a JSON object")
    for field in ("apiVersion", "kind"):
        before, after = current.get(field), patched.get(field)
        if after == before:
            continue
        if field == "apiVersion" and _same_api_version(before, after):
            patched[field] = before  # an alias group is stored under its canonical name
            continue
        raise BadRequest(f"a patch may not change {field} (from {before!r} to {after!r})")
    meta = patched.get("metadata")
    if not isinstance(meta, dict):
        raise BadRequest("the patched object has no metadata")
    old_meta = current.get("metadata") or {}
    name, old_name = meta.get("name"), old_meta.get("name")
    if name != old_name:
        raise BadRequest(
            f"the name of the object ({name or ''}) does not match the name on the URL "
            f"({old_name or ''})"
        )
    if meta.get("namespace") != old_meta.get("namespace"):
        raise BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    uid, old_uid = meta.get("uid"), old_meta.get("uid")
    if uid is None and old_uid is not None:
        # A patch that drops the uid sets no precondition; the object keeps its identity.
        meta["uid"] = old_uid
    elif uid != old_uid:
        raise Conflict(
            f"Precondition failed: UID in precondition: {uid}, UID in object meta: {old_uid}",
            kind=info.plural,
            name=old_name,
            group=info.group,
        )
    return patched


def _same_api_version(before: Any, after: Any) -> bool:
    """`spectrocloud.com/v1alpha1` names the same version as `axle.dev/v1alpha1`."""
    if not (isinstance(before, str) and isinstance(after, str)):
        return False
    b_group, _, b_version = before.rpartition("/")
    a_group, _, a_version = after.rpartition("/")
    return b_version == a_version and REGISTRY.canonical_group(b_group) == REGISTRY.canonical_group(
        a_group
    )
