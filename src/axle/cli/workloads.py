"""How `axle describe aiworkload` shows an App or Model Deployment.

What a data scientist looks for first is whether it runs, where, and at which address, then
what is wrong if it does not. The generic status dump buries that in nested maps, so for an
AIWorkload the status is shown as: phase, pool, revision, bundle and URL as one block, the
blocking message, a COMPONENT / READY / WORKLOAD DEPLOYMENT / MESSAGE table, an ENDPOINT / URL
table, the WorkloadDeployments with their phases, and the GPU requests and reservation.
Pure functions of the wire object, tested without a hub.
"""

from __future__ import annotations

from typing import Any

from axle.cli.printers import grid

KIND = "AIWorkload"
GROUP = "axle.dev"
INDENT = "  "


def is_aiworkload(obj: dict[str, Any]) -> bool:
    return obj.get("kind") == KIND and str(obj.get("apiVersion", "")).startswith(GROUP + "/")


def _gpus(counts: Any) -> str:
    if not isinstance(counts, dict) or not counts:
        return "none"
    return ", ".join(f"{n} {family}" for family, n in sorted(counts.items()))


def status_lines(status: dict[str, Any], level: int) -> list[str]:
    """Everything of an AIWorkload's status but its conditions (shown as a table already)."""
    pad = INDENT * level
    bundle = status.get("bundle") or {}
    bundle_text = str(bundle.get("name") or "<none>")
    if bundle.get("version"):
        bundle_text += f"@{bundle['version']}"
    if bundle.get("mapping"):
        bundle_text += f" (chosen by Model-as-a-Service mapping {bundle['mapping']})"
    rows = [
        ("Phase", status.get("phase") or "Pending"),
        ("Message", status.get("message") or "<none>"),
        ("Compute Pool", status.get("computePool") or "<none>"),
        ("Revision", status.get("revision") if status.get("revision") is not None else "<none>"),
        ("Bundle", bundle_text),
        ("URL", status.get("url") or "<none>"),
        ("GPU Requests", _gpus(status.get("gpuRequests"))),
        ("GPU Reservation", _gpus(status.get("gpuReservation"))),
    ]
    width = max(len(k) for k, _ in rows) + 3  # the colon, then two spaces like kubectl
    lines = [f"{pad}{(k + ':').ljust(width)}{v}" for k, v in rows]
    components = status.get("components") or []
    if components:
        lines.append(f"{pad}Components:")
        table = [["COMPONENT", "READY", "WORKLOAD DEPLOYMENT", "MESSAGE"]]
        for c in components:
            table.append(
                [
                    str(c.get("name", "")),
                    f"{c.get('ready', 0)}/{c.get('desired', 0)}",
                    str(c.get("workloadDeployment") or "-"),
                    str(c.get("message") or ""),
                ]
            )
        lines += grid(table, INDENT * (level + 1))
    endpoints = status.get("endpoints") or []
    if endpoints:
        lines.append(f"{pad}Endpoints:")
        lines += grid(
            [
                ["NAME", "URL"],
                *([str(e.get("name", "")), str(e.get("url", ""))] for e in endpoints),
            ],
            INDENT * (level + 1),
        )
    deployments = status.get("workloadDeployments") or []
    if deployments:
        lines.append(f"{pad}Workload Deployments:")
        table = [["NAME", "PROFILE", "REVISION", "PHASE"]]
        for d in deployments:
            rev = d.get("revision")
            table.append(
                [
                    str(d.get("name", "")),
                    str(d.get("profile") or "-"),
                    str(rev) if rev is not None else "-",
                    str(d.get("phase") or "Pending"),
                ]
            )
        lines += grid(table, INDENT * (level + 1))
    return lines
