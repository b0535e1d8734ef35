"""`axle spoke-agent` as a process, against `axle up` as a process.

The agent's cluster is real-Kubernetes-shaped: a kubeconfig pointing at the hub itself (the
hub speaks the Kubernetes API), so the agent drives it through RealCluster, exactly as it
would a real cluster. Shown: join, Work applied and reported, SIGTERM exits cleanly, restart
without a bootstrap token reuses the stored credential, a revoked credential exits non-zero.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from axle.api.spoketokens import SYSTEM_NAMESPACE, credential_secret_name
from axle.oci import build_artifact, push
from tests.integration.hubproc import HubProcess, wait_for
from tests.spoke.conftest import enroll

pytestmark = pytest.mark.integration


def agent_cmd(hub: HubProcess, state: Path, kubeconfig: Path, token: str | None) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "axle.cli.main",
        "spoke-agent",
        "--hub",
        hub.url,
        "--spoke",
        "zeta",
        "--cluster",
        str(kubeconfig),
        "--state-dir",
        str(state),
    ]
    return [*cmd, "--bootstrap-token", token] if token else cmd


def start(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def work_status(hub: HubProcess, name: str) -> dict[str, Any]:
    with hub.client() as c:
        resp = c.get(f"/apis/axle.dev/v1alpha1/namespaces/spoke-zeta/works/{name}")
        resp.raise_for_status()
        return dict(resp.json().get("status") or {})


def test_spoke_agent_process(tmp_path: Path) -> None:
    hub = HubProcess(tmp_path / "hub").start()
    agent: subprocess.Popen[bytes] | None = None
    log = tmp_path / "agent.log"
    try:
        token = asyncio.run(_enroll(hub))
        kubeconfig = tmp_path / "cluster.kubeconfig"
        kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "c",
                    "clusters": [{"name": "c", "cluster": {"server": hub.url}}],
                    "users": [{"name": "u", "user": {"token": hub.token}}],
                    "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                }
            )
        )
        url = f"file://{tmp_path / 'oci'}"
        cm = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "from-agent", "namespace": "default"},
            "data": {"k": "v"},
        }
        digest = asyncio.run(
            push(build_artifact([cm], source="axle://t/w", revision="1"), url, "v1")
        )
        state = tmp_path / "state"
        agent = start(agent_cmd(hub, state, kubeconfig, token), log)
        wait_for(lambda: (state / "credential.json").exists(), what="credential stored")
        with hub.client() as c:
            c.post(
                "/apis/axle.dev/v1alpha1/namespaces/spoke-zeta/works",
                json={
                    "apiVersion": "axle.dev/v1alpha1",
                    "kind": "Work",
                    "metadata": {"name": "w", "namespace": "spoke-zeta"},
                    "spec": {"artifact": {"url": url, "digest": digest}},
                },
            ).raise_for_status()
        wait_for(
            lambda: work_status(hub, "w").get("appliedDigest") == digest,
            what="Work applied",
            timeout=30,
        )
        with hub.client() as c:
            live = c.get("/api/v1/namespaces/default/configmaps/from-agent").json()
        assert live["metadata"]["labels"]["axle.dev/work"] == "spoke-zeta.w"
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=20) == 0, log.read_text()
        # Restarted without a token: the stored credential is used.
        agent = start(agent_cmd(hub, state, kubeconfig, None), log)
        with hub.client() as c:
            c.delete("/api/v1/namespaces/default/configmaps/from-agent").raise_for_status()
            wait_for(
                lambda: (
                    c.get("/api/v1/namespaces/default/configmaps/from-agent").status_code == 200
                ),
                what="drift re-applied by the restarted agent",
                timeout=30,
            )
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=20) == 0, log.read_text()
        # Revoked: the agent says so and exits non-zero.
        with hub.client() as c:
            c.delete(
                f"/api/v1/namespaces/{SYSTEM_NAMESPACE}/secrets/{credential_secret_name('zeta')}"
            ).raise_for_status()
        agent = start(agent_cmd(hub, state, kubeconfig, None), log)
        assert agent.wait(timeout=30) != 0
        assert "revoked" in log.read_text()
    finally:
        if agent is not None and agent.poll() is None:
            agent.kill()
            agent.wait()
        hub.stop()


async def _enroll(hub: HubProcess, name: str = "zeta") -> str:
    class _Hub:
        url = hub.url
        token = hub.token

    return await enroll(_Hub, name)  # type: ignore[arg-type]


def test_spoke_agent_host_process_with_simulated_clusters(tmp_path: Path) -> None:
    hub = HubProcess(tmp_path / "hub").start()
    host: subprocess.Popen[str] | None = None
    try:
        tokens = [asyncio.run(_enroll(hub, f"sim-{i}")) for i in range(3)]
        base = tmp_path / "agents"
        cmd = [
            sys.executable,
            "-m",
            "axle.cli.main",
            "spoke-agent",
            "host",
            "--base-dir",
            str(base),
        ]
        host = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=(tmp_path / "host.log").open("w"),
            text=True,
            bufsize=1,
        )
        assert host.stdin is not None and host.stdout is not None
        for i, token in enumerate(tokens):
            host.stdin.write(
                json.dumps(
                    {
                        "hub": hub.url,
                        "bootstrapToken": token,
                        "spoke": f"sim-{i}",
                        "cluster": f"sim://sim-{i}",
                    }
                )
                + "\n"
            )
        host.stdin.flush()
        events: list[dict[str, Any]] = []
        out = host.stdout
        threading.Thread(
            target=lambda: events.extend(json.loads(line) for line in out), daemon=True
        ).start()

        def all_joined() -> bool:
            bad = [e for e in events if e["event"] in ("failed", "error")]
            assert not bad, bad
            return {e.get("spoke") for e in events if e["event"] == "joined"} == {
                "sim-0",
                "sim-1",
                "sim-2",
            }

        try:
            wait_for(all_joined, what="three agents joined", timeout=60)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{events}\n{(tmp_path / 'host.log').read_text()}") from exc

        def capacity(name: str) -> Any:
            with hub.client() as c:
                status = c.get(f"/apis/axle.dev/v1alpha1/spokes/{name}").json().get("status")
            return (status or {}).get("capacity")

        for i in range(3):
            cap = wait_for(lambda i=i: capacity(f"sim-{i}"), what="capacity of a sim spoke")
            assert cap["nodes"] == 1 and cap["cpu"] == "8"
        host.send_signal(signal.SIGTERM)
        assert host.wait(timeout=20) == 0
    finally:
        if host is not None and host.poll() is None:
            host.kill()
            host.wait()
        hub.stop()
