"""Controllers: the reconcile runtime and one reconciler per kind.

Runtime: `informer` (list+watch caches with indexes), `queue` (one in-flight reconcile per
key, coalescing, backoff), `controller` (workers, error handling, resync), `leader` (Lease
election), `manager` (runs them all while leading), `events` (core v1 Events). Reconcilers:
`tenant`, `project`, `integrations` (Settings), `namespace`. `bootstrap` writes the objects
every hub needs.
"""
