"""The HTTP face of the hub: Kubernetes REST conventions, authn, RBAC, admission, audit."""
