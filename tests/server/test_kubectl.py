"""The real kubectl against a real hub process: the core acceptance test of the API server.

kubectl (client-go) sends a bearer token only over TLS, so it talks to the hub's HTTPS side
(the same port as plain HTTP; see `axle.server.listener`) with `--server https://... --token T
--certificate-authority DATA_DIR/ca.crt`, or with the kubeconfig the hub writes.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from axle.server.auth import add_user

pytestmark = pytest.mark.integration

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
URL_RE = re.compile(r"http://[0-9.]+:[0-9]+")


class Hub:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.lines: list[str] = []
        self.url = ""
        cmd = [sys.executable, "-m", "axle.server.hub", "--data-dir", str(data_dir), "--port", "0"]
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        found = threading.Event()

        def reader() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line)
                m = URL_RE.search(line)
                if m and not self.url:
                    self.url = m.group(0)
                    found.set()
            found.set()

        threading.Thread(target=reader, daemon=True).start()
        found.wait(30)
        assert self.url, "hub did not start:\n" + "".join(self.lines)

    @property
    def https(self) -> str:
        return self.url.replace("http://", "https://")

    @property
    def token(self) -> str:
        return (self.data_dir / "admin-token").read_text().strip()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    # `make test` installs kubectl (scripts/system-deps.sh); its absence is a broken setup to
    # report, not a reason to pass without the kubectl acceptance tests.
    assert os.path.exists(KUBECTL), f"kubectl not found at {KUBECTL}: run `make system-deps`"
    h = Hub(tmp_path_factory.mktemp("hub"))
    try:
        yield h
    finally:
        code = h.stop()
        assert code == 0, "hub did not stop cleanly:\n" + "".join(h.lines)


def kubectl(hub: Hub, *args: str, stdin: str | None = None, check: bool = True) -> str:
    cmd = [
        KUBECTL,
        "--server",
        hub.https,
        "--token",
        hub.token,
        "--certificate-authority",
        str(hub.data_dir / "ca.crt"),
        *args,
    ]
    env = {**os.environ, "KUBECONFIG": "/dev/null", "HOME": str(hub.data_dir)}
    res = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60, env=env)
    if check:
        assert res.returncode == 0, f"kubectl {' '.join(args)} failed:\n{res.stdout}{res.stderr}"
    return res.stdout + res.stderr


TENANT = """\
apiVersion: axle.dev/v1alpha1
kind: Tenant
metadata:
  name: acme
spec:
  displayName: {display}
  tenantRoleMapping:
    groups: [acme-platform]
  gpuLimits:
    NVIDIA-H100: 8
"""

CONFIGMAP = """\
apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  namespace: demo
data:
{data}
"""


def test_get_on_an_empty_hub(hub: Hub) -> None:
    out = kubectl(hub, "get", "tenants")
    assert "No resources found" in out
    assert "default" in kubectl(hub, "get", "namespaces")


def test_kubeconfig_written_by_the_hub_works(hub: Hub) -> None:
    res = subprocess.run(
        [KUBECTL, "--kubeconfig", str(hub.data_dir / "kubeconfig"), "get", "namespaces"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOME": str(hub.data_dir)},
    )
    assert res.returncode == 0, res.stderr
    assert "axle-system" in res.stdout


def test_apply_get_describe_delete_an_axle_kind(hub: Hub, tmp_path: Path) -> None:
    manifest = tmp_path / "tenant.yaml"
    manifest.write_text(TENANT.format(display="ACME"))
    assert "tenant.axle.dev/acme created" in kubectl(hub, "apply", "-f", str(manifest))
    assert "unchanged" in kubectl(hub, "apply", "-f", str(manifest))
    manifest.write_text(TENANT.format(display="ACME Research"))
    # Client-side apply of a kind kubectl does not know: a JSON merge patch.
    assert "tenant.axle.dev/acme configured" in kubectl(hub, "apply", "-f", str(manifest))

    doc = yaml.safe_load(kubectl(hub, "get", "tenant", "acme", "-o", "yaml"))
    assert doc["spec"]["displayName"] == "ACME Research"
    assert doc["kind"] == "Tenant" and doc["apiVersion"] == "axle.dev/v1alpha1"

    table = kubectl(hub, "get", "tenants")
    header = table.splitlines()[0].split()
    assert header[0] == "NAME" and "STATUS" in header and "AGE" in header
    assert table.splitlines()[1].startswith("acme")
    assert "DISPLAY" in kubectl(hub, "get", "tnt", "-o", "wide")

    # The controller marks the tenant Ready and records an Event that describe lists.
    deadline = time.monotonic() + 30
    while True:
        described = kubectl(hub, "describe", "tenant", "acme")
        if "Events:" in described and "Ready" in described.split("Events:")[1]:
            break
        assert time.monotonic() < deadline, described
        time.sleep(0.2)
    assert "Name:" in described and "acme" in described

    out = kubectl(hub, "delete", "-f", str(manifest), "--wait=true", "--timeout=30s")
    assert 'tenant.axle.dev "acme" deleted' in out
    assert "No resources found" in kubectl(hub, "get", "tenants")


def test_apply_core_kinds_with_strategic_merge(hub: Hub, tmp_path: Path) -> None:
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(CONFIGMAP.format(data='  a: "1"'))
    out = kubectl(hub, "apply", "-f", str(manifest))
    assert "namespace/demo created" in out and "configmap/cfg created" in out
    manifest.write_text(CONFIGMAP.format(data='  a: "2"\n  b: "3"'))
    assert "configmap/cfg configured" in kubectl(hub, "apply", "-f", str(manifest))
    data = yaml.safe_load(kubectl(hub, "get", "cm", "cfg", "-n", "demo", "-o", "yaml"))["data"]
    assert data == {"a": "2", "b": "3"}
    # Dropping a key from the manifest removes it (three-way merge with last-applied).
    manifest.write_text(CONFIGMAP.format(data='  a: "2"'))
    kubectl(hub, "apply", "-f", str(manifest))
    data = yaml.safe_load(kubectl(hub, "get", "cm", "cfg", "-n", "demo", "-o", "yaml"))["data"]
    assert data == {"a": "2"}
    assert "cfg" in kubectl(hub, "get", "configmaps", "-A")
    kubectl(hub, "describe", "configmap", "cfg", "-n", "demo")


def test_server_side_apply(hub: Hub, tmp_path: Path) -> None:
    manifest = tmp_path / "ssa.yaml"
    manifest.write_text(TENANT.format(display="SSA").replace("acme", "ssa"))
    assert "tenant.axle.dev/ssa serverside-applied" in kubectl(
        hub, "apply", "--server-side", "-f", str(manifest)
    )
    manifest.write_text(TENANT.format(display="SSA two").replace("acme", "ssa"))
    kubectl(hub, "apply", "--server-side", "-f", str(manifest))
    doc = yaml.safe_load(
        kubectl(hub, "get", "tenant", "ssa", "-o", "yaml", "--show-managed-fields")
    )
    assert doc["spec"]["displayName"] == "SSA two"
    managers = {(m["manager"], m["operation"]) for m in doc["metadata"]["managedFields"]}
    assert ("kubectl", "Apply") in managers
    # Another manager changing the same field conflicts unless it forces.
    manifest.write_text(TENANT.format(display="other").replace("acme", "ssa"))
    out = kubectl(
        hub,
        "apply",
        "--server-side",
        "--field-manager",
        "other",
        "-f",
        str(manifest),
        check=False,
    )
    assert "conflict" in out.lower()
    kubectl(
        hub,
        "apply",
        "--server-side",
        "--field-manager",
        "other",
        "--force-conflicts",
        "-f",
        str(manifest),
    )
    kubectl(hub, "delete", "tenant", "ssa", "--wait=false")


def test_get_watch_streams_changes(hub: Hub, tmp_path: Path) -> None:
    manifest = tmp_path / "w.yaml"
    manifest.write_text(TENANT.format(display="W").replace("acme", "watched"))
    kubectl(hub, "apply", "-f", str(manifest))
    cmd = [
        KUBECTL,
        "--server",
        hub.https,
        "--token",
        hub.token,
        "--certificate-authority",
        str(hub.data_dir / "ca.crt"),
        "get",
        "tenants",
        "-w",
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "KUBECONFIG": "/dev/null", "HOME": str(hub.data_dir)},
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []

    def wait_line(pred: object, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            seen.append(line)
            if pred(line):  # type: ignore[operator]
                return line
        raise AssertionError(f"no matching line; kubectl printed: {seen}")

    try:
        wait_line(lambda s: s.startswith("NAME"))
        wait_line(lambda s: s.startswith("watched"))
        manifest.write_text(TENANT.format(display="W2").replace("acme", "watched2"))
        kubectl(hub, "apply", "-f", str(manifest))
        wait_line(lambda s: s.startswith("watched2"))
    finally:
        proc.kill()
        proc.wait()


def test_errors_are_kubernetes_statuses(hub: Hub, tmp_path: Path) -> None:
    out = kubectl(hub, "get", "widgets", check=False)
    assert "the server doesn't have a resource type" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text(TENANT.format(display="x").replace("displayName", "colour"))
    out = kubectl(hub, "apply", "-f", str(bad), check=False)
    assert "colour" in out and ("unknown field" in out or "not declared" in out), out
    out = kubectl(hub, "get", "tenant", "missing", check=False)
    assert 'tenants.axle.dev "missing" not found' in out


def test_plain_http_still_serves_the_sdk(hub: Hub) -> None:
    r = httpx.get(f"{hub.url}/apis", headers={"Authorization": f"Bearer {hub.token}"})
    assert r.status_code == 200 and r.json()["kind"] == "APIGroupList"
    ctx = ssl.create_default_context(cafile=str(hub.data_dir / "ca.crt"))
    r = httpx.get(f"{hub.https}/healthz", verify=ctx)
    assert r.text == "ok"


def test_create_generators_send_protobuf(hub: Hub) -> None:
    # `kubectl create <kind>` uses typed clients, which send protobuf bodies.
    assert "namespace/gen created" in kubectl(hub, "create", "namespace", "gen")
    kubectl(hub, "create", "secret", "generic", "s1", "-n", "gen", "--from-literal=a=b")
    kubectl(hub, "create", "configmap", "c1", "-n", "gen", "--from-literal=x=y")
    kubectl(hub, "create", "role", "r1", "-n", "gen", "--verb=get", "--resource=configmaps")
    kubectl(hub, "create", "rolebinding", "rb1", "-n", "gen", "--role=r1", "--group=g1")
    secret = yaml.safe_load(kubectl(hub, "get", "secret", "s1", "-n", "gen", "-o", "yaml"))
    assert secret["data"] == {"a": "Yg=="} and "generateName" not in secret["metadata"]
    binding = yaml.safe_load(kubectl(hub, "get", "rolebinding", "rb1", "-n", "gen", "-o", "yaml"))
    assert binding["roleRef"]["name"] == "r1"
    assert binding["subjects"][0]["name"] == "g1"


def test_auth_can_i_and_whoami(hub: Hub) -> None:
    assert kubectl(hub, "auth", "can-i", "create", "tenants").strip().startswith("yes")
    token = add_user(hub.data_dir, "vera", ["outsiders"])
    cmd = [
        KUBECTL,
        "--server",
        hub.https,
        "--token",
        token,
        "--certificate-authority",
        str(hub.data_dir / "ca.crt"),
        "auth",
        "can-i",
        "create",
        "tenants",
    ]
    env = {**os.environ, "KUBECONFIG": "/dev/null", "HOME": str(hub.data_dir)}
    # The hub re-reads its tokens file within a second of a change: poll until it knows vera.
    deadline = time.monotonic() + 20
    while True:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
        if "Unauthorized" not in out.stderr or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert out.stdout.strip() == "no", out.stdout + out.stderr
    assert "admin" in kubectl(hub, "auth", "whoami")


def test_diff_dry_run_and_wait(hub: Hub, tmp_path: Path) -> None:
    manifest = tmp_path / "d.yaml"
    manifest.write_text(TENANT.format(display="Before").replace("acme", "dif"))
    kubectl(hub, "apply", "-f", str(manifest))
    kubectl(hub, "wait", "--for=condition=Ready", "tenant/dif", "--timeout=30s")
    manifest.write_text(TENANT.format(display="After").replace("acme", "dif"))
    out = kubectl(hub, "diff", "-f", str(manifest), check=False)
    assert "-  displayName: Before" in out and "+  displayName: After" in out
    changed = [line for line in out.splitlines() if line.startswith(("+ ", "- ", "+  ", "-  "))]
    assert not any("resourceVersion:" in line for line in changed), out
    assert "(server dry run)" in kubectl(hub, "apply", "--dry-run=server", "-f", str(manifest))
    doc = yaml.safe_load(kubectl(hub, "get", "tenant", "dif", "-o", "yaml"))
    assert doc["spec"]["displayName"] == "Before"
    kubectl(hub, "delete", "tenant", "dif", "--wait=false")
