"""PATCH semantics: JSON patch, merge patch and strategic merge patch against Kubernetes' rules.

The cases are Kubernetes' documented examples (RFC 6902, RFC 7386 appendix A, the
"update API objects in place using kubectl patch" task and apimachinery's strategic merge
patch conventions), run through `apply_patch` as the server runs them.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from axle.api.registry import KindInfo
from axle.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Invalid,
    RequestEntityTooLarge,
    UnsupportedMediaType,
)
from axle.server.patch import (
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    apply_patch,
    merge_patch,
    patch_types,
)

CONFIGMAP = KindInfo("", "v1", "ConfigMap", "configmaps", "configmap", True, has_status=False)
NAMESPACE = KindInfo("", "v1", "Namespace", "namespaces", "namespace", False)
ROLE = KindInfo("rbac.authorization.k8s.io", "v1", "Role", "roles", "role", True, has_status=False)
BINDING = KindInfo(
    "rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", "rolebinding", True
)
PROJECT = KindInfo("axle.dev", "v1alpha1", "Project", "projects", "project", True)

UID = "6f1c1a9e-0000-4000-8000-000000000001"


def configmap(**extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "cm",
            "namespace": "default",
            "uid": UID,
            "resourceVersion": "7",
            "labels": {"app": "web", "tier": "front"},
            "finalizers": ["a.example.com/one", "a.example.com/two"],
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Secret", "name": "s1", "uid": "u1"},
                {"apiVersion": "v1", "kind": "Secret", "name": "s2", "uid": "u2"},
            ],
        },
        "data": {"a": "1", "b": "2"},
    }
    obj.update(extra)
    return obj


def patched(info: KindInfo, current: dict[str, Any], patch: Any, ctype: str) -> dict[str, Any]:
    """Apply and check the stored object was not touched."""
    before = copy.deepcopy(current)
    out = apply_patch(info, current, json.dumps(patch).encode(), ctype)
    assert current == before
    return out


# --- JSON merge patch (RFC 7386) --------------------------------------------------------

RFC7386_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "expected"), RFC7386_EXAMPLES)
def test_merge_patch_rfc7386_appendix_a(target: Any, patch: Any, expected: Any) -> None:
    before = copy.deepcopy(target)
    assert merge_patch(target, patch) == expected
    assert target == before


def test_merge_patch_on_object_null_deletes_and_lists_replace() -> None:
    out = patched(
        CONFIGMAP,
        configmap(),
        {"metadata": {"labels": {"tier": None, "new": "x"}, "finalizers": ["z"]}, "data": None},
        MERGE_PATCH,
    )
    assert out["metadata"]["labels"] == {"app": "web", "new": "x"}
    assert out["metadata"]["finalizers"] == ["z"]  # merge patch replaces lists whole
    assert "data" not in out


def test_merge_patch_with_charset_parameter() -> None:
    out = patched(CONFIGMAP, configmap(), {"data": {"c": "3"}}, MERGE_PATCH + "; charset=utf-8")
    assert out["data"] == {"a": "1", "b": "2", "c": "3"}


def test_merge_patch_must_be_an_object() -> None:
    with pytest.raises(BadRequest):
        patched(CONFIGMAP, configmap(), ["not", "an", "object"], MERGE_PATCH)


def test_result_does_not_share_structure_with_current() -> None:
    current = configmap()
    out = apply_patch(CONFIGMAP, current, b'{"data": {"c": "3"}}', MERGE_PATCH)
    out["metadata"]["labels"]["app"] = "changed"
    assert current["metadata"]["labels"]["app"] == "web"


# --- JSON patch (RFC 6902) -------------------------------------------------------------

JSON_PATCH_CASES = [
    ([{"op": "add", "path": "/data/c", "value": "3"}], lambda o: o["data"].update(c="3")),
    ([{"op": "remove", "path": "/data/a"}], lambda o: o["data"].pop("a")),
    ([{"op": "replace", "path": "/data/a", "value": "9"}], lambda o: o["data"].update(a="9")),
    (
        [
            {"op": "test", "path": "/data/a", "value": "1"},
            {"op": "add", "path": "/data/t", "value": "ok"},
        ],
        lambda o: o["data"].update(t="ok"),
    ),
    (
        [{"op": "move", "from": "/data/a", "path": "/data/z"}],
        lambda o: o["data"].update(z=o["data"].pop("a")),
    ),
    (
        [{"op": "copy", "from": "/data/a", "path": "/data/z"}],
        lambda o: o["data"].update(z=o["data"]["a"]),
    ),
    (
        [{"op": "add", "path": "/metadata/finalizers/-", "value": "x"}],
        lambda o: o["metadata"]["finalizers"].append("x"),
    ),
    (
        [{"op": "add", "path": "/metadata/finalizers/0", "value": "x"}],
        lambda o: o["metadata"]["finalizers"].insert(0, "x"),
    ),
    (
        [{"op": "remove", "path": "/metadata/ownerReferences/0"}],
        lambda o: o["metadata"]["ownerReferences"].pop(0),
    ),
    (
        [{"op": "add", "path": "/metadata/annotations", "value": {"k/v": "1"}}],
        lambda o: o["metadata"].update(annotations={"k/v": "1"}),
    ),
    (
        [{"op": "add", "path": "/metadata/labels/a~1b", "value": "escaped"}],
        lambda o: o["metadata"]["labels"].update({"a/b": "escaped"}),
    ),
    ([], lambda o: None),
]


@pytest.mark.parametrize(("ops", "expect"), JSON_PATCH_CASES)
def test_json_patch_operations(ops: list[dict[str, Any]], expect: Any) -> None:
    expected = configmap()
    expect(expected)
    assert patched(CONFIGMAP, configmap(), ops, JSON_PATCH) == expected


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "test", "path": "/data/a", "value": "wrong"}],
        [{"op": "remove", "path": "/data/missing"}],
        [{"op": "replace", "path": "/spec/nothing", "value": 1}],
        [{"op": "add", "path": "/metadata/finalizers/9", "value": "x"}],
        [{"op": "move", "from": "/data/missing", "path": "/data/z"}],
        [
            {"op": "add", "path": "/data/c", "value": "3"},
            {"op": "test", "path": "/data/c", "value": "4"},
        ],
    ],
)
def test_json_patch_that_cannot_apply_is_422(ops: list[dict[str, Any]]) -> None:
    with pytest.raises(Invalid) as err:
        patched(CONFIGMAP, configmap(), ops, JSON_PATCH)
    assert err.value.code == 422


@pytest.mark.parametrize(
    "ops",
    [
        {"op": "add", "path": "/data/c", "value": "3"},
        ["add"],
        [{"path": "/data/a"}],
        [{"op": "frobnicate", "path": "/data/a"}],
        [{"op": "add", "path": "/data/a"}],
        [{"op": "add", "value": "x"}],
        [{"op": "move", "path": "/data/a"}],
    ],
)
def test_malformed_json_patch_is_400(ops: Any) -> None:
    with pytest.raises(BadRequest):
        patched(CONFIGMAP, configmap(), ops, JSON_PATCH)


def test_json_patch_replacing_root_with_non_object_is_400() -> None:
    with pytest.raises(BadRequest):
        patched(CONFIGMAP, configmap(), [{"op": "replace", "path": "", "value": 3}], JSON_PATCH)


def test_json_patch_operation_limit_is_413() -> None:
    ops = [{"op": "test", "path": "/kind", "value": "ConfigMap"}] * 10_001
    with pytest.raises(RequestEntityTooLarge):
        patched(CONFIGMAP, configmap(), ops, JSON_PATCH)


@pytest.mark.parametrize("ctype", [JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH])
@pytest.mark.parametrize("body", [b"", b"{", b"not json", b"\xff\xfe"])
def test_body_that_is_not_json_is_400(ctype: str, body: bytes) -> None:
    with pytest.raises(BadRequest):
        apply_patch(CONFIGMAP, configmap(), body, ctype)


# --- strategic merge patch ---------------------------------------------------------------

SMP_CASES: list[tuple[str, dict[str, Any], Any]] = [
    (
        "maps merge and null deletes",
        {"metadata": {"labels": {"tier": None, "x": "y"}}, "data": {"b": None, "c": "3"}},
        lambda o: (
            o["metadata"]["labels"].pop("tier"),
            o["metadata"]["labels"].update(x="y"),
            o["data"].pop("b"),
            o["data"].update(c="3"),
        ),
    ),
    (
        "finalizers are a set: union, patch items first",
        {"metadata": {"finalizers": ["a.example.com/two", "b.example.com/new"]}},
        lambda o: o["metadata"].update(
            finalizers=["a.example.com/one", "a.example.com/two", "b.example.com/new"]
        ),
    ),
    (
        "new finalizer alone goes before server-only ones",
        {"metadata": {"finalizers": ["z"]}},
        lambda o: o["metadata"].update(finalizers=["z", "a.example.com/one", "a.example.com/two"]),
    ),
    (
        "$deleteFromPrimitiveList removes from a set",
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a.example.com/one"]}},
        lambda o: o["metadata"].update(finalizers=["a.example.com/two"]),
    ),
    (
        "deleting the last set member drops the field",
        {
            "metadata": {
                "$deleteFromPrimitiveList/finalizers": ["a.example.com/one", "a.example.com/two"]
            }
        },
        lambda o: o["metadata"].pop("finalizers"),
    ),
    (
        "null removes a whole set",
        {"metadata": {"finalizers": None}},
        lambda o: o["metadata"].pop("finalizers"),
    ),
    (
        "$setElementOrder reorders a set",
        {
            "metadata": {
                "$setElementOrder/finalizers": ["a.example.com/two", "a.example.com/one"],
            }
        },
        lambda o: o["metadata"].update(finalizers=["a.example.com/two", "a.example.com/one"]),
    ),
    (
        "ownerReferences merge by uid",
        {"metadata": {"ownerReferences": [{"uid": "u2", "name": "renamed"}]}},
        lambda o: o["metadata"]["ownerReferences"][1].update(name="renamed"),
    ),
    (
        "ownerReferences: a new uid is added, before server-only items",
        {
            "metadata": {
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "Secret", "name": "s3", "uid": "u3"}
                ]
            }
        },
        lambda o: o["metadata"]["ownerReferences"].insert(
            0, {"apiVersion": "v1", "kind": "Secret", "name": "s3", "uid": "u3"}
        ),
    ),
    (
        "$setElementOrder places a new item",
        {
            "metadata": {
                "$setElementOrder/ownerReferences": [{"uid": "u1"}, {"uid": "u2"}, {"uid": "u3"}],
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "Secret", "name": "s3", "uid": "u3"}
                ],
            }
        },
        lambda o: o["metadata"]["ownerReferences"].append(
            {"apiVersion": "v1", "kind": "Secret", "name": "s3", "uid": "u3"}
        ),
    ),
    (
        "$patch: delete removes a list item by merge key",
        {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": "u1"}]}},
        lambda o: o["metadata"]["ownerReferences"].pop(0),
    ),
    (
        "$patch: replace in a list replaces it",
        {
            "metadata": {
                "ownerReferences": [
                    {"$patch": "replace"},
                    {"apiVersion": "v1", "kind": "Secret", "name": "only", "uid": "u9"},
                ]
            }
        },
        lambda o: o["metadata"].update(
            ownerReferences=[{"apiVersion": "v1", "kind": "Secret", "name": "only", "uid": "u9"}]
        ),
    ),
    (
        "$patch: replace in a map replaces it",
        {"data": {"$patch": "replace", "only": "this"}},
        lambda o: o.update(data={"only": "this"}),
    ),
    (
        "$patch: delete in a map removes it",
        {"metadata": {"labels": {"$patch": "delete"}}},
        lambda o: o["metadata"].pop("labels"),
    ),
    (
        "$patch: merge is the default",
        {"data": {"$patch": "merge", "c": "3"}},
        lambda o: o["data"].update(c="3"),
    ),
    (
        "$retainKeys drops unlisted keys before merging",
        {"data": {"$retainKeys": ["a", "c"], "c": "3"}},
        lambda o: o.update(data={"a": "1", "c": "3"}),
    ),
    (
        "a new field with directives inside is taken without them",
        {"binaryData": {"$patch": "merge", "k": "dmFsdWU=", "gone": None}},
        lambda o: o.update(binaryData={"k": "dmFsdWU="}),
    ),
]


@pytest.mark.parametrize(
    ("patch", "expect"), [c[1:] for c in SMP_CASES], ids=[c[0] for c in SMP_CASES]
)
def test_strategic_merge_patch(patch: dict[str, Any], expect: Any) -> None:
    expected = configmap()
    expect(expected)
    assert patched(CONFIGMAP, configmap(), patch, STRATEGIC_MERGE_PATCH) == expected


def role(rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "r", "namespace": "ns", "uid": UID},
        "rules": rules,
    }


def test_smp_replaces_role_rules() -> None:
    old = role([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}])
    new_rules = [{"apiGroups": ["axle.dev"], "resources": ["projects"], "verbs": ["list"]}]
    out = patched(ROLE, old, {"rules": new_rules}, STRATEGIC_MERGE_PATCH)
    assert out["rules"] == new_rules


def test_smp_replaces_rolebinding_subjects() -> None:
    old = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "b", "namespace": "ns"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
        "subjects": [{"kind": "User", "name": "alice"}, {"kind": "User", "name": "bob"}],
    }
    out = patched(
        BINDING, old, {"subjects": [{"kind": "Group", "name": "ops"}]}, STRATEGIC_MERGE_PATCH
    )
    assert out["subjects"] == [{"kind": "Group", "name": "ops"}]


def test_smp_namespace_conditions_merge_by_type_and_spec_finalizers_replace() -> None:
    ns = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "team"},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {
            "phase": "Active",
            "conditions": [
                {"type": "A", "status": "False"},
                {"type": "B", "status": "False"},
            ],
        },
    }
    patch = {
        "spec": {"finalizers": ["other"]},
        "status": {"conditions": [{"type": "B", "status": "True"}]},
    }
    out = patched(NAMESPACE, ns, patch, STRATEGIC_MERGE_PATCH)
    assert out["spec"]["finalizers"] == ["other"]
    assert out["status"]["conditions"] == [
        {"type": "A", "status": "False"},
        {"type": "B", "status": "True"},
    ]


# Observed: the live object and the body kubectl 1.32 sent for `kubectl apply -f` (captured
# from a stub server), when the manifest dropped data.b, finalizer x/a and owner u1 and added
# data.c, finalizer x/d and owner u3. data.z and finalizer x/c were set by someone else.
KUBECTL_LIVE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {
        "name": "cm",
        "namespace": "default",
        "uid": "u",
        "resourceVersion": "5",
        "finalizers": ["x/a", "x/b", "x/c"],
        "ownerReferences": [
            {"apiVersion": "v1", "kind": "Secret", "name": "s1", "uid": "u1"},
            {"apiVersion": "v1", "kind": "Secret", "name": "s2", "uid": "u2"},
        ],
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
    },
    "data": {"a": "1", "b": "2", "z": "server"},
}
KUBECTL_APPLY_BODY = (
    b'{"data":{"b":null,"c":"3"},"metadata":{"$deleteFromPrimitiveList/finalizers":["x/a"],'
    b'"$setElementOrder/finalizers":["x/b","x/d"],'
    b'"$setElementOrder/ownerReferences":[{"uid":"u2"},{"uid":"u3"}],'
    b'"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}\\n"},'
    b'"finalizers":["x/d"],"ownerReferences":[{"apiVersion":"v1","kind":"Secret","name":"s3",'
    b'"uid":"u3"},{"$patch":"delete","uid":"u1"}]}}'
)


def test_smp_sent_by_kubectl_client_side_apply() -> None:
    before = copy.deepcopy(KUBECTL_LIVE)
    out = apply_patch(CONFIGMAP, KUBECTL_LIVE, KUBECTL_APPLY_BODY, STRATEGIC_MERGE_PATCH)
    assert before == KUBECTL_LIVE
    assert out["data"] == {"a": "1", "c": "3", "z": "server"}
    # The applied finalizers in the applied order; the server-only one stays, after them.
    assert out["metadata"]["finalizers"] == ["x/b", "x/d", "x/c"]
    assert out["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Secret", "name": "s2", "uid": "u2"},
        {"apiVersion": "v1", "kind": "Secret", "name": "s3", "uid": "u3"},
    ]
    annotation = out["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    assert annotation == "{}\n"


@pytest.mark.parametrize(
    ("patch", "error"),
    [
        (["a list"], BadRequest),
        ({"data": {"$patch": "explode"}}, BadRequest),
        ({"metadata": {"ownerReferences": [{"name": "no uid"}]}}, BadRequest),
        ({"metadata": {"ownerReferences": [{"$patch": "delete", "name": "no uid"}]}}, BadRequest),
        ({"metadata": {"ownerReferences": [{"$patch": "merge", "uid": "u1"}]}}, BadRequest),
        ({"metadata": {"ownerReferences": ["not-an-object"]}}, BadRequest),
        ({"metadata": {"finalizers": [{"not": "a scalar"}]}}, BadRequest),
        ({"metadata": {"$deleteFromPrimitiveList/finalizers": "x"}}, BadRequest),
        ({"metadata": {"$setElementOrder/finalizers": "x"}}, BadRequest),
        ({"data": {"$retainKeys": "a"}}, BadRequest),
        ({"data": {"$retainKeys": ["a"], "b": "2"}}, Invalid),
        ({"$patch": "delete"}, BadRequest),
        ({"data": {"$frobnicate": "x"}}, BadRequest),
    ],
)
def test_bad_strategic_merge_patch(patch: Any, error: type[ApiError]) -> None:
    with pytest.raises(error):
        patched(CONFIGMAP, configmap(), patch, STRATEGIC_MERGE_PATCH)


def project() -> dict[str, Any]:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "Project",
        "metadata": {"name": "p", "namespace": "tenant-a", "uid": UID},
        "spec": {"tenant": "a", "roleMapping": [{"name": "viewer", "groups": ["g"]}]},
    }


def test_smp_on_axle_kind_is_415_like_a_custom_resource() -> None:
    with pytest.raises(UnsupportedMediaType) as err:
        patched(PROJECT, project(), {"spec": {"tenant": "b"}}, STRATEGIC_MERGE_PATCH)
    assert err.value.code == 415
    assert err.value.message == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    )
    # ...and the merge patch kubectl falls back to works.
    out = patched(PROJECT, project(), {"spec": {"tenant": "b"}}, MERGE_PATCH)
    assert out["spec"]["tenant"] == "b"


@pytest.mark.parametrize(
    "ctype", ["application/json", "application/apply-patch+yaml", "text/plain", ""]
)
def test_unknown_patch_type_is_415(ctype: str) -> None:
    with pytest.raises(UnsupportedMediaType) as err:
        apply_patch(CONFIGMAP, configmap(), b"{}", ctype)
    assert "application/strategic-merge-patch+json" in err.value.message


def test_patch_types_per_kind() -> None:
    assert STRATEGIC_MERGE_PATCH in patch_types(CONFIGMAP)
    assert STRATEGIC_MERGE_PATCH not in patch_types(PROJECT)


# --- identity is not patchable --------------------------------------------------------------


@pytest.mark.parametrize("ctype", [MERGE_PATCH, STRATEGIC_MERGE_PATCH])
def test_rename_is_400(ctype: str) -> None:
    with pytest.raises(BadRequest) as err:
        patched(CONFIGMAP, configmap(), {"metadata": {"name": "other"}}, ctype)
    assert (
        err.value.message
        == "the name of the object (other) does not match the name on the URL (cm)"
    )


def test_removing_the_name_is_400() -> None:
    with pytest.raises(BadRequest):
        patched(CONFIGMAP, configmap(), [{"op": "remove", "path": "/metadata/name"}], JSON_PATCH)


@pytest.mark.parametrize(
    "patch",
    [{"metadata": {"namespace": "kube-system"}}, {"metadata": {"namespace": None}}],
)
def test_namespace_change_is_400(patch: dict[str, Any]) -> None:
    with pytest.raises(BadRequest) as err:
        patched(CONFIGMAP, configmap(), patch, MERGE_PATCH)
    assert "namespace of the provided object does not match" in err.value.message


def test_namespace_on_cluster_scoped_object_is_400() -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}
    with pytest.raises(BadRequest):
        patched(NAMESPACE, ns, {"metadata": {"namespace": "x"}}, MERGE_PATCH)


def test_uid_change_is_a_failed_precondition() -> None:
    with pytest.raises(Conflict) as err:
        patched(CONFIGMAP, configmap(), {"metadata": {"uid": "other"}}, MERGE_PATCH)
    assert err.value.message.startswith("Precondition failed: UID in precondition: other")


def test_dropped_uid_is_restored() -> None:
    out = patched(CONFIGMAP, configmap(), {"metadata": {"uid": None}}, MERGE_PATCH)
    assert out["metadata"]["uid"] == UID


@pytest.mark.parametrize(
    "patch",
    [{"kind": "Secret"}, {"apiVersion": "v2"}, {"kind": None}, {"metadata": None}],
)
def test_kind_or_version_change_is_400(patch: dict[str, Any]) -> None:
    with pytest.raises(BadRequest):
        patched(CONFIGMAP, configmap(), patch, MERGE_PATCH)


def test_alias_group_is_stored_canonically() -> None:
    out = patched(PROJECT, project(), {"apiVersion": "spectrocloud.com/v1alpha1"}, MERGE_PATCH)
    assert out["apiVersion"] == "axle.dev/v1alpha1"


def test_resource_version_in_patch_is_kept_for_the_store_to_check() -> None:
    out = patched(CONFIGMAP, configmap(), {"metadata": {"resourceVersion": "3"}}, MERGE_PATCH)
    assert out["metadata"]["resourceVersion"] == "3"


# --- properties ---------------------------------------------------------------------------

_keys = st.sampled_from(["a", "b", "c", "d"])
_scalars = st.one_of(st.integers(-3, 3), st.text(max_size=3), st.booleans())
_values = st.recursive(
    _scalars | st.lists(_scalars, max_size=3),
    lambda inner: st.dictionaries(_keys, inner, max_size=4),
    max_leaves=12,
)
_docs = st.dictionaries(_keys, _values, max_size=4)


def merge_diff(a: Any, b: Any) -> Any:
    """The RFC 7386 patch that turns `a` into `b` (b holds no nulls)."""
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return b
    out: dict[str, Any] = {k: None for k in a if k not in b}
    for key, value in b.items():
        if key not in a:
            out[key] = value
        elif a[key] != value:
            out[key] = merge_diff(a[key], value)
    return out


def as_configmap(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm", "namespace": "d"},
        **{f"x{k}": v for k, v in data.items()},
    }


@settings(max_examples=200, deadline=None)
@given(_docs, _docs)
def test_merge_patch_of_diff_turns_a_into_b(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert merge_patch(a, merge_diff(a, b)) == b
    current, target = as_configmap(a), as_configmap(b)
    patch = json.dumps(merge_diff(current, target)).encode()
    assert apply_patch(CONFIGMAP, current, patch, MERGE_PATCH) == target


@settings(max_examples=200, deadline=None)
@given(_docs, _docs)
def test_strategic_patch_without_merging_lists_equals_merge_patch(
    a: dict[str, Any], b: dict[str, Any]
) -> None:
    # The fields here have no patch strategy, so SMP degenerates to a JSON merge patch.
    current, target = as_configmap(a), as_configmap(b)
    patch = json.dumps(merge_diff(current, target)).encode()
    assert apply_patch(CONFIGMAP, current, patch, STRATEGIC_MERGE_PATCH) == target


@settings(max_examples=200, deadline=None)
@given(_docs, _docs)
def test_json_patch_of_diff_turns_a_into_b(a: dict[str, Any], b: dict[str, Any]) -> None:
    current, target = as_configmap(a), as_configmap(b)
    ops = jsonpatch.make_patch(current, target).patch
    assert apply_patch(CONFIGMAP, current, json.dumps(ops).encode(), JSON_PATCH) == target


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from("abcdef"), unique=True, max_size=5),
    st.lists(st.sampled_from("abcdef"), unique=True, max_size=5),
)
def test_smp_set_with_element_order_reaches_the_target(old: list[str], new: list[str]) -> None:
    """What kubectl sends for a finalizers change always yields exactly the new list."""
    current = configmap()
    current["metadata"]["finalizers"] = old
    meta: dict[str, Any] = {"$setElementOrder/finalizers": new}
    added = [f for f in new if f not in old]
    removed = [f for f in old if f not in new]
    if added:
        meta["finalizers"] = added
    if removed:
        meta["$deleteFromPrimitiveList/finalizers"] = removed
    out = apply_patch(
        CONFIGMAP, current, json.dumps({"metadata": meta}).encode(), STRATEGIC_MERGE_PATCH
    )
    assert out["metadata"].get("finalizers", []) == new


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(["u1", "u2", "u3", "u4", "u5"]), unique=True, max_size=5),
    st.lists(st.sampled_from(["u1", "u2", "u3", "u4", "u5"]), unique=True, max_size=5),
    st.sets(st.sampled_from(["u1", "u2", "u3", "u4", "u5"])),
)
def test_smp_keyed_list_as_kubectl_sends_it_reaches_the_target(
    old: list[str], new: list[str], renamed: set[str]
) -> None:
    """kubectl's patch for an ownerReferences change (order, deletions, edits) yields `new`."""

    def ref(uid: str, name: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Secret", "name": name, "uid": uid}

    current = configmap()
    current["metadata"]["ownerReferences"] = [ref(u, "old") for u in old]
    target = [ref(u, "new" if u in renamed else "old") for u in new]
    changed = [r for r in target if r["uid"] not in old or r["name"] == "new"]
    deleted = [{"$patch": "delete", "uid": u} for u in old if u not in new]
    meta: dict[str, Any] = {"$setElementOrder/ownerReferences": [{"uid": u} for u in new]}
    if changed or deleted:
        meta["ownerReferences"] = changed + deleted
    body = json.dumps({"metadata": meta}).encode()
    out = apply_patch(CONFIGMAP, current, body, STRATEGIC_MERGE_PATCH)
    assert out["metadata"].get("ownerReferences", []) == target
