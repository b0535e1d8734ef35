"""Applying manifests to Kubernetes clusters (server-side apply)."""
