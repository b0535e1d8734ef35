"""The AIWorkload's status, rolled up from its WorkloadDeployments: a pure function.

Each WorkloadDeployment (written by the AIWorkload controller, reconciled by the
WorkloadDeployment controller) reports its phase, the one blocking message, its components'
ready/desired counts, its endpoints and the GPUs its rendered manifests request. The roll-up:

- phase: `Failed` if any deployment failed; `Deploying` while any has not yet reported the
  current revision or is Pending / Rendering / Deploying / Deleting; `Degraded` if any is
  Degraded; `Running` when all are Running;
- message: the first deployment's message in the worst state (Failed, then Degraded, then the
  ones still deploying), so the one cause shown is the one that blocks;
- components (with the deployment each belongs to), endpoints named after their component,
  `url` = the first endpoint, `gpuRequests` by GPU family (`quota.map_requests`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from axle.controllers.quota import add, clean, map_requests
from axle.store.base import Obj

_DEPLOYING = ("Pending", "Rendering", "Deploying", "Deleting", None)


@dataclass
class RollUp:
    phase: str
    message: str
    rendered: bool  # every deployment rendered the current revision (gpuRequests known)
    components: list[dict[str, Any]] = field(default_factory=list)
    endpoints: list[dict[str, str]] = field(default_factory=list)
    summaries: list[dict[str, Any]] = field(default_factory=list)
    gpu_requests: dict[str, int] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)

    @property
    def url(self) -> str | None:
        return self.endpoints[0]["url"] if self.endpoints else None


def _current(wd: Obj, revision: int) -> bool:
    st = wd.get("status") or {}
    return st.get("observedRevision") == revision


def roll_up(wds: list[Obj], revision: int, families: list[str]) -> RollUp:
    """Roll `wds` (sorted by name) up for the AIWorkload revision `revision`."""
    failed: list[Obj] = []
    degraded: list[Obj] = []
    deploying: list[Obj] = []
    rendered = True
    out = RollUp(phase="Running", message="", rendered=True)
    requests: dict[str, int] = {}
    for wd in sorted(wds, key=lambda w: str(w["metadata"]["name"])):
        name = str(wd["metadata"]["name"])
        spec = wd.get("spec") or {}
        st = wd.get("status") or {}
        phase = st.get("phase")
        current = _current(wd, revision)
        if not current or st.get("gpuRequests") is None:
            rendered = False
        # A failed render never reaches the new revision (nothing was pushed): a Failed
        # deployment that has seen its current spec is failed, whatever revision it shows.
        seen = st.get("observedGeneration") == (wd.get("metadata") or {}).get("generation")
        if phase == "Failed" and (current or seen):
            failed.append(wd)
        elif not current or phase in _DEPLOYING:
            deploying.append(wd)
        elif phase == "Degraded":
            degraded.append(wd)
        summary = {
            "name": name,
            "profile": (spec.get("workloadProfileRef") or {}).get("name"),
            "revision": spec.get("revision"),
            "phase": phase,
        }
        out.summaries.append({k: v for k, v in summary.items() if v is not None})
        for comp in st.get("components") or []:
            entry: dict[str, Any] = {
                "name": comp.get("name"),
                "workloadDeployment": name,
                "ready": int(comp.get("ready") or 0),
                "desired": int(comp.get("desired") or 0),
            }
            if comp.get("message"):
                entry["message"] = comp["message"]
            out.components.append(entry)
        for ep in st.get("endpoints") or []:
            if ep.get("url"):
                item = {"name": str(ep.get("component") or name), "url": str(ep["url"])}
                if item not in out.endpoints:
                    out.endpoints.append(item)
        add(requests, st.get("gpuRequests") or {})
    mapped = map_requests(requests, families)
    out.gpu_requests = mapped.by_family
    out.unmapped = mapped.unmapped
    out.rendered = rendered
    if failed:
        out.phase, first = "Failed", failed[0]
    elif deploying:
        out.phase, first = "Deploying", deploying[0]
    elif degraded:
        out.phase, first = "Degraded", degraded[0]
    else:
        out.message = f"{len(wds)} workload deployment(s) running" + (
            f" at {out.url}" if out.url else ""
        )
        return out
    st = first.get("status") or {}
    name = first["metadata"]["name"]
    if _resumed(first):
        # Its status still says "on hold (suspend)" until its controller runs again.
        out.message = f"workload deployment {name} is resuming delivery of revision {revision}"
    elif st.get("message"):
        out.message = str(st["message"])
    elif not _current(first, revision):
        out.message = f"workload deployment {name} is rendering revision {revision}"
    else:
        out.message = f"workload deployment {name} is {st.get('phase') or 'Pending'}"
    return out


def _resumed(wd: Obj) -> bool:
    """Resumed (`suspend` just cleared) but not yet reported on by its controller."""
    if (wd.get("spec") or {}).get("suspend"):
        return False
    for cond in (wd.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Delivered":
            return bool(cond.get("reason") == "Suspended")
    return False


def requests_of(wd: Obj, families: list[str]) -> dict[str, int]:
    return clean(
        map_requests((wd.get("status") or {}).get("gpuRequests") or {}, families).by_family
    )
