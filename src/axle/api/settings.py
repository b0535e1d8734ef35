"""Settings (axle.dev/v1alpha1, namespaced): a tenant's or project's integrations.

At most one integration of each type (Palette, Hugging Face, NVIDIA NGC), each a reference
to a key of a Secret in the same namespace. Tenant Settings are the default for every project
of the tenant; project Settings override them per integration, and the Settings controller
writes the merged result, naming where each integration came from, to
`status.effectiveSettings`. The Secret key is defaulted per integration (`palette` holds the
Palette JSON document, as PaletteAI stores it) so the controller and users see the same key.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from axle.api import validation as v
from axle.api.common import SecretKeyRef, spec_of
from axle.api.meta import Model, ObjectMeta, OpenModel, StatusBase
from axle.api.registry import KindInfo, PrinterColumn, register

INTEGRATIONS = ("palette", "huggingFace", "ngc")
# The Secret key each integration reads when `secretRef.key` is not given.
DEFAULT_SECRET_KEYS = {"palette": "palette", "huggingFace": "token", "ngc": "apiKey"}


class Integration(Model):
    secretRef: SecretKeyRef = Field(
        description="A Secret in the same namespace; `key` defaults per integration."
    )


class SettingsSpec(Model):
    """At most one integration of each type."""

    palette: Integration | None = Field(
        default=None, description="Palette API credentials (key `palette`: a JSON document)."
    )
    huggingFace: Integration | None = Field(
        default=None, description="Hugging Face token (key `token`)."
    )
    ngc: Integration | None = Field(default=None, description="NVIDIA NGC API key (key `apiKey`).")


class SettingsSource(OpenModel):
    namespace: str
    name: str


class EffectiveSecretRef(OpenModel):
    name: str
    namespace: str
    key: str | None = None


class EffectiveIntegration(OpenModel):
    """One integration after the tenant/project merge, and the Settings it came from."""

    source: SettingsSource
    secretRef: EffectiveSecretRef


class EffectiveSettings(OpenModel):
    palette: EffectiveIntegration | None = None
    huggingFace: EffectiveIntegration | None = None
    ngc: EffectiveIntegration | None = None


class SettingsStatus(StatusBase):
    effectiveSettings: EffectiveSettings | None = None


class Settings(Model):
    apiVersion: Literal["axle.dev/v1alpha1"] = "axle.dev/v1alpha1"
    kind: Literal["Settings"] = "Settings"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: SettingsSpec = Field(default_factory=SettingsSpec)
    status: SettingsStatus | None = None


def _default(obj: dict[str, Any]) -> None:
    spec = spec_of(obj)
    for name in INTEGRATIONS:
        ref = (spec.get(name) or {}).get("secretRef") if isinstance(spec.get(name), dict) else None
        if isinstance(ref, dict) and not ref.get("key"):
            ref["key"] = DEFAULT_SECRET_KEYS[name]


def _validate(obj: dict[str, Any]) -> list[v.FieldError]:
    spec = obj.get("spec") or {}
    errs: list[v.FieldError] = []
    for name in INTEGRATIONS:
        key = ((spec.get(name) or {}).get("secretRef") or {}).get("key")
        if key:
            errs.extend(v.config_key(key, f"spec.{name}.secretRef.key"))
    return errs


SETTINGS = register(
    KindInfo(
        group="axle.dev",
        version="v1alpha1",
        kind="Settings",
        plural="settings",
        singular="settings",
        namespaced=True,
        model=Settings,
        short_names=("stg",),
        categories=("axle",),
        columns=(
            PrinterColumn("Palette", ".spec.palette.secretRef.name"),
            PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status'),
            PrinterColumn("Age", ".metadata.creationTimestamp", "date"),
            PrinterColumn("Hugging Face", ".spec.huggingFace.secretRef.name", priority=1),
            PrinterColumn("NGC", ".spec.ngc.secretRef.name", priority=1),
        ),
        validate_object=_validate,
        default=_default,
        # PaletteAI: at most 63 lowercase alphanumerics or '-', alphanumeric at both ends.
        name_rule=v.dns1123_label,
        description="Integrations (Palette, Hugging Face, NGC) as Secret references.",
    )
)
