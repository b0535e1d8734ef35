"""`axle spoke-agent`: flags, cluster references, and failures that exit non-zero."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from axle.cli.main import cli
from axle.cli.spoke import make_cluster, read_cluster_ref
from axle.kube.real import RealCluster
from axle.sim.cluster import SimCluster
from axle.spoke.host import AgentSpec


def kubeconfig(server: str, extension: dict[str, object] | None = None) -> dict[str, object]:
    cluster: dict[str, object] = {"server": server}
    if extension is not None:
        cluster["extensions"] = [{"name": "palette-sim.axle.dev", "extension": extension}]
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "current-context": "x",
    }


def test_cluster_references(tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    real.write_text(yaml.safe_dump(kubeconfig("https://10.0.0.1:6443")))
    sim = tmp_path / "sim.yaml"
    nodes = [{"name": "n1", "cpuCores": 4, "memoryMB": 8192}]
    sim.write_text(yaml.safe_dump(kubeconfig("sim://pool-a", {"nodes": nodes})))
    assert read_cluster_ref(str(real)) == ("real", str(real))
    assert read_cluster_ref("in-cluster") == ("real", "in-cluster")
    kind, text = read_cluster_ref(str(sim))
    assert kind == "sim" and isinstance(text, str) and "pool-a" in text
    assert read_cluster_ref("sim://demo")[0] == "sim"


async def test_make_cluster_picks_the_implementation(tmp_path: Path) -> None:
    bare = await make_cluster(AgentSpec("http://hub", "s", "sim://demo", tmp_path / "a"))
    assert isinstance(bare.cluster, SimCluster) and bare.loop is not None
    cap = await bare.cluster.capacity()
    assert [n.cpu_millis for n in cap.nodes] == [8000]
    await bare.cluster.close()
    assert (tmp_path / "a" / "cluster.json").exists()
    real = tmp_path / "real.yaml"
    real.write_text(yaml.safe_dump(kubeconfig("https://10.0.0.1:6443")))
    handle = await make_cluster(AgentSpec("http://hub", "s", str(real), tmp_path / "b"))
    assert isinstance(handle.cluster, RealCluster) and handle.loop is None


def test_missing_flags_and_unusable_state_exit_non_zero(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["spoke-agent", "--hub", "http://127.0.0.1:9"])
    assert result.exit_code != 0
    assert "--spoke, --cluster, --state-dir required" in result.output
    args = [
        "spoke-agent",
        "--hub",
        "http://127.0.0.1:9",
        "--spoke",
        "s",
        "--cluster",
        "sim://s",
        "--state-dir",
        str(tmp_path),
    ]
    result = runner.invoke(cli, args)
    assert result.exit_code != 0
    assert "no credential" in result.output and "bootstrap token" in result.output
    result = runner.invoke(cli, [*args[:6], str(tmp_path / "nope.yaml"), *args[7:]])
    assert result.exit_code != 0 and "cannot read the kubeconfig" in result.output
