"""Rendering one component, and applying a trait to it, from their definitions (DESIGN §5).

A definition is the plain wire dict of a ComponentDefinition or TraitDefinition. Rendering:

1. the properties are validated against the definition's OpenAPI v3 schema *before* any
   evaluation (jsonschema Draft 2020-12, which accepts the OpenAPI 3.0 subset definitions
   use); validators are compiled once and cached by kind, name, revision and schema content,
   so an edited definition never reuses a stale validator; a compiled `jsonschema-rs`
   validator accepts valid properties quickly and `jsonschema` explains invalid ones (its
   messages and paths are the errors); top-level `default`s are filled in;
2. the schematic runs: `jsonnet` (sandboxed, `axle.render.jsonnet`), `kube` (a literal
   template with parameters written at field paths) or `helm` (a Flux `HelmRepository` +
   `HelmRelease`, values from the schematic merged with the properties).

A component gives `objects` (its primary output first, then its named auxiliary outputs in
name order, so the result is deterministic) and `outputs` (the auxiliary objects by name).
A trait's `patch` is merged into the primary object: objects merge key by key, `null`
deletes, a list of objects that all have a `name` merges item by item on that name (like
Kubernetes' strategic merge on containers, env, volumes), any other list gets the patch's
items that it does not hold yet appended (tolerations). A trait's outputs are added objects.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import jsonschema
import jsonschema_rs
import orjson
import referencing
import referencing.exceptions

from axle.errors import Cause, Invalid
from axle.render import jsonnet
from axle.utils.jsoncopy import copy_json

# (kind, name, revision, schema) -> the reference validator and, when the schema compiles
# there, a `jsonschema-rs` one that only decides "valid" quickly (k8svalidate.py does the same).
_Validators = tuple[jsonschema.protocols.Validator, jsonschema_rs.Validator | None]
_VALIDATORS: dict[tuple[str, str, str, bytes], _Validators] = {}
_MAX_CACHED = 1024


def _spec(definition: dict[str, Any]) -> dict[str, Any]:
    spec = definition.get("spec")
    return spec if isinstance(spec, dict) else {}


def _name(definition: dict[str, Any]) -> str:
    # A DefinitionRevision snapshot carries `name` at the top instead of in metadata.
    return str((definition.get("metadata") or {}).get("name") or definition.get("name") or "")


def _revision(definition: dict[str, Any]) -> str:
    latest = (definition.get("status") or {}).get("latestRevision") or {}
    meta = definition.get("metadata") or {}
    return str(latest.get("revision") or meta.get("resourceVersion") or "")


def _join(base: str, parts: Any) -> str:
    out = base
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parameter_schema(definition: dict[str, Any]) -> dict[str, Any]:
    """The definition's OpenAPI v3 schema; a kube schematic without one gets one built from
    its declared parameters."""
    spec = _spec(definition)
    schema = (spec.get("schema") or {}).get("openAPIV3Schema")
    if isinstance(schema, dict):
        return schema
    kube = (spec.get("schematic") or {}).get("kube") or {}
    props: dict[str, Any] = {}
    required = []
    for param in kube.get("parameters") or []:
        props[param["name"]] = {"type": param["type"]} if param.get("type") else {}
        if param.get("required"):
            required.append(param["name"])
    built: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        built["required"] = required
    return built


def _validator(definition: dict[str, Any], schema: dict[str, Any]) -> _Validators:
    key = (
        str(definition.get("kind", "")),
        _name(definition),
        _revision(definition),
        orjson.dumps(schema, option=orjson.OPT_SORT_KEYS),
    )
    found = _VALIDATORS.get(key)
    if found is None:
        if len(_VALIDATORS) >= _MAX_CACHED:
            _VALIDATORS.clear()
        fast: jsonschema_rs.Validator | None
        try:
            # offline: a definition's `$ref` must never make the hub fetch a URL or read a
            # file (`jsonschema` does not retrieve either: such a ref is an error there).
            fast = jsonschema_rs.Draft202012Validator(schema, validate_formats=False, offline=True)
        except (ValueError, TypeError, jsonschema_rs.ReferencingError):
            # A schema only `jsonschema` takes, or refs it cannot resolve: no fast path.
            fast = None
        # An empty registry: `jsonschema` would otherwise fetch a `$ref`'s URL (or read a
        # file:// one) by itself; a definition's refs must point inside its own schema.
        found = (jsonschema.Draft202012Validator(schema, registry=referencing.Registry()), fast)
        _VALIDATORS[key] = found
    return found


def _surely_valid(fast: jsonschema_rs.Validator | None, props: dict[str, Any]) -> bool:
    try:
        return fast is not None and bool(fast.is_valid(props))
    except (ValueError, TypeError):
        return False


def validate_parameters(
    definition: dict[str, Any], properties: dict[str, Any] | None, field: str = "properties"
) -> dict[str, Any]:
    """Validate `properties` against the definition's schema; return them with top-level
    defaults filled in (a new dict). Raises `Invalid` with one cause per bad field, each a
    path under `field` (`spec.components[0].properties.replicas`)."""
    props = copy_json(properties or {})
    schema = parameter_schema(definition)
    name = _name(definition)
    if not isinstance(props, dict):
        raise Invalid(
            f"{definition.get('kind')} {name!r}: properties must be an object",
            causes=[Cause(field=field, message="must be an object")],
        )
    causes = []
    reference, fast = _validator(definition, schema)
    try:
        errors = [] if _surely_valid(fast, props) else list(reference.iter_errors(props))
    except referencing.exceptions.Unresolvable as exc:
        message = (
            f"{definition.get('kind')} {name!r}: its parameter schema refers to {exc.ref!r}, "
            "which is not in the schema (refs to other documents are not followed)"
        )
        raise Invalid(
            message,
            kind=str(definition.get("kind") or "") or None,
            name=name,
            causes=[Cause(field="spec.schema.openAPIV3Schema", message=message)],
        ) from None
    for err in errors:
        path = list(err.absolute_path)
        if err.validator == "required":
            missing = [r for r in err.validator_value if r not in (err.instance or {})]
            path += missing[:1]
            reason = "FieldValueRequired"
        else:
            reason = "FieldValueInvalid"
        causes.append(Cause(field=_join(field, path), message=err.message, reason=reason))
    if causes:
        causes.sort(key=lambda c: c.field)
        raise Invalid(
            f"{definition.get('kind')} {name!r}: invalid parameter {causes[0].field}: "
            f"{causes[0].message}",
            kind=str(definition.get("kind") or "") or None,
            name=name,
            causes=causes,
        )
    for key, sub in (schema.get("properties") or {}).items():
        if key not in props and isinstance(sub, dict) and "default" in sub:
            props[key] = copy_json(sub["default"])
    return props


# --- kube schematic -----------------------------------------------------------------------

_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _set_path(obj: dict[str, Any], path: str, value: Any) -> None:
    parts: list[str | int] = [int(idx) if idx else key for key, idx in _SEGMENT.findall(path)]
    node: Any = obj
    for part, nxt in itertools.pairwise(parts):
        if isinstance(part, int):
            while len(node) <= part:
                node.append({} if isinstance(nxt, str) else [])
            node = node[part]
        else:
            if not isinstance(node.get(part), dict | list):
                node[part] = [] if isinstance(nxt, int) else {}
            node = node[part]
    last = parts[-1]
    if isinstance(last, int):
        while len(node) <= last:
            node.append(None)
    node[last] = copy_json(value)


def _render_kube(spec: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    kube = spec["schematic"]["kube"]
    obj: dict[str, Any] = copy_json(kube["template"])
    for param in kube.get("parameters") or []:
        if param["name"] in props:
            for path in param["fieldPaths"]:
                _set_path(obj, path, props[param["name"]])
    return obj


# --- helm schematic -----------------------------------------------------------------------


def _render_helm(
    spec: dict[str, Any], name: str, props: dict[str, Any], context: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    helm = spec["schematic"]["helm"]
    namespace = context.get("namespace")
    repo = helm.get("repository") or {}
    url = str(repo.get("url") or "")
    source_name = repo.get("name") or name
    meta: dict[str, Any] = {"name": source_name}
    if namespace:
        meta["namespace"] = namespace
    if url.startswith("oci://"):
        source = {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "OCIRepository",
            "metadata": meta,
            "spec": {
                "interval": "10m",
                "url": url.rstrip("/") + "/" + helm["chart"],
                "ref": {"tag": helm.get("version") or "latest"},
            },
        }
        chart_ref = {"kind": "OCIRepository", "name": source_name}
        release_spec: dict[str, Any] = {"chartRef": chart_ref}
    else:
        source = {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "HelmRepository",
            "metadata": meta,
            "spec": {"interval": "10m", "url": url},
        }
        chart: dict[str, Any] = {
            "chart": helm["chart"],
            "sourceRef": {"kind": "HelmRepository", "name": source_name},
        }
        if helm.get("version"):
            chart["version"] = helm["version"]
        release_spec = {"chart": {"spec": chart}}
    values = merge_patch(copy_json(helm.get("values") or {}), props.get("values") or {})
    release_spec.update(
        {"interval": "10m", "releaseName": helm.get("releaseName") or name, "values": values}
    )
    release_meta: dict[str, Any] = {"name": name}
    if namespace:
        release_meta["namespace"] = namespace
    release = {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": release_meta,
        "spec": release_spec,
    }
    return release, {"source": source}


# --- merging ------------------------------------------------------------------------------


def _named_list(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(i, dict) and "name" in i for i in items)


def merge_patch(target: Any, patch: Any) -> Any:
    """Merge a trait's `patch` into `target` in place (rules in the module docstring)."""
    if isinstance(patch, dict) and isinstance(target, dict):
        for key, value in patch.items():
            if value is None:
                target.pop(key, None)
            elif key in target:
                target[key] = merge_patch(target[key], value)
            else:
                target[key] = copy_json(value)
        return target
    if isinstance(patch, list) and isinstance(target, list):
        if _named_list(patch) and (not target or _named_list(target)):
            for item in patch:
                match = next((t for t in target if t["name"] == item["name"]), None)
                if match is None:
                    target.append(copy_json(item))
                else:
                    merge_patch(match, item)
            return target
        for item in patch:
            if item not in target:
                target.append(copy_json(item))
        return target
    return copy_json(patch)


# --- public -------------------------------------------------------------------------------


def _objects(output: Any, outputs: dict[str, Any], name: str, field: str) -> list[dict[str, Any]]:
    objects = [output, *(outputs[k] for k in sorted(outputs))]
    for obj in objects:
        if not isinstance(obj, dict) or "kind" not in obj or "apiVersion" not in obj:
            message = f"{name!r} produced something that is not a Kubernetes object"
            raise Invalid(message, causes=[Cause(field=field, message=message)])
    return objects


def render_component(
    definition: dict[str, Any],
    name: str,
    properties: dict[str, Any] | None,
    context: dict[str, Any],
    *,
    field: str = "properties",
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Render component `name` of type `definition` (a ComponentDefinition dict).

    Returns `(objects, outputs)`: the primary object then the auxiliary ones in name order,
    and the auxiliary objects by name. `context` gets `name` set to `name` if absent.
    Raises `Invalid` (field paths under `field`) for bad properties or a failing template.
    """
    spec = _spec(definition)
    def_name = _name(definition)
    props = validate_parameters(definition, properties, field)
    ctx = {**context, "name": context.get("name") or name}
    schematic = spec.get("schematic") or {}
    if schematic.get("jsonnet"):
        result = jsonnet.evaluate(def_name, schematic["jsonnet"]["template"], props, ctx)
        output, outputs = result["output"], result["outputs"]
    elif schematic.get("kube"):
        output, outputs = _render_kube(spec, props), {}
    elif schematic.get("helm"):
        output, outputs = _render_helm(spec, ctx["name"], props, ctx)
    else:
        raise Invalid(
            f"ComponentDefinition {def_name!r} has no schematic",
            causes=[Cause(field="spec.schematic", message="one of jsonnet, kube or helm")],
        )
    return _objects(output, outputs, def_name, field), dict(outputs)


def applies_to(
    trait_definition: dict[str, Any], component_type: str, workload: dict[str, Any]
) -> bool:
    """Whether the trait may be applied to a component of `component_type` whose primary
    object is `workload`. `appliesToWorkloads` entries may be `*`, a component type
    (`webservice`), a kind (`Deployment`) or a resource (`deployments.apps`)."""
    allowed = _spec(trait_definition).get("appliesToWorkloads")
    if not allowed:
        return True
    kind = str(workload.get("kind", ""))
    group = str(workload.get("apiVersion", "")).rpartition("/")[0]
    resource = f"{kind.lower()}s" + (f".{group}" if group else "")
    names = {"*", component_type, kind, resource}
    return any(a in names for a in allowed)


def apply_trait(
    trait_definition: dict[str, Any],
    objects: list[dict[str, Any]],
    properties: dict[str, Any] | None,
    context: dict[str, Any],
    *,
    component_type: str = "",
    field: str = "properties",
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Apply a trait to a rendered component: its `patch` merges into `objects[0]` and its
    outputs are appended (in name order). Returns new `(objects, outputs)`; `objects` is not
    modified. The trait's program sees `context.output` (the primary object),
    `context.outputs` and `context.name` (the primary object's name unless given).
    Raises `Invalid` when the trait does not apply to `component_type` (or the primary
    object's kind), or its properties or program fail.
    """
    trait = _name(trait_definition)
    if not objects:
        raise Invalid(f"trait {trait!r}: the component rendered no object")
    primary = objects[0]
    if not applies_to(trait_definition, component_type, primary):
        allowed = ", ".join(_spec(trait_definition).get("appliesToWorkloads") or [])
        message = (
            f"trait {trait!r} does not apply to component type {component_type!r} "
            f"({primary.get('kind')}); it applies to: {allowed}"
        )
        raise Invalid(message, name=trait, causes=[Cause(field=field, message=message)])
    props = validate_parameters(trait_definition, properties, field)
    schematic = _spec(trait_definition).get("schematic") or {}
    if not schematic.get("jsonnet"):
        message = f"trait {trait!r}: only jsonnet schematics can patch a component"
        raise Invalid(message, causes=[Cause(field="spec.schematic", message=message)])
    name = context.get("name") or (primary.get("metadata") or {}).get("name", "")
    ctx = {**context, "name": name, "output": primary, "outputs": {}}
    result = jsonnet.evaluate(trait, schematic["jsonnet"]["template"], props, ctx, kind="trait")
    patched = merge_patch(copy_json(primary), result["patch"] or {})
    added = result["outputs"]
    new_objects = [patched, *copy_json(objects[1:])]
    new_objects += _objects(patched, added, trait, field)[1:]
    return new_objects, dict(added)


def render_policy(
    definition: dict[str, Any],
    properties: dict[str, Any] | None,
    context: dict[str, Any],
    *,
    field: str = "properties",
) -> dict[str, Any]:
    """Evaluate a PolicyDefinition: validate `properties`, return its program's `output`
    (the policy's settings, e.g. target clusters, which the deploying layer interprets)."""
    name = _name(definition)
    props = validate_parameters(definition, properties, field)
    schematic = _spec(definition).get("schematic") or {}
    if not schematic.get("jsonnet"):
        message = f"policy {name!r}: only jsonnet schematics are supported for policies"
        raise Invalid(message, causes=[Cause(field="spec.schematic", message=message)])
    result = jsonnet.evaluate(name, schematic["jsonnet"]["template"], props, context, kind="policy")
    output = result["output"]
    if not isinstance(output, dict):
        message = f"policy {name!r}: output must be an object"
        raise Invalid(message, causes=[Cause(field=field, message=message)])
    return output


_KIND_WORDS = {
    "ComponentDefinition": "component type",
    "TraitDefinition": "trait",
    "PolicyDefinition": "policy",
}


def find_definition(
    catalog: dict[str, dict[str, dict[str, Any]]], kind: str, name: str, *, field: str = "type"
) -> dict[str, Any]:
    """Look a definition up in `catalog` (kind -> name -> definition, the shape of
    `builtins.load()`); raise `Invalid` at `field` naming the known ones when it is missing."""
    found = catalog.get(kind, {}).get(name)
    if found is None:
        known = ", ".join(sorted(catalog.get(kind, {})))
        message = f"unknown {_KIND_WORDS.get(kind, kind)} {name!r} (known: {known})"
        raise Invalid(
            message, causes=[Cause(field=field, message=message, reason="FieldValueNotFound")]
        )
    return found
