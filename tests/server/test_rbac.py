"""RBAC authorization, table-driven against Kubernetes' semantics, and the Forbidden Status."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import axle.api.kinds  # noqa: F401  (registers the RBAC kinds)
from axle.api.registry import REGISTRY, KindInfo
from axle.errors import Gone
from axle.server.auth import UserInfo
from axle.server.rbac import Attributes, RBACAuthorizer, forbidden_error
from axle.store import open_store
from axle.store.base import ListResult, Obj, Store, StoreEvent

RBAC = "rbac.authorization.k8s.io"
RBAC_API = f"{RBAC}/v1"
RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")


def rbac_kinds() -> dict[str, KindInfo]:
    return {kind: REGISTRY.by_group_kind(RBAC, kind) for kind in RBAC_KINDS}


class FakeWatch:
    def __init__(self, store: FakeStore, kind: str, since: int) -> None:
        self.store, self.kind, self.since = store, kind, since
        self.queue: asyncio.Queue[StoreEvent | Exception | None] = asyncio.Queue()
        if since < store.compacted_to:
            self.queue.put_nowait(Gone("too old resource version"))
        else:
            for kind_, ev in store.log:
                if kind_ == kind and ev.resource_version > since:
                    self.queue.put_nowait(ev)
        store.watchers.append(self)

    def __aiter__(self) -> AsyncIterator[StoreEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[StoreEvent]:
        while True:
            item = await self.queue.get()
            if item is None:
                return
            if isinstance(item, Exception):
                raise item
            yield item

    async def close(self) -> None:
        if self in self.store.watchers:
            self.store.watchers.remove(self)
        self.queue.put_nowait(None)


class FakeStore:
    """Just enough of the Store protocol for the authorizer: list, watch, writes, compaction."""

    def __init__(self) -> None:
        self.rev = 0
        self.objects: dict[tuple[str, str, str], Obj] = {}
        self.log: list[tuple[str, StoreEvent]] = []
        self.watchers: list[FakeWatch] = []
        self.compacted_to = 0

    def _emit(self, info: KindInfo, type_: Any, obj: Obj) -> Obj:
        self.rev += 1
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self.rev)
        ev = StoreEvent(type=type_, object=obj, resource_version=self.rev)
        self.log.append((info.kind, ev))
        for w in list(self.watchers):
            if w.kind == info.kind:
                w.queue.put_nowait(ev)
        return obj

    @staticmethod
    def _key(info: KindInfo, obj: Obj) -> tuple[str, str, str]:
        m = obj["metadata"]
        return (info.kind, m.get("namespace") or "", m["name"])

    async def create(self, info: KindInfo, obj: Obj, *, dry_run: bool = False) -> Obj:
        stored = self._emit(info, "ADDED", obj)
        self.objects[self._key(info, obj)] = stored
        return stored

    async def update(self, info: KindInfo, obj: Obj, **_: Any) -> Obj:
        stored = self._emit(info, "MODIFIED", obj)
        self.objects[self._key(info, obj)] = stored
        return stored

    async def delete(self, info: KindInfo, namespace: str | None, name: str, **_: Any) -> Obj:
        obj = self.objects.pop((info.kind, namespace or "", name))
        return self._emit(info, "DELETED", obj)

    async def list(self, info: KindInfo, namespace: str | None = None, **_: Any) -> ListResult:
        items = [
            copy.deepcopy(o) for (k, _n, _m), o in sorted(self.objects.items()) if k == info.kind
        ]
        return ListResult(items=items, resource_version=str(self.rev))

    def watch(
        self,
        info: KindInfo,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        **_: Any,
    ) -> FakeWatch:
        return FakeWatch(self, info.kind, int(resource_version or 0))

    async def compact_all(self) -> None:
        """Drop the whole change log and expire every open watch (like a 410 Gone)."""
        self.compacted_to = self.rev
        self.log.clear()
        for w in list(self.watchers):
            w.queue.put_nowait(Gone("expired"))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    st = open_store("sqlite:///" + str(tmp_path / "db"))
    await st.start()
    yield st
    await st.close()


def _meta(name: str, namespace: str | None = None) -> dict[str, Any]:
    return {"name": name, **({"namespace": namespace} if namespace else {})}


def cluster_role(name: str, rules: list[dict[str, Any]]) -> Obj:
    return {"apiVersion": RBAC_API, "kind": "ClusterRole", "metadata": _meta(name), "rules": rules}


def role(namespace: str, name: str, rules: list[dict[str, Any]]) -> Obj:
    return {
        "apiVersion": RBAC_API,
        "kind": "Role",
        "metadata": _meta(name, namespace),
        "rules": rules,
    }


def _subjects(subjects: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [
        {"kind": k, "name": n, **({"apiGroup": RBAC} if k != "ServiceAccount" else {})}
        for k, n in subjects
    ]


def binding(
    namespace: str, name: str, role_kind: str, role_name: str, subjects: list[tuple[str, str]]
) -> Obj:
    return {
        "apiVersion": RBAC_API,
        "kind": "RoleBinding",
        "metadata": _meta(name, namespace),
        "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": role_name},
        "subjects": _subjects(subjects),
    }


def cluster_binding(name: str, role_name: str, subjects: list[tuple[str, str]]) -> Obj:
    return {
        "apiVersion": RBAC_API,
        "kind": "ClusterRoleBinding",
        "metadata": _meta(name),
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role_name},
        "subjects": _subjects(subjects),
    }


AUTH = "system:authenticated"


def user(name: str, *groups: str) -> UserInfo:
    return UserInfo(name, (*groups, AUTH))


ALICE = user("alice", "g1")
BOB = user("bob")
CAROL = user("carol")
DAVE = user("dave")
FRANK = user("frank")
OPS = user("oscar", "ops")
SUPER = user("sue", "superusers")
ROOT = UserInfo("root", ("system:masters",))
SA_A = user("system:serviceaccount:ns-a:builder", "system:serviceaccounts")
SA_B = user("system:serviceaccount:ns-b:builder", "system:serviceaccounts")
PLATFORM = user("pat", "acme-platform")

READ = ["get", "list", "watch"]

OBJECTS: list[tuple[str, dict[str, Any]]] = [
    (
        "ClusterRole",
        cluster_role(
            "reader", [{"apiGroups": [""], "resources": ["pods", "configmaps"], "verbs": READ}]
        ),
    ),
    (
        "ClusterRole",
        cluster_role(
            "tenant-admin", [{"apiGroups": ["axle.dev"], "resources": ["*"], "verbs": ["*"]}]
        ),
    ),
    (
        "ClusterRole",
        cluster_role("urls", [{"nonResourceURLs": ["/metrics", "/logs/*"], "verbs": ["get"]}]),
    ),
    (
        "ClusterRole",
        cluster_role("all", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]),
    ),
    # A PaletteAI-style rule naming the alias group.
    (
        "ClusterRole",
        cluster_role(
            "palette-style",
            [
                {
                    "apiGroups": ["spectrocloud.com"],
                    "resources": ["aiworkloads"],
                    "verbs": ["create"],
                }
            ],
        ),
    ),
    (
        "Role",
        role(
            "ns-a",
            "cm-editor",
            [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "update"]}],
        ),
    ),
    (
        "Role",
        role(
            "ns-a",
            "one-secret",
            [
                {
                    "apiGroups": [""],
                    "resources": ["secrets"],
                    "resourceNames": ["s1"],
                    "verbs": ["get"],
                }
            ],
        ),
    ),
    (
        "Role",
        role(
            "ns-a",
            "status-writer",
            [{"apiGroups": ["axle.dev"], "resources": ["*/status"], "verbs": ["update"]}],
        ),
    ),
    (
        "Role",
        role(
            "ns-a",
            "proj-status",
            [
                {
                    "apiGroups": ["axle.dev"],
                    "resources": ["projects/status"],
                    "verbs": ["update", "patch"],
                }
            ],
        ),
    ),
    ("RoleBinding", binding("ns-a", "alice-reader", "ClusterRole", "reader", [("User", "alice")])),
    ("RoleBinding", binding("ns-a", "alice-cm", "Role", "cm-editor", [("User", "alice")])),
    ("RoleBinding", binding("ns-a", "g1-secret", "Role", "one-secret", [("Group", "g1")])),
    ("RoleBinding", binding("ns-a", "alice-status", "Role", "status-writer", [("User", "alice")])),
    ("RoleBinding", binding("ns-a", "frank-status", "Role", "proj-status", [("User", "frank")])),
    (
        "RoleBinding",
        binding("ns-a", "sa-reader", "ClusterRole", "reader", [("ServiceAccount", "builder")]),
    ),
    # A RoleBinding finds a Role only in its own namespace: cm-editor exists in ns-a only.
    ("RoleBinding", binding("ns-b", "dave-cm", "Role", "cm-editor", [("User", "dave")])),
    (
        "RoleBinding",
        binding("ns-b", "bob-missing", "ClusterRole", "no-such-role", [("User", "bob")]),
    ),
    (
        "RoleBinding",
        binding(
            "proj", "platform-palette", "ClusterRole", "palette-style", [("Group", "acme-platform")]
        ),
    ),
    ("ClusterRoleBinding", cluster_binding("carol-tenant", "tenant-admin", [("User", "carol")])),
    ("ClusterRoleBinding", cluster_binding("ops-urls", "urls", [("Group", "ops")])),
    ("ClusterRoleBinding", cluster_binding("super", "all", [("Group", "superusers")])),
]


@pytest.fixture
async def authz(store: Store) -> AsyncIterator[RBACAuthorizer]:
    for kind, obj in OBJECTS:
        await store.create(rbac_kinds()[kind], obj)
    a = RBACAuthorizer(store)  # kinds from the registry
    await a.start()
    yield a
    await a.stop()


def res(
    u: UserInfo,
    verb: str,
    resource: str,
    ns: str | None = None,
    name: str | None = None,
    group: str = "",
    sub: str | None = None,
) -> Attributes:
    return Attributes(
        user=u,
        verb=verb,
        group=group,
        resource=resource,
        subresource=sub,
        namespace=ns,
        name=name,
    )


def url(u: UserInfo, path: str, verb: str = "get") -> Attributes:
    return Attributes(user=u, verb=verb, group="", resource="", path=path)


CASES: list[tuple[str, Attributes, bool]] = [
    # A ClusterRole bound by a RoleBinding grants only in the binding's namespace.
    ("clusterrole via rolebinding", res(ALICE, "get", "pods", "ns-a", "p"), True),
    ("list in own ns", res(ALICE, "list", "configmaps", "ns-a"), True),
    ("namespace isolation", res(ALICE, "get", "pods", "ns-b", "p"), False),
    ("rolebinding grants nothing cluster-wide", res(ALICE, "list", "pods"), False),
    ("verb not granted", res(ALICE, "delete", "pods", "ns-a", "p"), False),
    ("api group must match", res(ALICE, "get", "pods", "ns-a", "p", group="apps"), False),
    ("resource must match", res(ALICE, "get", "secrets", "ns-a", "s9"), False),
    ("role via rolebinding", res(ALICE, "create", "configmaps", "ns-a"), True),
    ("role not in other ns", res(ALICE, "create", "configmaps", "ns-b"), False),
    # resourceNames
    ("group subject + resourceNames", res(ALICE, "get", "secrets", "ns-a", "s1"), True),
    ("resourceNames other name", res(ALICE, "get", "secrets", "ns-a", "s2"), False),
    ("resourceNames never match list", res(ALICE, "list", "secrets", "ns-a"), False),
    # subresources
    ("*/status", res(ALICE, "update", "projects", "ns-a", "p", "axle.dev", "status"), True),
    (
        "*/status not the main resource",
        res(ALICE, "update", "projects", "ns-a", "p", "axle.dev"),
        False,
    ),
    (
        "*/status not other subresources",
        res(ALICE, "update", "projects", "ns-a", "p", "axle.dev", "scale"),
        False,
    ),
    (
        "resource/subresource",
        res(FRANK, "patch", "projects", "ns-a", "p", "axle.dev", "status"),
        True,
    ),
    (
        "resource/subresource other resource",
        res(FRANK, "update", "tenants", "ns-a", "t", "axle.dev", "status"),
        False,
    ),
    (
        "resource/subresource not main",
        res(FRANK, "update", "projects", "ns-a", "p", "axle.dev"),
        False,
    ),
    # ClusterRoleBindings grant everywhere; wildcards
    ("crb cluster scope", res(CAROL, "delete", "tenants", None, "acme", "axle.dev"), True),
    ("crb in any namespace", res(CAROL, "create", "projects", "ns-x", None, "axle.dev"), True),
    (
        "crb * resources includes subresources",
        res(CAROL, "update", "projects", "n", "p", "axle.dev", "status"),
        True,
    ),
    ("crb group-limited", res(CAROL, "delete", "pods", "ns-a", "p"), False),
    ("all wildcards", res(SUPER, "deletecollection", "deployments", "x", None, "apps"), True),
    ("resource wildcards do not grant URLs", url(SUPER, "/metrics"), False),
    # non-resource URLs
    ("nonResourceURL exact", url(OPS, "/metrics"), True),
    ("nonResourceURL prefix", url(OPS, "/logs/kubelet/x"), True),
    ("nonResourceURL prefix needs the slash", url(OPS, "/logsx"), False),
    ("nonResourceURL bare prefix", url(OPS, "/logs"), False),
    ("nonResourceURL verb", url(OPS, "/metrics", "post"), False),
    ("nonResourceURL not granted", url(ALICE, "/metrics"), False),
    # discovery, for every authenticated user
    ("discovery /api", url(BOB, "/api"), True),
    ("discovery /apis/group/version", url(BOB, "/apis/axle.dev/v1alpha1"), True),
    ("discovery /openapi/v3", url(BOB, "/openapi/v3"), True),
    ("discovery /openapi/v2", url(BOB, "/openapi/v2"), True),
    ("discovery /version", url(BOB, "/version"), True),
    ("health /healthz", url(BOB, "/healthz"), True),
    ("discovery is read-only", url(BOB, "/apis", "post"), False),
    ("other urls are not discovery", url(BOB, "/debug/pprof"), False),
    (
        "self access review",
        res(BOB, "create", "selfsubjectaccessreviews", None, None, "authorization.k8s.io"),
        True,
    ),
    # system:masters
    ("masters resource", res(ROOT, "delete", "namespaces", None, "axle-system"), True),
    ("masters url", url(ROOT, "/anything", "delete"), True),
    # RoleBinding -> Role looked up in the binding's namespace only
    ("role of another namespace", res(DAVE, "create", "configmaps", "ns-b"), False),
    ("missing role", res(BOB, "get", "pods", "ns-b", "p"), False),
    # ServiceAccount subjects default to the binding's namespace
    ("service account", res(SA_A, "get", "pods", "ns-a", "p"), True),
    ("service account of another ns", res(SA_B, "get", "pods", "ns-a", "p"), False),
    # The spectrocloud.com alias authorizes as axle.dev, both in requests and in rules.
    (
        "alias rule, canonical request",
        res(PLATFORM, "create", "aiworkloads", "proj", None, "axle.dev"),
        True,
    ),
    (
        "alias request canonicalised",
        res(
            PLATFORM,
            "create",
            "aiworkloads",
            "proj",
            None,
            REGISTRY.canonical_group("spectrocloud.com"),
        ),
        True,
    ),
    (
        "alias rule other verb",
        res(PLATFORM, "delete", "aiworkloads", "proj", "w", "axle.dev"),
        False,
    ),
]


@pytest.mark.parametrize(("what", "attrs", "allowed"), CASES, ids=[c[0] for c in CASES])
async def test_decisions(
    authz: RBACAuthorizer, what: str, attrs: Attributes, allowed: bool
) -> None:
    got, reason = authz.authorize(attrs)
    assert got is allowed, (what, reason)
    if allowed:
        assert reason


def test_spectrocloud_alias_is_canonical_group() -> None:
    # The server passes REGISTRY.canonical_group(url group) as Attributes.group.
    assert REGISTRY.canonical_group("spectrocloud.com") == "axle.dev"


async def test_allowed_reason_names_the_binding(authz: RBACAuthorizer) -> None:
    ok, reason = authz.authorize(res(ALICE, "get", "pods", "ns-a", "p"))
    assert ok
    assert reason == (
        'RBAC: allowed by RoleBinding "alice-reader/ns-a" of ClusterRole "reader" to User "alice"'
    )
    ok, reason = authz.authorize(res(SA_A, "get", "pods", "ns-a", "p"))
    assert reason.endswith('to ServiceAccount "builder/ns-a"')


async def test_denied_reason_names_missing_roles(authz: RBACAuthorizer) -> None:
    ok, reason = authz.authorize(res(BOB, "get", "pods", "ns-b", "p"))
    assert not ok
    assert reason == 'RBAC: clusterrole.rbac.authorization.k8s.io "no-such-role" not found'
    ok, reason = authz.authorize(res(DAVE, "create", "configmaps", "ns-b"))
    assert reason == 'RBAC: role.rbac.authorization.k8s.io "cm-editor" not found'
    assert authz.authorize(res(ALICE, "delete", "pods", "ns-a", "p")) == (False, "")


def test_forbidden_message_cluster_scope() -> None:
    attrs = res(user("alice"), "delete", "tenants", None, "acme", "axle.dev")
    err = forbidden_error(attrs)
    assert err.message == (
        'tenants.axle.dev "acme" is forbidden: User "alice" cannot delete resource "tenants" '
        'in API group "axle.dev" at the cluster scope'
    )
    status = err.to_status()
    assert status["code"] == 403 and status["reason"] == "Forbidden"
    assert status["details"] == {"name": "acme", "group": "axle.dev", "kind": "tenants"}


def test_forbidden_message_namespaced_core_list_and_subresource() -> None:
    err = forbidden_error(res(user("vera"), "list", "secrets", "team-a"))
    assert err.message == (
        'secrets is forbidden: User "vera" cannot list resource "secrets" in API group "" '
        'in the namespace "team-a"'
    )
    assert err.to_status()["details"] == {"kind": "secrets"}
    err = forbidden_error(
        res(user("vera"), "update", "projects", "team-a", "p", "axle.dev", "status")
    )
    assert err.message == (
        'projects.axle.dev "p" is forbidden: User "vera" cannot update resource '
        '"projects/status" in API group "axle.dev" in the namespace "team-a"'
    )


def test_forbidden_message_non_resource_and_reason() -> None:
    err = forbidden_error(url(user("vera"), "/metrics"))
    assert err.message == 'forbidden: User "vera" cannot get path "/metrics"'
    assert "details" not in err.to_status()
    err = forbidden_error(res(user("bob"), "get", "pods", "ns-b", "p"), "RBAC: x not found")
    assert err.message.endswith('in the namespace "ns-b": RBAC: x not found')


async def test_method_form_of_forbidden_error(authz: RBACAuthorizer) -> None:
    attrs = res(user("alice"), "delete", "tenants", None, "acme", "axle.dev")
    assert authz.forbidden_error(attrs).message == forbidden_error(attrs).message


async def test_aggregated_cluster_roles(store: Store) -> None:
    kinds = rbac_kinds()
    agg = cluster_role("aggregate-view", [])
    agg["aggregationRule"] = {
        "clusterRoleSelectors": [
            {"matchLabels": {"rbac.axle.dev/aggregate-to-view": "true"}},
            {"matchExpressions": [{"key": "extra-view", "operator": "Exists"}]},
        ]
    }
    part1 = cluster_role("view-pods", [{"apiGroups": [""], "resources": ["pods"], "verbs": READ}])
    part1["metadata"]["labels"] = {"rbac.axle.dev/aggregate-to-view": "true"}
    part2 = cluster_role(
        "view-cms", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": READ}]
    )
    part2["metadata"]["labels"] = {"extra-view": "yes"}
    other = cluster_role("secrets", [{"apiGroups": [""], "resources": ["secrets"], "verbs": READ}])
    for obj in (agg, part1, part2, other):
        await store.create(kinds["ClusterRole"], obj)
    await store.create(
        kinds["ClusterRoleBinding"], cluster_binding("v", "aggregate-view", [("User", "vic")])
    )
    a = RBACAuthorizer(store, kinds=kinds)
    await a.start()
    try:
        vic = user("vic")
        assert a.authorize(res(vic, "get", "pods", "x", "p"))[0]
        assert a.authorize(res(vic, "list", "configmaps", "x"))[0]
        assert not a.authorize(res(vic, "list", "secrets", "x"))[0]
    finally:
        await a.stop()


async def wait_until(pred: Any, what: str, limit: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.005)


GET_PODS = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
LIST_PODS = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]


async def test_follows_live_changes(store: Store) -> None:
    kinds = rbac_kinds()
    a = RBACAuthorizer(store, kinds=kinds)
    await a.start()
    try:
        lee = user("lee", "devs")
        get = res(lee, "get", "pods", "ns-a", "p")
        assert not a.authorize(get)[0]

        await store.create(kinds["Role"], role("ns-a", "r", GET_PODS))
        await store.create(
            kinds["RoleBinding"], binding("ns-a", "b", "Role", "r", [("User", "lee")])
        )
        await wait_until(lambda: a.authorize(get)[0], "binding takes effect")

        await store.update(kinds["Role"], role("ns-a", "r", LIST_PODS))
        await wait_until(lambda: not a.authorize(get)[0], "role change takes effect")
        assert a.authorize(res(lee, "list", "pods", "ns-a"))[0]

        # Re-pointing the binding's subjects moves the grant from the user to a group.
        await store.update(
            kinds["RoleBinding"], binding("ns-a", "b", "Role", "r", [("Group", "other")])
        )
        await wait_until(
            lambda: not a.authorize(res(lee, "list", "pods", "ns-a"))[0], "subject change"
        )
        assert a.authorize(res(user("x", "other"), "list", "pods", "ns-a"))[0]

        await store.create(kinds["ClusterRole"], cluster_role("cr", GET_PODS))
        await store.create(
            kinds["ClusterRoleBinding"], cluster_binding("cb", "cr", [("Group", "devs")])
        )
        await wait_until(lambda: a.authorize(res(lee, "get", "pods", "ns-z", "p"))[0], "crb")

        # A ClusterRole's rules changing takes effect (compiled rules are kept per version).
        await store.update(kinds["ClusterRole"], cluster_role("cr", LIST_PODS))
        await wait_until(
            lambda: not a.authorize(res(lee, "get", "pods", "ns-z", "p"))[0], "cr rules change"
        )
        assert a.authorize(res(lee, "list", "pods", "ns-z"))[0]

        await store.delete(kinds["ClusterRole"], None, "cr")
        await wait_until(
            lambda: not a.authorize(res(lee, "get", "pods", "ns-z", "p"))[0], "cr gone"
        )
        await store.delete(kinds["ClusterRoleBinding"], None, "cb")
        await store.delete(kinds["RoleBinding"], "ns-a", "b")
        await wait_until(lambda: a.binding_count == 0, "bindings removed from the index")
        assert a._crb_index == {} and a._rb_index == {}
    finally:
        await a.stop()


async def test_relists_after_gone() -> None:
    store = FakeStore()
    kinds = rbac_kinds()
    await store.create(kinds["ClusterRole"], cluster_role("cr", GET_PODS))
    await store.create(kinds["ClusterRoleBinding"], cluster_binding("old", "cr", [("User", "ann")]))
    a = RBACAuthorizer(store, kinds=kinds)
    await a.start()
    try:
        kim = res(user("kim"), "get", "pods", "ns-a", "p")
        ann = res(user("ann"), "get", "pods", "ns-a", "p")
        assert a.authorize(ann)[0] and not a.authorize(kim)[0]
        # Changes the watch never delivers (lost to compaction): only a relist can find them.
        store.rev += 3
        store.objects[("Role", "ns-a", "r")] = role("ns-a", "r", GET_PODS)
        store.objects[("RoleBinding", "ns-a", "b")] = binding(
            "ns-a", "b", "Role", "r", [("User", "kim")]
        )
        del store.objects[("ClusterRoleBinding", "", "old")]
        await store.compact_all()
        await wait_until(lambda: a.authorize(kim)[0], "relist after 410 Gone")
        await wait_until(lambda: not a.authorize(ann)[0], "relist drops what was deleted")
        # And the watch carries on after the relist.
        await store.delete(kinds["RoleBinding"], "ns-a", "b")
        await wait_until(lambda: not a.authorize(kim)[0], "watch resumed after relist")
    finally:
        await a.stop()


async def test_resumes_after_watch_error() -> None:
    store = FakeStore()
    kinds = rbac_kinds()
    a = RBACAuthorizer(store, kinds=kinds)
    await a.start()
    try:
        for w in list(store.watchers):
            w.queue.put_nowait(RuntimeError("connection reset"))
        await store.create(kinds["ClusterRole"], cluster_role("cr", GET_PODS))
        await store.create(
            kinds["ClusterRoleBinding"], cluster_binding("cb", "cr", [("User", "kim")])
        )
        await wait_until(
            lambda: a.authorize(res(user("kim"), "get", "pods", "n", "p"))[0], "resume after error"
        )
    finally:
        await a.stop()
    assert store.watchers == []
