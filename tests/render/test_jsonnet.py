"""The Jsonnet sandbox: arguments, result shape, refused imports, bounded stack, error lines."""

from __future__ import annotations

import pytest

from axle.errors import Invalid
from axle.render.jsonnet import evaluate

PROGRAM = """function(parameter, context) {
  output: {kind: 'ConfigMap', n: context.name, x: parameter.x},
}"""


def test_parameter_and_context_are_json_values() -> None:
    result = evaluate("cm", PROGRAM, {"x": [1, "a"]}, {"name": "web"})
    assert result == {"output": {"kind": "ConfigMap", "n": "web", "x": [1, "a"]}, "outputs": {}}


def test_strings_are_data_not_code() -> None:
    result = evaluate("cm", PROGRAM, {"x": "std.exit(1) + '"}, {"name": 'a"b'})
    assert result["output"]["x"] == "std.exit(1) + '"
    assert result["output"]["n"] == 'a"b'


@pytest.mark.parametrize("stmt", ['import "x.libsonnet"', 'importstr "/etc/passwd"'])
def test_imports_are_refused(stmt: str) -> None:
    with pytest.raises(Invalid) as info:
        evaluate("bad", f"local x = {stmt}; function(parameter, context) {{output: x}}", {}, {})
    assert "imports are not allowed" in info.value.message
    assert "'bad'" in info.value.message


def test_runtime_error_names_definition_and_line() -> None:
    src = "function(parameter, context)\n  {\n    output: error 'boom',\n  }"
    with pytest.raises(Invalid) as info:
        evaluate("webservice", src, {}, {})
    assert "'webservice'" in info.value.message
    assert "line 3" in info.value.message
    assert "boom" in info.value.message
    assert info.value.causes[0].field == "spec.schematic.jsonnet.template:3"


def test_missing_field_error_has_line() -> None:
    src = "function(parameter, context)\n{output: parameter.nope}"
    with pytest.raises(Invalid) as info:
        evaluate("d", src, {}, {})
    assert "line 2" in info.value.message and "nope" in info.value.message


def test_parse_error_has_line() -> None:
    with pytest.raises(Invalid) as info:
        evaluate("d", "function(parameter, context) {\n output: ", {}, {})
    assert "line 2" in info.value.message


def test_unbounded_recursion_stops() -> None:
    src = "local f(x) = f(x + 1); function(parameter, context) {output: f(1)}"
    with pytest.raises(Invalid) as info:
        evaluate("loop", src, {}, {}, max_stack=50)
    assert "max stack frames exceeded" in info.value.message


def test_result_must_have_required_key() -> None:
    with pytest.raises(Invalid, match="'patch'"):
        evaluate("t", "function(parameter, context) {output: {}}", {}, {}, kind="trait")
    with pytest.raises(Invalid, match="'outputs' must be an object"):
        evaluate("c", "function(parameter, context) {output: {}, outputs: [1]}", {}, {})


def test_trait_result() -> None:
    src = "function(parameter, context) {patch: {spec: {replicas: parameter.n}}}"
    assert evaluate("s", src, {"n": 2}, {}, kind="trait") == {
        "patch": {"spec": {"replicas": 2}},
        "outputs": {},
    }


def test_wrapped_and_plain_evaluation_agree() -> None:
    # The fast path (arguments decoded with std.parseJson) gives what top-level arguments do.
    from axle.render import jsonnet

    src = "local k = 'a';\nfunction(parameter, context) {output: {[k]: parameter, c: context}}"
    args = ('{"n": 1.5, "big": 100000000000000000000, "s": "\\u00e9\\"x"}', '{"name": "w"}')
    wrapped = jsonnet._evaluate_wrapped("component/d", src, *args, 500)
    plain = jsonnet._evaluate_plain("component/d", "d", "component", src, *args, 500, "f")
    assert wrapped is not None and wrapped == plain


def test_a_program_that_is_not_a_function_is_its_own_result() -> None:
    assert evaluate("c", "{output: {a: 1}}", {"x": 1}, {}) == {"output": {"a": 1}, "outputs": {}}


def test_the_wrappers_names_are_not_visible_to_a_program() -> None:
    src = "function(parameter, context) {output: __axle_parameter}"
    with pytest.raises(Invalid, match="Unknown variable: __axle_parameter"):
        evaluate("d", src, {}, {})
