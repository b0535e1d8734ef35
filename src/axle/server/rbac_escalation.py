"""RBAC privilege-escalation prevention: nobody grants a permission they do not hold.

Kubernetes refuses to let a user create or update a Role or ClusterRole with rules the user
does not hold (unless allowed the `escalate` verb on it), or a RoleBinding or
ClusterRoleBinding to a role whose rules the user does not hold where the binding applies
(unless allowed the `bind` verb on that role). Without this, anyone who may write RoleBindings
in a namespace could bind themselves to any ClusterRole. This module is that check, run by
`admission_plugins.validate_admission` on writes of the four RBAC kinds.

Why shaped so: a rule is expanded into its atomic permissions (verb x group x resource x name,
or verb x URL) and each is asked of the authorizer as a request whose fields may be `*`. A
`*` in a request is matched only by a `*` (or `*/sub`) in the user's rules, which is
Kubernetes' "covers" relation, so the authorizer's one matching routine answers both questions
and the two can never disagree. RBAC writes are rare, so the expansion's cost does not matter.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from axle.api.registry import REGISTRY, KindInfo
from axle.errors import Forbidden, NotFound
from axle.server.auth import UserInfo
from axle.server.rbac import RBAC_GROUP, Attributes, Authorizer
from axle.store.base import Obj, Store

_PLURALS = {
    "Role": "roles",
    "ClusterRole": "clusterroles",
    "RoleBinding": "rolebindings",
    "ClusterRoleBinding": "clusterrolebindings",
}


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _describe(rule: Mapping[str, Any]) -> str:
    """A rule as Kubernetes prints it in escalation errors: `{APIGroups:[""], ...}`."""
    parts = []
    for key, label in (
        ("apiGroups", "APIGroups"),
        ("resources", "Resources"),
        ("resourceNames", "ResourceNames"),
        ("nonResourceURLs", "NonResourceURLs"),
        ("verbs", "Verbs"),
    ):
        values = _strings(rule.get(key))
        if values:
            parts.append(f"{label}:[{' '.join(json.dumps(v) for v in values)}]")
    return "{" + ", ".join(parts) + "}"


def uncovered_rules(
    authorizer: Authorizer,
    user: UserInfo,
    namespace: str | None,
    rules: Iterable[Mapping[str, Any]],
) -> list[str]:
    """The rules (described) granting something `user` does not hold in `namespace` (None:
    cluster-wide)."""
    missing: list[str] = []
    for rule in rules:
        if not _rule_covered(authorizer, user, namespace, rule):
            missing.append(_describe(rule))
    return missing


def _rule_covered(
    authorizer: Authorizer, user: UserInfo, namespace: str | None, rule: Mapping[str, Any]
) -> bool:
    verbs = _strings(rule.get("verbs"))
    for url in _strings(rule.get("nonResourceURLs")):
        for verb in verbs:
            attrs = Attributes(user=user, verb=verb, group="", resource="", path=url)
            if not authorizer.authorize(attrs)[0]:
                return False
    names: list[str | None] = list(_strings(rule.get("resourceNames"))) or [None]
    for group in _strings(rule.get("apiGroups")):
        for resource in _strings(rule.get("resources")):
            plural, _, sub = resource.partition("/")
            for verb in verbs:
                for name in names:
                    attrs = Attributes(
                        user=user,
                        verb=verb,
                        group=REGISTRY.canonical_group(group),
                        resource=plural,
                        subresource=sub or None,
                        namespace=namespace,
                        name=name,
                    )
                    if not authorizer.authorize(attrs)[0]:
                        return False
    return True


def _may(
    authorizer: Authorizer,
    user: UserInfo,
    verb: str,
    plural: str,
    namespace: str | None,
    name: str,
) -> bool:
    attrs = Attributes(
        user=user,
        verb=verb,
        group=RBAC_GROUP,
        resource=plural,
        namespace=namespace,
        name=name,
    )
    return authorizer.authorize(attrs)[0]


def _forbidden(info: KindInfo, name: str, message: str) -> Forbidden:
    return Forbidden(
        f'{info.plural}.{info.group} "{name}" is forbidden: {message}',
        kind=info.plural,
        name=name or None,
        group=info.group,
    )


def _who(user: UserInfo) -> str:
    groups = " ".join(json.dumps(g) for g in user.groups)
    return f"user {json.dumps(user.name)} (groups=[{groups}])"


async def check_escalation(
    authorizer: Authorizer, store: Store, info: KindInfo, obj: Obj, user: UserInfo
) -> None:
    """Refuse (Forbidden) a Role/ClusterRole/binding write that grants more than `user` has."""
    if info.group != RBAC_GROUP or info.kind not in _PLURALS:
        return
    meta = obj.get("metadata") or {}
    name = str(meta.get("name") or "")
    namespace = (str(meta.get("namespace") or "") or None) if info.namespaced else None

    if info.kind in ("Role", "ClusterRole"):
        if _may(authorizer, user, "escalate", info.plural, namespace, name):
            return
        if info.kind == "ClusterRole" and obj.get("aggregationRule"):
            everything = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]
            if uncovered_rules(authorizer, user, None, everything):
                raise _forbidden(
                    info, name, "must have cluster-admin privileges to use the aggregationRule"
                )
            return
        rules = [r for r in obj.get("rules") or [] if isinstance(r, Mapping)]
    else:
        ref = obj.get("roleRef") or {}
        role_kind = str(ref.get("kind") or "")
        role_name = str(ref.get("name") or "")
        if role_kind not in ("Role", "ClusterRole"):
            return  # the schema refuses it; nothing is granted
        role_plural = _PLURALS[role_kind]
        role_ns = namespace if role_kind == "Role" else None
        if _may(authorizer, user, "bind", role_plural, namespace, role_name):
            return
        role_info = REGISTRY.by_group_kind(RBAC_GROUP, role_kind)
        try:
            role = await store.get(role_info, role_ns, role_name)
        except NotFound as exc:
            raise NotFound(
                f'{role_plural}.{RBAC_GROUP} "{role_name}" not found',
                kind=role_plural,
                name=role_name,
                group=RBAC_GROUP,
            ) from exc
        rules = [r for r in role.get("rules") or [] if isinstance(r, Mapping)]
        if role_kind == "ClusterRole" and role.get("aggregationRule"):
            # What binding it grants is what the authorizer aggregated, not the stored list.
            rules = authorizer.cluster_role_rules(role_name) or rules

    missing = uncovered_rules(authorizer, user, namespace, rules)
    if missing:
        raise _forbidden(
            info,
            name,
            f"{_who(user)} is attempting to grant RBAC permissions not currently held:\n"
            + "\n".join(missing),
        )
