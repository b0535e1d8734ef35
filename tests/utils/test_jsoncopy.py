"""copy_json: an equal, fully private copy of JSON values; other values still copied."""

from __future__ import annotations

from typing import Any

from axle.utils.jsoncopy import copy_json


def test_an_object_comes_back_equal_and_shares_nothing() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "a", "labels": {"x": "1"}, "finalizers": ["f"]},
        "spec": {"n": 3, "ratio": 0.5, "on": True, "off": None, "items": [{"k": [1, 2]}]},
    }
    copied = copy_json(obj)
    assert copied == obj
    copied["metadata"]["labels"]["x"] = "2"
    copied["spec"]["items"][0]["k"].append(3)
    assert obj["metadata"]["labels"] == {"x": "1"}
    assert obj["spec"]["items"][0]["k"] == [1, 2]


def test_scalars_are_returned_as_they_are() -> None:
    for value in (None, "s", 7, 1.5, True):
        assert copy_json(value) == value


def test_what_json_cannot_hold_is_still_copied_faithfully() -> None:
    keyed = {1: ["a"]}  # a non-string key
    copied = copy_json(keyed)
    assert copied == keyed and copied[1] is not keyed[1]
    big = {"n": 2**70}
    assert copy_json(big) == big
    pair = (["a"], ["b"])
    copied_pair = copy_json(pair)
    assert copied_pair == pair and isinstance(copied_pair, tuple)
    assert copied_pair[0] is not pair[0]
