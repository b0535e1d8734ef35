"""The schema of axle: meta types, every kind as a pydantic model, and the kind registry.

Depends on pydantic only. Objects cross layer boundaries as plain JSON dicts (the Kubernetes
wire shape); the models here validate and default those dicts at admission and give
controllers typed access.
"""
