"""The cluster simulator: a Kubernetes cluster in process, for the spoke agent to drive.

cluster.py      SimCluster: the agent's Cluster interface, time, the state file
kubeconfig.py   reading a Palette simulator kubeconfig (sim://NAME + nodes extension)
nodes.py        NodeSpec -> v1 Node (capacity, GPU labels, taints); capacity reports
objects.py      the object store: versions, server-side apply, persistence, change feed
kinds.py        groups, scope and plural names of kinds
selectors.py    label selectors, node affinity
scheduler.py    fitting pods to nodes; kube-scheduler's FailedScheduling text
pods.py         binding pods; the kubelet's part (starting, image pulls, exits)
workloads.py    Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob
network.py      Services (ClusterIP, node ports, LoadBalancer), Ingresses
storage.py      StorageClass, PVC provisioning and binding
controllers.py  the passes that run them all until the cluster settles
quantity.py     resource quantities
runtime.py      what controllers share: timings, events, owners, conditions
"""

from axle.sim.cluster.cluster import SimCluster
from axle.sim.cluster.kubeconfig import SimClusterInfo, read_kubeconfig
from axle.sim.cluster.nodes import (
    GpuSpec,
    NodeSpec,
    SimClusterCapacity,
    SimNodeCapacity,
    gpu_product,
)

__all__ = [
    "GpuSpec",
    "NodeSpec",
    "SimCluster",
    "SimClusterCapacity",
    "SimClusterInfo",
    "SimNodeCapacity",
    "gpu_product",
    "read_kubeconfig",
]
