"""Outputs and endpoints: values the agent reads from live objects and reports to the hub.

A Work declares outputs as the render found them (`spec.outputs`):

    {"definitionOutputs": {C: {O: {apiVersion, kind, path, labels?}}},
     "objectOutputs": {O: {apiVersion, kind, name, namespace?, path}}}

A definition output is a field of an object that component C created (the objects the Work
applied with label `axle.dev/component: C`, of that apiVersion and kind, optionally narrowed by
`labels`); an object output is a field of any named object on the cluster. Paths are the
JSONPath-like form the definitions use: `.status.loadBalancer.ingress[0].ip`, `.metadata.name`,
`.metadata.labels['app.kubernetes.io/name']`, `.spec.x\\.y` (a dot inside a key escaped). A
path that reaches nothing (or null, or an empty string) means "not available yet" (a
load-balancer address not assigned), never an error: the later groups wait for it.

Endpoints are the addresses a person opens: a LoadBalancer Service with an address is
`http://<ip or hostname>:<first port>`, an Ingress rule is `http(s)://<host><path>` (https when
the host is listed under `spec.tls`; an Ingress rule without a host uses the Ingress's own
address).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from axle.spoke.manifests import COMPONENT_LABEL

Obj = dict[str, Any]
_TOKEN = re.compile(
    r"""\.(?P<key>(?:[^.\[\\]|\\.)+)     # .key (a backslash escapes the next character)
      | \[(?P<index>-?\d+)\]             # [0]
      | \[(?P<q>['"])(?P<quoted>.*?)(?P=q)\]   # ['key'] or ["key"]
    """,
    re.VERBOSE,
)


class PathError(ValueError):
    """A path the agent cannot read (malformed); the message says where."""


def parse_path(path: str) -> list[str | int]:
    """`.a.b[0]['c.d']` -> ["a", "b", 0, "c.d"]; raises PathError when malformed."""
    steps: list[str | int] = []
    pos = 0
    while pos < len(path):
        match = _TOKEN.match(path, pos)
        if match is None:
            raise PathError(f"cannot read path {path!r} at position {pos}")
        if match.group("key") is not None:
            steps.append(re.sub(r"\\(.)", r"\1", match.group("key")))
        elif match.group("index") is not None:
            steps.append(int(match.group("index")))
        else:
            steps.append(match.group("quoted"))
        pos = match.end()
    if not steps:
        raise PathError(f"cannot read path {path!r}: it names no field")
    return steps


def read_path(obj: Any, path: str) -> Any:
    """The value at `path` in `obj`, or None when the path reaches nothing."""
    value = obj
    for step in parse_path(path):
        if isinstance(step, int):
            if not isinstance(value, list) or not -len(value) <= step < len(value):
                return None
            value = value[step]
        elif isinstance(value, Mapping) and step in value:
            value = value[step]
        else:
            return None
    if value == "":
        return None
    return value


def matches_ref(obj: Mapping[str, Any], component: str, ref: Mapping[str, Any]) -> bool:
    """Whether `obj` (an object the Work applied) is the one a definition output names."""
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    if labels.get(COMPONENT_LABEL) != component:
        return False
    if obj.get("apiVersion") != ref.get("apiVersion") or obj.get("kind") != ref.get("kind"):
        return False
    wanted = ref.get("labels") or {}
    return all(labels.get(k) == v for k, v in wanted.items())


def output_name(component: str, output: str) -> str:
    """How an output is named in messages: `vllm.service`, `vllm.gpu.count`."""
    return f"{component}.{output}"


def _first_port(svc: Mapping[str, Any]) -> int | None:
    ports = (svc.get("spec") or {}).get("ports") or []
    if ports and ports[0].get("port"):
        return int(ports[0]["port"])
    return None


def _address(obj: Mapping[str, Any]) -> str | None:
    for entry in ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
        address = entry.get("ip") or entry.get("hostname")
        if address:
            return str(address)
    return None


def endpoints_of(obj: Mapping[str, Any] | None, component: str | None) -> list[Obj]:
    """The endpoints a live object exposes (none for kinds that expose nothing)."""
    if obj is None:
        return []
    kind = obj.get("kind")
    name = str((obj.get("metadata") or {}).get("name") or "")
    found: list[str] = []
    if kind == "Service" and (obj.get("spec") or {}).get("type") == "LoadBalancer":
        address, port = _address(obj), _first_port(obj)
        if address:
            found.append(f"http://{address}:{port}" if port else f"http://{address}")
    elif kind == "Ingress":
        spec = obj.get("spec") or {}
        tls_hosts = {h for t in spec.get("tls") or [] for h in t.get("hosts") or []}
        for rule in spec.get("rules") or []:
            host = rule.get("host") or _address(obj)
            if not host:
                continue
            paths = (rule.get("http") or {}).get("paths") or []
            path = str((paths[0].get("path") if paths else None) or "/")
            scheme = "https" if rule.get("host") in tls_hosts else "http"
            found.append(f"{scheme}://{host}{path}")
    out: list[Obj] = []
    for url in dict.fromkeys(found):
        entry: Obj = {"kind": str(kind), "name": name, "url": url}
        if component:
            entry["component"] = component
        out.append(entry)
    return out


def endpoints(objects: Iterable[tuple[Mapping[str, Any] | None, str | None]]) -> list[Obj]:
    """Endpoints of (live object, component) pairs, in order, without repeats."""
    out: list[Obj] = []
    seen: set[str] = set()
    for obj, component in objects:
        for entry in endpoints_of(obj, component):
            if entry["url"] not in seen:
                seen.add(entry["url"])
                out.append(entry)
    return out
