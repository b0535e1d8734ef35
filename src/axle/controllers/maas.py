"""Model as a Service: which bundle serves a model, its variables and its credentials.

A Model Deployment (`axle.dev/aiworkload-type: model`) names a model (`spec.model{source,
name, revision}`); without a `profileBundleRef`, the first entry of the Project's
`spec.modelAsAServiceMappings` whose `source` equals the model's and whose filters all match
chooses the bundle. Filters: `namePatterns` are shell patterns (fnmatch, case-sensitive as
Hugging Face repo ids are) on the model name; `organizations` are compared with the part of
the name before "/". A mapping without filters matches every model of its source.

The model reaches the workload as the variables `model` (name) and `modelRevision`, set only
when the bundle's inline variable set or a VariableSet in scope declares them (a bundle that
does not use them must not fail on an unknown variable). The Hugging Face token or NGC key is
never copied into a variable: the project's effective Settings name its Secret, which the
WorkloadDeployment lists in `secretRefs` under the fixed target name `model-credentials`, so
the spoke gets a Secret and the manifests only a reference to it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from typing import Any

from axle.store.base import Obj

CREDENTIALS_SECRET = "model-credentials"
# Model source -> the Settings integration holding its credentials.
SOURCE_INTEGRATION = {"huggingFace": "huggingFace", "ngc": "ngc"}


def organization(model_name: str) -> str:
    """`meta-llama` of `meta-llama/Llama-3.1-8B-Instruct` (the whole name when no "/")."""
    return model_name.split("/", 1)[0]


def mapping_matches(mapping: Mapping[str, Any], model: Mapping[str, Any]) -> bool:
    if mapping.get("source") != model.get("source"):
        return False
    name = str(model.get("name") or "")
    filters = mapping.get("filters") or {}
    patterns = filters.get("namePatterns")
    if patterns and not any(fnmatch.fnmatchcase(name, str(p)) for p in patterns):
        return False
    orgs = filters.get("organizations")
    return not (orgs and organization(name) not in {str(o) for o in orgs})


def choose_mapping(project: Obj | None, model: Mapping[str, Any]) -> dict[str, Any] | None:
    """The first of the project's mappings that matches `model`, or None."""
    mappings = ((project or {}).get("spec") or {}).get("modelAsAServiceMappings") or []
    for mapping in mappings:
        if mapping_matches(mapping, model):
            return dict(mapping)
    return None


def no_mapping_message(project: Obj | None, model: Mapping[str, Any]) -> str:
    mappings = ((project or {}).get("spec") or {}).get("modelAsAServiceMappings") or []
    ns = ((project or {}).get("metadata") or {}).get("namespace") or "?"
    same = [m.get("name") for m in mappings if m.get("source") == model.get("source")]
    tried = f" (mappings for {model.get('source')}: {', '.join(map(str, same))})" if same else ""
    return (
        f"no Model-as-a-Service mapping of project {ns} matches {model.get('source')} model "
        f"{model.get('name')}{tried}; add a mapping to the Project or set spec.profileBundleRef"
    )


def model_variables(model: Mapping[str, Any] | None, declared: Iterable[str]) -> dict[str, Any]:
    """`model` / `modelRevision` for the variables the bundle or VariableSets declare."""
    if not model:
        return {}
    names = set(declared)
    out: dict[str, Any] = {}
    if "model" in names and model.get("name"):
        out["model"] = str(model["name"])
    if "modelRevision" in names and model.get("revision"):
        out["modelRevision"] = str(model["revision"])
    return out


def credentials_ref(
    effective: Mapping[str, Any] | None, source: str | None
) -> dict[str, str] | None:
    """The WorkloadDeployment secretRef for a model source's credentials, from a Settings'
    `status.effectiveSettings` (None when the integration is not configured: public models
    need no token)."""
    integration = SOURCE_INTEGRATION.get(str(source or ""))
    if integration is None or not effective:
        return None
    ref = (effective.get(integration) or {}).get("secretRef") or {}
    if not ref.get("name"):
        return None
    out = {"name": str(ref["name"]), "targetName": CREDENTIALS_SECRET}
    if ref.get("namespace"):
        out["namespace"] = str(ref["namespace"])
    return out
