"""Kubernetes RBAC authorization of hub requests, decided in memory on every request.

The authorizer keeps Roles, ClusterRoles, RoleBindings and ClusterRoleBindings from the store
in memory (list, then watch, relisting after `410 Gone` and resuming after any other error), and
answers `authorize(attrs)` without I/O. Semantics follow Kubernetes' RBAC authorizer
(k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac) rule for rule:

- A rule matches a resource request when its `verbs` (or `*`), `apiGroups` (or `*`) and
  `resources` match, and `resourceNames` is empty or holds the object's name. A resource is
  `plural` or `plural/subresource`; `*` matches all, `*/status` any resource's status.
- A non-resource request (`/version`, `/apis`, ...) matches `nonResourceURLs` exactly, `*`,
  or by prefix for an entry ending in `*`; only ClusterRoleBindings grant those.
- A RoleBinding grants, in its own namespace only, the rules of a Role of that namespace or of
  a ClusterRole. A ClusterRoleBinding grants a ClusterRole's rules everywhere.
- Subjects: `User` (by name), `Group` (by group), `ServiceAccount` (the user
  `system:serviceaccount:NS:NAME`, NS defaulting to the RoleBinding's namespace).
- Group `system:masters` is allowed everything. Every authenticated user may `get` the
  discovery and health URLs (Kubernetes' `system:discovery` and `system:public-info-viewer`
  ClusterRoles bound to `system:authenticated`) and create self access reviews
  (`system:basic-user`); these built-in grants live here rather than in the store, so they
  cannot be deleted by accident.
- ClusterRoles with an `aggregationRule` get the rules of every ClusterRole their selectors
  match, as the Kubernetes aggregation controller would write them.

Why shaped so: authorization runs on every request, so bindings are indexed by subject (and,
for RoleBindings, by namespace); a decision looks only at the bindings naming the user or one
of its groups, and compares against rules pre-compiled into frozensets; decisions are
remembered until the next RBAC change. The indexes are replaced, never mutated in place, so a
reader on another thread always sees a consistent view.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import axle.api.kinds  # noqa: F401  (registers the RBAC kinds)
from axle.api.registry import REGISTRY, KindInfo
from axle.errors import Forbidden, Gone
from axle.server.auth import AUTHENTICATED_GROUP, MASTERS_GROUP, UserInfo
from axle.store.base import Obj, Store, Watch

log = logging.getLogger(__name__)

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
_LIST_PAGE = 500
_MAX_BACKOFF = 5.0
_DECISION_CACHE_SIZE = 10_000

SubjectKey = tuple[str, str]  # ("User", name) or ("Group", name)


@dataclass(frozen=True)
class Attributes:
    """One request as RBAC sees it; `path` is set (and resource fields empty) for non-resource
    requests such as `/version`. `group` is the canonical group (`axle.dev`, never an alias)."""

    user: UserInfo
    verb: str
    group: str
    resource: str
    subresource: str | None = None
    namespace: str | None = None
    name: str | None = None
    path: str | None = None

    @property
    def is_resource_request(self) -> bool:
        return self.path is None


class Authorizer(Protocol):
    """What the rest of the server needs of an authorizer: one decision per request.

    `RBACAuthorizer` is the implementation; the request pipeline, the self reviews and the
    escalation check (which also needs an aggregated ClusterRole's effective rules) depend
    only on this, so tests can hand them a stand-in."""

    def authorize(self, attrs: Attributes) -> tuple[bool, str]: ...

    def cluster_role_rules(self, name: str) -> list[Mapping[str, Any]] | None: ...


def _strings(value: Any) -> frozenset[str]:
    if not isinstance(value, list):
        return frozenset()
    return frozenset(v for v in value if isinstance(v, str))


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """A compiled `rbac.authorization.k8s.io/v1` PolicyRule."""

    verbs: frozenset[str]
    api_groups: frozenset[str]
    resources: frozenset[str]
    resource_names: frozenset[str]
    non_resource_urls: frozenset[str]
    # Derived once so that matching is set lookups only.
    star_subresources: frozenset[str] = field(default=frozenset())
    url_prefixes: tuple[str, ...] = ()
    # The rule as written (for escalation checks and messages); not part of its identity.
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> PolicyRule:
        resources = _strings(raw.get("resources"))
        urls = _strings(raw.get("nonResourceURLs"))
        return cls(
            verbs=_strings(raw.get("verbs")),
            # PaletteAI's role templates name `spectrocloud.com`; requests carry the canonical
            # group, so rules are compared in canonical groups too.
            api_groups=frozenset(
                REGISTRY.canonical_group(g) for g in _strings(raw.get("apiGroups"))
            ),
            resources=resources,
            resource_names=_strings(raw.get("resourceNames")),
            non_resource_urls=urls,
            star_subresources=frozenset(r[2:] for r in resources if r.startswith("*/")),
            url_prefixes=tuple(sorted(u.rstrip("*") for u in urls if u.endswith("*"))),
            raw=dict(raw),
        )

    def allows(self, attrs: Attributes) -> bool:
        if "*" not in self.verbs and attrs.verb not in self.verbs:
            return False
        if attrs.path is not None:
            return self._url_matches(attrs.path)
        if "*" not in self.api_groups and attrs.group not in self.api_groups:
            return False
        if not self._resource_matches(attrs.resource, attrs.subresource):
            return False
        return not self.resource_names or (attrs.name or "") in self.resource_names

    def _resource_matches(self, resource: str, subresource: str | None) -> bool:
        resources = self.resources
        if "*" in resources:
            return True
        if subresource:
            return f"{resource}/{subresource}" in resources or subresource in self.star_subresources
        return resource in resources

    def _url_matches(self, path: str) -> bool:
        urls = self.non_resource_urls
        if "*" in urls or path in urls:
            return True
        return any(path.startswith(prefix) for prefix in self.url_prefixes)


def compile_rules(raw_rules: Any) -> tuple[PolicyRule, ...]:
    if not isinstance(raw_rules, list):
        return ()
    return tuple(PolicyRule.from_dict(r) for r in raw_rules if isinstance(r, Mapping))


def _q(value: str) -> str:
    """Quote like Go's %q (for the ASCII names Kubernetes allows, JSON quoting is the same)."""
    return json.dumps(value)


@dataclass(frozen=True, slots=True)
class _Subject:
    key: SubjectKey
    description: str  # `User "alice"`, `Group "g"`, `ServiceAccount "sa/ns"`


@dataclass(frozen=True, slots=True)
class _Binding:
    kind: str  # RoleBinding | ClusterRoleBinding
    namespace: str  # "" for a ClusterRoleBinding
    name: str
    role_kind: str
    role_name: str
    subjects: tuple[_Subject, ...]

    def describe(self, subject: _Subject) -> str:
        name = f"{self.name}/{self.namespace}" if self.namespace else self.name
        return (
            f"{self.kind} {_q(name)} of {self.role_kind} {_q(self.role_name)} "
            f"to {subject.description}"
        )

    @classmethod
    def from_object(cls, kind: str, obj: Obj) -> _Binding:
        meta = obj.get("metadata") or {}
        namespace = str(meta.get("namespace") or "") if kind == "RoleBinding" else ""
        ref = obj.get("roleRef") or {}
        subjects: list[_Subject] = []
        for s in obj.get("subjects") or []:
            if not isinstance(s, Mapping):
                continue
            s_kind, s_name = s.get("kind"), s.get("name")
            if not isinstance(s_name, str) or not s_name:
                continue
            if s_kind == "User":
                subjects.append(_Subject(("User", s_name), f"User {_q(s_name)}"))
            elif s_kind == "Group":
                subjects.append(_Subject(("Group", s_name), f"Group {_q(s_name)}"))
            elif s_kind == "ServiceAccount":
                sa_ns = str(s.get("namespace") or namespace)
                if not sa_ns:  # a ClusterRoleBinding must name the account's namespace
                    continue
                user = f"system:serviceaccount:{sa_ns}:{s_name}"
                subjects.append(
                    _Subject(("User", user), f"ServiceAccount {_q(s_name + '/' + sa_ns)}")
                )
        return cls(
            kind=kind,
            namespace=namespace,
            name=str(meta.get("name") or ""),
            role_kind=str(ref.get("kind") or ""),
            role_name=str(ref.get("name") or ""),
            subjects=tuple(subjects),
        )


# Kubernetes' bootstrap grants to every authenticated user (system:discovery,
# system:public-info-viewer, system:basic-user), as (describer, rules).
_BOOTSTRAP_DISCOVERY = compile_rules(
    [
        {
            "verbs": ["get"],
            "nonResourceURLs": [
                "/api",
                "/api/*",
                "/apis",
                "/apis/*",
                "/healthz",
                "/livez",
                "/openapi",
                "/openapi/*",
                "/readyz",
                "/version",
                "/version/",
            ],
        }
    ]
)
_BOOTSTRAP_BASIC_USER = compile_rules(
    [
        {
            "verbs": ["create"],
            "apiGroups": ["authorization.k8s.io"],
            "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
        },
        {
            "verbs": ["create"],
            "apiGroups": ["authentication.k8s.io"],
            "resources": ["selfsubjectreviews"],
        },
    ]
)
_BOOTSTRAP: tuple[tuple[str, tuple[PolicyRule, ...]], ...] = (
    (
        f'ClusterRoleBinding "system:discovery" of ClusterRole "system:discovery" '
        f"to Group {_q(AUTHENTICATED_GROUP)}",
        _BOOTSTRAP_DISCOVERY,
    ),
    (
        f'ClusterRoleBinding "system:basic-user" of ClusterRole "system:basic-user" '
        f"to Group {_q(AUTHENTICATED_GROUP)}",
        _BOOTSTRAP_BASIC_USER,
    ),
)


def forbidden_error(attrs: Attributes, reason: str = "") -> Forbidden:
    """The 403 Kubernetes returns for a denied request, message and details alike."""
    user = attrs.user.name
    if attrs.path is not None:
        msg = f"User {_q(user)} cannot {attrs.verb} path {_q(attrs.path)}"
    else:
        resource = attrs.resource
        if attrs.subresource:
            resource = f"{resource}/{attrs.subresource}"
        msg = (
            f"User {_q(user)} cannot {attrs.verb} resource {_q(resource)} "
            f"in API group {_q(attrs.group)}"
        )
        if attrs.namespace:
            msg += f" in the namespace {_q(attrs.namespace)}"
        else:
            msg += " at the cluster scope"
    if reason:
        msg = f"{msg}: {reason}"
    if attrs.path is not None or not attrs.resource:
        return Forbidden(f"forbidden: {msg}")
    qualified = f"{attrs.resource}.{attrs.group}" if attrs.group else attrs.resource
    if attrs.name:
        message = f"{qualified} {_q(attrs.name)} is forbidden: {msg}"
    else:
        message = f"{qualified} is forbidden: {msg}"
    return Forbidden(
        message,
        kind=attrs.resource,
        name=attrs.name or None,
        group=attrs.group or None,
    )


def _selector_matches(selector: Any, labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector (matchLabels + matchExpressions) against labels."""
    if not isinstance(selector, Mapping):
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op = expr.get("key"), expr.get("operator")
        values = set(expr.get("values") or [])
        present = key in labels
        if op == "In":
            ok = present and labels[key] in values
        elif op == "NotIn":
            ok = not present or labels[key] not in values
        elif op == "Exists":
            ok = present
        elif op == "DoesNotExist":
            ok = not present
        else:
            return False
        if not ok:
            return False
    return True


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _ns(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")


class RBACAuthorizer:
    """Decides requests from in-memory copies of the RBAC objects, kept current by watches."""

    def __init__(self, store: Store, *, kinds: Mapping[str, KindInfo] | None = None) -> None:
        self._store = store
        self._kinds = dict(kinds) if kinds is not None else None
        # Raw objects, by key, so that every index can be rebuilt from them.
        self._roles: dict[tuple[str, str], tuple[PolicyRule, ...]] = {}
        self._cluster_role_objs: dict[str, Obj] = {}
        self._cluster_roles: dict[str, tuple[PolicyRule, ...]] = {}
        # ClusterRole name -> (resourceVersion, its own compiled rules); see `_aggregate`.
        self._compiled: dict[str, tuple[str, tuple[PolicyRule, ...]]] = {}
        self._bindings: dict[tuple[str, str, str], _Binding] = {}  # (kind, ns, name)
        # subject -> ClusterRoleBinding names; subject -> namespace -> RoleBinding names.
        self._crb_index: dict[SubjectKey, frozenset[str]] = {}
        self._rb_index: dict[SubjectKey, dict[str, frozenset[str]]] = {}
        # Decisions since the last change of any RBAC object: requests repeat, and a dict
        # lookup is cheaper than walking the bindings. Any change empties it.
        self._decisions: dict[Attributes, tuple[bool, str]] = {}
        self._generation = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._watches: dict[str, Watch] = {}

    # --- lifecycle ------------------------------------------------------------------------

    def _resolve_kinds(self) -> dict[str, KindInfo]:
        if self._kinds is None:
            self._kinds = {k: REGISTRY.by_group_kind(RBAC_GROUP, k) for k in RBAC_KINDS}
        return self._kinds

    async def start(self) -> None:
        """Load every RBAC object, then follow changes in the background."""
        kinds = self._resolve_kinds()
        revisions = {kind: await self._relist(kind, kinds[kind]) for kind in RBAC_KINDS}
        for kind in RBAC_KINDS:
            task = asyncio.create_task(
                self._follow(kind, kinds[kind], revisions[kind]), name=f"rbac-watch-{kind}"
            )
            self._tasks.append(task)

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for watch in list(self._watches.values()):
            await watch.close()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _relist(self, kind: str, info: KindInfo) -> str:
        items: list[Obj] = []
        token: str | None = None
        while True:
            page = await self._store.list(info, None, limit=_LIST_PAGE, continue_token=token)
            items.extend(page.items)
            token = page.continue_token
            if not token:
                self._replace(kind, items)
                return page.resource_version

    async def _follow(self, kind: str, info: KindInfo, revision: str | None) -> None:
        backoff = 0.05
        while True:
            try:
                if revision is None:
                    revision = await self._relist(kind, info)
                watch = self._store.watch(info, None, resource_version=revision)
                self._watches[kind] = watch
                seen = False
                try:
                    async for event in watch:
                        seen = True
                        if event.type != "BOOKMARK":
                            self._apply(kind, event.type, event.object)
                        revision = str(event.resource_version)
                finally:
                    self._watches.pop(kind, None)
                    await watch.close()
                if seen:
                    backoff = 0.05
                    continue
            except asyncio.CancelledError:
                raise
            except Gone:
                log.info("rbac: %s watch expired, relisting", kind)
                revision = None
            except Exception:
                log.exception("rbac: %s watch failed; resuming", kind)
            # A watch that failed, expired or ended without an event is retried after a growing
            # delay, so that a store that keeps failing is not hammered in a tight loop.
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)

    # --- index maintenance ----------------------------------------------------------------

    def _replace(self, kind: str, items: Iterable[Obj]) -> None:
        """Make the index of one kind exactly `items` (after a (re)list), in one pass: the
        new maps are built aside and swapped in, so a relist of many bindings stays linear."""
        self._changed()
        if kind == "Role":
            self._roles = {(_ns(obj), _name(obj)): compile_rules(obj.get("rules")) for obj in items}
        elif kind == "ClusterRole":
            self._cluster_role_objs = {_name(obj): obj for obj in items}
            self._aggregate()
        else:
            bindings = {k: b for k, b in self._bindings.items() if k[0] != kind}
            for obj in items:
                key = (kind, _ns(obj) if kind == "RoleBinding" else "", _name(obj))
                bindings[key] = _Binding.from_object(kind, obj)
            crb: dict[SubjectKey, set[str]] = {}
            rb: dict[SubjectKey, dict[str, set[str]]] = {}
            for (b_kind, b_ns, b_name), binding in bindings.items():
                for subject in {s.key for s in binding.subjects}:
                    if b_kind == "ClusterRoleBinding":
                        crb.setdefault(subject, set()).add(b_name)
                    else:
                        rb.setdefault(subject, {}).setdefault(b_ns, set()).add(b_name)
            self._bindings = bindings
            self._crb_index = {k: frozenset(v) for k, v in crb.items()}
            self._rb_index = {
                k: {ns: frozenset(names) for ns, names in per_ns.items()}
                for k, per_ns in rb.items()
            }

    def _changed(self) -> None:
        self._generation += 1
        self._decisions = {}

    def _apply(self, kind: str, type_: str, obj: Obj) -> None:
        self._changed()
        name, namespace = _name(obj), _ns(obj)
        deleted = type_ == "DELETED"
        if kind == "Role":
            roles = dict(self._roles)
            if deleted:
                roles.pop((namespace, name), None)
            else:
                roles[(namespace, name)] = compile_rules(obj.get("rules"))
            self._roles = roles
        elif kind == "ClusterRole":
            objs = dict(self._cluster_role_objs)
            if deleted:
                objs.pop(name, None)
            else:
                objs[name] = obj
            self._cluster_role_objs = objs
            self._aggregate()
        else:
            key = (kind, namespace if kind == "RoleBinding" else "", name)
            self._remove_binding(key)
            if not deleted:
                self._add_binding(key, _Binding.from_object(kind, obj))

    def _aggregate(self) -> None:
        """Compile every ClusterRole, giving aggregated ones the rules of those they select."""
        objs = self._cluster_role_objs
        # Each ClusterRole's own rules are compiled once per resourceVersion: every spoke adds
        # a ClusterRole, and recompiling all of them on each one made joining 1,000 spokes
        # quadratic.
        compiled: dict[str, tuple[str, tuple[PolicyRule, ...]]] = {}
        for name, o in objs.items():
            rv = str((o.get("metadata") or {}).get("resourceVersion") or "")
            hit = self._compiled.get(name)
            if hit is None or not rv or hit[0] != rv:
                hit = (rv, compile_rules(o.get("rules")))
            compiled[name] = hit
        self._compiled = compiled
        own = {name: rules for name, (_, rules) in compiled.items()}
        selectors = {
            name: (o.get("aggregationRule") or {}).get("clusterRoleSelectors") or []
            for name, o in objs.items()
            if isinstance(o.get("aggregationRule"), Mapping)
        }

        def effective(name: str, visiting: frozenset[str]) -> tuple[PolicyRule, ...]:
            if name not in selectors:
                return own[name]
            rules: dict[PolicyRule, None] = {}
            for other, o in objs.items():
                if other == name or other in visiting:
                    continue
                labels = (o.get("metadata") or {}).get("labels") or {}
                if any(_selector_matches(sel, labels) for sel in selectors[name]):
                    rules.update(dict.fromkeys(effective(other, visiting | {name})))
            return tuple(rules)

        self._cluster_roles = {name: effective(name, frozenset()) for name in objs}

    def _add_binding(self, key: tuple[str, str, str], binding: _Binding) -> None:
        bindings = dict(self._bindings)
        bindings[key] = binding
        self._bindings = bindings
        for subject in {s.key for s in binding.subjects}:
            self._index(subject, key, add=True)

    def _remove_binding(self, key: tuple[str, str, str]) -> None:
        binding = self._bindings.get(key)
        if binding is None:
            return
        bindings = dict(self._bindings)
        del bindings[key]
        self._bindings = bindings
        for subject in {s.key for s in binding.subjects}:
            self._index(subject, key, add=False)

    def _index(self, subject: SubjectKey, key: tuple[str, str, str], *, add: bool) -> None:
        kind, namespace, name = key
        if kind == "ClusterRoleBinding":
            crb = dict(self._crb_index)
            names = set(crb.get(subject, ()))
            if add:
                names.add(name)
            else:
                names.discard(name)
            if names:
                crb[subject] = frozenset(names)
            else:
                crb.pop(subject, None)
            self._crb_index = crb
            return
        rb = dict(self._rb_index)
        per_ns = dict(rb.get(subject, {}))
        names = set(per_ns.get(namespace, ()))
        if add:
            names.add(name)
        else:
            names.discard(name)
        if names:
            per_ns[namespace] = frozenset(names)
        else:
            per_ns.pop(namespace, None)
        if per_ns:
            rb[subject] = per_ns
        else:
            rb.pop(subject, None)
        self._rb_index = rb

    # --- decisions ------------------------------------------------------------------------

    def authorize(self, attrs: Attributes) -> tuple[bool, str]:
        """(allowed, reason) for one request, from memory only."""
        decision = self._decisions.get(attrs)
        if decision is not None:
            return decision
        generation = self._generation
        decision = self._decide(attrs)
        # Remember it only if no RBAC object changed meanwhile (another thread may be
        # applying a change while this one decides).
        if generation == self._generation:
            if len(self._decisions) >= _DECISION_CACHE_SIZE:
                self._decisions = {}
            self._decisions[attrs] = decision
        return decision

    def _decide(self, attrs: Attributes) -> tuple[bool, str]:
        user = attrs.user
        if MASTERS_GROUP in user.groups:
            return True, f"allowed: member of group {_q(MASTERS_GROUP)}"
        # Anyone who reached authorization is authenticated.
        for describer, rules in _BOOTSTRAP:
            for rule in rules:
                if rule.allows(attrs):
                    return True, f"RBAC: allowed by {describer}"
        errors: list[str] = []
        crb_index, rb_index = self._crb_index, self._rb_index
        bindings = self._bindings
        cluster_roles, roles = self._cluster_roles, self._roles
        keys: list[SubjectKey] = [("User", user.name)]
        keys.extend(("Group", g) for g in user.groups)
        namespace = attrs.namespace or ""
        for key in keys:
            for name in crb_index.get(key, ()):
                binding = bindings.get(("ClusterRoleBinding", "", name))
                if binding is None:  # removed while this request was being decided
                    continue
                if binding.role_kind != "ClusterRole":
                    errors.append(f"unsupported role reference kind: {_q(binding.role_kind)}")
                    continue
                crules = cluster_roles.get(binding.role_name)
                if crules is None:
                    errors.append(
                        f"clusterrole.rbac.authorization.k8s.io {_q(binding.role_name)} not found"
                    )
                    continue
                for rule in crules:
                    if rule.allows(attrs):
                        return True, self._allowed(binding, key)
            if not namespace:
                continue
            per_ns = rb_index.get(key)
            if not per_ns:
                continue
            for name in per_ns.get(namespace, ()):
                binding = bindings.get(("RoleBinding", namespace, name))
                if binding is None:
                    continue
                if binding.role_kind == "Role":
                    rrules = roles.get((namespace, binding.role_name))
                    missing = f"role.rbac.authorization.k8s.io {_q(binding.role_name)} not found"
                elif binding.role_kind == "ClusterRole":
                    rrules = cluster_roles.get(binding.role_name)
                    missing = (
                        f"clusterrole.rbac.authorization.k8s.io {_q(binding.role_name)} not found"
                    )
                else:
                    errors.append(f"unsupported role reference kind: {_q(binding.role_kind)}")
                    continue
                if rrules is None:
                    errors.append(missing)
                    continue
                for rule in rrules:
                    if rule.allows(attrs):
                        return True, self._allowed(binding, key)
        if errors:
            # Formatted as Kubernetes' error aggregate: one error bare, several in brackets.
            unique = list(dict.fromkeys(errors))
            joined = unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"
            return False, f"RBAC: {joined}"
        return False, ""

    @staticmethod
    def _allowed(binding: _Binding, key: SubjectKey) -> str:
        subject = next(s for s in binding.subjects if s.key == key)
        return f"RBAC: allowed by {binding.describe(subject)}"

    def cluster_role_rules(self, name: str) -> list[Mapping[str, Any]] | None:
        """A ClusterRole's effective rules as written (aggregation applied); None if absent."""
        rules = self._cluster_roles.get(name)
        return None if rules is None else [r.raw for r in rules]

    def forbidden_error(self, attrs: Attributes, reason: str = "") -> Forbidden:
        return forbidden_error(attrs, reason)

    @property
    def binding_count(self) -> int:
        return len(self._bindings)
