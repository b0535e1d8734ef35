"""The inventory file: the example fleet's counts, stamping with count, and refusals with
field paths; the fleet generator's determinism and shape."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from axle.errors import Invalid
from axle.sim.palette.fleet import generate
from axle.sim.palette.inventory import expand_hosts, load_inventory, parse_inventory, seed_state
from tests.sim.conftest import SMALL_FLEET


def test_example_inventory_loads_with_the_expected_counts() -> None:
    inv = load_inventory(SMALL_FLEET)
    state = seed_state(inv, 0.0)
    assert state.apiKeys == ["sim-api-key"]
    assert [p.uid for p in state.projects] == ["acme-default"]
    assert [p.uid for p in state.profiles] == ["edge-k8s-1-32"]
    hosts = state.hosts
    assert len(hosts) == 14
    tagged = [x for x in hosts if x.tags.get("palette.ai") == "true"]
    assert len(tagged) == 13
    assert [x.name for x in hosts if x not in tagged] == ["build-runner-01"]
    kinds = Counter((g.model, g.count, g.memoryMiB) for x in hosts for g in x.gpus)
    assert kinds == {("H100", 8, 81559): 4, ("A100", 8, 81920): 4, ("L40S", 4, 46068): 2}
    cpu_only = [x for x in tagged if not x.gpus]
    assert [(x.name, x.architecture, x.cpuCores, x.memoryMB) for x in cpu_only] == [
        (f"cp-0{i}", "amd64", 16, 65536) for i in (1, 2, 3)
    ]
    unhealthy = [x for x in hosts if x.health == "unhealthy"]
    assert [(x.name, x.gpus[0].model) for x in unhealthy] == [("gpu-a100-01", "A100")]
    assert {x.tags["axle.dev/resource-group"] for x in tagged} == {"rack-a", "rack-b"}
    assert all(x.state == "ready" for x in hosts)
    assert len({x.uid for x in hosts}) == 14


def test_count_stamps_names_ips_and_macs() -> None:
    inv = parse_inventory(
        {
            "apiKeys": ["k"],
            "projects": [{"name": "p", "uid": "p1"}],
            "hosts": [
                {
                    "name": "node-{n:03d}",
                    "uid": "uid-{n}",
                    "count": 3,
                    "start": 7,
                    "cpuCores": 4,
                    "memoryMB": 1024,
                    "nics": [{"name": "eth0", "ip": "10.0.0.254", "mac": "02:00:00:00:00:ff"}],
                }
            ],
        }
    )
    hosts = expand_hosts(inv, 0.0)
    assert [x.name for x in hosts] == ["node-007", "node-008", "node-009"]
    assert [x.uid for x in hosts] == ["uid-7", "uid-8", "uid-9"]
    assert [x.address for x in hosts] == ["10.0.0.254", "10.0.0.255", "10.0.1.0"]
    assert [x.mac for x in hosts] == ["02:00:00:00:00:ff", "02:00:00:00:01:00", "02:00:00:00:01:01"]
    assert all(x.projectUid == "p1" for x in hosts)


def _inv(**host: Any) -> dict[str, Any]:
    base = {"name": "h", "cpuCores": 1, "memoryMB": 1}
    return {"apiKeys": ["k"], "projects": [{"name": "p", "uid": "p1"}], "hosts": [base | host]}


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"projects": [{"name": "p", "uid": "p"}]}, "apiKeys"),
        (_inv(cpuCores=0), "hosts[0].cpuCores"),
        (_inv(gpus=[{"vendor": "NVIDIA", "model": "H100", "count": 0}]), "hosts[0].gpus[0].count"),
        (_inv(state="in-use"), "hosts[0].state"),
        (_inv(architecture="riscv"), "hosts[0].architecture"),
        (_inv(project="nope"), "hosts[0].project"),
        (_inv(count=2), "hosts[0].name"),
        (_inv(surprise=1), "hosts[0].surprise"),
        (_inv(nics=[{"ip": "999.1.1.1"}]), "hosts[0].nics[0].ip"),
        (_inv(name="h-{x}", count=2), "hosts[0].name"),
    ],
)
def test_bad_inventories_name_the_field(doc: dict[str, Any], field: str) -> None:
    with pytest.raises(Invalid) as err:
        seed_state(parse_inventory(doc), 0.0)
    assert field in [c.field for c in err.value.causes]


def test_duplicate_host_names_are_refused() -> None:
    doc = _inv()
    doc["hosts"].append(dict(doc["hosts"][0]))
    with pytest.raises(Invalid, match="duplicate host name 'h'"):
        seed_state(parse_inventory(doc), 0.0)


def test_unreadable_and_non_yaml_files(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="cannot read inventory"):
        load_inventory(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("hosts: [unclosed")
    with pytest.raises(Invalid, match="not valid YAML"):
        load_inventory(bad)
    bad.write_text("- a list")
    with pytest.raises(Invalid, match="must be a mapping"):
        load_inventory(bad)


# ---- the fleet generator -----------------------------------------------------------------


def test_generator_is_deterministic_and_seeded() -> None:
    assert generate(300, seed=7) == generate(300, seed=7)
    assert generate(300, seed=7) != generate(300, seed=8)


def test_generator_shape_for_a_large_fleet() -> None:
    doc = generate(5000, seed=1)
    state = seed_state(parse_inventory(doc), 0.0)
    hosts = state.hosts
    assert len(hosts) == 5000 and len({x.uid for x in hosts}) == 5000
    assert len({x.address for x in hosts}) == 5000
    cpu_only = sum(1 for x in hosts if not x.gpus)
    assert 400 < cpu_only < 900  # about one in eight
    models = Counter(x.gpus[0].model for x in hosts if x.gpus)
    assert set(models) == {"H100", "H200", "A100", "L40S", "L4"}
    untagged = sum(1 for x in hosts if "palette.ai" not in x.tags)
    unhealthy = sum(1 for x in hosts if x.health == "unhealthy")
    unpaired = sum(1 for x in hosts if x.state == "unpaired")
    assert 80 < untagged < 250 and 50 < unhealthy < 160 and 20 < unpaired < 100
    assert len({x.tags["axle.dev/resource-group"] for x in hosts}) > 100
    assert {x.architecture for x in hosts} == {"amd64", "arm64"}


def test_generator_command_writes_a_loadable_file(tmp_path: Path) -> None:
    out = tmp_path / "fleet.yaml"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "axle.sim.palette.fleet",
            "--hosts",
            "25",
            "--seed",
            "2",
            "-o",
            str(out),
        ],
        check=True,
    )
    assert yaml.safe_load(out.read_text()) == generate(25, seed=2)
    assert len(seed_state(load_inventory(out), 0.0).hosts) == 25
