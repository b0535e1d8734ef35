"""The built-in definitions axle installs in `axle-system` at start-up, kept as data.

Each definition is one YAML manifest (a ComponentDefinition, TraitDefinition or
PolicyDefinition with its OpenAPI v3 parameter schema and Jsonnet program) under
`components/`, `traits/` or `policies/`, with a commented example at its top; README.md
lists them. Keeping them as manifests rather than Python means they are installed, listed
and described exactly like user-written definitions, and can be copied as a starting point.

Example::

    from axle.render import builtins
    webservice = builtins.load()["ComponentDefinition"]["webservice"]
"""

from __future__ import annotations

import copy
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

NAMESPACE = "axle-system"
_FOLDERS = {
    "components": "ComponentDefinition",
    "traits": "TraitDefinition",
    "policies": "PolicyDefinition",
}


@lru_cache(maxsize=1)
def _load() -> dict[str, dict[str, dict[str, Any]]]:
    root = resources.files(__name__)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for folder, kind in _FOLDERS.items():
        found: dict[str, dict[str, Any]] = {}
        for entry in sorted(root.joinpath(folder).iterdir(), key=lambda e: e.name):
            if not entry.name.endswith(".yaml"):
                continue
            manifest = yaml.safe_load(entry.read_text(encoding="utf-8"))
            # A wrong kind or name in a shipped file is a packaging bug: fail loudly.
            if manifest.get("kind") != kind:
                raise ValueError(f"{folder}/{entry.name}: kind must be {kind}")
            name = manifest["metadata"]["name"]
            if entry.name != f"{name}.yaml" or manifest["metadata"].get("namespace") != NAMESPACE:
                raise ValueError(f"{folder}/{entry.name}: must be named {name}.yaml in {NAMESPACE}")
            found[name] = manifest
        out[kind] = found
    return out


def load() -> dict[str, dict[str, dict[str, Any]]]:
    """The built-ins by kind then name: `{"ComponentDefinition": {"webservice": {...}}, ...}`.

    Returns a fresh deep copy, so callers may modify what they get.
    """
    return copy.deepcopy(_load())


def get(kind: str, name: str) -> dict[str, Any]:
    """One built-in definition (a deep copy); KeyError when there is none."""
    return copy.deepcopy(_load()[kind][name])
