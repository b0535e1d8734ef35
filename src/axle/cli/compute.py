"""How `axle` shows a Compute inventory: one row per machine, and the groups in `describe`.

A Compute's interesting content is its machines, which the server's table (one row per
Compute: AVAILABLE, TOTAL, GPUS, SYNCED) can only sum up. So two views are built here, from
the object's status, client-side:

- `axle get compute -o wide` prints one row per machine instead of per Compute: NAME (the
  Compute), HOST, ARCH, CPU, MEMORY, GPU (model), GPUS (count), STATE, USED BY; with `-A` a
  NAMESPACE column first. A host listed both as a control-plane and a worker candidate is one
  row. kubectl's `-o wide` still shows the server's table with its wide columns (IN USE,
  UNHEALTHY, LAST SYNC), and `axle get compute` (no `-o wide`) shows that table too.
- `axle describe compute NAME` replaces the generic status dump with: last sync and its age,
  the Settings used, machine totals, a GPU table per family (available, in use, unhealthy,
  total), then each group of the control-plane and worker candidates as a heading (hardware
  profile, resource groups, how many available) over a table of its machines.

Pure functions of the wire object, so they are tested without a hub.
"""

from __future__ import annotations

from typing import Any

from axle.cli.printers import TableView, age

KIND = "Compute"
GROUP = "axle.dev"
WIDE_HEADERS = ["NAME", "HOST", "ARCH", "CPU", "MEMORY", "GPU", "GPUS", "STATE", "USED BY"]
INDENT = "  "


def is_compute(obj: dict[str, Any]) -> bool:
    return obj.get("kind") == KIND and str(obj.get("apiVersion", "")).startswith(GROUP + "/")


def memory_text(mib: Any) -> str:
    """`65536` -> `64Gi`, `81559` -> `79.6Gi`, `2097152` -> `2Ti`, as kubectl prints quantities."""
    if not isinstance(mib, int | float) or isinstance(mib, bool):
        return "-"
    for unit, size in (("Ti", 1024 * 1024), ("Gi", 1024)):
        if mib >= size:
            value = mib / size
            return f"{value:.0f}{unit}" if value == int(value) else f"{value:.1f}{unit}"
    return f"{mib}Mi"


def _groups(status: dict[str, Any]) -> list[dict[str, Any]]:
    return [*(status.get("controlPlaneCompute") or []), *(status.get("workerCompute") or [])]


def machine_rows(obj: dict[str, Any], *, with_namespace: bool = False) -> list[list[str]]:
    """One row per machine of the Compute (each machine once), in status order."""
    meta = obj.get("metadata") or {}
    name = str(meta.get("name", ""))
    rows: list[list[str]] = []
    seen: set[str] = set()
    for group in _groups(obj.get("status") or {}):
        gpu = group.get("gpu") or {}
        for m in group.get("machines") or []:
            mid = str(m.get("id"))
            if mid in seen:
                continue
            seen.add(mid)
            row = [
                name,
                str(m.get("name") or mid),
                str(group.get("architecture") or "-"),
                str(group.get("cpuCount") if group.get("cpuCount") is not None else "-"),
                memory_text(group.get("memoryMiB")),
                str(gpu.get("model") or gpu.get("family") or "-"),
                str(gpu.get("gpuCount") or 0) if gpu else "0",
                str(m.get("state") or ""),
                str(m.get("usedBy") or "-"),
            ]
            if with_namespace:
                row.insert(0, str(meta.get("namespace") or ""))
            rows.append(row)
    return rows


def machines_view(objs: list[dict[str, Any]], *, with_namespace: bool = False) -> TableView:
    headers = (["NAMESPACE"] if with_namespace else []) + WIDE_HEADERS
    rows = [r for o in objs for r in machine_rows(o, with_namespace=with_namespace)]
    return TableView(headers, rows)


def _table(headers: list[str], rows: list[list[str]], level: int) -> list[str]:
    """A table under a `describe` heading, headers underlined as its Conditions table is."""
    view = TableView(headers, [["-" * len(h) for h in headers], *rows])
    return [INDENT * level + line for line in view.lines()]


def group_heading(group: dict[str, Any]) -> str:
    """`8x NVIDIA H100 (79.6Gi each), AMD64, 112 CPU, 2Ti memory, rack=a: 4 machines, 3
    available`: a group's hardware profile and how much of it is free."""
    parts: list[str] = []
    gpu = group.get("gpu")
    if gpu:
        mem = f" ({memory_text(gpu['gpuMemory'])} each)" if gpu.get("gpuMemory") else ""
        name = " ".join(str(x) for x in (gpu.get("vendor"), gpu.get("model")) if x)
        parts.append(f"{gpu.get('gpuCount', 0)}x {name or gpu.get('family')}{mem}")
    for extra in group.get("additionalGpus") or []:
        model = " ".join(str(x) for x in (extra.get("vendor"), extra.get("model")) if x)
        parts.append(f"{extra.get('gpuCount', 0)}x {model or extra.get('family')}")
    parts.append(str(group.get("architecture") or "?"))
    parts.append(f"{group.get('cpuCount', '?')} CPU")
    parts.append(f"{memory_text(group.get('memoryMiB'))} memory")
    rgs = group.get("resourceGroups") or {}
    if rgs:
        parts.append(", ".join(f"{k}={v}" for k, v in sorted(rgs.items())))
    count = int(group.get("instances") or len(group.get("machines") or []))
    free = group.get("availableInstances")
    if free is None:
        free = sum(1 for m in group.get("machines") or [] if m.get("state") == "available")
    noun = "machine" if count == 1 else "machines"
    return f"{', '.join(parts)}: {count} {noun}, {free} available"


def _group_lines(title: str, groups: list[dict[str, Any]], level: int) -> list[str]:
    pad = INDENT * level
    if not groups:
        return [f"{pad}{title}:  <none>"]
    lines = [f"{pad}{title}:"]
    for group in groups:
        lines.append(f"{pad}{INDENT}{group_heading(group)}")
        rows = [
            [
                str(m.get("name") or m.get("id")),
                str(m.get("id") or ""),
                str(m.get("state") or ""),
                str(m.get("usedBy") or "-"),
                str((m.get("edgeHostDetails") or {}).get("hostAddress") or "-"),
                " ".join(str(m.get("message") or "").split()) or "-",
            ]
            for m in group.get("machines") or []
        ]
        lines += _table(["Host", "ID", "State", "Used By", "Address", "Message"], rows, level + 2)
    return lines


def status_lines(status: dict[str, Any], level: int = 1) -> list[str]:
    """The Compute's status (conditions excepted) as `describe` shows it."""
    pad = INDENT * level
    lines: list[str] = []
    last = status.get("lastSyncTime")
    fields: list[tuple[str, str]] = [
        ("Last Sync Time", f"{last} ({age(last)} ago)" if last else "<never>"),
    ]
    src = status.get("settings") or {}
    if src:
        fields.append(("Settings", f"{src.get('namespace')}/{src.get('name')}"))
    if status.get("totalMachines") is not None:
        fields.append(
            (
                "Machines",
                f"{status.get('totalMachines', 0)} total, {status.get('availableMachines', 0)} "
                f"available, {status.get('inUseMachines', 0)} in use, "
                f"{status.get('unhealthyMachines', 0)} unhealthy",
            )
        )
    if status.get("observedGeneration") is not None:
        fields.append(("Observed Generation", str(status["observedGeneration"])))
    width = max(len(k) for k, _ in fields) + 1
    lines += [f"{pad}{(k + ':').ljust(width)}  {v}" for k, v in fields]
    gpus = status.get("gpus") or {}
    if gpus:
        lines.append(f"{pad}GPUs:")
        rows = [
            [
                family,
                str(t.get("available", 0)),
                str(t.get("inUse", 0)),
                str(t.get("unhealthy", 0)),
                str(t.get("total", 0)),
            ]
            for family, t in sorted(gpus.items())
        ]
        lines += _table(["Family", "Available", "In Use", "Unhealthy", "Total"], rows, level + 1)
    lines += _group_lines(
        "Control Plane Candidates", status.get("controlPlaneCompute") or [], level
    )
    lines += _group_lines("Worker Candidates", status.get("workerCompute") or [], level)
    return lines
