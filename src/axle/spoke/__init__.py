"""The spoke agent: joins the hub, pulls Works, applies them, reports status."""
