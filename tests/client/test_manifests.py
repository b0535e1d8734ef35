"""Manifest loading: multi-document YAML, JSON, List wrappers, directories, stdin, apply order,
and errors that name the file and the document."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from axle.client.errors import ManifestError
from axle.client.manifests import load_manifests, sort_for_delete

TENANT = "apiVersion: axle.dev/v1alpha1\nkind: Tenant\nmetadata:\n  name: acme\n"
PROJECT = "apiVersion: axle.dev/v1alpha1\nkind: Project\nmetadata:\n  name: p\n  namespace: p\n"
NS = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shared\n"
SECRET = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: shared\n"
SETTINGS = (
    "apiVersion: axle.dev/v1alpha1\nkind: Settings\nmetadata:\n  name: st\n  namespace: shared\n"
)
POOL = "apiVersion: axle.dev/v1alpha1\nkind: ComputePool\nmetadata:\n  name: pool\n  namespace: p\n"


def kinds(ms: list) -> list[str]:  # type: ignore[type-arg]
    return [m.kind for m in ms]


def test_multi_doc_sorted_for_apply(tmp_path: Path) -> None:
    f = tmp_path / "all.yaml"
    f.write_text("---\n".join([POOL, SETTINGS, SECRET, PROJECT, TENANT, NS]) + "---\n# end\n")
    ms = load_manifests([str(f)])
    assert kinds(ms) == ["Namespace", "Tenant", "Project", "Secret", "Settings", "ComputePool"]
    assert ms[0].where == f"{f} (document 5)"
    assert kinds(sort_for_delete(ms))[0] == "ComputePool"


def test_same_kind_keeps_written_order(tmp_path: Path) -> None:
    docs = [TENANT.replace("acme", n) for n in ("zeta", "alpha", "mid")]
    (tmp_path / "t.yaml").write_text("---\n".join(docs))
    assert [m.name for m in load_manifests([str(tmp_path / "t.yaml")])] == ["zeta", "alpha", "mid"]


def test_directory_files_in_name_order_and_kind_order(tmp_path: Path) -> None:
    (tmp_path / "20-projects.yaml").write_text(PROJECT)
    (tmp_path / "00-tenant.yml").write_text(TENANT)
    (tmp_path / "10-ns.json").write_text(
        json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "j"}})
    )
    (tmp_path / "README.md").write_text("not a manifest")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "x.yaml").write_text(SECRET)
    ms = load_manifests([str(tmp_path)])
    assert kinds(ms) == ["Namespace", "Tenant", "Project"]
    assert kinds(load_manifests([str(tmp_path)], recursive=True)) == [
        "Namespace",
        "Tenant",
        "Project",
        "Secret",
    ]


def test_list_is_flattened(tmp_path: Path) -> None:
    f = tmp_path / "list.yaml"
    f.write_text(
        "apiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: axle.dev/v1alpha1, kind: Project, metadata: {name: a, namespace: a}}\n"
        "- {apiVersion: axle.dev/v1alpha1, kind: Tenant, metadata: {name: t}}\n"
    )
    ms = load_manifests([str(f)])
    assert [(m.kind, m.name) for m in ms] == [("Tenant", "t"), ("Project", "a")]


def test_stdin() -> None:
    ms = load_manifests(["-"], stdin=io.StringIO(TENANT + "---\n" + NS))
    assert kinds(ms) == ["Namespace", "Tenant"]
    assert ms[0].source == "<stdin>"


def test_bad_yaml_names_file_and_document(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(TENANT + "---\n" + NS + "---\nkind: Tenant\nmetadata: {name: [unclosed\n")
    with pytest.raises(ManifestError) as info:
        load_manifests([str(f)])
    msg = str(info.value)
    assert str(f) in msg and "document 2" in msg and "invalid YAML at line" in msg


def test_bad_json_names_file(tmp_path: Path) -> None:
    f = tmp_path / "bad.json"
    f.write_text('{"apiVersion": "v1",')
    with pytest.raises(ManifestError, match=r"bad\.json \(document 0\): invalid JSON"):
        load_manifests([str(f)])


@pytest.mark.parametrize(
    "text,needle",
    [
        ("- a\n- b\n", "expected an object"),
        ("kind: Tenant\nmetadata: {name: x}\n", "no apiVersion"),
        ("apiVersion: v1\nkind: Namespace\n", "Namespace has no metadata.name"),
        ("apiVersion: v1\nkind: List\nitems:\n- {kind: Tenant}\n", "items[0]"),
    ],
)
def test_not_an_object(tmp_path: Path, text: str, needle: str) -> None:
    f = tmp_path / "x.yaml"
    f.write_text(TENANT + "---\n" + text)
    with pytest.raises(ManifestError) as info:
        load_manifests([str(f)])
    assert needle in str(info.value) and "(document 1)" in str(info.value)


def test_missing_path_and_empty_inputs(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="does not exist"):
        load_manifests([str(tmp_path / "nope.yaml")])
    with pytest.raises(ManifestError, match=r"no \.yaml"):
        load_manifests([str(tmp_path)])
    (tmp_path / "empty.yaml").write_text("# nothing\n---\n")
    with pytest.raises(ManifestError, match="no objects"):
        load_manifests([str(tmp_path / "empty.yaml")])
