"""`axle render` survives definitions that crash or never finish: it runs the render in a child.

The evaluator is native code: a Jsonnet recursion in tail position is not caught by its stack
bound and aborts the process that runs it. These tests run `axle render` as a real process,
as a user would, and expect a clear error instead of an abort.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from axle.cli.isolated import run_isolated
from axle.errors import Invalid
from axle.render.variables import parse_assignments

RUNAWAY = """\
apiVersion: axle.dev/v1alpha1
kind: ComponentDefinition
metadata: {name: runaway, namespace: team-a}
spec:
  schema:
    openAPIV3Schema: {type: object}
  schematic:
    jsonnet:
      template: |
        function(parameter, context)
          local f(n) = if n == 0 then 0 else f(n - 1) tailstrict;
          {output: {apiVersion: "v1", kind: "ConfigMap", metadata: {name: "x"},
                    data: {n: std.toString(f(100000000))}}, outputs: {}}
---
apiVersion: axle.dev/v1alpha1
kind: WorkloadProfile
metadata: {name: runaway, namespace: team-a}
spec:
  type: Application
  workload:
    components:
      - name: r
        type: runaway
        properties: {}
"""


def _render(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "runaway.yaml"
    path.write_text(RUNAWAY)
    return subprocess.run(
        [sys.executable, "-m", "axle.cli.main", "render", "-f", str(path), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_crashing_definition_is_an_error_not_an_abort(tmp_path: Path) -> None:
    proc = _render(tmp_path, "--timeout", "20")
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "rendering crashed" in proc.stderr or "did not finish" in proc.stderr
    assert proc.stdout == ""


def test_a_render_past_its_deadline_is_stopped(tmp_path: Path) -> None:
    proc = _render(tmp_path, "--timeout", "0.05")
    assert proc.returncode == 1
    assert "did not finish within 0.05 s" in proc.stderr


def test_errors_and_results_cross_the_process_boundary() -> None:
    # Library functions, not ones defined here: a child that is spawned (when this process
    # already runs Go's runtime, see isolated.py) must be able to import what it runs.
    assert run_isolated(sum, [1, 2, 3], timeout=30, what="adding") == 6
    with pytest.raises(Invalid, match="bad --var assignment"):
        run_isolated(parse_assignments, ["novalue"], timeout=30, what="parsing")
