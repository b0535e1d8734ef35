"""The state file: every change written, a restart keeps clusters and hosts, and resumes a
lifecycle from its timestamps (mid-provisioning, mid-deletion)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from axle.errors import Invalid
from axle.sim.palette import ManualClock, SimConfig
from axle.sim.palette.config import build_sim
from axle.sim.palette.wire import ts
from tests.sim.conftest import SMALL_FLEET
from tests.sim.helpers import cluster_body, create, host_state, state_of


async def test_restart_mid_provisioning_resumes(make_sim: Any, tmp_path: Path) -> None:
    state_file = tmp_path / "palette.json"
    clock = ManualClock()
    h = await make_sim(state_file=state_file, clock=clock)
    uid = await create(h, cluster_body(h))
    clock.advance(30)
    assert await state_of(h, uid) == "Provisioning"
    on_disk = json.loads(state_file.read_text())
    assert [c["uid"] for c in on_disk["clusters"]] == [uid]

    # A new simulator on the same file, with a different provisioning time: the cluster keeps
    # the end time it was given, and its hosts stay in use.
    again = await make_sim(state_file=state_file, clock=clock, provisioning_seconds=999)
    assert await state_of(again, uid) == "Provisioning"
    assert (await host_state(again, "cp-01"))["inUseClustersRef"] == [{"uid": uid, "name": "demo"}]
    clock.advance(30)
    assert await state_of(again, uid) == "Running"


async def test_restart_after_the_clock_passed_running(make_sim: Any, tmp_path: Path) -> None:
    state_file = tmp_path / "palette.json"
    clock = ManualClock()
    h = await make_sim(state_file=state_file, clock=clock)
    uid = await create(h, cluster_body(h))
    clock.advance(3600)  # the simulator was down meanwhile
    again = await make_sim(state_file=state_file, clock=clock)
    assert json.loads(state_file.read_text())["clusters"][0]["state"] == "Running"
    assert await state_of(again, uid) == "Running"
    # The transition is dated when it was due, not when it was noticed.
    doc = (await again.client.get(f"/v1/spectroclusters/{uid}")).json()
    ready = next(c for c in doc["status"]["conditions"] if c["type"] == "Ready")
    assert ready["lastTransitionTime"] == ts(clock.now - 3600 + 60)


async def test_deletion_finished_while_down_frees_hosts_at_start(
    make_sim: Any, tmp_path: Path
) -> None:
    state_file = tmp_path / "palette.json"
    clock = ManualClock()
    h = await make_sim(state_file=state_file, clock=clock, provisioning_seconds=0)
    uid = await create(h, cluster_body(h))
    await h.client.delete(f"/v1/spectroclusters/{uid}")
    clock.advance(11)
    sim = build_sim(SimConfig(inventory=SMALL_FLEET, state_file=state_file, clock=clock))
    assert sim.clusters[uid].state == "Deleted"
    assert sim.find_host("cp-01").state == "ready"
    saved = json.loads(state_file.read_text())
    assert next(x for x in saved["hosts"] if x["name"] == "cp-01")["state"] == "ready"


async def test_changes_are_persisted(make_sim: Any, tmp_path: Path) -> None:
    state_file = tmp_path / "palette.json"
    h = await make_sim(state_file=state_file)
    await h.client.patch("/admin/hosts/gpu-h100-04", json={"health": "unhealthy", "message": "x"})
    host = h.sim.find_host("gpu-h100-01")
    await h.client.put(f"/v1/edgehosts/{host.uid}/meta", json={"metadata": {"labels": {"a": "b"}}})
    r = await h.client.post(
        "/v1/clusterprofiles/import",
        params={"publish": "true"},
        json={
            "metadata": {"name": "addon"},
            "spec": {"version": "0.1.0", "template": {"packs": [{"name": "x"}]}},
        },
    )
    again = await make_sim(state_file=state_file)
    assert again.sim.find_host("gpu-h100-04").health == "unhealthy"
    assert again.sim.find_host("gpu-h100-01").tags == {"a": "b"}
    assert r.json()["uid"] in again.sim.profiles
    leftovers = [p for p in os.listdir(tmp_path) if p.startswith(".palette.json.")]
    assert leftovers == []  # no temporary files left behind


async def test_state_file_wins_over_the_inventory_unless_reset(
    make_sim: Any, tmp_path: Path
) -> None:
    state_file = tmp_path / "palette.json"
    h = await make_sim(state_file=state_file)
    await create(h, cluster_body(h))
    again = await make_sim(state_file=state_file, reset_state=True)
    assert again.sim.state.clusters == []
    assert json.loads(state_file.read_text())["clusters"] == []


def test_a_corrupt_state_file_is_refused(tmp_path: Path) -> None:
    state_file = tmp_path / "palette.json"
    state_file.write_text('{"version": 1, "apiKeys": "nope"}')
    with pytest.raises(Invalid, match="not a simulator state"):
        build_sim(SimConfig(inventory=SMALL_FLEET, state_file=state_file))
    state_file.write_text(json.dumps({"version": 99, "apiKeys": ["k"], "projects": []}))
    with pytest.raises(Invalid, match="version 99"):
        build_sim(SimConfig(inventory=SMALL_FLEET, state_file=state_file))
    assert state_file.read_text().startswith('{"version": 99')  # left as it was
