"""`axle clone KIND SRC NEW`: a new object with the spec of an existing profile or definition.

A WorkloadProfile's spec is immutable (every spec is a numbered DefinitionRevision, which
bundles pin), so the way to change one is to start an edited copy: clone it, then apply the
changes to the clone. The same works for ProfileBundles and the definition kinds (e.g. a
built-in from `axle-system` copied into a project to adapt it).

The clone gets SRC's spec (or, with `--revision N`, the spec of SRC's DefinitionRevision
`<SRC>-v<N>`), and its labels and annotations except the system's: keys under `axle.dev`
(bookkeeping the hub writes), `kubectl.kubernetes.io` (last-applied-configuration) and
`app.kubernetes.io/managed-by` (the mark of release-managed built-ins, which the clone is
not). Nothing of SRC's identity or state is copied: no uid, resourceVersion, generation,
creationTimestamp, ownerReferences, finalizers, managedFields or status. The hub then treats
NEW as any new object (it gets its own revision 1).
"""

from __future__ import annotations

from typing import IO, Any

import click

from axle.cli.printers import Out, clean, object_name, to_json, to_yaml
from axle.cli.state import connection_options, globals_of, namespace_option, open_client, run
from axle.client import Client
from axle.client.discovery import Resource

# Kinds clone accepts, and (for those with DefinitionRevisions) the snapshot field.
CLONABLE = {
    "WorkloadProfile": "workloadProfile",
    "ComponentDefinition": "componentDefinition",
    "TraitDefinition": "traitDefinition",
    "PolicyDefinition": "policyDefinition",
    "ProfileBundle": None,
}
# Labels the DefinitionRevision controller puts on a source's revisions.
SOURCE_KIND_LABEL = "axle.dev/definition-kind"
SOURCE_NAME_LABEL = "axle.dev/definition-name"
_SYSTEM_DOMAINS = ("axle.dev", "kubectl.kubernetes.io")
_SYSTEM_KEYS = {"app.kubernetes.io/managed-by"}
# Metadata that is SRC's identity or state, never the clone's.
_KEPT_METADATA = ("labels", "annotations")
# What the hub fills in on create; a dry run's answer is printed without it.
_ASSIGNED = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields")


class CloneError(click.ClickException):
    """A clone that cannot be made (unknown revision, wrong kind): exit 1, nothing created."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.message}", file=file, err=file is None)


def is_system_key(key: str) -> bool:
    """Whether a label or annotation key is the system's (not copied to a clone)."""
    if key in _SYSTEM_KEYS:
        return True
    prefix, slash, _ = key.partition("/")
    if not slash:
        return False
    return any(prefix == d or prefix.endswith("." + d) for d in _SYSTEM_DOMAINS)


def _user_keys(values: Any) -> dict[str, Any]:
    if not isinstance(values, dict):
        return {}
    return {k: v for k, v in values.items() if not is_system_key(str(k))}


def clone_body(
    src: dict[str, Any], new_name: str, namespace: str | None, spec: Any
) -> dict[str, Any]:
    """The object to create: SRC's kind, `spec`, its user labels/annotations, a new name."""
    meta: dict[str, Any] = {"name": new_name}
    if namespace:
        meta["namespace"] = namespace
    src_meta = src.get("metadata") or {}
    for key in _KEPT_METADATA:
        kept = _user_keys(src_meta.get(key))
        if kept:
            meta[key] = kept
    body: dict[str, Any] = {"apiVersion": src["apiVersion"], "kind": src["kind"], "metadata": meta}
    if spec is not None:
        body["spec"] = spec
    return body


async def revision_spec(c: Client, src: dict[str, Any], revision: int) -> Any:
    """The spec SRC had at `revision`, from its DefinitionRevision snapshot."""
    kind = str(src["kind"])
    snapshot_field = CLONABLE.get(kind)
    meta = src["metadata"]
    name, namespace = meta["name"], meta.get("namespace")
    if snapshot_field is None:
        raise CloneError(
            f"{kind} has no numbered revisions: --revision applies to "
            "workload profiles and definitions"
        )
    listed = await c.list(
        "definitionrevisions",
        namespace,
        label_selector=f"{SOURCE_KIND_LABEL}={kind},{SOURCE_NAME_LABEL}={name}",
    )
    uid = meta.get("uid")
    mine = [
        r
        for r in listed["items"]
        if not uid
        or not (r.get("metadata") or {}).get("ownerReferences")
        or any(o.get("uid") == uid for o in r["metadata"]["ownerReferences"])
    ]
    for rev in mine:
        spec = rev.get("spec") or {}
        if int(spec.get("revision") or 0) == revision:
            snapshot = spec.get(snapshot_field) or {}
            return snapshot.get("spec")
    known = (
        ", ".join(
            str(n) for n in sorted(int((r.get("spec") or {}).get("revision") or 0) for r in mine)
        )
        or "none"
    )
    raise CloneError(f"{kind.lower()} {name} has no revision {revision} (revisions: {known})")


@click.command("clone", short_help="Copy a profile, bundle or definition under a new name.")
@click.argument("kind", metavar="KIND")
@click.argument("src", metavar="SRC")
@click.argument("new", metavar="NEW")
@click.option(
    "--to-namespace",
    metavar="NS2",
    default=None,
    help="Create the clone in this namespace (default: SRC's).",
)
@click.option(
    "--revision",
    type=click.IntRange(min=1),
    default=None,
    help="Clone the spec of SRC's revision N (workload profiles and definitions).",
)
@click.option("--dry-run", is_flag=True, help="Let the hub check the clone without storing it.")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["name", "yaml", "json"]),
    default=None,
    help="Print the created object (yaml, json) or its name instead of the summary line.",
)
@namespace_option
@connection_options
@click.pass_context
def clone_cmd(
    ctx: click.Context,
    kind: str,
    src: str,
    new: str,
    to_namespace: str | None,
    revision: int | None,
    dry_run: bool,
    output: str | None,
) -> None:
    """Create NEW with the spec of SRC (a WorkloadProfile, ProfileBundle, ComponentDefinition,
    TraitDefinition or PolicyDefinition), its labels and annotations (the system's left out)
    and nothing of its state. A WorkloadProfile cannot be edited: clone it and change the
    clone.

    \b
      axle clone workloadprofile llm llm-tuned -n ml-prod
      axle clone wp llm llm-v1 --revision 1
      axle clone componentdefinition webservice my-web -n axle-system --to-namespace ml-prod
    """
    g = globals_of(ctx)
    out = Out()

    async def body() -> None:
        async with open_client(ctx) as c:
            res: Resource = await c.resolve(kind)
            if res.kind not in CLONABLE or not res.group.startswith("axle.dev"):
                raise click.UsageError(
                    f"cannot clone {res.plural}: clone copies workloadprofiles, profilebundles, "
                    "componentdefinitions, traitdefinitions and policydefinitions"
                )
            source = await c.get(res, src, g.namespace)
            spec = source.get("spec")
            if revision is not None:
                spec = await revision_spec(c, source, revision)
            namespace = to_namespace or (source.get("metadata") or {}).get("namespace")
            # NEW existing already is the hub's 409 AlreadyExists, said as it says it.
            created = await c.create(
                clone_body(source, new, namespace, spec), namespace, dry_run=dry_run
            )
        if dry_run:
            # Nothing was stored: what the hub would assign is not part of the object (so the
            # printed YAML can be edited and applied as it is).
            meta = {k: v for k, v in (created.get("metadata") or {}).items() if k not in _ASSIGNED}
            created = {k: v for k, v in created.items() if k != "status"} | {"metadata": meta}
        if output == "yaml":
            out.echo(to_yaml(clean(created)).rstrip("\n"))
        elif output == "json":
            out.echo(to_json(clean(created)))
        elif output == "name":
            out.echo(object_name(res, created))
        else:
            origin = f"{(source.get('metadata') or {}).get('namespace') or ''}/{src}".lstrip("/")
            what = f"{origin} revision {revision}" if revision is not None else origin
            suffix = " (server dry run)" if dry_run else ""
            out.echo(f"{object_name(res, created)} created from {what}{suffix}")

    run(body())
