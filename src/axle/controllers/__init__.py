"""Controllers: the reconcile runtime (informers, per-object queues, leader lease) and one reconciler per kind."""
