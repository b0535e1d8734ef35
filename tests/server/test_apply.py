"""Server-side apply and managed-field tracking, against Kubernetes' documented behaviour.

Covers the "Server-Side Apply" concepts page: field ownership in `managedFields`, conflicts
and their message, `--force-conflicts`, shared ownership, removal of fields an applier drops,
merge strategies of associative lists, and the interplay with client-side apply (`Update`
entries of `kubectl-client-side-apply`).
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import axle.server.apply as apply_module
from axle.api.registry import KindInfo
from axle.errors import BadRequest, Conflict, Invalid
from axle.server.apply import (
    check_manager,
    manager_from_user_agent,
    server_side_apply,
    track_update,
)

CONFIGMAP = KindInfo("", "v1", "ConfigMap", "configmaps", "configmap", True, has_status=False)
NAMESPACE = KindInfo("", "v1", "Namespace", "namespaces", "namespace", False)
PROJECT = KindInfo("axle.dev", "v1alpha1", "Project", "projects", "project", True)


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each timestamp differs from the previous one, so tests can see which were refreshed."""
    ticks = (f"2026-01-01T00:{m:02d}:00Z" for m in itertools.count())
    monkeypatch.setattr(apply_module, "now_rfc3339", lambda: next(ticks))
    yield


def cm(data: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm", "namespace": "default", **meta},
    }
    if data is not None:
        obj["data"] = data
    return obj


def stored(obj: dict[str, Any]) -> dict[str, Any]:
    """What the store adds on create."""
    out = copy.deepcopy(obj)
    out["metadata"].update(
        uid="uid-1", resourceVersion="1", creationTimestamp="2026-01-01T00:00:00Z"
    )
    return out


def entries(obj: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["manager"], e["operation"]): e for e in obj["metadata"].get("managedFields", [])}


def fields(obj: dict[str, Any], manager: str, operation: str = "Apply") -> dict[str, Any]:
    return entries(obj)[(manager, operation)]["fieldsV1"]


def body(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out["metadata"].pop("managedFields", None)
    return out


# --- apply: create, no-op, removal ---------------------------------------------------------


def test_apply_creates_with_managed_fields() -> None:
    config = cm(
        {"a": "1"},
        labels={"app": "web"},
        finalizers=["x.example.com/f"],
        ownerReferences=[{"apiVersion": "v1", "kind": "Secret", "name": "s", "uid": "u1"}],
    )
    out = server_side_apply(CONFIGMAP, None, config, manager="kubectl", force=False)
    assert body(out) == config
    assert out["metadata"]["managedFields"] == [
        {
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "v1",
            "time": "2026-01-01T00:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:data": {"f:a": {}},
                "f:metadata": {
                    "f:finalizers": {'v:"x.example.com/f"': {}},
                    "f:labels": {"f:app": {}},
                    "f:ownerReferences": {
                        'k:{"uid":"u1"}': {
                            ".": {},
                            "f:apiVersion": {},
                            "f:kind": {},
                            "f:name": {},
                            "f:uid": {},
                        }
                    },
                },
            },
        }
    ]


def test_reapplying_the_same_configuration_is_a_no_op() -> None:
    config = cm({"a": "1"}, labels={"app": "web"})
    first = stored(server_side_apply(CONFIGMAP, None, config, manager="kubectl", force=False))
    again = server_side_apply(CONFIGMAP, first, config, manager="kubectl", force=False)
    assert again == first  # managedFields included: the time is not refreshed either


def test_changing_a_value_refreshes_the_time() -> None:
    first = stored(server_side_apply(CONFIGMAP, None, cm({"a": "1"}), manager="m", force=False))
    again = server_side_apply(CONFIGMAP, first, cm({"a": "2"}), manager="m", force=False)
    assert again["data"] == {"a": "2"}
    assert entries(again)[("m", "Apply")]["time"] != entries(first)[("m", "Apply")]["time"]


def test_apply_keeps_server_metadata_and_unowned_fields() -> None:
    live = stored(cm({"a": "1", "other": "x"}, labels={"set-by": "hand"}))
    out = server_side_apply(CONFIGMAP, live, cm({"a": "2"}), manager="m", force=False)
    assert out["data"] == {"a": "2", "other": "x"}
    assert out["metadata"]["labels"] == {"set-by": "hand"}
    assert out["metadata"]["uid"] == "uid-1"
    assert out["metadata"]["resourceVersion"] == "1"


def test_field_dropped_from_configuration_is_removed() -> None:
    first = stored(
        server_side_apply(
            CONFIGMAP, None, cm({"a": "1", "b": "2"}, labels={"x": "y"}), manager="m", force=False
        )
    )
    out = server_side_apply(CONFIGMAP, first, cm({"a": "1"}), manager="m", force=False)
    assert out["data"] == {"a": "1"}
    assert "labels" not in out["metadata"]  # emptied by pruning, so it goes too
    assert fields(out, "m") == {"f:data": {"f:a": {}}}


def test_dropped_field_also_owned_by_an_updater_stays() -> None:
    first = stored(
        server_side_apply(CONFIGMAP, None, cm({"a": "1", "b": "2"}), manager="m", force=False)
    )
    # Someone else writes b (same value) with an update: a change-free write owns nothing...
    same = track_update(CONFIGMAP, first, copy.deepcopy(first), manager="editor")
    assert ("editor", "Update") not in entries(same)
    # ...but a real change does.
    edited = copy.deepcopy(first)
    edited["data"]["b"] = "3"
    edited = track_update(CONFIGMAP, first, edited, manager="editor")
    assert fields(edited, "editor", "Update") == {"f:data": {"f:b": {}}}
    assert fields(edited, "m") == {"f:data": {"f:a": {}}}  # b moved to the editor
    out = server_side_apply(CONFIGMAP, edited, cm({"a": "1"}), manager="m", force=False)
    assert out["data"] == {"a": "1", "b": "3"}


def test_unowned_field_is_left_alone_when_dropped() -> None:
    live = stored(cm({"a": "1", "b": "2"}))  # nobody tracks these
    out = server_side_apply(CONFIGMAP, live, cm({"a": "1"}), manager="m", force=False)
    assert out["data"] == {"a": "1", "b": "2"}


# --- conflicts ------------------------------------------------------------------------------


def test_two_appliers_conflict_on_a_different_value() -> None:
    live = stored(
        server_side_apply(CONFIGMAP, None, cm({"key": "1"}), manager="alice", force=False)
    )
    with pytest.raises(Conflict) as err:
        server_side_apply(CONFIGMAP, live, cm({"key": "2"}), manager="bob", force=False)
    status = err.value.to_status()
    assert status["code"] == 409
    assert status["reason"] == "Conflict"
    assert status["message"] == 'Apply failed with 1 conflict: conflict with "alice": .data.key'
    assert status["details"]["causes"] == [
        {"field": ".data.key", "message": 'conflict with "alice"', "reason": "FieldManagerConflict"}
    ]


def test_conflict_message_lists_every_field_by_manager() -> None:
    live = stored(
        server_side_apply(CONFIGMAP, None, cm({"a": "1", "b": "1"}), manager="alice", force=False)
    )
    edited = copy.deepcopy(live)
    edited["metadata"]["labels"] = {"l": "1"}
    live = stored(track_update(CONFIGMAP, live, edited, manager="kubectl-edit"))
    config = cm({"a": "2", "b": "2"}, labels={"l": "2"})
    with pytest.raises(Conflict) as err:
        server_side_apply(CONFIGMAP, live, config, manager="bob", force=False)
    assert err.value.message == (
        "Apply failed with 3 conflicts: "
        'conflicts with "alice":\n- .data.a\n- .data.b\n'
        'conflicts with "kubectl-edit" using v1:\n- .metadata.labels.l'
    )
    assert [c.field for c in err.value.causes] == [".data.a", ".data.b", ".metadata.labels.l"]


def test_track_update_then_apply_conflicts_with_client_side_apply() -> None:
    created = stored(
        track_update(CONFIGMAP, None, cm({"key": "v"}), manager="kubectl-client-side-apply")
    )
    with pytest.raises(Conflict) as err:
        server_side_apply(CONFIGMAP, created, cm({"key": "w"}), manager="kubectl", force=False)
    assert err.value.message == (
        "Apply failed with 1 conflict: "
        'conflict with "kubectl-client-side-apply" using v1: .data.key'
    )


def test_force_takes_ownership() -> None:
    live = stored(
        server_side_apply(
            CONFIGMAP, None, cm({"key": "1", "mine": "a"}), manager="alice", force=False
        )
    )
    out = server_side_apply(CONFIGMAP, live, cm({"key": "2"}), manager="bob", force=True)
    assert out["data"] == {"key": "2", "mine": "a"}
    assert fields(out, "alice") == {"f:data": {"f:mine": {}}}
    assert fields(out, "bob") == {"f:data": {"f:key": {}}}
    # alice now conflicts in turn
    with pytest.raises(Conflict):
        server_side_apply(
            CONFIGMAP, stored(out), cm({"key": "1", "mine": "a"}), manager="alice", force=False
        )


def test_force_removes_a_manager_left_with_nothing() -> None:
    live = stored(
        server_side_apply(CONFIGMAP, None, cm({"key": "1"}), manager="alice", force=False)
    )
    out = server_side_apply(CONFIGMAP, live, cm({"key": "2"}), manager="bob", force=True)
    assert ("alice", "Apply") not in entries(out)


def test_same_value_is_shared_ownership() -> None:
    live = stored(
        server_side_apply(CONFIGMAP, None, cm({"key": "1", "a": "x"}), manager="alice", force=False)
    )
    shared = stored(
        server_side_apply(CONFIGMAP, live, cm({"key": "1"}), manager="bob", force=False)
    )
    assert "time" not in entries(shared)[("bob", "Apply")]  # bob changed nothing (yet)
    assert fields(shared, "alice") == {"f:data": {"f:a": {}, "f:key": {}}}
    assert fields(shared, "bob") == {"f:data": {"f:key": {}}}
    # alice drops key: bob still owns it, so it stays.
    out = stored(server_side_apply(CONFIGMAP, shared, cm({"a": "x"}), manager="alice", force=False))
    assert out["data"] == {"key": "1", "a": "x"}
    # bob drops it too: now it goes.
    out = server_side_apply(CONFIGMAP, out, cm(), manager="bob", force=False)
    assert out["data"] == {"a": "x"}
    assert ("bob", "Apply") not in entries(out)


def test_same_manager_name_with_update_and_apply_are_two_managers() -> None:
    live = stored(track_update(CONFIGMAP, None, cm({"key": "1"}), manager="kubectl"))
    with pytest.raises(Conflict) as err:
        server_side_apply(CONFIGMAP, live, cm({"key": "2"}), manager="kubectl", force=False)
    assert '"kubectl" using v1' in err.value.message


# --- associative lists ------------------------------------------------------------------------


def project(items: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "Project",
        "metadata": {"name": "p", "namespace": "t"},
        "spec": dict(spec),
    }
    if items is not None:
        obj["spec"]["roleMapping"] = items
    return obj


def test_axle_lists_of_named_objects_merge_by_name() -> None:
    a = stored(
        server_side_apply(
            PROJECT, None, project([{"name": "viewer", "groups": ["v"]}]), manager="a", force=False
        )
    )
    b = stored(
        server_side_apply(
            PROJECT, a, project([{"name": "editor", "groups": ["e"]}]), manager="b", force=False
        )
    )
    assert b["spec"]["roleMapping"] == [
        {"name": "viewer", "groups": ["v"]},
        {"name": "editor", "groups": ["e"]},
    ]
    assert fields(b, "b") == {
        "f:spec": {
            "f:roleMapping": {'k:{"name":"editor"}': {".": {}, "f:groups": {}, "f:name": {}}}
        }
    }
    # a stops applying its entry: only that entry goes.
    out = server_side_apply(PROJECT, b, project(), manager="a", force=False)
    assert out["spec"]["roleMapping"] == [{"name": "editor", "groups": ["e"]}]


def test_applying_an_empty_list_empties_it() -> None:
    live = stored(track_update(PROJECT, None, project([{"name": "viewer"}]), manager="writer"))
    with pytest.raises(Conflict) as err:
        server_side_apply(PROJECT, live, project([]), manager="m", force=False)
    assert err.value.causes[0].field == ".spec.roleMapping"
    out = server_side_apply(PROJECT, live, project([]), manager="m", force=True)
    assert out["spec"]["roleMapping"] == []


def test_lists_of_scalars_in_axle_kinds_are_atomic() -> None:
    a = stored(
        server_side_apply(
            PROJECT, None, project([{"name": "viewer", "groups": ["v"]}]), manager="a", force=False
        )
    )
    with pytest.raises(Conflict) as err:
        server_side_apply(
            PROJECT, a, project([{"name": "viewer", "groups": ["w"]}]), manager="b", force=False
        )
    assert err.value.causes[0].field == '.spec.roleMapping[name="viewer"].groups'


def test_associative_list_order_follows_the_configuration() -> None:
    live = stored(
        server_side_apply(
            PROJECT, None, project([{"name": n} for n in ("a", "b", "c")]), manager="m", force=False
        )
    )
    out = server_side_apply(
        PROJECT, live, project([{"name": n} for n in ("c", "a", "b")]), manager="m", force=False
    )
    assert [i["name"] for i in out["spec"]["roleMapping"]] == ["c", "a", "b"]


def test_live_only_items_keep_their_place() -> None:
    live = stored(project([{"name": "a"}, {"name": "mine"}, {"name": "b"}]))
    out = server_side_apply(
        PROJECT,
        live,
        project([{"name": "a"}, {"name": "b"}, {"name": "new"}]),
        manager="m",
        force=False,
    )
    assert [i["name"] for i in out["spec"]["roleMapping"]] == ["a", "mine", "b", "new"]


def test_finalizers_are_a_set_owned_per_member() -> None:
    a = stored(server_side_apply(CONFIGMAP, None, cm(finalizers=["a/f"]), manager="a", force=False))
    b = stored(server_side_apply(CONFIGMAP, a, cm(finalizers=["b/f"]), manager="b", force=False))
    assert b["metadata"]["finalizers"] == ["a/f", "b/f"]
    out = server_side_apply(CONFIGMAP, b, cm(), manager="a", force=False)
    assert out["metadata"]["finalizers"] == ["b/f"]


def test_owner_references_merge_by_uid() -> None:
    ref1 = {"apiVersion": "v1", "kind": "Secret", "name": "one", "uid": "u1"}
    ref2 = {"apiVersion": "v1", "kind": "Secret", "name": "two", "uid": "u2"}
    a = stored(
        server_side_apply(CONFIGMAP, None, cm(ownerReferences=[ref1]), manager="a", force=False)
    )
    b = server_side_apply(CONFIGMAP, a, cm(ownerReferences=[ref2]), manager="b", force=False)
    assert b["metadata"]["ownerReferences"] == [ref1, ref2]


def test_duplicate_keys_in_configuration_are_invalid() -> None:
    with pytest.raises(Invalid) as err:
        server_side_apply(
            PROJECT, None, project([{"name": "x"}, {"name": "x"}]), manager="m", force=False
        )
    assert "duplicate entries" in err.value.message
    with pytest.raises(Invalid):
        server_side_apply(CONFIGMAP, None, cm(finalizers=["f", "f"]), manager="m", force=False)


def test_role_rules_are_atomic() -> None:
    role = KindInfo(
        "rbac.authorization.k8s.io", "v1", "Role", "roles", "role", True, has_status=False
    )

    def config(verbs: list[str]) -> dict[str, Any]:
        return {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "r", "namespace": "n"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": verbs}],
        }

    out = server_side_apply(role, None, config(["get"]), manager="m", force=False)
    assert fields(out, "m") == {"f:rules": {}}
    with pytest.raises(Conflict):
        server_side_apply(role, stored(out), config(["list"]), manager="other", force=False)


# --- status and identity -------------------------------------------------------------------


def namespace(**extra: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}, **extra}


def test_status_is_ignored_by_apply_to_the_main_resource() -> None:
    live = stored(namespace(status={"phase": "Active"}))
    out = server_side_apply(
        NAMESPACE,
        live,
        namespace(status={"phase": "Terminating"}, spec={"finalizers": ["kubernetes"]}),
        manager="m",
        force=False,
    )
    assert out["status"] == {"phase": "Active"}
    assert fields(out, "m") == {"f:spec": {"f:finalizers": {}}}
    created = server_side_apply(
        NAMESPACE, None, namespace(status={"phase": "X"}), manager="m", force=False
    )
    assert "status" not in created


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({**cm(), "apiVersion": "v2"}, "Incorrect version specified in apply patch"),
        ({**cm(), "kind": "Secret"}, "does not match"),
        ({"apiVersion": "v1", "kind": "ConfigMap"}, "metadata"),
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}, "metadata.name"),
        (cm(managedFields=[]), "metadata.managedFields must be nil"),
        (cm(name="other"), "does not match the name on the URL"),
        (cm(namespace="elsewhere"), "namespace of the provided object"),
    ],
)
def test_bad_configuration_is_400(config: dict[str, Any], message: str) -> None:
    live = stored(cm({"a": "1"}))
    with pytest.raises(BadRequest) as err:
        server_side_apply(CONFIGMAP, live, config, manager="m", force=False)
    assert message in err.value.message


def test_preconditions_in_configuration() -> None:
    live = stored(cm({"a": "1"}))
    with pytest.raises(Conflict) as err:
        server_side_apply(CONFIGMAP, live, cm(resourceVersion="0"), manager="m", force=False)
    assert err.value.message.startswith('Operation cannot be fulfilled on configmaps "cm"')
    with pytest.raises(Conflict):
        server_side_apply(CONFIGMAP, live, cm(uid="someone-else"), manager="m", force=False)
    ok = server_side_apply(
        CONFIGMAP, live, cm({"b": "2"}, uid="uid-1", resourceVersion="1"), manager="m", force=False
    )
    assert ok["data"] == {"a": "1", "b": "2"}


def test_alias_api_version_is_accepted_and_stored_canonically() -> None:
    config = project(tenant="x")
    config["apiVersion"] = "spectrocloud.com/v1alpha1"
    out = server_side_apply(PROJECT, None, config, manager="m", force=False)
    assert out["apiVersion"] == "axle.dev/v1alpha1"


def test_manager_is_required_and_checked() -> None:
    with pytest.raises(BadRequest, match="fieldManager is required"):
        server_side_apply(CONFIGMAP, None, cm(), manager="", force=False)
    with pytest.raises(Invalid):
        check_manager("x" * 129, apply=False)
    with pytest.raises(Invalid):
        check_manager("bad\nname", apply=False)
    check_manager("", apply=False)  # updates may come without a manager, as in Kubernetes


def test_arguments_are_not_changed() -> None:
    live = stored(
        server_side_apply(CONFIGMAP, None, cm({"a": "1", "b": "2"}), manager="a", force=False)
    )
    config = cm({"a": "1"}, labels={"l": "x"})
    before_live, before_config = copy.deepcopy(live), copy.deepcopy(config)
    out = server_side_apply(CONFIGMAP, live, config, manager="a", force=False)
    assert (live, config) == (before_live, before_config)
    out["data"]["a"] = "mutated"
    assert live["data"]["a"] == "1"


# --- track_update ----------------------------------------------------------------------------


def test_create_tracks_every_field_with_kubernetes_shape() -> None:
    obj = stored(cm({"key": "v"}, labels={"app": "web"}))
    out = track_update(CONFIGMAP, None, obj, manager="kubectl-create")
    assert out["metadata"]["managedFields"] == [
        {
            "manager": "kubectl-create",
            "operation": "Update",
            "apiVersion": "v1",
            "time": "2026-01-01T00:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:data": {".": {}, "f:key": {}},
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            },
        }
    ]
    assert "managedFields" not in obj["metadata"]  # `new` itself is not changed


def test_create_of_axle_kind_owns_spec_itself_and_builtin_structs_do_not() -> None:
    out = track_update(PROJECT, None, project(tenant="a"), manager="m")
    assert fields(out, "m", "Update") == {"f:spec": {".": {}, "f:tenant": {}}}
    ns = track_update(NAMESPACE, None, namespace(spec={"finalizers": ["kubernetes"]}), manager="m")
    assert fields(ns, "m", "Update") == {"f:spec": {"f:finalizers": {}}}


def test_update_moves_changed_fields_and_drops_removed_ones() -> None:
    live = stored(track_update(CONFIGMAP, None, cm({"a": "1", "b": "2"}), manager="creator"))
    new = copy.deepcopy(live)
    new["data"] = {"a": "9"}
    out = track_update(CONFIGMAP, live, new, manager="kubectl-edit")
    assert fields(out, "creator", "Update") == {"f:data": {}}  # still owns the map itself
    assert fields(out, "kubectl-edit", "Update") == {"f:data": {"f:a": {}}}


def test_no_op_update_keeps_managed_fields() -> None:
    live = stored(track_update(CONFIGMAP, None, cm({"a": "1"}), manager="creator"))
    new = body(live)  # a client that does not send managedFields keeps the stored ones
    out = track_update(CONFIGMAP, live, new, manager="other")
    assert out["metadata"]["managedFields"] == live["metadata"]["managedFields"]


def test_repeated_update_by_one_manager_accumulates_and_refreshes_time() -> None:
    live = stored(track_update(CONFIGMAP, None, cm({"a": "1"}), manager="m"))
    new = copy.deepcopy(live)
    new["data"]["b"] = "2"
    out = track_update(CONFIGMAP, live, new, manager="m")
    entry = entries(out)[("m", "Update")]
    assert entry["fieldsV1"] == {"f:data": {".": {}, "f:a": {}, "f:b": {}}}
    assert entry["time"] == "2026-01-01T00:01:00Z"


def test_status_subresource_is_tracked_separately() -> None:
    live = stored(
        track_update(
            NAMESPACE, None, namespace(spec={"finalizers": ["kubernetes"]}), manager="creator"
        )
    )
    new = copy.deepcopy(live)
    new["status"] = {"phase": "Active"}
    out = track_update(NAMESPACE, live, new, manager="controller", subresource="status")
    status_entry = entries(out)[("controller", "Update")]
    assert status_entry["subresource"] == "status"
    # Namespace status is a Go struct, always present: only its fields are added.
    assert status_entry["fieldsV1"] == {"f:status": {"f:phase": {}}}
    # A main-resource update does not track status.
    again = copy.deepcopy(stored(out))
    again["status"] = {"phase": "Terminating"}
    out2 = track_update(NAMESPACE, stored(out), again, manager="editor")
    assert ("editor", "Update") not in entries(out2)


def test_status_owner_does_not_conflict_with_spec_apply() -> None:
    live = stored(namespace(spec={"finalizers": ["kubernetes"]}))
    new = copy.deepcopy(live)
    new["status"] = {"phase": "Active"}
    live = stored(track_update(NAMESPACE, live, new, manager="controller", subresource="status"))
    out = server_side_apply(
        NAMESPACE, live, namespace(spec={"finalizers": ["x"]}), manager="m", force=False
    )
    assert out["spec"] == {"finalizers": ["x"]}
    assert out["status"] == {"phase": "Active"}


def test_clearing_managed_fields_with_an_empty_entry() -> None:
    live = stored(track_update(CONFIGMAP, None, cm({"a": "1"}), manager="m"))
    new = copy.deepcopy(live)
    new["metadata"]["managedFields"] = [{}]
    new["data"]["a"] = "2"
    out = track_update(CONFIGMAP, live, new, manager="m")
    assert "managedFields" not in out["metadata"]


def test_client_supplied_managed_fields_replace_the_stored_ones() -> None:
    """What kubectl's client-side to server-side apply migration sends (as a JSON patch)."""
    live = stored(
        track_update(CONFIGMAP, None, cm({"a": "1"}), manager="kubectl-client-side-apply")
    )
    new = copy.deepcopy(live)
    new["metadata"]["managedFields"] = [
        {
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "v1",
            "time": "2026-01-01T00:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {"f:a": {}}},
        }
    ]
    out = track_update(CONFIGMAP, live, new, manager="kubectl-client-side-apply")
    assert list(entries(out)) == [("kubectl", "Apply")]
    # kubectl can now apply a new value without a conflict.
    applied = server_side_apply(
        CONFIGMAP, stored(out), cm({"a": "2"}), manager="kubectl", force=False
    )
    assert applied["data"] == {"a": "2"}


@pytest.mark.parametrize(
    "managed",
    [
        "not a list",
        [{"manager": "m", "operation": "Delete", "fieldsV1": {}}],
        [{"manager": "m", "operation": "Update", "fieldsType": "FieldsV2", "fieldsV1": {}}],
        [{"manager": "m", "operation": "Update", "fieldsV1": {"x:bad": {}}}],
        [{"manager": 3, "operation": "Update", "fieldsV1": {}}],
        ["entry"],
    ],
)
def test_malformed_client_managed_fields_are_400(managed: Any) -> None:
    live = stored(cm({"a": "1"}))
    new = copy.deepcopy(live)
    new["metadata"]["managedFields"] = managed
    with pytest.raises(BadRequest):
        track_update(CONFIGMAP, live, new, manager="m")


def test_corrupt_stored_managed_fields_are_reset() -> None:
    live = stored(cm({"a": "1"}, managedFields=[{"operation": "Nope"}]))
    new = copy.deepcopy(live)
    new["metadata"].pop("managedFields")
    new["data"]["a"] = "2"
    out = track_update(CONFIGMAP, live, new, manager="m")
    assert list(entries(out)) == [("m", "Update")]


def test_update_managers_are_capped_at_ten() -> None:
    live = stored(cm({}))
    for n in range(12):
        new = copy.deepcopy(live)
        new["data"][f"k{n}"] = "v"
        live = stored(track_update(CONFIGMAP, live, new, manager=f"m{n}"))
    managers = [e["manager"] for e in live["metadata"]["managedFields"]]
    assert len(managers) == 10
    assert "ancient-changes" in managers
    assert "m0" not in managers and "m2" not in managers and "m11" in managers
    ancient = entries(live)[("ancient-changes", "Update")]["fieldsV1"]["f:data"]
    assert {"f:k0", "f:k1", "f:k2"} <= set(ancient)


def test_track_update_rejects_apply_operation() -> None:
    with pytest.raises(ValueError):
        track_update(CONFIGMAP, None, cm(), manager="m", operation="Apply")


def test_manager_from_user_agent() -> None:
    assert manager_from_user_agent("kubectl/v1.32.4 (linux/amd64) kubernetes/abc") == "kubectl"
    assert manager_from_user_agent("python-httpx/0.27") == "python-httpx"
    assert manager_from_user_agent(None) == ""
    assert len(manager_from_user_agent("x" * 300)) == 128


def test_managed_fields_are_sorted_like_kubernetes() -> None:
    live = stored(server_side_apply(CONFIGMAP, None, cm({"a": "1"}), manager="zz", force=False))
    new = copy.deepcopy(live)
    new["data"]["b"] = "2"
    out = track_update(CONFIGMAP, live, new, manager="aa")
    assert [(e["operation"], e["manager"]) for e in out["metadata"]["managedFields"]] == [
        ("Apply", "zz"),
        ("Update", "aa"),
    ]


# --- properties ---------------------------------------------------------------------------

_scalars = st.one_of(st.integers(-2, 2), st.sampled_from(["", "x", "y"]), st.booleans())
_keys = st.sampled_from(["a", "b", "c"])
_named = st.lists(
    st.fixed_dictionaries({"name": st.sampled_from(["n1", "n2", "n3"])}, optional={"v": _scalars}),
    max_size=3,
    unique_by=lambda d: d["name"],
)
_values = st.recursive(
    _scalars | _named | st.lists(_scalars, max_size=2),
    lambda inner: st.dictionaries(_keys, inner, max_size=3),
    max_leaves=10,
)
_specs = st.dictionaries(_keys, _values, max_size=3)


def as_project(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "Project",
        "metadata": {"name": "p", "namespace": "t"},
        "spec": spec,
    }


@settings(max_examples=300, deadline=None)
@given(_specs, _specs)
def test_one_applier_gets_exactly_its_latest_configuration(
    a: dict[str, Any], b: dict[str, Any]
) -> None:
    first = stored(server_side_apply(PROJECT, None, as_project(a), manager="m", force=False))
    second = server_side_apply(PROJECT, first, as_project(b), manager="m", force=False)
    assert body(second) == stored(as_project(b))
    # ...and applying it again changes nothing at all.
    assert server_side_apply(
        PROJECT, stored(second), as_project(b), manager="m", force=False
    ) == stored(second)


@settings(max_examples=300, deadline=None)
@given(_specs, _specs)
def test_apply_over_an_update_conflicts_exactly_on_differing_fields(
    a: dict[str, Any], b: dict[str, Any]
) -> None:
    live = stored(track_update(PROJECT, None, as_project(a), manager="writer"))
    try:
        out = server_side_apply(PROJECT, live, as_project(b), manager="m", force=False)
    except Conflict as err:
        # Each conflict names a spec field the writer set; forcing then succeeds.
        assert err.causes
        for cause in err.causes:
            assert cause.reason == "FieldManagerConflict"
            assert cause.field.startswith(".spec")
            assert cause.message == 'conflict with "writer" using axle.dev/v1alpha1'
        forced = server_side_apply(PROJECT, live, as_project(b), manager="m", force=True)
        assert _contains(forced["spec"], b)
        return
    assert _contains(out["spec"], b)


def _contains(whole: Any, part: Any) -> bool:
    """Every value of the applied configuration is in the result."""
    if isinstance(part, dict):
        return isinstance(whole, dict) and all(
            k in whole and _contains(whole[k], v) for k, v in part.items()
        )
    if isinstance(part, list) and part and all(isinstance(i, dict) and "name" in i for i in part):
        by_name = {i.get("name"): i for i in whole} if isinstance(whole, list) else {}
        return all(i["name"] in by_name and _contains(by_name[i["name"]], i) for i in part)
    return bool(whole == part and type(whole) is type(part)) or json.dumps(whole) == json.dumps(
        part
    )


def test_kubectl_client_side_to_server_side_migration() -> None:
    """`kubectl apply` then `kubectl apply --server-side`, as the server runs them.

    kubectl first moves the client-side-apply manager's fields to its server-side manager
    with a JSON patch of managedFields (tested by resourceVersion), then applies, then applies
    the last-applied annotation as `kubectl-last-applied`.
    """
    from axle.server.patch import JSON_PATCH, apply_patch

    annotation = "kubectl.kubernetes.io/last-applied-configuration"
    created = cm({"a": "1", "b": "2"}, annotations={annotation: "{}"})
    live = stored(track_update(CONFIGMAP, None, created, manager="kubectl-client-side-apply"))
    csa = fields(live, "kubectl-client-side-apply", "Update")
    moved = copy.deepcopy(csa)
    del moved["f:metadata"]
    migration = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
        {
            "op": "replace",
            "path": "/metadata/managedFields",
            "value": [
                {
                    "manager": "kubectl",
                    "operation": "Apply",
                    "apiVersion": "v1",
                    "time": "2026-01-01T00:00:00Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": moved,
                },
                {
                    "manager": "kubectl-last-applied",
                    "operation": "Apply",
                    "apiVersion": "v1",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:metadata": {"f:annotations": {f"f:{annotation}": {}}}},
                },
            ],
        },
    ]
    patched = apply_patch(CONFIGMAP, live, json.dumps(migration).encode(), JSON_PATCH)
    live = stored(track_update(CONFIGMAP, live, patched, manager="kubectl-client-side-apply"))
    assert set(entries(live)) == {("kubectl", "Apply"), ("kubectl-last-applied", "Apply")}

    # The server-side apply drops b and changes a: no conflict, b goes.
    out = stored(server_side_apply(CONFIGMAP, live, cm({"a": "3"}), manager="kubectl", force=False))
    assert out["data"] == {"a": "3"}
    assert out["metadata"]["annotations"] == {annotation: "{}"}
    last = cm(annotations={annotation: '{"new": true}'})
    out = server_side_apply(CONFIGMAP, out, last, manager="kubectl-last-applied", force=False)
    assert out["metadata"]["annotations"] == {annotation: '{"new": true}'}
    assert out["data"] == {"a": "3"}


def test_status_of_axle_kind_is_owned_as_a_whole_when_it_appears() -> None:
    live = stored(track_update(PROJECT, None, project(tenant="a"), manager="kubectl"))
    new = copy.deepcopy(live)
    new["status"] = {"phase": "Ready"}
    out = track_update(PROJECT, live, new, manager="axle-hub", subresource="status")
    entry = entries(out)[("axle-hub", "Update")]
    assert entry["subresource"] == "status"
    assert entry["fieldsV1"] == {"f:status": {".": {}, "f:phase": {}}}
