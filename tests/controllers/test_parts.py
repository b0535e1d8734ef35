"""Unit tests of the small parts: role template parsing, the event recorder, `ensure`."""

from __future__ import annotations

import pytest

from axle.controllers.events import EventRecorder
from axle.controllers.objects import ensure, write_status
from axle.controllers.roles import InvalidTemplate, default_templates, parse_rules, template_data
from axle.store.base import Store
from tests.controllers.test_tenant import K, tenant


def test_default_templates_round_trip() -> None:
    for rules in default_templates().values():
        assert parse_rules(template_data(rules)["rules.yaml"]) == rules


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "non-empty list"),
        ("{a: 1}", "non-empty list"),
        ("- just a string", "rule 0: must be a mapping"),
        ("- {apiGroups: [''], resources: [pods]}", "rule 0: verbs must be a non-empty list"),
        ("- {apiGroups: [''], verbs: [get]}", "rule 0: resources must be a non-empty list"),
        ("- {resources: [pods], verbs: [get]}", "apiGroups is required"),
        ("- {apiGroups: [''], resources: [pods], verbs: get}", "verbs must be a list of strings"),
        ("- {apiGroups: [''], resources: [pods], verbs: [get], colour: red}", "unknown field"),
        ("- {nonResourceURLs: [/healthz], verbs: [get]}", "nonResourceURLs are not allowed"),
        ("[unclosed", "not valid YAML"),
    ],
)
def test_parse_rules_rejects_bad_templates(text: str, error: str) -> None:
    with pytest.raises(InvalidTemplate, match=error):
        parse_rules(text)


async def test_events_aggregate_repeats(store: Store) -> None:
    rec = EventRecorder(store, K.event, instance="hub-1")
    obj = await store.create(K.tenant, tenant("acme", []))
    await rec.warning(obj, "ProjectsRemain", "1 project remains: a/a")
    await rec.warning(obj, "ProjectsRemain", "1 project remains: a/a")
    await rec.normal(obj, "Ready", "ready")
    events = sorted((await store.list(K.event, "default")).items, key=lambda e: e["reason"])
    assert [(e["reason"], e["type"], e["count"]) for e in events] == [
        ("ProjectsRemain", "Warning", 2),
        ("Ready", "Normal", 1),
    ]
    e = events[0]
    assert e["involvedObject"] == {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "Tenant",
        "name": "acme",
        "namespace": "",
        "uid": obj["metadata"]["uid"],
        "resourceVersion": obj["metadata"]["resourceVersion"],
    }
    assert e["source"] == {"component": "axle-controller-manager"}
    assert e["firstTimestamp"] <= e["lastTimestamp"]
    assert e["metadata"]["name"].startswith("acme.")

    cm = await store.create(
        K.config_map, {"metadata": {"name": "c", "namespace": "team"}, "data": {}}
    )
    await rec.normal(cm, "Seen", "namespaced objects get events in their namespace")
    assert [e["reason"] for e in (await store.list(K.event, "team")).items] == ["Seen"]


async def test_ensure_and_write_status_write_only_on_change(store: Store) -> None:
    desired = {
        "metadata": {"name": "r", "namespace": "ns", "labels": {"a": "1"}},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
    }
    first = await ensure(store, K.role, desired, fields=("rules",))
    rev = await store.current_revision()
    again = await ensure(store, K.role, desired, fields=("rules",))
    assert await store.current_revision() == rev
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]

    # Labels others added are kept; managed fields are brought back.
    first["metadata"]["labels"]["other"] = "x"
    first["rules"] = []
    await store.update(K.role, first)
    fixed = await ensure(store, K.role, desired, fields=("rules",))
    assert fixed["rules"] == desired["rules"]
    assert fixed["metadata"]["labels"] == {"a": "1", "other": "x"}

    kept = await ensure(store, K.role, {**desired, "rules": []}, create_only=True)
    assert kept["rules"] == desired["rules"]

    t = await store.create(K.tenant, tenant("acme", []))
    written = await write_status(store, K.tenant, t, {"phase": "Ready"})
    rev = await store.current_revision()
    same = await write_status(store, K.tenant, written, {"phase": "Ready"})
    assert await store.current_revision() == rev
    assert same is written
