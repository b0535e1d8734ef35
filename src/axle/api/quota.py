"""GPU limit arithmetic shared by admission (at write time) and the Project controller (later).

One rule, in one place: a project's `gpuLimits[f]` may not exceed its tenant's
`gpuLimits[f]`; a family the tenant does not list is not limited at the tenant level, as a
Kubernetes ResourceQuota leaves unlisted resources unconstrained.
"""

from __future__ import annotations

from collections.abc import Mapping


def gpu_limit_excess(
    project_limits: Mapping[str, int], tenant_limits: Mapping[str, int]
) -> list[tuple[str, int, int]]:
    """(family, project limit, tenant limit) for each family the project asks more of."""
    return [
        (family, count, tenant_limits[family])
        for family, count in sorted(project_limits.items())
        if family in tenant_limits and count > tenant_limits[family]
    ]
