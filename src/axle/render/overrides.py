"""The `override` policy: changes to a profile's components, merged in before they render.

KubeVela's override policy, as axle reads it. The policy's (validated, evaluated) output is
`{components: [{name?, type?, properties?, traits?}]}`; each entry *selects* components by
`name` and/or `type` (neither: every component) and changes each one it selects:

- `properties` are deep-merged over the component's (RFC 7386 JSON merge patch: objects
  merge key by key, any other value replaces, `null` removes the key), so an override states
  only what differs (`{replicas: 5}`);
- `traits` are merged by `type`: an existing trait's properties are deep-merged the same way,
  a new type is appended after the component's own traits, and `disable: true` removes the
  trait of that type (removing one the component does not have changes nothing).

Entries and override policies apply in the order written. An entry that selects no component
is an error at `spec.workload.policies[i].properties.components[j]`: a typo in a name would
otherwise silently deploy the unchanged profile. This runs on the profile's own components
before macros are checked and resolved, so an override may hold macros like any property.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from axle.errors import Cause, Invalid

# The PolicyDefinition whose output is applied here (built-in, or a user's of the same name).
OVERRIDE_POLICY = "override"


def merge_properties(target: Any, patch: Any) -> Any:
    """`patch` merged over `target` as an RFC 7386 JSON merge patch; returns a new value."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_properties(merged.get(key), value)
    return copy.deepcopy(merged)


def _selects(entry: Mapping[str, Any], component: Mapping[str, Any]) -> bool:
    if entry.get("name") is not None and entry["name"] != component.get("name"):
        return False
    return entry.get("type") is None or entry["type"] == component.get("type")


def _apply_traits(component: dict[str, Any], traits: Sequence[Mapping[str, Any]]) -> None:
    current: list[dict[str, Any]] = list(component.get("traits") or [])
    for trait in traits:
        ttype = trait.get("type")
        index = next((k for k, t in enumerate(current) if t.get("type") == ttype), None)
        if trait.get("disable"):
            if index is not None:
                del current[index]
            continue
        if index is None:
            added: dict[str, Any] = {"type": ttype}
            if trait.get("properties") is not None:
                added["properties"] = copy.deepcopy(trait["properties"])
            current.append(added)
        elif trait.get("properties") is not None:
            existing = dict(current[index])
            existing["properties"] = merge_properties(
                existing.get("properties") or {}, trait["properties"]
            )
            current[index] = existing
    if current or "traits" in component:
        component["traits"] = current


def apply_override(
    components: Sequence[Mapping[str, Any]], settings: Mapping[str, Any], *, field: str
) -> list[dict[str, Any]]:
    """The components with the override policy's `settings` (its evaluated output) applied.

    `field` is the policy's properties path (`spec.workload.policies[0].properties`); an entry
    selecting nothing raises `Invalid` at `{field}.components[j]`. The input is not modified.
    """
    result = [copy.deepcopy(dict(c)) for c in components]
    for j, entry in enumerate(settings.get("components") or []):
        selected = [c for c in result if _selects(entry, c)]
        if not selected:
            wanted = " and ".join(
                f"{key} {entry[key]!r}" for key in ("name", "type") if entry.get(key) is not None
            )
            known = ", ".join(f"{c.get('name')} ({c.get('type')})" for c in result) or "none"
            message = (
                f"override selects no component with {wanted or 'any name or type'} "
                f"(components: {known})"
            )
            raise Invalid(
                message,
                causes=[
                    Cause(
                        field=f"{field}.components[{j}]",
                        message=message,
                        reason="FieldValueNotFound",
                    )
                ],
            )
        for comp in selected:
            if entry.get("properties") is not None:
                comp["properties"] = merge_properties(
                    comp.get("properties") or {}, entry["properties"]
                )
            if entry.get("traits"):
                _apply_traits(comp, entry["traits"])
    return result
