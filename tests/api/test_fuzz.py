"""Property: whatever a client sends, admission answers with an object or a clear API error
(`Invalid` / `BadRequest`), never a crash; and what it accepts it accepts again unchanged."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from axle.api.admission import admit
from axle.api.registry import REGISTRY
from axle.errors import BadRequest, Invalid
from tests.api.manifests import MINIMAL

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.extend(_paths(value, (*prefix, i)))
    return out


def _replace(obj: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    cur = obj
    for step in path[:-1]:
        cur = cur[step]
    cur[path[-1]] = value
    return obj


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    kind = draw(st.sampled_from(sorted(MINIMAL)))
    obj = copy.deepcopy(MINIMAL[kind])
    paths = [p for p in _paths(obj) if p and p[0] not in ("apiVersion", "kind")]
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        obj = _replace(obj, path, draw(_json))
        paths = [p for p in _paths(obj) if p and p[0] not in ("apiVersion", "kind")]
    if draw(st.booleans()):
        obj.setdefault("spec" if "spec" in obj else "extra", {})
        if isinstance(obj.get("spec"), dict):
            obj["spec"][draw(st.text(min_size=1, max_size=6))] = draw(_json)
    return kind, obj


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_admit_never_crashes(case: tuple[str, dict[str, Any]]) -> None:
    kind, obj = case
    info = REGISTRY.by_api_version(MINIMAL[kind]["apiVersion"], kind)
    before = copy.deepcopy(obj)
    try:
        out = admit(info, obj)
    except Invalid as exc:
        assert exc.causes and exc.message.startswith(f"{kind}")
        return
    except BadRequest:
        return
    finally:
        assert obj == before
    assert admit(info, out) == out
