"""Decode Kubernetes protobuf request bodies of the core kinds into JSON-shaped dicts.

kubectl's generators (`kubectl create namespace|configmap|secret|role|rolebinding|...`) use
client-go's typed clients, which send `application/vnd.kubernetes.protobuf` bodies and do not
fall back to JSON on 415. The API server's protobuf encoding is the 4-byte magic `k8s\\0`
followed by a `runtime.Unknown` message whose `raw` field holds the typed object; the field
numbers of the few types kubectl writes are stable parts of the Kubernetes API
(k8s.io/api/*/generated.proto) and are listed here, so a small wire-format reader is enough
and no protobuf runtime or generated code is needed. Responses stay JSON: client-go accepts
them. Unknown fields are skipped, as protobuf readers do.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from axle.errors import BadRequest, UnsupportedMediaType

MAGIC = b"k8s\x00"
PROTOBUF = "application/vnd.kubernetes.protobuf"

# A field: (JSON name, type, repeated). A type is a scalar name, a message name, or
# ("map", value type) for proto maps (repeated entries of key = 1, value = 2).
Field = tuple[str, Any, bool]

_MESSAGES: dict[str, dict[int, Field]] = {
    "TypeMeta": {1: ("apiVersion", "string", False), 2: ("kind", "string", False)},
    "Unknown": {
        1: ("typeMeta", "TypeMeta", False),
        2: ("raw", "raw", False),
        3: ("contentEncoding", "string", False),
        4: ("contentType", "string", False),
    },
    "Time": {1: ("seconds", "int64", False), 2: ("nanos", "int32", False)},
    "OwnerReference": {
        1: ("kind", "string", False),
        3: ("name", "string", False),
        4: ("uid", "string", False),
        5: ("apiVersion", "string", False),
        6: ("controller", "bool", False),
        7: ("blockOwnerDeletion", "bool", False),
    },
    "ObjectMeta": {
        1: ("name", "string", False),
        2: ("generateName", "string", False),
        3: ("namespace", "string", False),
        5: ("uid", "string", False),
        6: ("resourceVersion", "string", False),
        7: ("generation", "int64", False),
        8: ("creationTimestamp", "Time", False),
        9: ("deletionTimestamp", "Time", False),
        10: ("deletionGracePeriodSeconds", "int64", False),
        11: ("labels", ("map", "string"), False),
        12: ("annotations", ("map", "string"), False),
        13: ("ownerReferences", "OwnerReference", True),
        14: ("finalizers", "string", True),
    },
    "NamespaceSpec": {1: ("finalizers", "string", True)},
    "Namespace": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "NamespaceSpec", False)},
    "ConfigMap": {
        1: ("metadata", "ObjectMeta", False),
        2: ("data", ("map", "string"), False),
        3: ("binaryData", ("map", "bytes"), False),
        4: ("immutable", "bool", False),
    },
    "Secret": {
        1: ("metadata", "ObjectMeta", False),
        2: ("data", ("map", "bytes"), False),
        3: ("type", "string", False),
        4: ("stringData", ("map", "string"), False),
        5: ("immutable", "bool", False),
    },
    "PolicyRule": {
        1: ("verbs", "string", True),
        2: ("apiGroups", "string", True),
        3: ("resources", "string", True),
        4: ("resourceNames", "string", True),
        5: ("nonResourceURLs", "string", True),
    },
    "LabelSelectorRequirement": {
        1: ("key", "string", False),
        2: ("operator", "string", False),
        3: ("values", "string", True),
    },
    "LabelSelector": {
        1: ("matchLabels", ("map", "string"), False),
        2: ("matchExpressions", "LabelSelectorRequirement", True),
    },
    "AggregationRule": {1: ("clusterRoleSelectors", "LabelSelector", True)},
    "Role": {1: ("metadata", "ObjectMeta", False), 2: ("rules", "PolicyRule", True)},
    "ClusterRole": {
        1: ("metadata", "ObjectMeta", False),
        2: ("rules", "PolicyRule", True),
        3: ("aggregationRule", "AggregationRule", False),
    },
    "Subject": {
        1: ("kind", "string", False),
        2: ("apiGroup", "string", False),
        3: ("name", "string", False),
        4: ("namespace", "string", False),
    },
    "RoleRef": {
        1: ("apiGroup", "string", False),
        2: ("kind", "string", False),
        3: ("name", "string", False),
    },
    "RoleBinding": {
        1: ("metadata", "ObjectMeta", False),
        2: ("subjects", "Subject", True),
        3: ("roleRef", "RoleRef", False),
    },
    "ClusterRoleBinding": {
        1: ("metadata", "ObjectMeta", False),
        2: ("subjects", "Subject", True),
        3: ("roleRef", "RoleRef", False),
    },
    "ResourceAttributes": {
        1: ("namespace", "string", False),
        2: ("verb", "string", False),
        3: ("group", "string", False),
        4: ("version", "string", False),
        5: ("resource", "string", False),
        6: ("subresource", "string", False),
        7: ("name", "string", False),
    },
    "NonResourceAttributes": {1: ("path", "string", False), 2: ("verb", "string", False)},
    "SelfSubjectAccessReviewSpec": {
        1: ("resourceAttributes", "ResourceAttributes", False),
        2: ("nonResourceAttributes", "NonResourceAttributes", False),
    },
    "SelfSubjectAccessReview": {
        1: ("metadata", "ObjectMeta", False),
        2: ("spec", "SelfSubjectAccessReviewSpec", False),
    },
    "SelfSubjectReview": {1: ("metadata", "ObjectMeta", False)},
}

# Top-level kinds this module can decode, by (apiVersion, kind).
KINDS = {
    ("v1", "Namespace"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"),
    ("authentication.k8s.io/v1", "SelfSubjectReview"),
}


class _Malformed(ValueError):
    pass


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise _Malformed("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise _Malformed("varint too long")


def _fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) for every field of one message."""
    out: list[tuple[int, int, Any]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise _Malformed("truncated field")
            value, pos = buf[pos : pos + length], pos + length
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise _Malformed(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def _scalar(kind: str, wire: int, value: Any) -> Any:
    if kind in ("string", "bytes", "raw"):
        if wire != 2:
            raise _Malformed(f"expected a length-delimited {kind}")
        if kind == "string":
            return bytes(value).decode("utf-8")
        if kind == "bytes":
            return base64.b64encode(bytes(value)).decode("ascii")
        return bytes(value)
    if wire != 0:
        raise _Malformed(f"expected a varint {kind}")
    if kind == "bool":
        return bool(value)
    if kind == "int32":
        return value - (1 << 32) if value >= 1 << 31 and value < 1 << 32 else value
    return value - (1 << 64) if value >= 1 << 63 else value  # int64, two's complement


def _message(name: str, buf: bytes) -> dict[str, Any]:
    spec = _MESSAGES[name]
    out: dict[str, Any] = {}
    for number, wire, value in _fields(buf):
        field = spec.get(number)
        if field is None:
            continue
        json_name, kind, repeated = field
        if isinstance(kind, tuple):  # map entry
            entry = {n: (w, v) for n, w, v in _fields(bytes(value))}
            key = _scalar("string", *entry[1]) if 1 in entry else ""
            val = _scalar(kind[1], *entry[2]) if 2 in entry else ""
            out.setdefault(json_name, {})[key] = val
            continue
        if kind in _MESSAGES:
            if wire != 2:
                raise _Malformed(f"expected a message for {json_name}")
            decoded: Any = _message(kind, bytes(value))
            if kind == "Time":
                if not decoded.get("seconds"):
                    continue  # Go's zero time: JSON null, i.e. unset
                decoded = _rfc3339(decoded)
        else:
            decoded = _scalar(kind, wire, value)
            # Go writes its non-pointer fields even when empty; in JSON those are omitted
            # (`omitempty`), so an empty string or a zero generation means "unset".
            if not repeated and (decoded == "" or (json_name == "generation" and decoded == 0)):
                continue
        if repeated:
            out.setdefault(json_name, []).append(decoded)
        else:
            out[json_name] = decoded
    return out


def _rfc3339(t: dict[str, Any]) -> str:
    when = datetime.fromtimestamp(int(t.get("seconds", 0)), UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def decode_protobuf(body: bytes) -> dict[str, Any]:
    """A Kubernetes protobuf body (`k8s\\0` + runtime.Unknown) as the object's JSON dict."""
    if not body.startswith(MAGIC):
        raise BadRequest("a protobuf body must start with the Kubernetes magic prefix k8s\\0")
    try:
        unknown = _message("Unknown", body[len(MAGIC) :])
        type_meta = unknown.get("typeMeta") or {}
        api_version = str(type_meta.get("apiVersion", ""))
        kind = str(type_meta.get("kind", ""))
        if (api_version, kind) not in KINDS:
            raise UnsupportedMediaType(
                f"protobuf bodies are accepted for core kinds only, not {api_version} {kind}; "
                "send application/json"
            )
        obj = _message(kind, unknown.get("raw", b""))
    except _Malformed as exc:
        raise BadRequest(f"the protobuf body is malformed: {exc}") from exc
    except (KeyError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the protobuf body is malformed: {exc}") from exc
    return {"apiVersion": api_version, "kind": kind, **obj}
