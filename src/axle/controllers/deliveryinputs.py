"""Everything a WorkloadDeployment's render reads, gathered from the informer caches.

One `RenderRequest` per deployment, built without a single store query (a hub delivering ten
thousand deployments cannot list anything per deployment):

- the profile: the DefinitionRevision snapshot `<profile>-v<N>` of the pinned revision (else
  the profile's latest), looked up in the bundle's namespace, the deployment's, its tenant's,
  then `axle-system`;
- the definitions: `axle-system`, then the tenant's namespace, then the project's (a later
  namespace's definition of the same name wins);
- variables by precedence: VariableSet `mural-variables` of `axle-system`, of the project,
  the bundle's snapshotted `bundleVariables`, and the deployment's `variables` last;
- hub outputs: only those the profile's hub-context macros name (`{{ .def.C.O }}`,
  `{{ .obj.O }}`), from the outputs other deployments of the namespace report, so one
  deployment's outputs changing re-renders only those that read them; a named output nobody
  reports yet makes the deployment wait (`Waiting`) rather than fail;
- system values (`{{ .sys.NAME }}`): `workloadName`, `workloadDeployment`, `namespace`,
  `project`, `environment`, `pool`. Not the owner's revision number: it would make every
  revision's input (and artifact) differ even where nothing else did, so a rollback could
  never reproduce the artifact it rolls back to.

Definition specs are hashed once per stored version (memoized by uid and resourceVersion) and
the catalog digest is derived from those hashes, so the input digest of a request costs a
few microseconds, not a serialization of every definition.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from axle.api.meta import GROUP, SYSTEM_NAMESPACE
from axle.controllers.controller import Context
from axle.controllers.definitions import SOURCE_KIND_LABEL, revision_name
from axle.controllers.informer import Informer
from axle.controllers.objects import labels
from axle.controllers.renderworker import RenderRequest, canonical
from axle.controllers.tenancy import TENANT_LABEL, tenant_namespace
from axle.errors import ApiError
from axle.render.macros import find_macros
from axle.store.base import Obj

VARIABLE_SET_NAME = "mural-variables"
DEFINITION_KINDS = ("ComponentDefinition", "TraitDefinition", "PolicyDefinition")
# WorkloadDeployment informer index: namespace -> the deployments of it reporting outputs, so
# a consumer looks through those few, not through every deployment of the namespace.
REPORTING_OUTPUTS = "deployments-reporting-outputs"


def _reporting_key(wd: Obj) -> list[str]:
    if not output_values((wd.get("status") or {}).get("outputs")):
        return []
    return [str(wd["metadata"].get("namespace") or "")]


class Waiting(Exception):
    """An input is not there yet; the deployment stays Pending with this message."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Inputs:
    request: RenderRequest
    revision: int
    pool: str
    # Outputs of other deployments this one's macros read, as (namespace, "def"/"obj", names).
    consumes: bool
    # The profile revision rendered (what the manifests and the artifact are labelled with).
    profile_revision: int = 1


@dataclass(frozen=True)
class _Needs:
    defs: tuple[tuple[str, str], ...]
    objs: tuple[str, ...]


class InputGatherer:
    def __init__(self, ctx: Context, wd_cache: Informer) -> None:
        reg = ctx.kinds.registry
        self.wds = wd_cache
        wd_cache.add_index(REPORTING_OUTPUTS, _reporting_key)
        self.revisions = ctx.cache(reg.by_group_kind(GROUP, "DefinitionRevision"))
        self.profiles = ctx.cache(reg.by_group_kind(GROUP, "WorkloadProfile"))
        self.varsets = ctx.cache(reg.by_group_kind(GROUP, "VariableSet"))
        self.namespaces = ctx.cache(ctx.kinds.namespace)
        self.definitions = {k: ctx.cache(reg.by_group_kind(GROUP, k)) for k in DEFINITION_KINDS}
        self.definition_kinds = [reg.by_group_kind(GROUP, k) for k in DEFINITION_KINDS]
        # Bumped by any definition change: a namespace's catalog is rebuilt only then.
        self._definitions_version = 0
        for cache in self.definitions.values():
            cache.add_handler(self._definitions_changed)
        # Bumped by any change to anything a request reads besides the deployment itself,
        # its Environment and other deployments' outputs: while it stays the same, so does
        # every deployment's request (the reconciler's "nothing changed" check reads it).
        self.epoch = 0
        for cache in (self.revisions, self.profiles, self.varsets, self.namespaces):
            cache.add_handler(self._inputs_changed)
        self._by_namespace: dict[str, tuple[int, str | None, tuple[dict[str, Any], str]]] = {}
        self._hashes: dict[str, tuple[str, str]] = {}
        self._needs: dict[str, _Needs] = {}
        self._catalogs: dict[tuple[str, ...], tuple[dict[str, dict[str, Any]], str]] = {}

    # -- lookups ----------------------------------------------------------------------------

    def tenant_of(self, namespace: str) -> str | None:
        ns = self.namespaces.get(namespace)
        tenant = labels(ns).get(TENANT_LABEL) if ns else None
        return tenant or None

    def search_namespaces(self, wd: Obj) -> list[str]:
        ns = str(wd["metadata"]["namespace"])
        bundle = (wd.get("spec") or {}).get("profileBundleRef") or {}
        order = [str(bundle.get("namespace") or ns) if bundle else ns, ns]
        tenant = self.tenant_of(ns)
        if tenant:
            order.append(tenant_namespace(tenant))
        order.append(SYSTEM_NAMESPACE)
        return list(dict.fromkeys(order))

    def profile(self, wd: Obj) -> tuple[Obj, str, int]:
        """The profile snapshot to render, the DefinitionRevision's key, and its revision."""
        ref = (wd.get("spec") or {}).get("workloadProfileRef") or {}
        name = str(ref.get("name"))
        pinned = ref.get("revision")
        namespaces = self.search_namespaces(wd)
        for ns in namespaces:
            rev = int(pinned) if pinned else self._latest(ns, name)
            if rev is None:
                continue
            key = f"{ns}/{revision_name(name, rev)}"
            snap = self.revisions.get(key)
            if snap is None or labels(snap).get(SOURCE_KIND_LABEL) != "WorkloadProfile":
                continue
            content = (snap.get("spec") or {}).get("workloadProfile") or {}
            live = self.profiles.get(f"{ns}/{name}")
            profile: Obj = {
                "apiVersion": "axle.dev/v1alpha1",
                "kind": "WorkloadProfile",
                "metadata": {
                    "name": name,
                    "namespace": ns,
                    **({"labels": labels(live)} if live and labels(live) else {}),
                },
                "spec": content.get("spec") or {},
            }
            return profile, key, rev
        want = f"{name} revision {pinned}" if pinned else name
        raise Waiting(
            "ProfileNotFound",
            f"waiting for workload profile {want} (looked in {', '.join(namespaces)})",
        )

    def _latest(self, ns: str, name: str) -> int | None:
        live = self.profiles.get(f"{ns}/{name}")
        latest = ((live or {}).get("status") or {}).get("latestRevision") or {}
        return int(latest["revision"]) if latest.get("revision") else None

    def _spec_hash(self, obj: Obj) -> str:
        m = obj["metadata"]
        uid, rv = str(m.get("uid") or m["name"]), str(m.get("resourceVersion") or "")
        memo = self._hashes.get(uid)
        if memo is not None and memo[0] == rv:
            return memo[1]
        digest = hashlib.sha256(canonical(obj.get("spec") or {})).hexdigest()
        self._hashes[uid] = (rv, digest)
        return digest

    def _definitions_changed(self, old: Obj | None, new: Obj | None) -> None:
        self._definitions_version += 1
        self.epoch += 1

    def _inputs_changed(self, old: Obj | None, new: Obj | None) -> None:
        self.epoch += 1

    def catalog(self, namespace: str) -> tuple[dict[str, dict[str, Any]], str]:
        """The definitions a deployment in `namespace` renders with, and their digest."""
        tenant = self.tenant_of(namespace)
        memo = self._by_namespace.get(namespace)
        if memo is not None and memo[0] == self._definitions_version and memo[1] == tenant:
            return memo[2]
        found = self._catalog(namespace, tenant)
        self._by_namespace[namespace] = (self._definitions_version, tenant, found)
        return found

    def _catalog(self, namespace: str, tenant: str | None) -> tuple[dict[str, dict[str, Any]], str]:
        order = [SYSTEM_NAMESPACE]
        if tenant:
            order.append(tenant_namespace(tenant))
        order.append(namespace)
        order = list(dict.fromkeys(order))
        chosen: dict[tuple[str, str], Obj] = {}
        for kind, cache in self.definitions.items():
            for ns in order:
                for obj in cache.list(ns):
                    if not obj["metadata"].get("deletionTimestamp"):
                        chosen[(kind, obj["metadata"]["name"])] = obj
        ident = tuple(
            f"{kind}/{name}/{self._spec_hash(obj)}/{obj['metadata'].get('namespace')}"
            for (kind, name), obj in sorted(chosen.items())
        )
        memo = self._catalogs.get(ident)
        if memo is not None:
            return memo
        catalog: dict[str, dict[str, Any]] = {k: {} for k in DEFINITION_KINDS}
        for (kind, name), obj in sorted(chosen.items()):
            catalog[kind][name] = {
                "apiVersion": obj.get("apiVersion", "axle.dev/v1alpha1"),
                "kind": kind,
                "metadata": {"name": name, "namespace": obj["metadata"].get("namespace")},
                "spec": obj.get("spec") or {},
            }
        digest = "sha256:" + hashlib.sha256("\n".join(ident).encode()).hexdigest()
        if len(self._catalogs) > 256:
            self._catalogs.clear()
        self._catalogs[ident] = (catalog, digest)
        return catalog, digest

    def _variables(self, namespace: str) -> list[Any]:
        vs = self.varsets.get(f"{namespace}/{VARIABLE_SET_NAME}")
        return list(((vs or {}).get("spec") or {}).get("variables") or [])

    def needs(self, profile_key: str, profile: Obj) -> _Needs:
        """The hub outputs a profile's macros read (memoized: snapshots are immutable)."""
        memo = self._needs.get(profile_key)
        if memo is not None:
            return memo
        defs: set[tuple[str, str]] = set()
        objs: set[str] = set()
        try:
            refs = find_macros((profile.get("spec") or {}).get("workload") or {})
        except ApiError:
            refs = []  # the render reports malformed macros with their field paths
        for ref in refs:
            macro = ref.macro
            if macro.kind != "hub":
                continue
            if macro.namespace == "def":
                defs.add((macro.names[0], ".".join(macro.names[1:])))
            elif macro.namespace == "obj":
                objs.add(macro.names[0])
        needs = _Needs(tuple(sorted(defs)), tuple(sorted(objs)))
        self._needs[profile_key] = needs
        return needs

    def _outputs(self, wd: Obj, needs: _Needs) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
        ns, me = wd["metadata"]["namespace"], wd["metadata"]["name"]
        defs: dict[str, dict[str, Any]] = {}
        objs: dict[str, Any] = {}
        if not needs.defs and not needs.objs:
            return defs, objs
        others = [
            o for o in self.wds.by_index(REPORTING_OUTPUTS, ns) if o["metadata"]["name"] != me
        ]
        reported = [((o.get("status") or {}).get("outputs") or {}) for o in others]
        missing: list[str] = []
        for comp, out in needs.defs:
            for r in reported:
                values = (r.get("def") or {}).get(comp) or {}
                if out in values:
                    defs.setdefault(comp, {})[out] = values[out]
                    break
            else:
                missing.append(f".def.{comp}.{out}")
        for out in needs.objs:
            for r in reported:
                if out in (r.get("obj") or {}):
                    objs[out] = r["obj"][out]
                    break
            else:
                missing.append(f".obj.{out}")
        if missing:
            raise Waiting(
                "WaitingForOutputs",
                f"waiting for output {', '.join(missing)} from another workload in {ns}",
            )
        return defs, objs

    # -- the request --------------------------------------------------------------------------

    def gather(self, wd: Obj, env: Obj | None) -> Inputs:
        """The render request of `wd`; raises `Waiting` when an input is not there yet."""
        m = wd["metadata"]
        ns, name = str(m["namespace"]), str(m["name"])
        spec = wd.get("spec") or {}
        profile, profile_key, profile_rev = self.profile(wd)
        revision = int(spec.get("revision") or profile_rev)
        env_name = str((spec.get("environmentRef") or {}).get("name") or "")
        refs = ((env or {}).get("spec") or {}).get("computePoolRefs") or []
        pool = str(refs[0]["name"]) if refs else env_name
        needs = self.needs(profile_key, profile)
        def_outputs, obj_outputs = self._outputs(wd, needs)
        catalog, catalog_digest = self.catalog(ns)
        workload = str((spec.get("aiWorkloadRef") or {}).get("name") or name)
        bundle = (spec.get("profileBundleRef") or {}).get("name") or "deployment"
        layers: list[tuple[str, list[Any]]] = [
            ("system", self._variables(SYSTEM_NAMESPACE)),
            ("project", self._variables(ns)),
            (f"bundle {bundle}", list(spec.get("bundleVariables") or [])),
        ]
        request = RenderRequest(
            what=f"{ns}/{name}",
            profile=profile,
            definitions=catalog,
            definitions_digest=catalog_digest,
            layers=layers,
            values=dict(spec.get("variables") or {}),
            definition_outputs=def_outputs,
            object_outputs=obj_outputs,
            system={
                "workloadName": workload,
                "workloadDeployment": name,
                "namespace": ns,
                "project": ns,
                "environment": env_name,
                "pool": pool,
            },
            context={"name": workload, "namespace": ns},
            # The request holds the profile's revision, never the owner's: an AIWorkload
            # revision that leaves this profile's inputs unchanged (another profile's
            # variable, or a rollback to earlier inputs) has the same input digest and
            # renders the same bytes, so the same artifact, and the spokes re-apply nothing.
            revision=profile_rev,
        )
        return Inputs(
            request=request,
            revision=revision,
            pool=pool,
            consumes=bool(needs.defs or needs.objs),
            profile_revision=profile_rev,
        )


def output_values(outputs: Mapping[str, Any] | None) -> bool:
    """Whether a deployment reports any outputs (others may read them)."""
    return bool(outputs and ((outputs.get("def") or {}) or (outputs.get("obj") or {})))
