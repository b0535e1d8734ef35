"""Imports every kind module so that `axle.api.registry.REGISTRY` is complete.

Kinds register themselves when their module is imported; this module is the one list of those
modules, imported in a fixed order so registration (and everything built from the registry:
discovery, OpenAPI, table output) is deterministic. Import it once at start-up:
`import axle.api.kinds`.
"""

from __future__ import annotations

from axle.api import (
    aiworkload,
    compute,
    computeconfig,
    computepool,
    controllerrevision,
    coordination,
    core,
    definitions,
    environment,
    profilebundle,
    project,
    rbac,
    scaling,
    settings,
    spoke,
    tenant,
    variables,
    workloaddeployment,
    workloadprofile,
)
from axle.api.registry import REGISTRY, KindInfo

MODULES = (
    core,
    rbac,
    coordination,
    controllerrevision,
    tenant,
    project,
    settings,
    variables,
    compute,
    computeconfig,
    computepool,
    scaling,
    definitions,
    workloadprofile,
    profilebundle,
    environment,
    aiworkload,
    workloaddeployment,
    spoke,
)


def all_kinds() -> list[KindInfo]:
    """Every registered kind, ordered by group then kind (core group first)."""
    return sorted(REGISTRY, key=lambda info: (info.group, info.kind))
