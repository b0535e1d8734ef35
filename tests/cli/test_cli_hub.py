"""The CLI against a real hub (in-process on a loopback port, controllers running): the
quickstart applied, tables, describe with events, deletion held by a finalizer."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli.conftest import Axle
from tests.client.hubthread import HubThread

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubThread]:
    h = HubThread(tmp_path_factory.mktemp("hub") / "data").start()
    try:
        yield h
    finally:
        h.stop()


@pytest.fixture
def real(hub: HubThread, isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> HubThread:
    monkeypatch.setenv("AXLE_SERVER", hub.url)
    monkeypatch.setenv("AXLE_TOKEN", hub.token)
    return hub


def columns(line: str) -> list[str]:
    return re.split(r"\s{3,}", line.strip())


def poll(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


def phases(axle: Axle, kinds: str) -> dict[str, str]:
    r = axle("get", kinds, "-A", "-o", "json")
    items = json.loads(r.stdout)["items"] if r.exit_code == 0 else []
    return {
        f"{i['kind']}/{i['metadata']['name']}": (i.get("status") or {}).get("phase", "")
        for i in items
    }


def test_quickstart_apply_get_describe_delete(real: HubThread, axle: Axle) -> None:
    r = axle("apply", "-f", str(QUICKSTART))
    assert r.exit_code == 0, r.output
    applied = r.stdout.splitlines()
    assert applied[:2] == ["namespace/acme-shared created", "tenant.axle.dev/acme created"]
    assert "project.axle.dev/ml-prod created" in applied
    assert "settings.axle.dev/ml-prod-settings created" in applied
    # Applying again changes nothing. (Secrets are left out: their stringData is folded into
    # data on every write, and whether that counts as a change is the hub's business.)
    again = axle("apply", "-f", str(QUICKSTART)).stdout.splitlines()
    assert len(again) == len(applied)
    assert all(x.endswith(" unchanged") for x in again if not x.startswith("secret/")), again

    poll(
        lambda: (
            (p := phases(axle, "tenants,projects"))
            and all(v == "Ready" for v in p.values())
            and len(p) == 3
        ),
        "tenant and projects Ready",
    )
    r = axle("get", "tenants,projects", "-A")
    tenants, projects = r.stdout.split("\n\n")
    assert columns(tenants.splitlines()[0])[:2] == ["NAME", "STATUS"]
    assert columns(tenants.splitlines()[1])[:2] == ["tenant.axle.dev/acme", "Ready"]
    head = columns(projects.splitlines()[0])
    assert head[:2] == ["NAMESPACE", "NAME"] and "TENANT" in head and head[-1] == "AGE"
    rows = {columns(x)[1]: columns(x) for x in projects.splitlines()[1:]}
    assert set(rows) == {"project.axle.dev/ml-prod", "project.axle.dev/ml-research"}
    assert rows["project.axle.dev/ml-prod"][0] == "ml-prod"

    wide = axle("get", "projects", "-A", "-o", "wide").stdout.splitlines()
    assert "DISPLAY NAME" in columns(wide[0])
    assert axle("get", "project", "ml-prod", "-n", "ml-prod", "-o", "name").stdout.strip() == (
        "project.axle.dev/ml-prod"
    )

    r = axle("describe", "tenant", "acme")
    assert r.exit_code == 0, r.output
    assert "Name:         acme" in r.stdout and "Kind:         Tenant" in r.stdout
    lines = r.stdout.splitlines()
    cond = lines.index("  Conditions:") + 1
    assert columns(lines[cond]) == ["Type", "Status", "Reason", "Message", "Last Transition"]
    assert any(columns(x)[:2] == ["Ready", "True"] for x in lines[cond + 2 :])
    assert any(line.startswith("Events:") for line in lines)

    # The tenant's finalizer holds it while its projects exist, and --wait says so.
    r = axle("delete", "tenant", "acme", "--wait", "--timeout", "1")
    assert r.exit_code == 1
    assert 'tenant.axle.dev "acme" is being deleted; held by finalizers:' in r.stderr
    assert "timed out after 1s" in r.stderr
    r = axle("delete", "project", "ml-prod", "-n", "ml-prod", "--wait")
    assert r.exit_code == 0, r.output
    r = axle("delete", "project/ml-research", "-n", "ml-research", "--wait")
    assert r.stdout.strip() == 'project.axle.dev "ml-research" deleted'
    # With its projects gone, the tenant's earlier deletion completes.
    r = poll(lambda: (g := axle("get", "tenant", "acme")).exit_code == 1 and g, "tenant gone")
    assert r.stderr.strip() == 'Error from server (NotFound): tenants.axle.dev "acme" not found'


def test_errors_from_the_real_server(real: HubThread, axle: Axle) -> None:
    bad = "apiVersion: axle.dev/v1alpha1\nkind: Tenant\nmetadata: {name: t1}\nspec: {bogus: 1}\n"
    r = axle("apply", "-f", "-", input=bad)
    assert r.exit_code == 1
    assert r.stderr.startswith(
        "Error from server (Invalid): error when applying <stdin> (document 0)"
    )
    assert "bogus" in r.stderr
    r = axle("get", "widgets")
    assert r.exit_code == 1 and 'resource type "widgets"' in r.stderr
    r = axle("get", "tenants", "--token", "wrong")
    assert r.exit_code == 1 and r.stderr.startswith("Error from server (Unauthorized)")


def test_version_login_and_yaml(
    real: HubThread, axle: Axle, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = axle("version")
    assert r.exit_code == 0
    assert r.stdout.splitlines()[0] == "Client Version: 0.1.0"
    assert r.stdout.splitlines()[1].startswith("Server Version: ")
    monkeypatch.delenv("AXLE_SERVER")
    monkeypatch.delenv("AXLE_TOKEN")
    r = axle("login", "--server", real.url, "--token", real.token, "--context", "local")
    assert r.exit_code == 0, r.output
    ns = "yaml-check"
    r = axle(
        "apply", "-f", "-", input=f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n"
    )
    assert r.stdout.strip() == f"namespace/{ns} created"
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, labels: {app: x}}\ndata: {a: b}\n"
    assert axle("apply", "-n", ns, "-f", "-", input=cm).stdout.strip() == "configmap/c created"
    got = yaml.safe_load(axle("get", "cm", "c", "-n", ns, "-o", "yaml").stdout)
    assert got["data"] == {"a": "b"} and got["metadata"]["namespace"] == ns
    assert "managedFields" not in got["metadata"]
    assert axle("get", "cm", "-n", ns, "-l", "app=x", "-o", "name").stdout.strip() == "configmap/c"
    assert axle("get", "cm", "-n", ns, "-l", "app=y").stderr.strip() == (
        f"No resources found in {ns} namespace."
    )


def test_forbidden_is_the_servers_message(real: HubThread, axle: Axle) -> None:
    from axle.server.auth import add_user

    token = add_user(real.settings.data_dir, "nobody", ["no-such-group"])
    # The hub picks up the tokens file on its own schedule: 401 until it has read it.
    r = poll(
        lambda: "Forbidden" in (g := axle("get", "tenants", "--token", token)).stderr and g,
        "the new user to be known (403 instead of 401)",
    )
    assert r.exit_code == 1
    assert r.stderr.startswith("Error from server (Forbidden): ")
    assert "nobody" in r.stderr and "tenants" in r.stderr
    r = axle("delete", "tenant", "whatever", "--token", token)
    assert r.exit_code == 1 and r.stderr.startswith("Error from server (Forbidden): ")
