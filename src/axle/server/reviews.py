"""Self reviews: `kubectl auth can-i` (SelfSubjectAccessReview) and `kubectl auth whoami`
(SelfSubjectReview).

They are virtual resources, as in Kubernetes: a create that is answered and never stored, so
they are served here rather than declared as kinds in the registry (which lists what the
store keeps). The access review asks the same RBAC authorizer that guards every request, so
`kubectl auth can-i create projects -n team-a` answers exactly what a create would meet.
"""

from __future__ import annotations

from typing import Any

from axle.api.registry import Registry
from axle.errors import BadRequest, MethodNotAllowed
from axle.server.auth import UserInfo
from axle.server.rbac import Attributes, Authorizer

AUTHZ = ("authorization.k8s.io", "v1")
AUTHN = ("authentication.k8s.io", "v1")

# (group, version) -> discovery entries of the virtual resources served there.
DISCOVERY: dict[tuple[str, str], list[dict[str, Any]]] = {
    AUTHZ: [
        {
            "name": "selfsubjectaccessreviews",
            "singularName": "selfsubjectaccessreview",
            "namespaced": False,
            "kind": "SelfSubjectAccessReview",
            "verbs": ["create"],
        }
    ],
    AUTHN: [
        {
            "name": "selfsubjectreviews",
            "singularName": "selfsubjectreview",
            "namespaced": False,
            "kind": "SelfSubjectReview",
            "verbs": ["create"],
        }
    ],
}

_RESOURCES = {
    (AUTHZ[0], AUTHZ[1], "selfsubjectaccessreviews"),
    (AUTHN[0], AUTHN[1], "selfsubjectreviews"),
}


def is_review(group: str, version: str, resource: str) -> bool:
    return (group, version, resource) in _RESOURCES


def review(
    resource: str,
    method: str,
    body: dict[str, Any],
    user: UserInfo,
    authorizer: Authorizer,
    registry: Registry,
) -> dict[str, Any]:
    """Answer one review (the body of the 201 response)."""
    if method != "POST":
        raise MethodNotAllowed(f"{resource} only supports create")
    if resource == "selfsubjectreviews":
        return {
            "kind": "SelfSubjectReview",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": None},
            "status": {"userInfo": {"username": user.name, "groups": list(user.groups)}},
        }
    spec = body.get("spec")
    if not isinstance(spec, dict):
        raise BadRequest("a SelfSubjectAccessReview needs a spec")
    res = spec.get("resourceAttributes")
    non = spec.get("nonResourceAttributes")
    if isinstance(res, dict) == isinstance(non, dict):
        raise BadRequest(
            "exactly one of spec.resourceAttributes and spec.nonResourceAttributes is required"
        )
    if isinstance(res, dict):
        attrs = Attributes(
            user=user,
            verb=str(res.get("verb") or ""),
            group=registry.canonical_group(str(res.get("group") or "")),
            resource=str(res.get("resource") or ""),
            subresource=str(res.get("subresource") or "") or None,
            namespace=str(res.get("namespace") or "") or None,
            name=str(res.get("name") or "") or None,
        )
    else:
        assert isinstance(non, dict)
        attrs = Attributes(
            user=user,
            verb=str(non.get("verb") or ""),
            group="",
            resource="",
            path=str(non.get("path") or ""),
        )
    allowed, reason = authorizer.authorize(attrs)
    status: dict[str, Any] = {"allowed": bool(allowed)}
    if reason:
        status["reason"] = reason
    return {
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "spec": spec,
        "status": status,
    }
