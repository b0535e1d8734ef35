"""Rendering a whole WorkloadProfile (or every profile of a ProfileBundle) into manifests.

This is the top of the pure render layer (DESIGN §5): it only composes the lower modules
(`macros`, `variables`, `definitions`, `k8svalidate`) and never does I/O, so the hub's
controllers, `axle render` on files and the benchmarks all share one code path. Steps, for a
profile:

1. every macro in `spec.workload` is parsed; spoke-context ones (`{{ spoke ".def.C.O" }}`)
   are checked to name a component (of a lower `deploymentPriority`, since outputs only exist
   once that component is deployed), trait and declared output, then left for the agent;
2. hub-context macros are resolved (variables, hub outputs, system values);
3. each component is rendered from its ComponentDefinition, then its traits applied in
   order (parameters are validated before evaluation, applicability checked);
4. every object is validated against the Kubernetes schemas, labelled with its workload,
   component and revision, and given the profile's labels and annotations (an object's own
   values win: the more specific level overrides, as notes §12 describe);
5. components are grouped by `deploymentPriority` (ascending, ties in profile order).

Before step 1, each `override` policy (`overrides.py`) is evaluated and merged into the
components it selects; every other policy (e.g. `topology`) is evaluated after the
components and returned in `RenderResult.policies` for the deploying layer to interpret.

Errors are `axle.errors.Invalid` whose message names the component (and trait) and whose
causes carry field paths under `spec.workload.components[i]`. The result is deterministic:
`RenderResult.to_yaml()` of the same inputs is byte-identical.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from axle.errors import Cause, Invalid
from axle.render import definitions as defs
from axle.render.k8svalidate import validate_objects
from axle.render.macros import find_macros, resolve_hub
from axle.render.overrides import OVERRIDE_POLICY, apply_override

# Re-exported: callers have always imported these from here.
from axle.render.result import Catalog as Catalog
from axle.render.result import RenderResult as RenderResult
from axle.render.result import to_yaml as to_yaml
from axle.render.variables import resolve_variables
from axle.utils.jsoncopy import copy_json

LABEL_WORKLOAD = "axle.dev/workload"
LABEL_COMPONENT = "axle.dev/component"
LABEL_REVISION = "axle.dev/revision"
_WORKLOAD = "spec.workload"


def _with_context(err: Invalid, where: str) -> Invalid:
    """`err` with `where` (component/trait) in front of its message; causes kept."""
    return Invalid(
        f"{where}: {err.message}",
        kind=err.kind,
        name=err.name,
        group=err.group,
        causes=err.causes,
    )


def _declared_outputs(
    workload: Mapping[str, Any], catalog: Catalog
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Definition outputs per component (definition defaults overridden by the profile's,
    trait outputs as `T.O`) and the object outputs, each name -> pathRef."""
    per_component: dict[str, dict[str, Any]] = {}
    for comp in workload.get("components") or []:
        found: dict[str, Any] = {}
        definition = catalog.get("ComponentDefinition", {}).get(str(comp.get("type")))
        defaults = ((definition or {}).get("spec") or {}).get("definitionOutputRefs") or []
        for ref in [*defaults, *(comp.get("definitionOutputRefs") or [])]:
            found[ref["name"]] = ref.get("pathRef")
        for trait in comp.get("traits") or []:
            tdef = catalog.get("TraitDefinition", {}).get(str(trait.get("type")))
            tdefaults = ((tdef or {}).get("spec") or {}).get("definitionOutputRefs") or []
            for ref in [*tdefaults, *(trait.get("definitionOutputRefs") or [])]:
                found[f"{trait.get('type')}.{ref['name']}"] = ref.get("pathRef")
        per_component[str(comp.get("name"))] = found
    objects = {r["name"]: r.get("pathRef") for r in workload.get("objectOutputRefs") or []}
    return per_component, objects


def _check_spoke_macros(
    workload: Mapping[str, Any],
    declared: Mapping[str, Mapping[str, Any]],
    objects: Mapping[str, Any],
) -> None:
    """Every spoke macro must name a declared output of an earlier-deployed component (or a
    declared object output); anything else would only fail later, on the spoke."""
    components = list(workload.get("components") or [])
    priority = {str(c.get("name")): int(c.get("deploymentPriority") or 0) for c in components}
    causes: list[Cause] = []
    for i, comp in enumerate(components):
        path = f"{_WORKLOAD}.components[{i}]"
        for ref in find_macros(comp, path):
            macro = ref.macro
            if macro.kind != "spoke":
                continue
            where = f"{ref.field} (at position {ref.position})"
            if macro.namespace == "obj":
                if macro.names[0] not in objects:
                    causes.append(
                        Cause(
                            field=ref.field,
                            message=f"{macro.path}: unknown object output at {where}",
                            reason="FieldValueNotFound",
                        )
                    )
                continue
            target, output = macro.names[0], ".".join(macro.names[1:])
            if target not in declared:
                message = f"{macro.path}: unknown component {target!r} at {where}"
            elif output not in declared[target]:
                known = ", ".join(sorted(declared[target])) or "none"
                message = (
                    f"{macro.path}: component {target!r} declares no output {output!r} "
                    f"(declared: {known}) at {where}"
                )
            elif priority[target] >= priority[str(comp.get("name"))]:
                message = (
                    f"{macro.path}: component {target!r} must have a lower deploymentPriority "
                    f"than {comp.get('name')!r} to provide outputs to it, at {where}"
                )
            else:
                continue
            causes.append(Cause(field=ref.field, message=message, reason="FieldValueInvalid"))
    if causes:
        raise Invalid(f"{causes[0].message}", causes=causes)


def _label(obj: dict[str, Any], labels: Mapping[str, str], annotations: Mapping[str, str]) -> None:
    """Add `labels`/`annotations` to `obj` where it does not set them itself."""
    meta = obj.setdefault("metadata", {})
    meta["labels"] = {**labels, **(meta.get("labels") or {})}
    if annotations:
        meta["annotations"] = {**annotations, **(meta.get("annotations") or {})}


def _evaluate_policy(
    catalog: dict[str, dict[str, dict[str, Any]]],
    policy: Mapping[str, Any],
    context: dict[str, Any],
    path: str,
) -> dict[str, Any]:
    """A policy's settings: its definition's program run on its validated properties."""
    pname = str(policy.get("name"))
    try:
        pdef = defs.find_definition(
            catalog, "PolicyDefinition", str(policy.get("type")), field=f"{path}.type"
        )
        return defs.render_policy(
            pdef, policy.get("properties"), context, field=f"{path}.properties"
        )
    except Invalid as err:
        raise _with_context(err, f"policy {pname!r}") from err


def profile_revision(profile: Mapping[str, Any]) -> int:
    """The revision a profile dict carries (`status.latestRevision.revision`), else 1."""
    latest = (profile.get("status") or {}).get("latestRevision") or {}
    return int(latest.get("revision") or 1)


def render_profile(
    profile: Mapping[str, Any],
    *,
    definitions: Catalog,
    variables: Mapping[str, Any] | None = None,
    definition_outputs: Mapping[str, Mapping[str, Any]] | None = None,
    object_outputs: Mapping[str, Any] | None = None,
    system: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    revision: int | None = None,
    kubernetes_version: str | None = None,
) -> RenderResult:
    """Render a WorkloadProfile (wire dict) into ordered, labelled, validated manifests.

    `definitions` is kind -> name -> definition (e.g. `builtins.load()` merged with the
    project's); `variables` the resolved variables; the hub outputs and `system` feed the
    hub-context macros. `context` may set `name` (the workload name, default the profile's),
    `namespace`, `appName`, `appRevision`, `appRevisionNum`, `cluster`, ...; `revision`
    defaults to the profile's latest revision or 1. Raises `Invalid` on any failure.
    """
    meta = profile.get("metadata") or {}
    workload_spec = copy_json((profile.get("spec") or {}).get("workload") or {})
    name = str((context or {}).get("name") or meta.get("name") or "")
    rev = revision if revision is not None else profile_revision(profile)
    base_ctx: dict[str, Any] = {
        "appName": name,
        "appRevision": f"{name}-v{rev}",
        "appRevisionNum": rev,
        **({"namespace": meta["namespace"]} if meta.get("namespace") else {}),
        **(context or {}),
    }
    base_ctx.pop("name", None)
    catalog = {kind: dict(by_name) for kind, by_name in definitions.items()}
    # Override policies change the components before anything reads them (overrides.py).
    evaluated: dict[int, dict[str, Any]] = {}
    for k, policy in enumerate(workload_spec.get("policies") or []):
        if str(policy.get("type")) != OVERRIDE_POLICY:
            continue
        ppath = f"{_WORKLOAD}.policies[{k}]"
        evaluated[k] = _evaluate_policy(catalog, policy, base_ctx, ppath)
        try:
            workload_spec["components"] = apply_override(
                workload_spec.get("components") or [], evaluated[k], field=f"{ppath}.properties"
            )
        except Invalid as err:
            raise _with_context(err, f"policy {policy.get('name')!r}") from err
    declared, objects_declared = _declared_outputs(workload_spec, definitions)
    _check_spoke_macros(workload_spec, declared, objects_declared)
    components = list(workload_spec.get("components") or [])
    resolved = resolve_hub(
        components,
        variables=variables or {},
        definition_outputs=definition_outputs or {},
        object_outputs=object_outputs or {},
        system=system or {},
        path=f"{_WORKLOAD}.components",
    )
    extra_labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    extra_annotations = {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}
    rendered: list[tuple[int, int, str, list[dict[str, Any]]]] = []
    notes: list[str] = []
    for i, comp in enumerate(resolved):
        path = f"{_WORKLOAD}.components[{i}]"
        cname = str(comp.get("name"))
        ctype = str(comp.get("type"))
        ctx = {**base_ctx, "name": cname}
        try:
            definition = defs.find_definition(
                catalog, "ComponentDefinition", ctype, field=f"{path}.type"
            )
            objects, _ = defs.render_component(
                definition, cname, comp.get("properties"), ctx, field=f"{path}.properties"
            )
        except Invalid as err:
            raise _with_context(err, f"component {cname!r}") from err
        for j, trait in enumerate(comp.get("traits") or []):
            tpath = f"{path}.traits[{j}]"
            ttype = str(trait.get("type"))
            try:
                tdef = defs.find_definition(
                    catalog, "TraitDefinition", ttype, field=f"{tpath}.type"
                )
                objects, _ = defs.apply_trait(
                    tdef,
                    objects,
                    trait.get("properties"),
                    ctx,
                    component_type=ctype,
                    field=f"{tpath}.properties",
                )
            except Invalid as err:
                raise _with_context(err, f"component {cname!r} trait {ttype!r}") from err
        labels = {
            **extra_labels,
            LABEL_WORKLOAD: name,
            LABEL_COMPONENT: cname,
            LABEL_REVISION: str(rev),
        }
        for obj in objects:
            _label(obj, labels, extra_annotations)
            # The axle labels always win over what a definition wrote.
            obj["metadata"]["labels"].update(
                {LABEL_WORKLOAD: name, LABEL_COMPONENT: cname, LABEL_REVISION: str(rev)}
            )
        try:
            notes += validate_objects(objects, version=kubernetes_version, field=f"{path}.output")
        except Invalid as err:
            raise _with_context(err, f"component {cname!r}") from err
        priority = int(comp.get("deploymentPriority") or 0)
        rendered.append((priority, i, cname, objects))
    rendered.sort(key=lambda r: (r[0], r[1]))
    groups: list[dict[str, Any]] = []
    for priority, _, cname, _objs in rendered:
        if groups and groups[-1]["priority"] == priority:
            groups[-1]["components"].append(cname)
        else:
            groups.append({"priority": priority, "components": [cname]})
    policies: dict[str, Any] = {}
    for k, policy in enumerate(workload_spec.get("policies") or []):
        ppath = f"{_WORKLOAD}.policies[{k}]"
        settings = evaluated.get(k)
        if settings is None:
            settings = _evaluate_policy(catalog, policy, base_ctx, ppath)
        policies[str(policy.get("name"))] = settings
    return RenderResult(
        name=name,
        revision=rev,
        manifests=[obj for *_, objs in rendered for obj in objs],
        priority_groups=groups,
        outputs={"definitionOutputs": declared, "objectOutputs": objects_declared},
        policies=policies,
        notes=notes,
    )


def bundle_variables(
    bundle: Mapping[str, Any],
    *,
    layers: Sequence[tuple[str, Sequence[Mapping[str, Any]]]] = (),
    values: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The variables a bundle renders with: `layers` (system, project: lowest first), then
    the bundle's inline `variableSet`, then the deployment's `values` (which win)."""
    inline = ((bundle.get("spec") or {}).get("variableSet") or {}).get("variables") or []
    name = str((bundle.get("metadata") or {}).get("name") or "bundle")
    return resolve_variables([*layers, (f"bundle {name}", inline)], values)


def render_bundle(
    bundle: Mapping[str, Any],
    profiles: Mapping[tuple[str, int], Mapping[str, Any]],
    *,
    definitions: Catalog,
    layers: Sequence[tuple[str, Sequence[Mapping[str, Any]]]] = (),
    values: Mapping[str, Any] | None = None,
    definition_outputs: Mapping[str, Mapping[str, Any]] | None = None,
    object_outputs: Mapping[str, Any] | None = None,
    system: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    kubernetes_version: str | None = None,
) -> list[RenderResult]:
    """Render every workload profile of a ProfileBundle, in the bundle's order.

    `profiles` maps (name, revision) to the profile (or its revision snapshot's content in
    WorkloadProfile shape); a reference without a revision takes the highest one present.
    Variables are resolved once with `bundle_variables`. Raises `Invalid`.
    """
    variables = bundle_variables(bundle, layers=layers, values=values)
    results = []
    refs = (bundle.get("spec") or {}).get("workloadProfiles") or []
    for i, ref in enumerate(refs):
        pname = str(ref.get("name"))
        revisions = sorted(r for n, r in profiles if n == pname)
        pinned = ref.get("revision")
        rev: int | None = int(pinned) if pinned else (revisions[-1] if revisions else None)
        profile = profiles.get((pname, rev)) if rev is not None else None
        if profile is None or rev is None:
            want = f"{pname!r} revision {rev}" if rev is not None else repr(pname)
            message = f"workload profile {want} not found"
            raise Invalid(
                message,
                causes=[
                    Cause(
                        field=f"spec.workloadProfiles[{i}]",
                        message=message,
                        reason="FieldValueNotFound",
                    )
                ],
            )
        ctx = {k: v for k, v in (context or {}).items() if k != "name"}
        try:
            results.append(
                render_profile(
                    profile,
                    definitions=definitions,
                    variables=variables,
                    definition_outputs=definition_outputs,
                    object_outputs=object_outputs,
                    system=system,
                    context=ctx,
                    revision=rev,
                    kubernetes_version=kubernetes_version,
                )
            )
        except Invalid as err:
            raise _with_context(err, f"workload profile {pname!r}") from err
    return results
