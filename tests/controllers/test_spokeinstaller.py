"""The spoke installer: one agent-host child for simulated clusters, manifests for real ones."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from axle.controllers.spokeinstaller import (
    AgentRequest,
    DefaultInstaller,
    InstallError,
    ManifestInstaller,
    SimAgentHost,
    agent_manifests,
    is_simulated,
)
from tests.controllers.helpers import eventually

SIM_KUBECONFIG = """
apiVersion: v1
kind: Config
clusters:
- name: demo
  cluster: {server: "sim://demo"}
contexts:
- {name: demo-user@demo, context: {cluster: demo, user: demo-user}}
current-context: demo-user@demo
users:
- {name: demo-user, user: {token: abc}}
"""
REAL_KUBECONFIG = SIM_KUBECONFIG.replace("sim://demo", "https://10.0.0.5:6443")

# A stand-in for `axle spoke-agent host`: records every stdin line in lines.jsonl.
RECORDER = (
    "import sys, pathlib\n"
    "out = pathlib.Path(sys.argv[1]) / 'lines.jsonl'\n"
    "for line in sys.stdin:\n"
    "    with out.open('a') as f:\n"
    "        f.write(line)\n"
    "        f.flush()\n"
)


def request(spoke: str = "demo", kubeconfig: str = SIM_KUBECONFIG) -> AgentRequest:
    return AgentRequest("http://127.0.0.1:8080", "abcdef.0123456789abcdef", spoke, kubeconfig)


def recorded(base: Path) -> list[dict[str, Any]]:
    path = base / "lines.jsonl"
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_simulated_kubeconfigs_are_recognised() -> None:
    assert is_simulated(SIM_KUBECONFIG)
    assert not is_simulated(REAL_KUBECONFIG)
    assert not is_simulated("not: [yaml")


async def test_one_host_process_is_fed_a_line_per_agent(tmp_path: Path) -> None:
    host = SimAgentHost(tmp_path, command=[sys.executable, "-c", RECORDER, str(tmp_path)])
    try:
        await host.install(request("one"))
        await host.install(request("two"))
        await host.install(request("one"))  # already running here: nothing sent
        lines = await eventually(
            lambda: (r := recorded(tmp_path)) and len(r) >= 2 and r, what="two lines"
        )
        assert [x["spoke"] for x in lines] == ["one", "two"]
        first = lines[0]
        assert first["hub"] == "http://127.0.0.1:8080"
        assert first["bootstrapToken"] == "abcdef.0123456789abcdef"
        assert (tmp_path / "one" / "kubeconfig").read_text() == SIM_KUBECONFIG
        assert first["cluster"] == str(tmp_path / "one" / "kubeconfig")
        assert first["stateDir"] == str(tmp_path / "one")
        assert host.installed("one") and host.installed("two")
        await host.uninstall("two")
        await eventually(lambda: len(recorded(tmp_path)) == 3, what="the forget line")
        assert recorded(tmp_path)[-1] == {"forget": "two"}
        assert not host.installed("two")
    finally:
        await host.aclose()


async def test_a_dead_host_is_restarted_with_every_agent(tmp_path: Path) -> None:
    host = SimAgentHost(tmp_path, command=[sys.executable, "-c", RECORDER, str(tmp_path)])
    try:
        await host.install(request("one"))
        await eventually(lambda: len(recorded(tmp_path)) == 1, what="first line")
        assert host._proc is not None
        host._proc.kill()
        await host._proc.wait()
        assert not host.installed("one")
        await host.install(request("two"))
        lines = await eventually(
            lambda: (r := recorded(tmp_path)) and len(r) >= 3 and r, what="lines sent again"
        )
        assert sorted(x["spoke"] for x in lines[1:]) == ["one", "two"]
        assert host.installed("one") and host.installed("two")
    finally:
        await host.aclose()


async def test_a_dead_host_comes_back_by_itself(tmp_path: Path) -> None:
    # Nothing calls install again (no pool reconcile): the supervisor restarts it at once.
    host = SimAgentHost(tmp_path, command=[sys.executable, "-c", RECORDER, str(tmp_path)])
    try:
        await host.install(request("one"))
        await host.install(request("two"))
        await eventually(lambda: len(recorded(tmp_path)) == 2, what="first lines")
        assert host._proc is not None
        first_pid = host._proc.pid
        host._proc.kill()
        lines = await eventually(
            lambda: (r := recorded(tmp_path)) and len(r) >= 4 and r, what="lines sent again"
        )
        assert sorted(x["spoke"] for x in lines[2:]) == ["one", "two"]
        assert host._proc is not None and host._proc.pid != first_pid
        assert (tmp_path / "agent-host.pid").read_text() == str(host._proc.pid)
        assert host.installed("one") and host.installed("two")
    finally:
        await host.aclose()


async def test_an_orphaned_host_is_stopped_before_a_new_one_starts(tmp_path: Path) -> None:
    # A host started "by a previous hub": its command line names spoke-agent and the base dir.
    script = "import time\nwhile True: time.sleep(1)\n"
    orphan = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, "spoke-agent", "host", "--base-dir", str(tmp_path)
    )
    (tmp_path / "agent-host.pid").write_text(str(orphan.pid))
    host = SimAgentHost(tmp_path, command=[sys.executable, "-c", RECORDER, str(tmp_path)])
    try:
        await host.install(request("one"))
        assert await asyncio.wait_for(orphan.wait(), 15) is not None
        assert (tmp_path / "agent-host.pid").read_text() == str(host._proc.pid)  # type: ignore[union-attr]
    finally:
        await host.aclose()


class FakeCluster:
    def __init__(self, log: list[tuple[str, Any]], fail: bool = False) -> None:
        self.log = log
        self.fail = fail

    async def apply(
        self, obj: dict[str, Any], *, field_manager: str = "axle", force: bool = True
    ) -> dict[str, Any]:
        if self.fail:
            raise RuntimeError("connection refused")
        self.log.append(("apply", (obj["kind"], obj["metadata"]["name"], field_manager)))
        return obj

    async def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        self.log.append(("delete", (kind, name)))
        return True

    async def close(self) -> None:
        self.log.append(("close", None))


async def test_real_clusters_get_the_agent_manifests() -> None:
    log: list[tuple[str, Any]] = []
    seen: list[str] = []

    def factory(kubeconfig: str) -> Any:
        seen.append(kubeconfig)
        return FakeCluster(log)

    installer = ManifestInstaller(factory)
    await installer.install(request("edge-1", REAL_KUBECONFIG))
    await installer.install(request("edge-1", REAL_KUBECONFIG))  # once is enough
    assert seen == [REAL_KUBECONFIG]
    applied = [x for op, x in log if op == "apply"]
    assert [k for k, _, _ in applied] == [
        "Namespace",
        "ServiceAccount",
        "ClusterRoleBinding",
        "Secret",
        "Deployment",
    ]
    assert all(m == "axle" for _, _, m in applied)
    assert installer.installed("edge-1")
    await installer.uninstall("edge-1", REAL_KUBECONFIG)
    assert ("delete", ("Deployment", "axle-spoke-agent")) in log
    assert not installer.installed("edge-1")


async def test_a_failed_apply_is_an_install_error() -> None:
    installer = ManifestInstaller(lambda _k: FakeCluster([], fail=True))  # type: ignore[arg-type,return-value]
    with pytest.raises(InstallError) as err:
        await installer.install(request("edge-1", REAL_KUBECONFIG))
    assert err.value.reason == "AgentInstallFailed"
    assert "connection refused" in err.value.message
    assert not installer.installed("edge-1")


def test_the_agent_deployment_reads_its_token_from_the_secret() -> None:
    objs = agent_manifests(request("edge-1", REAL_KUBECONFIG))
    secret = next(o for o in objs if o["kind"] == "Secret")
    assert secret["stringData"]["bootstrap-token"] == "abcdef.0123456789abcdef"
    deployment = next(o for o in objs if o["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert "abcdef.0123456789abcdef" not in json.dumps(container)
    assert container["args"][:2] == ["spoke-agent", "--hub"]


async def test_the_default_installer_routes_by_kubeconfig(tmp_path: Path) -> None:
    log: list[tuple[str, Any]] = []
    sim = SimAgentHost(tmp_path, command=[sys.executable, "-c", RECORDER, str(tmp_path)])
    installer = DefaultInstaller(
        tmp_path,
        sim=sim,
        real=ManifestInstaller(lambda _k: FakeCluster(log)),  # type: ignore[arg-type,return-value]
    )
    try:
        await installer.install(request("sim-1", SIM_KUBECONFIG))
        await installer.install(request("real-1", REAL_KUBECONFIG))
        await eventually(lambda: len(recorded(tmp_path)) == 1, what="the simulated agent")
        assert recorded(tmp_path)[0]["spoke"] == "sim-1"
        assert any(op == "apply" for op, _ in log)
        assert installer.installed("sim-1") and installer.installed("real-1")
    finally:
        await installer.aclose()


def test_real_clusters_are_reached_through_the_kubeconfig_text() -> None:
    from axle.controllers.spokeinstaller import real_cluster_factory
    from axle.kube.real import RealCluster

    assert isinstance(real_cluster_factory(REAL_KUBECONFIG), RealCluster)
    with pytest.raises(InstallError) as err:
        real_cluster_factory("clusters: [")
    assert err.value.reason == "InvalidKubeconfig"
