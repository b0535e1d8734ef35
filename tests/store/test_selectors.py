"""Label and field selectors: grammar, semantics and error messages, table-driven."""

from __future__ import annotations

import pytest

from axle.errors import BadRequest
from axle.store.selectors import (
    parse_field_selector,
    parse_label_selector,
    selector_from_match_labels,
    selector_from_spec,
)

LABELS = {"app": "web", "tier": "front", "version": "3"}

LABEL_CASES = [
    ("", True),
    ("app=web", True),
    ("app==web", True),
    ("app=db", False),
    ("app!=db", True),
    ("app!=web", False),
    ("missing!=x", True),
    ("app in (web,db)", True),
    ("app in (db)", False),
    ("missing in (x)", False),
    ("app notin (db)", True),
    ("app notin (web, db)", False),
    ("missing notin (x)", True),
    ("app", True),
    ("missing", False),
    ("!missing", True),
    ("!app", False),
    ("app=web,tier=front", True),
    ("app=web,tier=back", False),
    ("app=web, tier in (front,back), !missing", True),
    ("version>2", True),
    ("version<3", False),
    ("example.com/team!=x", True),
]


@pytest.mark.parametrize(("selector", "expected"), LABEL_CASES)
def test_label_selector_matches(selector: str, expected: bool) -> None:
    assert parse_label_selector(selector).matches(LABELS) is expected


@pytest.mark.parametrize(
    ("selector", "fragment"),
    [
        ("app=web,", "trailing ','"),
        ("app in web", "expected '('"),
        ("app in ()", "must not be empty"),
        ("app in (web", "expected ')'"),
        ("=web", "expected a label key"),
        ("-bad=x", "must consist of alphanumeric"),
        ("app=we b", "expected ','"),
        ("app=" + "x" * 64, "no more than 63"),
        ("Bad_Prefix/app=x", "DNS subdomain"),
        ("version>abc", "single integer"),
        ("app web", "unexpected"),
    ],
)
def test_label_selector_errors(selector: str, fragment: str) -> None:
    with pytest.raises(BadRequest) as exc:
        parse_label_selector(selector)
    assert fragment in exc.value.message
    assert "unable to parse requirement" in exc.value.message


def test_label_selector_round_trips() -> None:
    sel = parse_label_selector("app=web,tier in (a,b),!x,y")
    assert str(sel) == "app=web,tier in (a,b),!x,y"
    assert parse_label_selector(str(sel)) == sel


def test_selector_from_match_labels_and_spec() -> None:
    sel = selector_from_match_labels({"app": "web", "tier": "front"})
    assert sel.matches(LABELS)
    assert not sel.matches({"app": "web"})
    spec = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["front"]},
            {"key": "gone", "operator": "DoesNotExist"},
        ],
    }
    assert selector_from_spec(spec).matches(LABELS)
    assert not selector_from_spec(spec).matches({**LABELS, "gone": "1"})
    with pytest.raises(BadRequest, match="operator"):
        selector_from_spec({"matchExpressions": [{"key": "a", "operator": "Near"}]})


OBJ = {
    "metadata": {"name": "acme", "namespace": "ns1"},
    "involvedObject": {"uid": "u-1"},
    "spec": {"replicas": 3, "paused": False},
    "status": {"phase": "Ready"},
}

FIELD_CASES = [
    ("", True),
    ("metadata.name=acme", True),
    ("metadata.name==acme", True),
    ("metadata.name!=acme", False),
    ("metadata.namespace=ns1,metadata.name=acme", True),
    ("metadata.namespace=ns2", False),
    ("involvedObject.uid=u-1", True),
    ("status.phase!=Failed", True),
    ("spec.replicas=3", True),
    ("spec.paused=false", True),
    ("spec.missing=", True),
    ("spec.missing!=x", True),
    ("metadata.name=a\\,b", False),
]


@pytest.mark.parametrize(("selector", "expected"), FIELD_CASES)
def test_field_selector_matches(selector: str, expected: bool) -> None:
    assert parse_field_selector(selector).matches(OBJ) is expected


def test_field_selector_escapes() -> None:
    sel = parse_field_selector("metadata.name=a\\,b\\=c")
    assert sel.matches({"metadata": {"name": "a,b=c"}})
    assert parse_field_selector(str(sel)) == sel


@pytest.mark.parametrize(
    ("selector", "fragment"),
    [
        ("metadata.name", "not of the form"),
        ("metadata.name=a,", "empty requirement"),
        ("metadata..name=a", "bad field path"),
        ("metadata.name=a=b", "unescaped '='"),
        ("metadata.name=a\\x", "invalid escape"),
    ],
)
def test_field_selector_errors(selector: str, fragment: str) -> None:
    with pytest.raises(BadRequest) as exc:
        parse_field_selector(selector)
    assert fragment in exc.value.message
