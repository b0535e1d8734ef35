"""Kubeconfigs of simulated clusters.

A simulated cluster has no API server of its own, so its kubeconfig points at
`sim://<cluster-name>` and carries the cluster's identity in a kubeconfig extension named
`palette-sim.axle.dev` (`clusterUid`, `clusterName`, `projectUid`). The cluster simulator
(`sim/cluster`) recognises that scheme and extension and serves the cluster in process; a
real Kubernetes client given such a file fails fast on the unknown scheme instead of reaching
somewhere unexpected. The token is derived from the cluster uid, so a download repeated after
a restart yields the same file.
"""

from __future__ import annotations

import hashlib

import yaml

EXTENSION = "palette-sim.axle.dev"
SCHEME = "sim://"


def render(cluster_name: str, cluster_uid: str, project_uid: str, *, admin: bool) -> str:
    user = f"{cluster_name}-admin" if admin else f"{cluster_name}-user"
    context = f"{user}@{cluster_name}"
    token = hashlib.sha256(f"{cluster_uid}/{user}".encode()).hexdigest()
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster_name,
                "cluster": {
                    "server": f"{SCHEME}{cluster_name}",
                    "extensions": [
                        {
                            "name": EXTENSION,
                            "extension": {
                                "clusterUid": cluster_uid,
                                "clusterName": cluster_name,
                                "projectUid": project_uid,
                            },
                        }
                    ],
                },
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": cluster_name, "user": user}}],
        "current-context": context,
        "users": [{"name": user, "user": {"token": token}}],
        "preferences": {},
    }
    return yaml.safe_dump(doc, sort_keys=False)
