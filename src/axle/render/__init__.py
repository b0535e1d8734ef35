"""Pure rendering of workload profiles into Kubernetes manifests (no I/O)."""
