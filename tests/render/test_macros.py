"""The macro grammar: what parses, what is refused (field and position), and resolution."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from axle.errors import Invalid
from axle.render.macros import (
    Escape,
    Macro,
    MacroError,
    Text,
    find_macros,
    parse,
    resolve_hub,
    resolve_spoke,
)

VARIABLES: dict[str, Any] = {"replicas": 2, "image": "vllm:0.6", "debug": True, "tags": ["a"]}
DEF_OUTPUTS = {"server": {"address": "10.0.0.7", "gpu.product": "H100"}}
OBJ_OUTPUTS = {"dns": "10.96.0.10"}
SYSTEM = {"namespace": "team-a"}


def hub(value: Any) -> Any:
    return resolve_hub(
        value,
        variables=VARIABLES,
        definition_outputs=DEF_OUTPUTS,
        object_outputs=OBJ_OUTPUTS,
        system=SYSTEM,
    )


@pytest.mark.parametrize(
    ("text", "kind", "path"),
    [
        ("{{ .var.replicas }}", "hub", ".var.replicas"),
        ("{{.var.replicas}}", "hub", ".var.replicas"),
        ("{{   .def.server.address\t}}", "hub", ".def.server.address"),
        ("{{ .def.server.gpu.product }}", "hub", ".def.server.gpu.product"),
        ("{{ .obj.dns }}", "hub", ".obj.dns"),
        ("{{ .sys.namespace }}", "hub", ".sys.namespace"),
        ('{{ spoke ".def.server.address" }}', "spoke", ".def.server.address"),
        ('{{spoke ".def.server.gpu.product"}}', "spoke", ".def.server.gpu.product"),
        ('{{ spoke ".obj.dns" }}', "spoke", ".obj.dns"),
    ],
)
def test_good_macros(text: str, kind: str, path: str) -> None:
    (segment,) = parse(text)
    assert isinstance(segment, Macro)
    assert (segment.kind, segment.path, segment.position, segment.raw) == (kind, path, 0, text)


@pytest.mark.parametrize(
    ("text", "position", "words"),
    [
        ("x {{ .var.replicas", 2, "unclosed"),
        ("{{ }}", 0, "empty macro"),
        ("ab{{ var.x }}", 2, "not a macro"),
        ("{{ . }}", 0, "empty"),
        ("{{ .foo.x }}", 0, "unknown namespace"),
        ("{{ .def.server }}", 0, "wrong number"),
        ("{{ .def.a.b.c.d }}", 0, "wrong number"),
        ("{{ .var }}", 0, "wrong number"),
        ("{{ .var.a.b }}", 0, "wrong number"),
        ("{{ .var..x }}", 0, "bad name"),
        ("{{ .var.x y }}", 0, "unexpected"),
        ("ok {{ spoke .def.a.b }}", 3, "double-quoted"),
        ("{{ spoke '.def.a.b' }}", 0, "double-quoted"),
        ('{{ spoke ".def.a.b }}', 0, "unterminated"),
        ('{{ spoke ".var.x" }}', 0, "hub-context only"),
        ('{{ spoke ".sys.x" }}', 0, "unknown namespace"),
        ('{{ spoke ".def.a" }}', 0, "wrong number"),
        ('{{ spoke ".def.a.b" extra }}', 0, "expected '}}'"),
        ('{{ "abc }}', 0, "unterminated"),
        ('{{ "a\\b" }}', 0, "backslash"),
        ('{{ "a" x }}', 0, "expected '}}'"),
        ("{{ range .x }}", 0, "not a macro"),
        ("{{{ .var.x }}", 0, "not a macro"),
    ],
)
def test_bad_macros(text: str, position: int, words: str) -> None:
    with pytest.raises(MacroError) as info:
        parse(text, "spec.x")
    err = info.value
    assert isinstance(err, Invalid)
    assert err.position == position
    assert err.field == "spec.x"
    assert [c.field for c in err.causes] == ["spec.x"]
    assert err.causes[0].reason == "FieldValueInvalid"
    assert f"position {position}" in err.causes[0].message
    assert words in err.message


def test_parse_segments_and_escape() -> None:
    text = 'a {{ .var.x }} }} {{"{{"}}b'
    segments = parse(text)
    assert segments == [
        Text("a ", 0),
        Macro("{{ .var.x }}", 2, "hub", "var", ("x",)),
        Text(" }} ", 14),
        Escape('{{"{{"}}', 18, "{{"),
        Text("b", 26),
    ]
    assert "".join(s.raw for s in segments) == text


def test_find_macros_field_paths() -> None:
    value = {
        "spec": {
            "components": [
                {"properties": {"image": "repo/{{ .var.image }}", "n": 3}},
                {"properties": {"url": 'http://{{ spoke ".def.server.address" }}:80'}},
            ]
        },
        "metadata": {
            "labels": {"{{ .sys.namespace }}": "x", "app.kubernetes.io/x": "{{.obj.dns}}"}
        },
    }
    refs = find_macros(value)
    assert [(r.field, r.position, r.macro.path) for r in refs] == [
        ("spec.components[0].properties.image", 5, ".var.image"),
        ("spec.components[1].properties.url", 7, ".def.server.address"),
        ("metadata.labels[{{ .sys.namespace }}]", 0, ".sys.namespace"),
        ("metadata.labels[app.kubernetes.io/x]", 0, ".obj.dns"),
    ]


def test_find_macros_reports_bad_field() -> None:
    with pytest.raises(MacroError) as info:
        find_macros({"spec": {"a": ["ok", "x{{ .nope.y }}"]}}, "w")
    assert info.value.field == "w.spec.a[1]"
    assert info.value.position == 1


def test_single_macro_keeps_type() -> None:
    assert hub("{{ .var.replicas }}") == 2
    assert hub("{{.var.debug}}") is True
    assert hub("{{ .var.tags }}") == ["a"]
    assert hub({"replicas": "{{ .var.replicas }}"}) == {"replicas": 2}


def test_interpolation() -> None:
    assert hub("n={{ .var.replicas }} d={{ .var.debug }} t={{ .var.tags }}") == (
        'n=2 d=true t=["a"]'
    )
    assert hub("{{ .var.image }}@{{ .sys.namespace }}") == "vllm:0.6@team-a"
    assert hub("dns {{ .obj.dns }} at {{ .def.server.address }}") == ("dns 10.96.0.10 at 10.0.0.7")
    assert hub("{{ .def.server.gpu.product }}") == "H100"
    assert hub({"{{ .sys.namespace }}-key": 1}) == {"team-a-key": 1}


def test_resolve_returns_new_value() -> None:
    original = {"a": ["{{ .var.replicas }}"], "b": 1}
    result = hub(original)
    assert result == {"a": [2], "b": 1}
    assert original == {"a": ["{{ .var.replicas }}"], "b": 1}


@pytest.mark.parametrize(
    ("value", "field", "position", "words"),
    [
        ({"a": "x {{ .var.missing }}"}, "a", 2, "unknown variable 'missing'"),
        ({"a": ["{{ .def.nope.address }}"]}, "a[0]", 0, "unknown component 'nope'"),
        ({"a": "{{ .def.server.port }}"}, "a", 0, "has no output 'port'"),
        ({"a": "{{ .obj.nope }}"}, "a", 0, "unknown object output"),
        ({"a": "{{ .sys.nope }}"}, "a", 0, "unknown system output"),
    ],
)
def test_unknown_names(value: Any, field: str, position: int, words: str) -> None:
    with pytest.raises(MacroError) as info:
        hub(value)
    assert (info.value.field, info.value.position) == (field, position)
    assert words in info.value.message


def test_duplicate_key_after_resolution() -> None:
    with pytest.raises(MacroError):
        hub({"team-a": 1, "{{ .sys.namespace }}": 2})


def test_spoke_macros_left_for_agent_then_resolved() -> None:
    template = {
        "env": 'http://{{ spoke ".def.server.address" }}:{{ .var.replicas }}',
        "dns": '{{ spoke ".obj.dns" }}',
        "gpu": '{{ spoke ".def.server.gpu.product" }}',
        "lit": '{{"{{"}} x',
    }
    rendered = hub(template)
    assert rendered == {
        "env": 'http://{{ spoke ".def.server.address" }}:2',
        "dns": '{{ spoke ".obj.dns" }}',
        "gpu": '{{ spoke ".def.server.gpu.product" }}',
        "lit": '{{"{{"}} x',
    }
    final = resolve_spoke(
        rendered,
        definition_outputs={"server": {"address": "10.1.2.3", "gpu.product": "A100"}},
        object_outputs={"dns": "1.1.1.1"},
    )
    assert final == {
        "env": "http://10.1.2.3:2",
        "dns": "1.1.1.1",
        "gpu": "A100",
        "lit": "{{ x",
    }


def test_spoke_rejects_unresolved_hub_macro_and_unknown_output() -> None:
    with pytest.raises(MacroError, match="not resolved on the hub"):
        resolve_spoke({"a": "{{ .var.x }}"}, definition_outputs={}, object_outputs={})
    with pytest.raises(MacroError, match="unknown component"):
        resolve_spoke({"a": '{{ spoke ".def.x.y" }}'}, definition_outputs={}, object_outputs={})


def test_inserted_braces_are_encoded_for_the_spoke() -> None:
    variables = {"json": '{{"a": 1}}', "brace": "{"}
    out = resolve_hub(
        {"a": "{{ .var.json }}", "b": '{{ .var.brace }}{{ spoke ".obj.dns" }}'},
        variables=variables,
        definition_outputs={},
        object_outputs={},
        system={},
    )
    # Still valid grammar for the agent, which yields exactly the inserted text back.
    final = resolve_spoke(out, definition_outputs={}, object_outputs={"dns": "D"})
    assert final == {"a": '{{"a": 1}}', "b": "{D"}


_ALPHABET = st.sampled_from(
    ["{", "}", "{{", "}}", " ", ".", '"', "var", "def", "obj", "sys", "spoke", "x", "a.b", "\\"]
)


@given(st.lists(_ALPHABET, max_size=12).map("".join) | st.text(max_size=30))
def test_parse_round_trips_or_raises(text: str) -> None:
    try:
        segments = parse(text)
    except MacroError:
        return
    assert "".join(s.raw for s in segments) == text
    for segment in segments:
        if isinstance(segment, Text):
            assert "{{" not in segment.text


@given(st.lists(_ALPHABET, max_size=12).map("".join), st.text(max_size=8))
def test_hub_output_is_never_a_stray_macro(text: str, value: str) -> None:
    try:
        out = resolve_hub(
            text,
            variables={"x": value},
            definition_outputs={"a": {"b": value}},
            object_outputs={"x": value},
            system={"x": value},
        )
    except MacroError:
        return
    # Every `{{` left is a spoke macro or an escape, never a hub macro or stray braces.
    for segment in parse(out):
        assert not (isinstance(segment, Macro) and segment.kind == "hub")
        if isinstance(segment, Text):
            assert "{{" not in segment.text


@given(st.text(alphabet='{}ab "', max_size=10), st.text(alphabet="{}ab", max_size=6))
def test_hub_then_spoke_gives_inserted_text_back(value: str, suffix: str) -> None:
    # The hub encodes what it inserts; the agent's final pass must give it back unchanged.
    template = {"s": "{{ .var.x }}" + suffix.replace("{", "z"), "k": {"{{ .var.x }}": 1}}
    out = resolve_hub(
        template, variables={"x": value}, definition_outputs={}, object_outputs={}, system={}
    )
    final = resolve_spoke(out, definition_outputs={}, object_outputs={})
    assert final == {"s": value + suffix.replace("{", "z"), "k": {value: 1}}
