"""Shared helpers for controller tests: polling with a deadline and a private kind registry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from axle.api.registry import KindInfo, Registry

T = TypeVar("T")

WIDGET = KindInfo(
    group="test.axle.dev",
    version="v1",
    kind="Widget",
    plural="widgets",
    singular="widget",
    namespaced=True,
)
GADGET = KindInfo(
    group="test.axle.dev",
    version="v1",
    kind="Gadget",
    plural="gadgets",
    singular="gadget",
    namespaced=True,
)


async def eventually(
    predicate: Callable[[], Awaitable[T] | T], *, within: float = 10.0, what: str = ""
) -> T:
    """Poll `predicate` (sync or async) until it returns something truthy, or fail."""
    deadline = time.monotonic() + within
    last: object = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if asyncio.iscoroutine(value) or isinstance(value, Awaitable):
                value = await value
            last = value
            if value:
                return value  # type: ignore[return-value]
        except AssertionError as exc:
            last = exc
        await asyncio.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what or predicate}; last: {last!r}")


def widget(name: str, ns: str = "default", **spec: object) -> dict[str, object]:
    return {
        "apiVersion": WIDGET.api_version,
        "kind": "Widget",
        "metadata": {"name": name, "namespace": ns},
        "spec": dict(spec),
    }


def _k(
    group: str, version: str, kind: str, plural: str, namespaced: bool, status: bool
) -> KindInfo:
    return KindInfo(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        singular=kind.lower(),
        namespaced=namespaced,
        has_status=status,
    )


def private_registry() -> Registry:
    """The kinds the controllers use, registered in a registry of the test's own."""
    reg = Registry()
    rbac = "rbac.authorization.k8s.io"
    for info in (
        _k("", "v1", "Namespace", "namespaces", False, True),
        _k("", "v1", "ConfigMap", "configmaps", True, False),
        _k("", "v1", "Secret", "secrets", True, False),
        _k("", "v1", "Event", "events", True, False),
        _k(rbac, "v1", "Role", "roles", True, False),
        _k(rbac, "v1", "ClusterRole", "clusterroles", False, False),
        _k(rbac, "v1", "RoleBinding", "rolebindings", True, False),
        _k(rbac, "v1", "ClusterRoleBinding", "clusterrolebindings", False, False),
        _k("coordination.k8s.io", "v1", "Lease", "leases", True, False),
        _k("axle.dev", "v1alpha1", "Tenant", "tenants", False, True),
        _k("axle.dev", "v1alpha1", "Project", "projects", True, True),
        _k("axle.dev", "v1alpha1", "Settings", "settings", True, True),
        _k("axle.dev", "v1alpha1", "ComputeConfig", "computeconfigs", True, True),
        WIDGET,
        GADGET,
    ):
        reg.register(info)
    return reg
