"""RBAC escalation prevention: a user grants (in roles or bindings) only what they hold."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import axle.api.kinds  # noqa: F401
from axle.api.registry import REGISTRY, KindInfo
from axle.errors import Forbidden, NotFound
from axle.server.admission_plugins import validate_admission
from axle.server.auth import UserInfo
from axle.server.rbac import RBACAuthorizer
from axle.store import open_store
from axle.store.base import Obj, Store

RBAC = "rbac.authorization.k8s.io"
API = f"{RBAC}/v1"
LEAD = UserInfo("lee", ("team-leads", "system:authenticated"))
EVERYTHING = "everything"
ADMIN = UserInfo("admin", ("system:masters", "system:authenticated"))


def k(kind: str) -> KindInfo:
    return REGISTRY.by_group_kind(RBAC, kind)


def rule(resources: list[str], verbs: list[str], group: str = "", **extra: Any) -> dict[str, Any]:
    return {"apiGroups": [group], "resources": resources, "verbs": verbs, **extra}


def role(name: str, rules: list[dict[str, Any]], ns: str | None = "team") -> Obj:
    meta: dict[str, Any] = {"name": name}
    if ns:
        meta["namespace"] = ns
    kind = "Role" if ns else "ClusterRole"
    return {"apiVersion": API, "kind": kind, "metadata": meta, "rules": rules}


def binding(
    name: str, role_kind: str, role_name: str, subject: tuple[str, str], ns: str | None = "team"
) -> Obj:
    meta: dict[str, Any] = {"name": name}
    if ns:
        meta["namespace"] = ns
    return {
        "apiVersion": API,
        "kind": "RoleBinding" if ns else "ClusterRoleBinding",
        "metadata": meta,
        "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": role_name},
        "subjects": [{"kind": subject[0], "name": subject[1], "apiGroup": RBAC}],
    }


CRUD = ["get", "list", "watch", "create", "update", "patch", "delete"]
# Note: verbs `*` on roles would include `escalate` and `bind`, as in Kubernetes.
LEAD_RULES = [
    rule(["roles", "rolebindings"], CRUD, RBAC),
    rule(["pods"], ["get", "list"]),
    rule(["secrets"], ["get"], resourceNames=["s1"]),
    rule(["projects/status"], ["update"], "axle.dev"),
]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[Store, RBACAuthorizer]]:
    store = open_store("sqlite:///" + str(tmp_path / "db"))
    await store.start()
    objects = [
        role("lead-role", LEAD_RULES),
        binding("leads", "Role", "lead-role", ("Group", "team-leads")),
        role("pod-reader", [rule(["pods"], ["get"])], ns=None),
        role("everything", [rule(["*"], ["*"], "*")], ns=None),
        # May bind `everything` (only that one) without holding it.
        role("binder", [rule(["clusterroles"], ["bind"], RBAC, resourceNames=[EVERYTHING])], None),
        binding("binders", "ClusterRole", "binder", ("User", "bea"), ns=None),
        role("escalator", [rule(["roles"], ["escalate"], RBAC)], ns=None),
        binding("escalators", "ClusterRole", "escalator", ("User", "eve"), ns=None),
        role("cr-writer", [rule(["clusterroles"], ["create"], RBAC), rule(["pods"], ["*"])], None),
        binding("cr-writers", "ClusterRole", "cr-writer", ("User", "carl"), ns=None),
    ]  # fmt: skip
    for ns in ("team", "other"):
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        await store.create(REGISTRY.by_group_kind("", "Namespace"), namespace)
    for obj in objects:
        await store.create(k(obj["kind"]), obj)
    authorizer = RBACAuthorizer(store)
    await authorizer.start()
    yield store, authorizer
    await authorizer.stop()
    await store.close()


async def check(env: tuple[Store, RBACAuthorizer], obj: Obj, user: UserInfo = LEAD) -> None:
    store, authorizer = env
    await validate_admission(
        store, k(obj["kind"]), obj, None, "CREATE", user, authorizer=authorizer
    )


@pytest.mark.parametrize(
    "rules",
    [
        [rule(["pods"], ["get"])],
        [rule(["pods"], ["get", "list"])],
        [rule(["secrets"], ["get"], resourceNames=["s1"])],
        [rule(["projects/status"], ["update"], "axle.dev")],
        [rule(["projects/status"], ["update"], "spectrocloud.com")],
        [rule(["rolebindings"], ["create", "delete"], RBAC)],
    ],
)
async def test_role_within_own_permissions(env: Any, rules: list[dict[str, Any]]) -> None:
    await check(env, role("ok", rules))


@pytest.mark.parametrize(
    ("rules", "shown"),
    [
        ([rule(["pods"], ["delete"])], '{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}'),
        ([rule(["pods"], ["*"])], 'Verbs:["*"]'),
        ([rule(["*"], ["get"])], 'Resources:["*"]'),
        ([rule(["pods"], ["get"], "*")], 'APIGroups:["*"]'),
        ([rule(["secrets"], ["get"], resourceNames=["s1", "s2"])], 'ResourceNames:["s1" "s2"]'),
        ([rule(["secrets"], ["get"])], 'Resources:["secrets"], Verbs:["get"]'),
        ([rule(["*/status"], ["update"], "axle.dev")], 'Resources:["*/status"]'),
        ([{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}], 'NonResourceURLs:["/metrics"]'),
    ],
)
async def test_role_beyond_own_permissions(
    env: Any, rules: list[dict[str, Any]], shown: str
) -> None:
    with pytest.raises(Forbidden) as err:
        await check(env, role("too-much", rules))
    message = err.value.message
    assert message.startswith(
        'roles.rbac.authorization.k8s.io "too-much" is forbidden: user "lee" '
        '(groups=["team-leads" "system:authenticated"]) is attempting to grant RBAC permissions '
        "not currently held:\n"
    )
    assert shown in message


async def test_permissions_held_in_another_namespace_do_not_count(env: Any) -> None:
    with pytest.raises(Forbidden):
        await check(env, role("elsewhere", [rule(["pods"], ["get"])], ns="other"))


async def test_binding_needs_the_roles_permissions(env: Any) -> None:
    await check(env, binding("b", "ClusterRole", "pod-reader", ("User", "x")))
    await check(env, binding("b", "Role", "lead-role", ("User", "x")))
    with pytest.raises(Forbidden) as err:
        await check(env, binding("b", "ClusterRole", "everything", ("User", "lee")))
    assert 'rolebindings.rbac.authorization.k8s.io "b" is forbidden' in err.value.message
    with pytest.raises(NotFound):
        await check(env, binding("b", "Role", "no-such-role", ("User", "x")))


async def test_bind_verb_allows_binding_without_holding(env: Any) -> None:
    bea = UserInfo("bea", ("system:authenticated",))
    await check(env, binding("b", "ClusterRole", "everything", ("User", "x")), bea)
    await check(env, binding("b", "ClusterRole", "everything", ("User", "x"), ns=None), bea)
    with pytest.raises(Forbidden):  # bind is granted for `everything` only
        await check(env, binding("b", "ClusterRole", "pod-reader", ("User", "x")), bea)


async def test_escalate_verb_allows_any_role(env: Any) -> None:
    eve = UserInfo("eve", ("system:authenticated",))
    await check(env, role("anything", [rule(["*"], ["*"], "*")]), eve)


async def test_cluster_roles_and_aggregation(env: Any) -> None:
    carl = UserInfo("carl", ("system:authenticated",))
    await check(env, role("pods-all", [rule(["pods"], ["delete"])], ns=None), carl)
    with pytest.raises(Forbidden):
        await check(env, role("secrets", [rule(["secrets"], ["get"])], ns=None), carl)
    aggregated = role("agg", [], ns=None)
    aggregated["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]}
    with pytest.raises(Forbidden) as err:
        await check(env, aggregated, carl)
    assert "aggregationRule" in err.value.message
    await check(env, aggregated, ADMIN)


async def test_admins_skip_and_missing_authorizer_fails_closed(env: Any) -> None:
    store, _ = env
    too_much = role("root", [rule(["*"], ["*"], "*")])
    await validate_admission(store, k("Role"), too_much, None, "CREATE", ADMIN)
    with pytest.raises(Forbidden):
        await validate_admission(store, k("Role"), too_much, None, "CREATE", LEAD)
    with pytest.raises(Forbidden):
        await validate_admission(
            store, k("Role"), role("small", [rule(["pods"], ["get"])]), None, "UPDATE", LEAD
        )


async def test_star_verbs_on_roles_include_escalate_and_bind(env: Any) -> None:
    store, _ = env
    owner = role("roles-owner", [rule(["roles", "rolebindings"], ["*"], RBAC)])
    await store.create(k("Role"), owner)
    await store.create(k("RoleBinding"), binding("owners", "Role", "roles-owner", ("User", "ow")))
    authorizer = RBACAuthorizer(store)
    await authorizer.start()
    try:
        ow = UserInfo("ow", ("system:authenticated",))
        big = role("big", [rule(["*"], ["*"], "*")])
        await validate_admission(store, k("Role"), big, None, "CREATE", ow, authorizer=authorizer)
        await store.create(k("Role"), big)
        b = binding("big", "Role", "big", ("User", "ow"))
        await validate_admission(
            store, k("RoleBinding"), b, None, "CREATE", ow, authorizer=authorizer
        )
    finally:
        await authorizer.stop()
