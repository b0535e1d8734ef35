"""Request bodies in, response bodies out: size limits, JSON/YAML decoding, media types.

Bodies are read as a stream and refused as soon as they pass the limit (the Content-Length
header is checked first), so an oversized or endless body never sits in memory. JSON goes
through orjson; YAML (kubectl's apply-patch, `axle apply` of YAML files, curl users) through
PyYAML's C loader when it is built in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import yaml

from axle.errors import BadRequest, RequestEntityTooLarge, UnsupportedMediaType
from axle.server.protobuf import PROTOBUF, decode_protobuf

try:
    _YamlLoader: Any = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _YamlLoader = yaml.SafeLoader

JSON = "application/json"
YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})
PATCH_TYPES = frozenset(
    {
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
    }
)


async def read_body(chunks: AsyncIterator[bytes], content_length: str | None, limit: int) -> bytes:
    """The whole body, or RequestEntityTooLarge as soon as it exceeds `limit` bytes."""
    if content_length:
        try:
            declared = int(content_length)
        except ValueError as exc:
            raise BadRequest(f"invalid Content-Length {content_length!r}") from exc
        if declared > limit:
            raise _too_large(limit)
    buf = bytearray()
    async for chunk in chunks:
        buf += chunk
        if len(buf) > limit:
            raise _too_large(limit)
    return bytes(buf)


def _too_large(limit: int) -> RequestEntityTooLarge:
    return RequestEntityTooLarge(f"the request body is larger than the limit of {limit} bytes")


def media_type(content_type: str | None) -> str:
    """The bare media type of a Content-Type header (`application/json`)."""
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


def decode(body: bytes, content_type: str | None, *, what: str = "request body") -> Any:
    """Decode a JSON or YAML body; anything malformed is a 400 BadRequest."""
    mtype = media_type(content_type)
    if not body.strip():
        raise BadRequest(f"the {what} is empty")
    if mtype in YAML_TYPES or mtype == "application/apply-patch+yaml":
        return _decode_yaml(body, what)
    if mtype == PROTOBUF:
        return decode_protobuf(body)
    if mtype and mtype != JSON and not mtype.endswith("+json"):
        raise UnsupportedMediaType(
            f"the body media type {mtype!r} is not supported; use application/json or "
            "application/yaml"
        )
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if not mtype:
            # No Content-Type: accept YAML too, as kubectl's own decoders do.
            return _decode_yaml(body, what)
        raise BadRequest(f"the {what} is not valid JSON: {exc}") from exc


def _decode_yaml(body: bytes, what: str) -> Any:
    try:
        docs = list(yaml.load_all(body, Loader=_YamlLoader))
    except yaml.YAMLError as exc:
        raise BadRequest(f"the {what} is not valid YAML: {_yaml_error(exc)}") from exc
    docs = [d for d in docs if d is not None]
    if len(docs) != 1:
        raise BadRequest(f"the {what} must hold exactly one YAML document, not {len(docs)}")
    return docs[0]


def _yaml_error(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
    return str(problem)


def decode_object(body: bytes, content_type: str | None) -> dict[str, Any]:
    """Decode a body that must be one object (a mapping)."""
    value = decode(body, content_type)
    if not isinstance(value, dict):
        raise BadRequest(f"the request body must be an object, not {type(value).__name__}")
    return value


@dataclass(frozen=True)
class Accept:
    """What a client accepts: a Table (and its apiVersion), or else JSON.

    JSON is served to every client that does not ask for a Table, also to those that list
    protobuf first: client-go decodes a response by its Content-Type.
    """

    table_version: str | None = None  # "meta.k8s.io/v1" when a Table is wanted


def parse_accept(header: str | None) -> Accept:
    """Parse an Accept header the way the API server negotiates `as=Table`.

    Clauses are tried in order: the first Table clause of a known version wins; otherwise
    JSON is served (also to clients that list protobuf first and JSON as a fallback).
    """
    if not header:
        return Accept()
    for clause in header.split(","):
        parts = [p.strip() for p in clause.split(";")]
        mtype = parts[0].lower()
        params: dict[str, str] = {}
        for p in parts[1:]:
            key, _, value = p.partition("=")
            params[key.strip().lower()] = value.strip()
        if mtype in (JSON, "*/*", "application/*") or mtype in YAML_TYPES:
            if params.get("as") == "Table":
                group, version = params.get("g", ""), params.get("v", "")
                if group == "meta.k8s.io" and version in ("v1", "v1beta1"):
                    return Accept(table_version=f"meta.k8s.io/{version}")
                continue
            if "as" in params:
                # PartialObjectMetadata lists and the like are not served: the client falls
                # back to a later clause.
                continue
            return Accept()
    return Accept()


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)
