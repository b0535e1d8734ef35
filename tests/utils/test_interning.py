"""intern_strings: values unchanged, equal short strings shared, long ones left alone."""

from __future__ import annotations

import copy

import orjson

from axle.utils.interning import MAX_INTERNED, intern_strings


def decoded(name: str) -> dict[str, object]:
    body = {
        "apiVersion": "axle.dev/v1alpha1",
        "metadata": {"name": name, "labels": {"axle.dev/aiworkload": "chat"}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}], "n": 3, "ok": True},
        "message": "x" * (MAX_INTERNED + 1),
        "list": ["Running", ["nested-value"]],
    }
    return orjson.loads(orjson.dumps(body))  # fresh string objects, as from the store


def test_values_stay_equal_and_the_same_object_is_returned() -> None:
    a = decoded("a")
    before = copy.deepcopy(a)
    assert intern_strings(a) is a
    assert a == before


def test_equal_short_strings_become_one_object_long_ones_do_not() -> None:
    a, b = intern_strings(decoded("a")), intern_strings(decoded("b"))
    assert a["apiVersion"] is b["apiVersion"]
    assert (
        a["metadata"]["labels"]["axle.dev/aiworkload"]
        is b["metadata"]["labels"]["axle.dev/aiworkload"]
    )
    assert a["status"]["conditions"][0]["status"] is b["status"]["conditions"][0]["status"]
    assert a["list"][0] is b["list"][0] and a["list"][1][0] is b["list"][1][0]
    assert a["message"] == b["message"] and a["message"] is not b["message"]


def test_a_bare_string_is_interned_too() -> None:
    text = "".join(["Deploy", "ing"])
    assert intern_strings(text) is intern_strings("".join(["Deplo", "ying"]))
