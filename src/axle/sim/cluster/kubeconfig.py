"""Reading the kubeconfig of a simulated cluster (the other half of `sim/palette/kubeconfig`).

The Palette simulator hands out, for a Running cluster, a kubeconfig whose server is
`sim://<name>` and whose cluster entry carries the `palette-sim.axle.dev` extension with the
cluster's identity, Kubernetes version and nodes. `read_kubeconfig` accepts that file (YAML
text or an already parsed dict), follows `current-context` to its cluster, and returns what
the cluster simulator needs; anything else (a real cluster's kubeconfig, a file without the
extension) is refused with an `Invalid` error that says what was expected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from axle.errors import Invalid
from axle.sim.cluster.nodes import DEFAULT_KUBERNETES_VERSION, NodeSpec, spec_from_entry
from axle.sim.palette.kubeconfig import EXTENSION, SCHEME


@dataclass(frozen=True)
class SimClusterInfo:
    name: str
    uid: str
    project_uid: str
    kubernetes_version: str
    nodes: tuple[NodeSpec, ...]


def _cluster_entry(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    clusters = doc.get("clusters") or []
    if not isinstance(clusters, list) or not clusters:
        raise Invalid("kubeconfig has no clusters")
    wanted = None
    current = doc.get("current-context")
    for ctx in doc.get("contexts") or []:
        if isinstance(ctx, dict) and ctx.get("name") == current:
            wanted = (ctx.get("context") or {}).get("cluster")
    for entry in clusters:
        if isinstance(entry, dict) and (wanted is None or entry.get("name") == wanted):
            return entry
    raise Invalid(f"kubeconfig's current context names cluster {wanted!r}, which it does not list")


def read_kubeconfig(source: str | Mapping[str, Any]) -> SimClusterInfo:
    """The simulated cluster a kubeconfig describes; `Invalid` if it describes no such thing."""
    if isinstance(source, str):
        try:
            doc = yaml.safe_load(source)
        except yaml.YAMLError as exc:
            raise Invalid(f"kubeconfig is not YAML: {exc}") from None
    else:
        doc = source
    if not isinstance(doc, Mapping):
        raise Invalid("kubeconfig must be a mapping with clusters, contexts and users")
    entry = _cluster_entry(doc)
    name = str(entry.get("name") or "")
    cluster = entry.get("cluster") or {}
    server = str(cluster.get("server") or "")
    ext = next(
        (
            e.get("extension")
            for e in cluster.get("extensions") or []
            if isinstance(e, dict) and e.get("name") == EXTENSION
        ),
        None,
    )
    if not server.startswith(SCHEME) or not isinstance(ext, dict):
        raise Invalid(
            f"kubeconfig cluster {name!r} (server {server or 'unset'!r}) is not a simulated "
            f"cluster: a simulated cluster's server is {SCHEME}NAME and its cluster entry has "
            f"the {EXTENSION} extension"
        )
    nodes = ext.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        raise Invalid(
            f"kubeconfig of simulated cluster {name!r} lists no nodes in its {EXTENSION} "
            "extension (download it again from a simulator that records them)"
        )
    specs = tuple(spec_from_entry(n, f"{EXTENSION}.nodes[{i}]") for i, n in enumerate(nodes))
    version = str(ext.get("kubernetesVersion") or DEFAULT_KUBERNETES_VERSION)
    if not version.startswith("v"):
        version = f"v{version}"
    return SimClusterInfo(
        name=str(ext.get("clusterName") or server[len(SCHEME) :]),
        uid=str(ext.get("clusterUid") or ""),
        project_uid=str(ext.get("projectUid") or ""),
        kubernetes_version=version,
        nodes=specs,
    )
