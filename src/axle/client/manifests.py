"""Read manifests from a file, a directory or stdin, and put them in the order to apply them.

Accepts what `kubectl apply -f` accepts: YAML (many documents per file), JSON, and `kind: List`
(or `FooList`) wrappers, which are flattened. Every object keeps where it came from (file and
document index) so an error can point at it. Objects are sorted so that what others live in or
refer to exists first (Namespaces, Tenants, Projects, Secrets, Settings, ...), stably, so
manifests of the same kind keep the order the user wrote them in; deletion uses the reverse.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml

from axle.client.errors import ManifestError

SUFFIXES = (".yaml", ".yml", ".json")

# Kinds that others depend on, in the order they must exist. Everything else comes after,
# in the order written; role bindings follow the roles they bind.
APPLY_ORDER = (
    "Namespace",
    "Tenant",
    "Project",
    "Secret",
    "ConfigMap",
    "Settings",
    "VariableSet",
    "ClusterRole",
    "Role",
    "ClusterRoleBinding",
    "RoleBinding",
    "ComputeConfig",
    "Compute",
    "ComponentDefinition",
    "TraitDefinition",
    "PolicyDefinition",
    "WorkloadProfile",
    "ProfileBundle",
    "ComputePool",
    "Environment",
)


@dataclass(frozen=True)
class Manifest:
    """One object read from a manifest source, with where it came from."""

    obj: dict[str, Any]
    source: str
    index: int  # the document's index in its file (0-based), as kubectl reports it

    @property
    def where(self) -> str:
        return f"{self.source} (document {self.index})"

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def name(self) -> str:
        meta = self.obj.get("metadata") or {}
        return str(meta.get("name") or meta.get("generateName") or "")


def apply_rank(kind: str) -> int:
    return APPLY_ORDER.index(kind) if kind in APPLY_ORDER else len(APPLY_ORDER)


def sort_for_apply(manifests: Iterable[Manifest]) -> list[Manifest]:
    return sorted(manifests, key=lambda m: apply_rank(m.kind))


def sort_for_delete(manifests: Iterable[Manifest]) -> list[Manifest]:
    return list(reversed(sort_for_apply(manifests)))


def _check_object(doc: Any, where: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise ManifestError(f"{where}: expected an object (a mapping), got {type(doc).__name__}")
    missing = [key for key in ("apiVersion", "kind") if not doc.get(key)]
    if missing:
        raise ManifestError(f"{where}: the object has no {' and no '.join(missing)}")
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or not (meta.get("name") or meta.get("generateName")):
        raise ManifestError(f"{where}: {doc['kind']} has no metadata.name")
    return doc


def _is_list(doc: dict[str, Any]) -> bool:
    kind = str(doc.get("kind", ""))
    return kind.endswith("List") and isinstance(doc.get("items"), list)


def parse_documents(text: str, source: str) -> list[Manifest]:
    """All objects in one file's text (YAML stream or JSON), lists flattened."""
    docs: list[Any]
    if source.endswith(".json"):
        try:
            docs = [json.loads(text)]
        except json.JSONDecodeError as exc:
            raise ManifestError(
                f"{source} (document 0): invalid JSON at line {exc.lineno} column {exc.colno}: "
                f"{exc.msg}"
            ) from exc
    else:
        docs = []
        loader = yaml.safe_load_all(text)
        while True:
            try:
                docs.append(next(loader))
            except StopIteration:
                break
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                at = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
                problem = getattr(exc, "problem", None) or str(exc)
                raise ManifestError(
                    f"{source} (document {len(docs)}): invalid YAML{at}: {problem}"
                ) from exc
    out: list[Manifest] = []
    for index, doc in enumerate(docs):
        if doc is None:  # an empty document (`---` at the end, or only comments)
            continue
        where = f"{source} (document {index})"
        if isinstance(doc, dict) and _is_list(doc):
            for j, item in enumerate(doc["items"]):
                out.append(Manifest(_check_object(item, f"{where} items[{j}]"), source, index))
            continue
        out.append(Manifest(_check_object(doc, where), source, index))
    return out


def _files_of(path: Path, recursive: bool) -> list[Path]:
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in path.glob(pattern) if p.is_file() and p.suffix in SUFFIXES)


def load_manifests(
    sources: Sequence[str], *, recursive: bool = False, stdin: IO[str] | None = None
) -> list[Manifest]:
    """Objects from every FILE, DIR or `-` (stdin) in `sources`, sorted for apply."""
    found: list[Manifest] = []
    for src in sources:
        if src == "-":
            found += parse_documents((stdin or sys.stdin).read(), "<stdin>")
            continue
        path = Path(src)
        if path.is_dir():
            files = _files_of(path, recursive)
            if not files:
                raise ManifestError(f"{src}: no .yaml, .yml or .json files in this directory")
        elif path.exists():
            files = [path]
        else:
            raise ManifestError(f'the path "{src}" does not exist')
        for file in files:
            try:
                text = file.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                raise ManifestError(f"{file}: cannot read: {exc}") from exc
            found += parse_documents(text, str(file))
    if not found:
        raise ManifestError(f"no objects passed to apply (read {', '.join(sources)})")
    return sort_for_apply(found)
