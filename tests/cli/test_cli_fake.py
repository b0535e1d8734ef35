"""The CLI's output and exit codes against the fake hub: tables, formats, errors, describe,
delete, apply verdicts, contexts."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
import yaml

from tests.cli.conftest import Axle
from tests.client.fakehub import FakeHub

TENANTS = """\
apiVersion: axle.dev/v1alpha1
kind: Tenant
metadata: {name: acme, labels: {tier: gold}}
spec: {displayName: ACME}
---
apiVersion: axle.dev/v1alpha1
kind: Tenant
metadata: {name: beta, labels: {tier: silver}}
"""
PROJECT = """\
apiVersion: axle.dev/v1alpha1
kind: Project
metadata: {name: ml, namespace: team-a}
spec: {tenantRef: {name: acme}}
"""


def seed(fake: FakeHub) -> None:
    fake.seed("Tenant", "acme", status={"phase": "Ready", "message": "all good"})
    fake.seed(
        "Tenant", "beta", metadata={"labels": {"tier": "silver"}}, status={"phase": "Pending"}
    )
    fake.seed("Project", "ml", "team-a", status={"phase": "Ready"})
    fake.seed("Project", "web", "team-b", status={"phase": "Ready"})


def columns(line: str) -> list[str]:
    return re.split(r"\s{3,}", line.strip())


def test_apply_created_unchanged_configured(fake: FakeHub, axle: Axle, tmp_path: Path) -> None:
    (tmp_path / "10-projects.yaml").write_text(PROJECT)
    (tmp_path / "00-tenants.yaml").write_text(TENANTS)
    r = axle("apply", "-f", str(tmp_path))
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [
        "tenant.axle.dev/acme created",
        "tenant.axle.dev/beta created",
        "project.axle.dev/ml created",
    ]
    r = axle("apply", "-f", str(tmp_path / "00-tenants.yaml"))
    assert r.stdout.splitlines() == [
        "tenant.axle.dev/acme unchanged",
        "tenant.axle.dev/beta unchanged",
    ]
    changed = TENANTS.replace("ACME", "Acme Corp")
    r = axle("apply", "-f", "-", input=changed)
    assert r.stdout.splitlines() == [
        "tenant.axle.dev/acme configured",
        "tenant.axle.dev/beta unchanged",
    ]
    r = axle("apply", "--dry-run", "-f", "-", input=changed.replace("Acme Corp", "Dry"))
    assert r.stdout.splitlines()[0] == "tenant.axle.dev/acme configured (server dry run)"
    assert fake.objects[("axle.dev", "tenants", "", "acme")]["spec"]["displayName"] == "Acme Corp"
    r = axle("apply", "--client-side", "-f", "-", input=changed.replace("Acme Corp", "Client"))
    assert r.stdout.splitlines()[0] == "tenant.axle.dev/acme configured"
    assert fake.requests[-1].headers["content-type"] == "application/merge-patch+json"


def test_apply_reports_each_failure_and_continues(fake: FakeHub, axle: Axle) -> None:
    bad = TENANTS.replace("name: acme", "name: ACME")
    r = axle("apply", "-f", "-", input=bad)
    assert r.exit_code == 1
    assert r.stdout.strip() == "tenant.axle.dev/beta created"
    assert r.stderr.startswith(
        "Error from server (Invalid): error when applying <stdin> (document 0): "
        'Tenant "ACME" is invalid'
    )


def test_apply_bad_yaml_names_document(fake: FakeHub, axle: Axle, tmp_path: Path) -> None:
    f = tmp_path / "t.yaml"
    f.write_text(TENANTS + "---\nkind: [\n")
    r = axle("apply", "-f", str(f))
    assert r.exit_code == 1
    assert f"error: {f} (document 2): invalid YAML" in r.stderr
    assert not fake.objects  # nothing applied when the input is bad


def test_get_table(fake: FakeHub, axle: Axle) -> None:
    seed(fake)
    r = axle("get", "tenants")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert columns(lines[0]) == ["NAME", "STATUS", "AGE"]
    assert columns(lines[1])[:2] == ["acme", "Ready"]
    assert columns(lines[2])[:2] == ["beta", "Pending"]
    # Columns are aligned: every row's second column starts where the header's does.
    assert {line.index(columns(line)[1]) for line in lines} == {lines[0].index("STATUS")}
    wide = axle("get", "tenants", "-o", "wide").stdout.splitlines()
    assert columns(wide[0]) == ["NAME", "STATUS", "AGE", "MESSAGE"]
    assert columns(wide[1])[-1] == "all good"
    gold = axle("get", "tn", "-l", "tier=silver").stdout.splitlines()
    assert [columns(x)[0] for x in gold[1:]] == ["beta"]


def test_get_age_is_humanized(fake: FakeHub, axle: Axle) -> None:
    seed(fake)
    ages = [columns(line)[2] for line in axle("get", "tenants").stdout.splitlines()[1:]]
    # The fake sends raw timestamps (from 2026-01-01), which the CLI humanizes like kubectl.
    assert all(re.fullmatch(r"\d+(y\d+d|y|d|d\d+h|h|m|s)", a) for a in ages), ages


def test_get_all_namespaces_and_namespace(fake: FakeHub, axle: Axle) -> None:
    seed(fake)
    lines = axle("get", "projects", "-A").stdout.splitlines()
    assert columns(lines[0])[:2] == ["NAMESPACE", "NAME"]
    assert [columns(x)[:2] for x in lines[1:]] == [["team-a", "ml"], ["team-b", "web"]]
    lines = axle("get", "projects", "-n", "team-b").stdout.splitlines()
    assert [columns(x)[0] for x in lines[1:]] == ["web"]
    # -n before the command works as well.
    lines = axle("-n", "team-a", "get", "projects").stdout.splitlines()
    assert [columns(x)[0] for x in lines[1:]] == ["ml"]


def test_get_several_kinds(fake: FakeHub, axle: Axle) -> None:
    seed(fake)
    r = axle("get", "tenants,projects", "-A")
    sections = r.stdout.split("\n\n")
    assert len(sections) == 2
    assert columns(sections[0].splitlines()[1])[0] == "tenant.axle.dev/acme"
    assert columns(sections[1].splitlines()[0])[:2] == ["NAMESPACE", "NAME"]
    assert columns(sections[1].splitlines()[1])[:2] == ["team-a", "project.axle.dev/ml"]


def test_get_formats(fake: FakeHub, axle: Axle) -> None:
    seed(fake)
    fake.update(
        "Tenant",
        "acme",
        metadata={
            **fake.objects[("axle.dev", "tenants", "", "acme")]["metadata"],
            "managedFields": [{"manager": "axle"}],
        },
    )
    one = yaml.safe_load(axle("get", "tenant", "acme", "-o", "yaml").stdout)
    assert one["kind"] == "Tenant" and one["metadata"]["name"] == "acme"
    assert "managedFields" not in one["metadata"]
    many = json.loads(axle("get", "tenants", "-o", "json").stdout)
    assert many["kind"] == "List"
    assert [i["metadata"]["name"] for i in many["items"]] == ["acme", "beta"]
    assert all(i["kind"] == "Tenant" for i in many["items"])
    names = axle("get", "tenants,projects", "-A", "-o", "name").stdout.splitlines()
    assert names == [
        "tenant.axle.dev/acme",
        "tenant.axle.dev/beta",
        "project.axle.dev/ml",
        "project.axle.dev/web",
    ]
    assert axle("get", "tenant/acme", "-o", "name").stdout.strip() == "tenant.axle.dev/acme"


def test_get_errors(fake: FakeHub, axle: Axle) -> None:
    seed(fake)
    r = axle("get", "tenant", "nope")
    assert r.exit_code == 1
    assert r.stderr.strip() == 'Error from server (NotFound): tenants.axle.dev "nope" not found'
    r = axle("get", "tenant", "acme", "nope")
    assert r.exit_code == 1 and columns(r.stdout.splitlines()[1])[0] == "acme"
    r = axle("get", "gizmos")
    assert r.exit_code == 1
    assert r.stderr.strip() == 'error: the server doesn\'t have a resource type "gizmos"'
    r = axle("get", "projects", "-n", "empty")
    assert r.exit_code == 0 and r.stdout == ""
    assert r.stderr.strip() == "No resources found in empty namespace."
    r = axle("get")
    assert r.exit_code == 2 and "You must specify the type of resource" in r.stderr


def test_unauthorized_and_unreachable(
    fake: FakeHub, axle: Axle, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = axle("get", "tenants", "--token", "wrong")
    assert r.exit_code == 1
    assert r.stderr.strip() == "Error from server (Unauthorized): Unauthorized"
    monkeypatch.setattr("axle.cli.state.TRANSPORT", None)
    r = axle("get", "tenants", "--server", "http://127.0.0.1:1")
    assert r.exit_code == 1
    assert "cannot reach the axle hub at http://127.0.0.1:1" in r.stderr
    assert "axle up" in r.stderr


def test_describe(fake: FakeHub, axle: Axle) -> None:
    fake.seed(
        "Project",
        "ml",
        "team-a",
        metadata={"labels": {"axle.dev/tenant": "acme"}},
        spec={"tenantRef": {"name": "acme"}, "gpuLimits": {"NVIDIA-A100": 4}},
        status={
            "phase": "NotReady",
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "TenantNotReady",
                    "message": "tenant acme is not Ready",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                }
            ],
        },
    )
    fake.seed(
        "Event",
        "ml.1",
        "team-a",
        involvedObject={"kind": "Project", "name": "ml", "namespace": "team-a", "uid": "uid-ml"},
        type="Warning",
        reason="Waiting",
        message="tenant acme is not Ready",
        source={"component": "project-controller"},
        lastTimestamp="2026-01-01T00:00:00Z",
    )
    r = axle("describe", "project", "ml", "-n", "team-a")
    assert r.exit_code == 0, r.output
    text = r.stdout
    for needle in (
        "Name:         ml",
        "Namespace:    team-a",
        "Labels:       axle.dev/tenant=acme",
        "Annotations:  <none>",
        "API Version:  axle.dev/v1alpha1",
        "Kind:         Project",
        "  Tenant Ref:",
        "    NVIDIA-A100:  4",
        "  Phase:  NotReady",
    ):
        assert needle in text, needle
    lines = text.splitlines()
    head = lines.index("  Conditions:") + 1
    assert columns(lines[head]) == ["Type", "Status", "Reason", "Message", "Last Transition"]
    assert columns(lines[head + 2])[:4] == [
        "Ready",
        "False",
        "TenantNotReady",
        "tenant acme is not Ready",
    ]
    ev = lines.index("Events:") + 1
    assert columns(lines[ev]) == ["Type", "Reason", "Age", "From", "Message"]
    assert columns(lines[ev + 2])[0:2] == ["Warning", "Waiting"]
    assert columns(lines[ev + 2])[3:] == ["project-controller", "tenant acme is not Ready"]


def test_delete(fake: FakeHub, axle: Axle, tmp_path: Path) -> None:
    seed(fake)
    r = axle("delete", "tenant", "acme", "beta")
    assert r.exit_code == 0
    assert r.stdout.splitlines() == [
        'tenant.axle.dev "acme" deleted',
        'tenant.axle.dev "beta" deleted',
    ]
    r = axle("delete", "tenant", "acme")
    assert r.exit_code == 1
    assert 'Error from server (NotFound): tenants.axle.dev "acme" not found' in r.stderr
    assert axle("delete", "tenant", "acme", "--ignore-not-found").exit_code == 0
    r = axle("delete", "project/ml", "-n", "team-a", "--wait")
    assert r.stdout.strip() == 'project.axle.dev "ml" deleted'
    (tmp_path / "p.yaml").write_text(PROJECT.replace("ml", "web").replace("team-a", "team-b"))
    r = axle("delete", "-f", str(tmp_path / "p.yaml"))
    assert r.stdout.strip() == 'project.axle.dev "web" deleted'
    assert not fake.objects
    r = axle("delete", "tenant")
    assert r.exit_code == 1 and "no name was specified" in r.stderr


def test_version(fake: FakeHub, axle: Axle, monkeypatch: pytest.MonkeyPatch) -> None:
    r = axle("version")
    assert r.stdout.splitlines() == ["Client Version: 0.1.0", "Server Version: v0.1.0-fake"]
    monkeypatch.setattr("axle.cli.state.TRANSPORT", None)
    r = axle("version", "--server", "http://127.0.0.1:1")
    assert r.exit_code == 0 and r.stdout.strip() == "Client Version: 0.1.0"
    assert "Server Version: unavailable (http://127.0.0.1:1)" in r.stderr


def test_login_and_contexts(
    fake: FakeHub, axle: Axle, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AXLE_SERVER")
    monkeypatch.delenv("AXLE_TOKEN")
    r = axle("login", "--server", "http://fake.hub:8080", "--token", "bad")
    assert r.exit_code == 1 and "Unauthorized" in r.stderr
    assert not isolated_env.exists()
    r = axle("login", "--server", "http://fake.hub:8080/", "--token", fake.token)
    assert r.exit_code == 0, r.output
    assert 'as context "fake.hub:8080"' in r.stdout
    assert stat.S_IMODE(isolated_env.stat().st_mode) == 0o600
    # The saved context is what later commands use.
    fake.seed("Tenant", "acme")
    assert axle("get", "tenants", "-o", "name").stdout.strip() == "tenant.axle.dev/acme"
    r = axle(
        "login", "--server", "http://other:1", "--token", "x", "--context", "other", "--no-check"
    )
    assert r.exit_code == 0
    lines = axle("config", "get-contexts").stdout.splitlines()
    assert columns(lines[0]) == ["CURRENT", "NAME", "SERVER", "NAMESPACE"]
    assert [columns(x)[:2] for x in lines[1:]] == [
        ["fake.hub:8080", "http://fake.hub:8080"],
        ["*", "other"],
    ]
    assert axle("config", "current-context").stdout.strip() == "other"
    assert axle("config", "use-context", "fake.hub:8080").exit_code == 0
    assert axle("config", "current-context").stdout.strip() == "fake.hub:8080"
    r = axle("config", "use-context", "nope")
    assert r.exit_code == 1 and 'no context exists with the name: "nope"' in r.stderr
    r = axle("get", "tenants", "--context", "nope")
    assert r.exit_code == 1 and 'context "nope" does not exist' in r.stderr


def test_verbose_logs_requests(fake: FakeHub, axle: Axle) -> None:
    r = axle("get", "tenants", "-v")
    assert r.exit_code == 0
    assert "GET /apis/axle.dev/v1alpha1/tenants" in r.stderr


def test_colour_only_on_a_terminal() -> None:
    import io

    from axle.cli.printers import Out, TableView

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    view = TableView(["NAME", "STATUS"], [["acme", "Ready"], ["beta", "Failed"]])
    plain, tty = io.StringIO(), Tty()
    Out(plain).table(view)
    Out(tty).table(view)
    assert "\x1b[" not in plain.getvalue()
    assert plain.getvalue().splitlines() == ["NAME   STATUS", "acme   Ready", "beta   Failed"]
    coloured = tty.getvalue()
    assert "\x1b[32mReady" in coloured and "\x1b[31mFailed" in coloured
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain.getvalue()


def test_show_labels(fake: FakeHub, axle: Axle) -> None:
    seed(fake)
    lines = axle("get", "tenants", "--show-labels").stdout.splitlines()
    assert columns(lines[0]) == ["NAME", "STATUS", "AGE", "LABELS"]
    assert columns(lines[1])[-1] == "<none>"
    assert columns(lines[2])[-1] == "tier=silver"


def test_up_flags_override_env(axle: Axle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from axle.server import hub
    from axle.settings import HubSettings

    seen: list[HubSettings] = []

    def fake_run(settings: HubSettings, *, on_ready: object = None) -> None:
        seen.append(settings)
        assert callable(on_ready)
        on_ready("http://127.0.0.1:4321")

    monkeypatch.setattr(hub, "run", fake_run)
    monkeypatch.setenv("AXLE_PORT", "9999")
    monkeypatch.setenv("AXLE_HOST", "0.0.0.0")
    monkeypatch.setenv("AXLE_CONTROLLERS", "false")
    r = axle("up", "--data-dir", str(tmp_path / "d"), "--port", "0")
    assert r.exit_code == 0, r.output
    s = seen[0]
    assert (s.data_dir, s.port, s.host, s.controllers) == (tmp_path / "d", 0, "0.0.0.0", False)
    assert r.stdout.startswith("axle hub serving on http://127.0.0.1:4321\n")
    assert f"admin token: {(tmp_path / 'd' / 'admin-token').resolve()}" in r.stdout
    monkeypatch.setenv("AXLE_PORT", "not-a-port")
    r = axle("up")
    assert r.exit_code == 1 and "invalid hub settings" in r.stderr


def test_api_resources(fake: FakeHub, axle: Axle) -> None:
    lines = axle("api-resources").stdout.splitlines()
    assert columns(lines[0]) == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    rows = {columns(x)[0]: columns(x) for x in lines[1:]}
    assert rows["computepools"] == [
        "computepools",
        "cp",
        "axle.dev/v1alpha1",
        "true",
        "ComputePool",
    ]
    assert "tenants/status" not in rows
    cluster = axle("api-resources", "--namespaced", "false", "--api-group", "axle.dev").stdout
    assert [columns(x)[0] for x in cluster.splitlines()[1:]] == ["tenants"]


def test_delete_by_selector_and_all(fake: FakeHub, axle: Axle) -> None:
    seed(fake)
    r = axle("delete", "tenants", "-l", "tier=silver")
    assert r.exit_code == 0 and r.stdout.strip() == 'tenant.axle.dev "beta" deleted'
    r = axle("delete", "projects", "--all", "-n", "team-a", "--dry-run")
    assert r.stdout.strip() == 'project.axle.dev "ml" deleted (server dry run)'
    assert ("axle.dev", "projects", "team-a", "ml") in fake.objects
    r = axle("delete", "projects", "--all", "-n", "team-a")
    assert r.stdout.strip() == 'project.axle.dev "ml" deleted'
    r = axle("delete", "projects", "--all", "-n", "team-a")
    assert r.exit_code == 0 and r.stderr.strip() == "No resources found"
    r = axle("delete", "tenant", "acme", "-l", "x=y")
    assert r.exit_code == 2 and "names cannot be given with --selector" in r.stderr
