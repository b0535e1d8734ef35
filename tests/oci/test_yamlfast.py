"""The fast YAML writer says exactly what PyYAML says, or nothing."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from axle.oci import yamlfast
from axle.oci.artifact import pyyaml_text
from tests.oci.conftest import sample_manifests

pyyaml = pyyaml_text  # the reference: what the artifact builder writes without yamlfast


# Strings near every rule: numbers, booleans, nulls, dates, indicators, `: `, ` #`, quotes,
# spaces at the ends, very long keys, non-ASCII, line breaks.
TRICKY = [
    "8080",
    "-1",
    "0x1F",
    "0o17",
    "017",
    "1_000",
    "1:20",
    "1.5",
    ".inf",
    "-.inf",
    ".nan",
    "1e3",
    "true",
    "True",
    "yes",
    "No",
    "on",
    "OFF",
    "y",
    "n",
    "~",
    "null",
    "Null",
    "",
    " ",
    "-",
    "- a",
    "a:",
    "a: b",
    "a:b",
    "http://x:80/p",
    "a #b",
    "a#b",
    "#a",
    "=",
    "<<",
    "?",
    "? a",
    ":a",
    "2024-01-01",
    "2001-12-14t21:59:43.10-05:00",
    "'q'",
    '"q"',
    "a'b",
    "a  b",
    " a",
    "a ",
    "a\tb",
    "a\nb",
    "é",
    "nvidia.com/gpu",
    "app.kubernetes.io/name",
    "k" * 130,
    "@a",
    "%a",
    "`a",
    "!a",
    "&a",
    "*a",
    "|",
    ">",
    "[a]",
    "{a}",
    "a,b",
    "a]b",
    "$(VAR)",
    "--port=8080",
]
strings = st.one_of(
    st.sampled_from(TRICKY),
    st.text(max_size=12),
    # Mostly what the fast path writes itself, so that it is what gets compared.
    st.from_regex(r"[a-z0-9.:/@$, _-]{0,10}", fullmatch=True),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), strings)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(strings, inner, max_size=4)
    ),
    max_leaves=25,
)
documents = st.dictionaries(strings, values, min_size=1, max_size=6)


@settings(max_examples=400, deadline=None)
@given(documents)
def test_the_same_bytes_as_pyyaml_or_none(doc: dict[str, Any]) -> None:
    fast = yamlfast.dump(doc)
    assert fast is None or fast == pyyaml(doc)


def test_kubernetes_objects_take_the_fast_path() -> None:
    # As the render worker sends them: plain JSON values, nothing shared.
    for obj in json.loads(json.dumps(sample_manifests(3))):
        fast = yamlfast.dump(obj)
        assert fast is not None
        assert fast == pyyaml(obj)


def test_what_it_cannot_say_it_leaves_to_pyyaml() -> None:
    assert yamlfast.dump({"a": 1.5}) is None
    assert yamlfast.dump({"a": [[1]]}) is None
    assert yamlfast.dump({"a": "it's"}) is None
    assert yamlfast.dump({1: "a"}) is None  # type: ignore[dict-item]
    assert yamlfast.dump({}) is None
    assert yamlfast.dump({"port": "8080", "on": True}) == "'on': true\nport: '8080'\n"


def test_a_shared_object_is_left_to_pyyaml_for_its_anchors() -> None:
    labels = {"app": "web"}
    obj = {"metadata": {"labels": labels}, "spec": {"selector": {"matchLabels": labels}}}
    assert yamlfast.dump(obj) is None
    assert "&id001" in pyyaml(obj)
    # Equal but distinct objects are not shared: no anchors, fast path.
    copied = {"metadata": {"labels": dict(labels)}, "spec": {"selector": {"matchLabels": labels}}}
    assert yamlfast.dump(copied) == pyyaml(copied)


def test_keys_of_mixed_types_are_left_to_pyyaml() -> None:
    assert yamlfast.dump({"a": {1: "x", "b": "y"}}) is None  # type: ignore[dict-item]
