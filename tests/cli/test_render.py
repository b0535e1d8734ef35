"""`axle render` through click's CliRunner: offline on the example files, no hub involved."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from axle.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
LLM = str(ROOT / "examples" / "bundles" / "llm-inference.yaml")
DIGEST = re.compile(r"artifact llm-inference@1\.0\.0: (sha256:[0-9a-f]{64})")


def _render(*args: str) -> Result:
    return CliRunner().invoke(cli, ["render", *args])


def _digest(result: Result) -> str:
    match = DIGEST.search(result.stderr)
    assert match is not None, result.stderr
    return match[1]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    # Point any hub connection at nothing: rendering must not need one.
    monkeypatch.setenv("AXLE_SERVER", "http://127.0.0.1:9")


def test_render_prints_manifests_and_digest() -> None:
    result = _render("-f", LLM)
    assert result.exit_code == 0, result.output
    docs = list(yaml.safe_load_all(result.stdout))
    assert [d["kind"] for d in docs][:3] == ["Deployment", "Service", "PersistentVolumeClaim"]
    again = _render("-f", LLM)
    assert _digest(result) == _digest(again)
    assert again.stdout == result.stdout


def test_var_changes_output_and_digest() -> None:
    base = _render("-f", LLM)
    changed = _render("-f", LLM, "--var", "model=Qwen/Qwen2.5-7B-Instruct")
    assert changed.exit_code == 0, changed.output
    assert "Qwen/Qwen2.5-7B-Instruct" in changed.stdout
    assert _digest(changed) != _digest(base)


def test_locked_variable_fails() -> None:
    result = _render("-f", LLM, "--var", "cacheSize=1Ti")
    assert result.exit_code == 1
    assert "variables.cacheSize" in result.stderr and "locked" in result.stderr
    assert result.stdout == ""


def test_json_output() -> None:
    result = _render("-f", LLM, "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["kind"] == "List"


def test_definitions_from_files(tmp_path: Path) -> None:
    profile = {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "WorkloadProfile",
        "metadata": {"name": "p", "namespace": "team-a"},
        "spec": {
            "type": "Application",
            "workload": {"components": [{"name": "c", "type": "config", "properties": {}}]},
        },
    }
    definition = {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "ComponentDefinition",
        "metadata": {"name": "config", "namespace": "team-a"},
        "spec": {
            "schematic": {
                "jsonnet": {
                    "template": "function(parameter, context) {output: {apiVersion: 'v1', "
                    "kind: 'ConfigMap', metadata: {name: context.name}, data: {a: 'b'}}}"
                }
            }
        },
    }
    defs = tmp_path / "defs"
    defs.mkdir()
    (defs / "config.yaml").write_text(yaml.safe_dump(definition))
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(profile))
    result = _render("-f", str(tmp_path / "p.yaml"), "--definitions", str(defs), "--revision", "4")
    assert result.exit_code == 0, result.output
    (doc,) = yaml.safe_load_all(result.stdout)
    assert doc["kind"] == "ConfigMap" and doc["metadata"]["labels"]["axle.dev/revision"] == "4"
    assert "artifact p@4: sha256:" in result.stderr


def test_unknown_trait_fails(tmp_path: Path) -> None:
    text = Path(LLM).read_text().replace("type: gateway", "type: teleport")
    (tmp_path / "bad.yaml").write_text(text)
    result = _render("-f", str(tmp_path / "bad.yaml"))
    assert result.exit_code == 1
    assert "unknown trait 'teleport'" in result.stderr
    assert "spec.workload.components[1].traits[0].type" in result.stderr
