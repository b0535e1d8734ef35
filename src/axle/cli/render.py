"""`axle render`: render WorkloadProfiles or ProfileBundles from files, offline.

It reads YAML files (multi-document), admits every object exactly as the hub would (so a
file that renders here is one the hub accepts), merges any ComponentDefinition,
TraitDefinition or PolicyDefinition found (in the files or under `--definitions DIR`) over
the built-ins, treats any VariableSet as the project layer, and renders with
`axle.render.pipeline`. Bundles are rendered when present, otherwise every profile. It
never talks to a hub, so it is also the way to try a definition before installing it.

The manifests go to stdout; the Flux artifact digest each would be shipped as
(`axle.oci.build_artifact`, source `axle://render/<name>`, revision `<name>@<revision>`)
goes to stderr, so stdout stays a clean YAML/JSON stream for `kubectl apply -f -`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import yaml

from axle.cli.isolated import run_isolated
from axle.cli.state import echo_err, fail
from axle.errors import ApiError, Cause, Invalid

_DEFINITION_KINDS = ("ComponentDefinition", "TraitDefinition", "PolicyDefinition")


def _read(path: Path) -> list[dict[str, Any]]:
    """Every object in a YAML file, admitted (normalized) like the hub does."""
    # Imported here, not at the top: `axle.cli.main` must stay cheap to import (kinds ~0.1 s).
    from axle.api import kinds as _kinds  # noqa: F401  (registers every kind for admission)
    from axle.api.admission import admit
    from axle.api.registry import REGISTRY

    try:
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    except (OSError, yaml.YAMLError) as exc:
        raise Invalid(f"{path}: {exc}", causes=[Cause(field=str(path), message=str(exc))]) from exc
    objects = []
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict) or "kind" not in doc:
            message = f"{path}: document {i} is not a Kubernetes object"
            raise Invalid(message, causes=[Cause(field=f"{path}[{i}]", message=message)])
        try:
            info = REGISTRY.by_api_version(str(doc.get("apiVersion")), str(doc["kind"]))
            objects.append(admit(info, doc))
        except ApiError as err:
            raise Invalid(
                f"{path}: {doc['kind']} {(doc.get('metadata') or {}).get('name')!r}: {err.message}",
                causes=err.causes,
            ) from err
    return objects


def _artifact_digest(result_name: str, revision: str, manifests: list[dict[str, Any]]) -> str:
    from axle.oci import build_artifact

    artifact = build_artifact(
        manifests, source=f"axle://render/{result_name}", revision=f"{result_name}@{revision}"
    )
    return artifact.manifest_digest


def render_files(
    files: list[Path],
    assignments: list[str],
    definitions_dir: Path | None = None,
    revision: int | None = None,
) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """Render what `files` hold; returns `(name, revision, manifests)` per artifact.

    Raises `Invalid` for unreadable or inadmissible files and any render failure.
    """
    from axle.render import builtins
    from axle.render.pipeline import profile_revision, render_bundle, render_profile
    from axle.render.variables import parse_assignments, resolve_variables

    objects: list[dict[str, Any]] = []
    if definitions_dir is not None:
        for path in sorted(definitions_dir.glob("*.y*ml")):
            objects += _read(path)
    for path in files:
        objects += _read(path)
    catalog = builtins.load()
    for obj in objects:
        if obj["kind"] in _DEFINITION_KINDS:
            catalog.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
    project = [
        v for obj in objects if obj["kind"] == "VariableSet" for v in obj["spec"]["variables"]
    ]
    layers = [("project", project)] if project else []
    values = parse_assignments(assignments)
    profiles = [o for o in objects if o["kind"] == "WorkloadProfile"]
    bundles = [o for o in objects if o["kind"] == "ProfileBundle"]
    if not profiles:
        raise Invalid("no WorkloadProfile in the given files", causes=[Cause("files", "empty")])
    out: list[tuple[str, str, list[dict[str, Any]]]] = []
    if bundles:
        by_revision = {
            (p["metadata"]["name"], revision or profile_revision(p)): p for p in profiles
        }
        for bundle in bundles:
            results = render_bundle(
                bundle, by_revision, definitions=catalog, layers=layers, values=values
            )
            name = bundle["metadata"]["name"]
            rev = str(bundle["spec"].get("version") or 1)
            out.append((name, rev, [m for r in results for m in r.manifests]))
        return out
    variables = resolve_variables(layers, values)
    for profile in profiles:
        result = render_profile(
            profile, definitions=catalog, variables=variables, revision=revision
        )
        out.append((result.name, str(result.revision), result.manifests))
    return out


@click.command("render")
@click.option(
    "-f",
    "--filename",
    "files",
    multiple=True,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A YAML file with WorkloadProfiles/ProfileBundles (and definitions, VariableSets).",
)
@click.option("--var", "assignments", multiple=True, help="A deployment variable, NAME=VALUE.")
@click.option("--revision", type=int, default=None, help="The profile revision to label with.")
@click.option(
    "--definitions",
    "definitions_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="A directory of definition manifests, merged over the built-ins.",
)
@click.option("-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Stop a render that takes longer (seconds); it runs in a child process.",
)
def render_cmd(
    files: tuple[Path, ...],
    assignments: tuple[str, ...],
    revision: int | None,
    definitions_dir: Path | None,
    output: str,
    timeout: float,
) -> None:
    """Render profiles or bundles from files into Kubernetes manifests (no hub needed).

    Prints the manifests, then the OCI artifact digest of each render on stderr.
    """
    from axle.render.pipeline import to_yaml

    try:
        # In a child under a deadline: definitions are user code (see cli/isolated.py).
        rendered = run_isolated(
            render_files,
            list(files),
            list(assignments),
            definitions_dir,
            revision,
            timeout=timeout,
            what="rendering",
        )
    except ApiError as err:
        fail(_describe(err))
    manifests = [m for _, _, ms in rendered for m in ms]
    if output == "json":
        click.echo(
            json.dumps(
                {"apiVersion": "v1", "kind": "List", "items": manifests}, indent=2, sort_keys=True
            )
        )
    else:
        click.echo(to_yaml(manifests), nl=False)
    for name, rev, ms in rendered:
        echo_err(f"artifact {name}@{rev}: {_artifact_digest(name, rev, ms)}")


def _describe(err: ApiError) -> str:
    text = f"error: {err.message}"
    for cause in err.causes:
        text += f"\n  {cause.field}: {cause.message}"
    return text
