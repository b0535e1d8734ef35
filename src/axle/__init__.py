"""axle: an open hub-and-spoke control plane for AI/ML platforms on GPU fleets.

The package is layered (see DESIGN section 4 and `.importlinter`): `api` holds the schema of
the system, `store` persists objects, `controllers` reconcile them, `server` speaks the
Kubernetes REST conventions, `client` and `cli` are how people and agents talk to the hub.
"""

__version__ = "0.1.0"
