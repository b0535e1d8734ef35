"""A user who may write RoleBindings can grant what they hold, and nothing more, through the API.

The escalation rule lives in `rbac_escalation`; this checks that the request pipeline hands
admission the authorizer, so the rule is decided rather than refused outright.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.server.conftest import Hub

RBAC = "/apis/rbac.authorization.k8s.io/v1"


async def _grant(hub: Hub, ns: str) -> str:
    token = hub.user("delegator", ["delegators"])
    async with hub.client() as admin:
        await admin.post("/api/v1/namespaces", json={"metadata": {"name": ns}})
        role = {
            "metadata": {"name": "delegate", "namespace": ns},
            "rules": [
                {
                    "apiGroups": ["rbac.authorization.k8s.io"],
                    "resources": ["rolebindings"],
                    "verbs": ["create", "get"],
                },
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]},
            ],
        }
        r = await admin.post(f"{RBAC}/namespaces/{ns}/roles", json=role)
        assert r.status_code == 201, r.text
        for name, rules in (
            ("read-cm", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]),
            ("read-secrets", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]),
        ):
            r = await admin.post(
                f"{RBAC}/namespaces/{ns}/roles",
                json={"metadata": {"name": name, "namespace": ns}, "rules": rules},
            )
            assert r.status_code == 201, r.text
        binding = {
            "metadata": {"name": "delegators", "namespace": ns},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "delegate",
            },
            "subjects": [
                {"kind": "Group", "name": "delegators", "apiGroup": "rbac.authorization.k8s.io"}
            ],
        }
        r = await admin.post(f"{RBAC}/namespaces/{ns}/rolebindings", json=binding)
        assert r.status_code == 201, r.text
    return token


def _binding(ns: str, name: str, role: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
        "subjects": [{"kind": "User", "name": "someone", "apiGroup": "rbac.authorization.k8s.io"}],
    }


async def test_grant_what_you_hold_but_not_more(hub: Hub) -> None:
    ns = "delegation"
    token = await _grant(hub, ns)
    async with hub.client(token) as http:
        deadline = time.monotonic() + 10
        while True:  # the authorizer's watch catches up with the binding just written
            r = await http.post(
                f"{RBAC}/namespaces/{ns}/rolebindings", json=_binding(ns, "ok", "read-cm")
            )
            if r.status_code != 403 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.02)
        assert r.status_code == 201, r.text
        r = await http.post(
            f"{RBAC}/namespaces/{ns}/rolebindings", json=_binding(ns, "escalate", "read-secrets")
        )
        assert r.status_code == 403, r.text
        assert "not currently held" in r.json()["message"]
