"""Flux-compatible OCI artifacts: packaging, push and pull."""
