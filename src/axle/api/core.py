"""Core Kubernetes kinds (group "", version v1): Namespace, Secret, ConfigMap, Event.

The hub serves these with Kubernetes' own fields and rules so that kubectl and the official
clients handle them unchanged: the same key rules for Secret/ConfigMap data, `stringData`
merged into `data` at admission, `immutable` Secrets and ConfigMaps, a Namespace's phase.
Secret values are plain base64 here; encryption at rest is the store's job.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal

from pydantic import Field

from axle.api import validation as v
from axle.api.common import dig
from axle.api.meta import Model, ObjectMeta, StatusBase
from axle.api.registry import KindInfo, PrinterColumn, register

AGE = PrinterColumn("Age", ".metadata.creationTimestamp", "date")
# Kubernetes limits a Secret's or ConfigMap's payload to 1 MiB.
MAX_DATA_BYTES = 1024 * 1024


# --- Namespace ---------------------------------------------------------------------------


class NamespaceSpec(Model):
    finalizers: list[str] | None = None


class NamespaceStatus(StatusBase):
    phase: Literal["Active", "Terminating"] | None = None


class Namespace(Model):
    apiVersion: Literal["v1"] = "v1"
    kind: Literal["Namespace"] = "Namespace"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: NamespaceSpec = Field(default_factory=NamespaceSpec)
    status: NamespaceStatus | None = None


def _default_namespace(obj: dict[str, Any]) -> None:
    status = obj.setdefault("status", {})
    if isinstance(status, dict):
        status.setdefault("phase", "Active")


def _validate_namespace(obj: dict[str, Any]) -> list[v.FieldError]:
    errs: list[v.FieldError] = []
    for i, name in enumerate(dig(obj, "spec", "finalizers") or []):
        errs.extend(v.qualified_name(name, f"spec.finalizers[{i}]"))
    return errs


NAMESPACE = register(
    KindInfo(
        group="",
        version="v1",
        kind="Namespace",
        plural="namespaces",
        singular="namespace",
        namespaced=False,
        model=Namespace,
        short_names=("ns",),
        columns=(PrinterColumn("Status", ".status.phase"), AGE),
        validate_object=_validate_namespace,
        default=_default_namespace,
        name_rule=v.dns1123_label,
        description="A scope for names; projects and tenants each own one.",
    )
)


# --- Secret ------------------------------------------------------------------------------


class Secret(Model):
    apiVersion: Literal["v1"] = "v1"
    kind: Literal["Secret"] = "Secret"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    data: dict[str, str] | None = None
    # Write-only convenience: merged into `data` (base64-encoded) at admission, never stored.
    stringData: dict[str, str] | None = None
    type: str = "Opaque"
    immutable: bool | None = None


# Keys each well-known Secret type must carry, as Kubernetes' ValidateSecret requires.
_REQUIRED_SECRET_KEYS: dict[str, tuple[str, ...]] = {
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


# Held by every Namespace from its creation until the Namespace controller has deleted what
# the namespace contains (Kubernetes keeps `kubernetes` in spec.finalizers for the same job).
NAMESPACE_FINALIZER = "axle.dev/namespace-lifecycle"


def fold_string_data(obj: dict[str, Any]) -> None:
    """Move a Secret's write-only `stringData` into `data` (base64), in place.

    Kubernetes never stores `stringData`. Server-side apply folds it before computing field
    ownership too, so that re-applying the same `stringData` is a no-op, not a conflict
    with the live object's (absent) `stringData`.
    """
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = obj.get("data")
        if not isinstance(data, dict):
            data = {}
        # As in Kubernetes, stringData wins over data for a key given in both.
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj["data"] = data


def _default_secret(obj: dict[str, Any]) -> None:
    obj.setdefault("type", "Opaque")
    fold_string_data(obj)


def _data_size(values: dict[str, str], encoded: bool) -> int:
    total = 0
    for value in values.values():
        if encoded:
            try:
                total += len(base64.b64decode(value, validate=True))
            except (binascii.Error, ValueError):
                total += len(value)
        else:
            total += len(value.encode())
    return total


def _validate_secret(obj: dict[str, Any]) -> list[v.FieldError]:
    errs: list[v.FieldError] = []
    data: dict[str, str] = obj.get("data") or {}
    for key in sorted(data):
        errs.extend(v.config_key(key, "data"))
        errs.extend(v.base64_value(data[key], f"data[{key}]"))
    if _data_size(data, encoded=True) > MAX_DATA_BYTES:
        errs.append(("data", f"Too long: must have at most {MAX_DATA_BYTES} bytes"))
    secret_type = obj.get("type") or "Opaque"
    for key in _REQUIRED_SECRET_KEYS.get(secret_type, ()):
        if key not in data:
            errs.append(v.required(f"data[{key}]"))
    if secret_type == "kubernetes.io/basic-auth" and not ("username" in data or "password" in data):
        errs.append(v.required("data[username]", "one of username or password is required"))
    if secret_type == "kubernetes.io/service-account-token":
        annotations = dig(obj, "metadata", "annotations") or {}
        if "kubernetes.io/service-account.name" not in annotations:
            errs.append(v.required("metadata.annotations[kubernetes.io/service-account.name]"))
    return errs


def _validate_immutable_data(
    old: dict[str, Any], new: dict[str, Any], fields: tuple[str, ...]
) -> list[v.FieldError]:
    errs: list[v.FieldError] = []
    if old.get("immutable"):
        if not new.get("immutable"):
            errs.append(v.forbidden("immutable", "field is immutable when `immutable` is set"))
        for name in fields:
            if (old.get(name) or {}) != (new.get(name) or {}):
                errs.append(v.forbidden(name, "field is immutable when `immutable` is set"))
    return errs


def _validate_secret_update(old: dict[str, Any], new: dict[str, Any]) -> list[v.FieldError]:
    errs: list[v.FieldError] = []
    if (old.get("type") or "Opaque") != (new.get("type") or "Opaque"):
        errs.append(v.invalid("type", new.get("type"), "field is immutable"))
    errs.extend(_validate_immutable_data(old, new, ("data",)))
    return errs


SECRET = register(
    KindInfo(
        group="",
        version="v1",
        kind="Secret",
        plural="secrets",
        singular="secret",
        namespaced=True,
        model=Secret,
        has_status=False,
        columns=(PrinterColumn("Type", ".type"), AGE),
        validate_object=_validate_secret,
        validate_update=_validate_secret_update,
        default=_default_secret,
        description="Credentials (Palette API keys, registry tokens); encrypted at rest.",
    )
)


# --- ConfigMap ---------------------------------------------------------------------------


class ConfigMap(Model):
    apiVersion: Literal["v1"] = "v1"
    kind: Literal["ConfigMap"] = "ConfigMap"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    data: dict[str, str] | None = None
    binaryData: dict[str, str] | None = None
    immutable: bool | None = None


def _validate_config_map(obj: dict[str, Any]) -> list[v.FieldError]:
    errs: list[v.FieldError] = []
    data: dict[str, str] = obj.get("data") or {}
    binary: dict[str, str] = obj.get("binaryData") or {}
    for key in sorted(data):
        errs.extend(v.config_key(key, "data"))
    for key in sorted(binary):
        errs.extend(v.config_key(key, "binaryData"))
        errs.extend(v.base64_value(binary[key], f"binaryData[{key}]"))
        if key in data:
            errs.append(v.invalid("data", key, "duplicate of key present in binaryData"))
    if _data_size(data, encoded=False) + _data_size(binary, encoded=True) > MAX_DATA_BYTES:
        errs.append(("data", f"Too long: must have at most {MAX_DATA_BYTES} bytes"))
    return errs


def _validate_config_map_update(old: dict[str, Any], new: dict[str, Any]) -> list[v.FieldError]:
    return _validate_immutable_data(old, new, ("data", "binaryData"))


CONFIG_MAP = register(
    KindInfo(
        group="",
        version="v1",
        kind="ConfigMap",
        plural="configmaps",
        singular="configmap",
        namespaced=True,
        model=ConfigMap,
        short_names=("cm",),
        has_status=False,
        columns=(AGE,),
        validate_object=_validate_config_map,
        validate_update=_validate_config_map_update,
        description="Configuration data, e.g. the project role templates.",
    )
)


# --- Event -------------------------------------------------------------------------------


class ObjectReference(Model):
    apiVersion: str | None = None
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    uid: str | None = None
    resourceVersion: str | None = None
    fieldPath: str | None = None


class EventSource(Model):
    component: str | None = None
    host: str | None = None


class EventSeries(Model):
    count: int | None = None
    lastObservedTime: str | None = None


class Event(Model):
    apiVersion: Literal["v1"] = "v1"
    kind: Literal["Event"] = "Event"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    involvedObject: ObjectReference
    reason: str | None = None
    message: str | None = None
    source: EventSource | None = None
    firstTimestamp: str | None = None
    lastTimestamp: str | None = None
    count: int | None = Field(default=None, ge=0)
    type: str | None = None
    eventTime: str | None = None
    series: EventSeries | None = None
    action: str | None = None
    related: ObjectReference | None = None
    reportingComponent: str | None = None
    reportingInstance: str | None = None


EVENT_TYPES = ("Normal", "Warning")


def _validate_event(obj: dict[str, Any]) -> list[v.FieldError]:
    errs: list[v.FieldError] = []
    ns = dig(obj, "metadata", "namespace")
    involved_ns = dig(obj, "involvedObject", "namespace")
    if involved_ns and ns and involved_ns != ns:
        errs.append(
            v.invalid("involvedObject.namespace", involved_ns, "does not match event.namespace")
        )
    event_type = obj.get("type")
    if event_type is not None and event_type not in EVENT_TYPES:
        errs.append(v.not_supported("type", event_type, EVENT_TYPES))
    for name in ("firstTimestamp", "lastTimestamp", "eventTime"):
        if obj.get(name):
            errs.extend(v.timestamp(obj[name], name))
    if dig(obj, "series", "lastObservedTime"):
        errs.extend(v.timestamp(obj["series"]["lastObservedTime"], "series.lastObservedTime"))
    if obj.get("reason") and len(obj["reason"]) > 128:
        errs.append(v.too_long("reason", 128, "characters"))
    return errs


def _default_event(obj: dict[str, Any]) -> None:
    # kubectl and `axle describe` show `count`; a single occurrence is 1.
    obj.setdefault("count", 1)


EVENT = register(
    KindInfo(
        group="",
        version="v1",
        kind="Event",
        plural="events",
        singular="event",
        namespaced=True,
        model=Event,
        short_names=("ev",),
        has_status=False,
        columns=(
            PrinterColumn("Last Seen", ".lastTimestamp", "date"),
            PrinterColumn("Type", ".type"),
            PrinterColumn("Reason", ".reason"),
            PrinterColumn("Object", ".involvedObject.name"),
            PrinterColumn("Message", ".message"),
            PrinterColumn("Count", ".count", "integer", priority=1),
            PrinterColumn("Source", ".source.component", priority=1),
        ),
        validate_object=_validate_event,
        default=_default_event,
        description="A report of something that happened to an object.",
    )
)
