"""Kubernetes meta types: ObjectMeta, ListMeta, OwnerReference, Condition, WatchEvent.

Attribute names are the wire names (camelCase) so that a model dumps to exactly the JSON that
kubectl sends and expects, with no alias table to keep in step.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

GROUP = "axle.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
# PaletteAI's groups: manifests written for them are accepted and stored as axle.dev.
ALIAS_GROUPS = ("spectrocloud.com",)
SYSTEM_NAMESPACE = "axle-system"


def now_rfc3339() -> str:
    """The current time as Kubernetes writes it (second precision, `Z`)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _drop_nulls(data: Any) -> Any:
    """`field: null` means the field is absent, as Kubernetes' decoder treats it (a YAML
    `spec:` with nothing under it is null). Free-form maps inside a field keep their nulls."""
    if isinstance(data, dict) and any(value is None for value in data.values()):
        return {key: value for key, value in data.items() if value is not None}
    return data


class Model(BaseModel):
    """Base of all user-written structures: unknown fields are an error, not silently lost."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        return _drop_nulls(data)


class OpenModel(BaseModel):
    """Base of server-written or free-form structures that keep unknown fields."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        return _drop_nulls(data)


class OwnerReference(Model):
    apiVersion: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    blockOwnerDeletion: bool | None = None


class ManagedFieldsEntry(OpenModel):
    manager: str | None = None
    operation: str | None = None
    apiVersion: str | None = None
    time: str | None = None
    fieldsType: str | None = None
    fieldsV1: dict[str, Any] | None = None
    subresource: str | None = None


class ObjectMeta(Model):
    name: str | None = None
    generateName: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resourceVersion: str | None = None
    generation: int | None = None
    creationTimestamp: str | None = None
    deletionTimestamp: str | None = None
    deletionGracePeriodSeconds: int | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    ownerReferences: list[OwnerReference] | None = None
    finalizers: list[str] | None = None
    managedFields: list[ManagedFieldsEntry] | None = None
    selfLink: str | None = None


class ListMeta(OpenModel):
    resourceVersion: str | None = None
    # `continue` is a Python keyword: the attribute is continue_, the wire name `continue`.
    continue_: str | None = Field(default=None, alias="continue")
    remainingItemCount: int | None = None


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(OpenModel):
    """A status condition as Kubernetes defines it (metav1.Condition)."""

    type: str
    status: ConditionStatus
    reason: str = ""
    message: str = ""
    lastTransitionTime: str | None = None
    observedGeneration: int | None = None


class StatusCause(OpenModel):
    reason: str | None = None
    message: str | None = None
    field: str | None = None


class StatusDetails(OpenModel):
    name: str | None = None
    group: str | None = None
    kind: str | None = None
    uid: str | None = None
    causes: list[StatusCause] | None = None
    retryAfterSeconds: int | None = None


class Status(OpenModel):
    """The `Status` body of every error response."""

    kind: Literal["Status"] = "Status"
    apiVersion: Literal["v1"] = "v1"
    metadata: dict[str, Any] = Field(default_factory=dict)
    status: Literal["Success", "Failure"] = "Failure"
    message: str = ""
    reason: str = ""
    details: StatusDetails | None = None
    code: int = 500


WatchEventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]


class WatchEvent(OpenModel):
    type: WatchEventType
    object: dict[str, Any]


class StatusBase(OpenModel):
    """Fields every kind's status has; kinds extend it."""

    observedGeneration: int | None = None
    conditions: list[Condition] = Field(default_factory=list)


class LocalObjectReference(Model):
    name: str


class NamespacedObjectReference(Model):
    name: str
    namespace: str | None = None


def set_condition(
    conditions: list[dict[str, Any]],
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    observed_generation: int | None = None,
) -> bool:
    """Set one condition in a status's `conditions` list (dicts, in place).

    `lastTransitionTime` moves only when `status` changes, as Kubernetes' meta.SetStatusCondition
    does, so that rewriting an unchanged status leaves the object byte-identical. Returns
    whether anything changed.
    """
    for cond in conditions:
        if cond.get("type") == type_:
            changed = False
            if cond.get("status") != status:
                cond["status"] = status
                cond["lastTransitionTime"] = now_rfc3339()
                changed = True
            for key, value in (
                ("reason", reason),
                ("message", message),
                ("observedGeneration", observed_generation),
            ):
                if value is not None and cond.get(key) != value:
                    cond[key] = value
                    changed = True
            return changed
    new: dict[str, Any] = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": now_rfc3339(),
    }
    if observed_generation is not None:
        new["observedGeneration"] = observed_generation
    conditions.append(new)
    return True


def get_condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    """The condition of `type_` in an object's status, if any."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None
