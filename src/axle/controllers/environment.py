"""The Environment reconciler: which spokes a workload goes to, as `status.decisions`.

An Environment says where, not what. Two forms (notes §15, OCM's Placement):

- `spec.computePoolRefs`: the spokes of those pools (in the Environment's namespace) that have
  joined: Spokes labelled `axle.dev/compute-pool=<pool>` and `axle.dev/pool-namespace=<namespace>`
  with `Joined=True`. Every ComputePool owns one such Environment named after it.
- `spec.topology.properties.placement`: spokes matching any of the label predicates (all
  spokes without predicates), joined, sorted by name, at most `numberOfClusters`; only spokes
  of pools whose project belongs to the Environment's tenant (labels are user-written, so a
  selector alone would let one tenant deploy onto another's clusters).

A joined spoke that stops answering stays decided (its workloads say "spoke X unreachable
since ..."); moving a workload because a heartbeat is late would do more harm than waiting.
Spokes being deleted are dropped at once. `Ready` says how many spokes were chosen, or why
none; `topology-ocm-byop` (a placement the user brings) is not resolved by axle yet and says
so. Spoke changes wake only the Environments they can affect (an index by pool, plus the
placement ones), and status is written only when the decisions or conditions change.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from axle.api.meta import GROUP, get_condition, set_condition
from axle.api.registry import KindInfo
from axle.controllers.controller import Context, Mapper, Reconciler
from axle.controllers.objects import is_deleting, labels, make_key, write_status
from axle.controllers.tenancy import project_tenant, status_copy
from axle.errors import BadRequest
from axle.store.base import Obj
from axle.store.selectors import selector_from_spec

# The labels the ComputePool controller puts on its Spokes (controllers/computepool.py).
POOL_LABEL = "axle.dev/compute-pool"
POOL_NAMESPACE_LABEL = "axle.dev/pool-namespace"
# Spoke informer index: "<pool namespace>/<pool>".
SPOKES_BY_POOL = "environment-pool"
# Environment informer indexes: the pools it names, and "*" for label placements.
ENVS_BY_POOL = "environment-by-pool"
ENVS_BY_PLACEMENT = "environment-by-placement"
ALL = "*"


def spoke_pool_key(spoke: Obj) -> list[str]:
    lab = labels(spoke)
    pool, ns = lab.get(POOL_LABEL), lab.get(POOL_NAMESPACE_LABEL)
    return [f"{ns}/{pool}"] if pool and ns else []


def env_pool_keys(env: Obj) -> list[str]:
    ns = env["metadata"].get("namespace") or ""
    refs = (env.get("spec") or {}).get("computePoolRefs") or []
    return [f"{ns}/{r['name']}" for r in refs if r.get("name")]


def env_placement_keys(env: Obj) -> list[str]:
    return [] if (env.get("spec") or {}).get("computePoolRefs") else [ALL]


def is_joined(spoke: Obj) -> bool:
    return (get_condition(spoke, "Joined") or {}).get("status") == "True"


def decided_spokes(env: Obj) -> list[str]:
    """The spoke names an Environment's status decided, in order."""
    return [
        str(d["spoke"]) for d in (env.get("status") or {}).get("decisions") or [] if d.get("spoke")
    ]


class EnvironmentReconciler(Reconciler):
    name = "environment"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        reg = self.kinds.registry
        self._env = reg.by_group_kind(GROUP, "Environment")
        self.spoke_kind = reg.by_group_kind(GROUP, "Spoke")
        self.spokes = ctx.cache(self.spoke_kind)
        self.projects = ctx.cache(reg.by_group_kind(GROUP, "Project"))

    def _tenant_of(self, namespace: str | None) -> str | None:
        """The tenant whose project lives in `namespace` (None: no project there)."""
        if not namespace:
            return None
        for project in self.projects.list(namespace):
            return project_tenant(project) or None
        return None

    @property
    def kind(self) -> KindInfo:
        return self._env

    def indexes(self) -> Iterable[tuple[KindInfo, str, Any]]:
        return (
            (self.spoke_kind, SPOKES_BY_POOL, spoke_pool_key),
            (self._env, ENVS_BY_POOL, env_pool_keys),
            (self._env, ENVS_BY_PLACEMENT, env_placement_keys),
        )

    def watches(self) -> Iterable[tuple[KindInfo, Mapper]]:
        envs = self.ctx.cache(self._env)

        def by_spoke(spoke: Obj) -> list[str]:
            keys = [
                make_key(e["metadata"].get("namespace"), e["metadata"]["name"])
                for pool in spoke_pool_key(spoke)
                for e in envs.by_index(ENVS_BY_POOL, pool)
            ]
            keys += [
                make_key(e["metadata"].get("namespace"), e["metadata"]["name"])
                for e in envs.by_index(ENVS_BY_PLACEMENT, ALL)
            ]
            return keys

        def by_project(project: Obj) -> list[str]:
            # A project appearing (or going) changes which spokes a placement may pick.
            return [
                make_key(e["metadata"].get("namespace"), e["metadata"]["name"])
                for e in envs.by_index(ENVS_BY_PLACEMENT, ALL)
            ]

        return ((self.spoke_kind, by_spoke), (self.projects.info, by_project))

    async def reconcile(self, key: str) -> float | None:
        env = self.cached(key)
        if env is None or is_deleting(env):
            return None
        status = status_copy(env)
        gen = env["metadata"].get("generation")
        conditions = status["conditions"]
        try:
            chosen, reason, message = self._decide(env)
        except BadRequest as exc:
            chosen, reason, message = [], "InvalidPlacement", exc.message
        status["decisions"] = [{"spoke": name, "reason": reason} for name in chosen]
        set_condition(conditions, "Ready", "True" if chosen else "False", reason, message, gen)
        status["observedGeneration"] = gen
        await write_status(self.store, self._env, env, status)
        return None

    def _decide(self, env: Obj) -> tuple[list[str], str, str]:
        spec = env.get("spec") or {}
        ns = env["metadata"].get("namespace") or ""
        refs = [str(r["name"]) for r in spec.get("computePoolRefs") or [] if r.get("name")]
        if refs:
            found: set[str] = set()
            for pool in refs:
                for spoke in self.spokes.by_index(SPOKES_BY_POOL, f"{ns}/{pool}"):
                    if is_joined(spoke) and not is_deleting(spoke):
                        found.add(spoke["metadata"]["name"])
            chosen = sorted(found)
            pools = ", ".join(refs)
            if not chosen:
                return [], "NoSpokes", f"no joined spoke in pool {pools} yet"
            return (
                chosen,
                "PoolMember",
                f"{len(chosen)} spoke(s) of pool {pools}: " + ", ".join(chosen),
            )
        topology = spec.get("topology") or {}
        props = topology.get("properties") or {}
        if topology.get("type") == "topology-ocm-byop":
            ref = (props.get("placementRef") or {}).get("name")
            return (
                [],
                "PlacementRefUnsupported",
                (
                    f"placement {ref!r} is the user's own (topology-ocm-byop): axle does not "
                    "resolve user placements; use spec.topology.properties.placement"
                ),
            )
        placement = props.get("placement") or {}
        selectors = [
            selector_from_spec(
                ((p.get("requiredClusterSelector") or {}).get("labelSelector")) or {}
            )
            for p in placement.get("predicates") or []
        ]
        # A placement never reaches across tenants: it picks among the spokes of pools in
        # projects of the Environment's own tenant (labels are written by users; a selector
        # alone would let one tenant deploy onto another's clusters).
        tenant = self._tenant_of(ns)
        if tenant is None:
            return [], "NoSpokes", f"namespace {ns} holds no project: a placement has no spokes"
        matched = sorted(
            s["metadata"]["name"]
            for s in self.spokes.list()
            if is_joined(s)
            and not is_deleting(s)
            and self._tenant_of(labels(s).get(POOL_NAMESPACE_LABEL)) == tenant
            and (not selectors or any(sel.matches(labels(s)) for sel in selectors))
        )
        limit = placement.get("numberOfClusters")
        chosen = matched[: int(limit)] if limit else matched
        if not chosen:
            return [], "NoSpokes", "no joined spoke matches the placement"
        return (
            chosen,
            "PlacementMatched",
            f"{len(chosen)} spoke(s) match the placement: " + (", ".join(chosen)),
        )
