"""Two Works of one agent rendering the same object: the first owner keeps it.

Without the ownership check each pass re-labelled the object for its own Work, the other saw
drift and re-applied, and the two fought forever while both reported healthy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from axle.spoke.manifests import WORK_LABEL, WORKLOAD_LABEL
from axle.spoke.work import WorkProcessor
from tests.spoke.fakecluster import FakeCluster
from tests.spoke.test_work import NS, Registry, cond, manifest, processor, work

Obj = dict[str, Any]
VLLM = ("apps/v1", "Deployment", "ml", "vllm")


def vllm(workload: str, image: str) -> Obj:
    obj = manifest("Deployment", "vllm", "vllm")
    obj["metadata"]["labels"][WORKLOAD_LABEL] = workload
    obj["spec"]["template"] = {"spec": {"containers": [{"name": "vllm", "image": image}]}}
    return obj


def named(w: Obj, name: str) -> Obj:
    w["metadata"]["name"] = name
    return w


async def two_works(tmp_path: Path) -> tuple[FakeCluster, WorkProcessor, Obj, Obj]:
    reg = Registry()
    cluster = FakeCluster()
    first = named(work(reg.push([vllm("chat", "vllm:1"), manifest("ConfigMap", "a")])), "chat")
    second = named(work(reg.push([vllm("code", "vllm:2"), manifest("ConfigMap", "b")])), "code")
    return cluster, processor(cluster, tmp_path, reg), first, second


def image(cluster: FakeCluster) -> str:
    return str(cluster.objects[VLLM]["spec"]["template"]["spec"]["containers"][0]["image"])


async def test_the_second_work_reports_the_conflict_and_leaves_the_object(
    tmp_path: Path,
) -> None:
    cluster, proc, first, second = await two_works(tmp_path)
    one = await proc.sync(first)
    assert cond(one.status, "Applied")["status"] == "True"
    applied_before = list(cluster.applied)

    two = await proc.sync(second)
    applied = cond(two.status, "Applied")
    assert (applied["status"], applied["reason"]) == ("False", "OwnershipConflict")
    assert applied["message"] == (
        f"Deployment ml/vllm belongs to Work {NS}/chat (workload chat); rename the component"
        " or deploy to another namespace"
    )
    assert not two.settled
    assert cond(two.status, "Available")["status"] != "True"
    live = cluster.objects[VLLM]
    assert live["metadata"]["labels"][WORK_LABEL] == f"{NS}.chat"
    assert image(cluster) == "vllm:1"
    assert cluster.applied == applied_before  # the second Work applied nothing at all

    # Neither re-applies on later passes: no fight, the first stays healthy.
    cluster.applied.clear()
    again_one = await proc.sync({**first, "status": one.status})
    again_two = await proc.sync({**second, "status": two.status})
    assert cluster.applied == []
    assert cond(again_one.status, "Available")["status"] == "True"
    assert cond(again_two.status, "Applied")["reason"] == "OwnershipConflict"


async def test_the_message_leaves_out_the_workload_when_the_object_has_none(
    tmp_path: Path,
) -> None:
    reg = Registry()
    cluster = FakeCluster()
    proc = processor(cluster, tmp_path, reg)
    first = named(work(reg.push([manifest("ConfigMap", "shared")])), "one")
    second = named(work(reg.push([manifest("ConfigMap", "shared", data={"x": "2"})])), "two")
    await proc.sync(first)
    result = await proc.sync(second)
    assert cond(result.status, "Applied")["message"] == (
        f"ConfigMap ml/shared belongs to Work {NS}/one; rename the component or deploy to"
        " another namespace"
    )
    assert "data" not in cluster.objects[("v1", "ConfigMap", "ml", "shared")]


async def test_after_the_first_work_is_removed_the_second_adopts(tmp_path: Path) -> None:
    cluster, proc, first, second = await two_works(tmp_path)
    await proc.sync(first)
    await proc.sync(second)
    # Orphan: the object stays with the first Work's label, which now names no Work.
    first["spec"]["deleteOption"] = {"propagationPolicy": "Orphan"}
    await proc.remove(NS, "chat", first)
    assert cluster.objects[VLLM]["metadata"]["labels"][WORK_LABEL] == f"{NS}.chat"
    result = await proc.sync(second)
    assert cond(result.status, "Applied")["status"] == "True"
    assert cluster.objects[VLLM]["metadata"]["labels"][WORK_LABEL] == f"{NS}.code"
    assert image(cluster) == "vllm:2"


async def test_after_the_first_work_is_deleted_the_second_creates_it(tmp_path: Path) -> None:
    cluster, proc, first, second = await two_works(tmp_path)
    await proc.sync(first)
    await proc.sync(second)
    await proc.remove(NS, "chat")  # Foreground: the first Work's objects go
    assert VLLM not in cluster.objects
    result = await proc.sync(second)
    assert cond(result.status, "Applied")["status"] == "True"
    assert cluster.objects[VLLM]["metadata"]["labels"][WORK_LABEL] == f"{NS}.code"


async def test_the_second_work_never_deletes_the_first_works_object(tmp_path: Path) -> None:
    reg = Registry()
    cluster = FakeCluster()
    proc = processor(cluster, tmp_path, reg)
    first = named(work(reg.push([vllm("chat", "vllm:1")])), "chat")
    second = named(work(reg.push([vllm("code", "vllm:2"), manifest("ConfigMap", "b")])), "code")
    await proc.sync(first)
    await proc.sync(second)  # conflict: its inventory lists the Deployment it never got
    # A new revision of the second drops the Deployment: the prune leaves the first's alone.
    dropped = named(work(reg.push([manifest("ConfigMap", "b")]), generation=2), "code")
    result = await proc.sync(dropped)
    assert cond(result.status, "Applied")["status"] == "True"
    assert result.pruned == 0
    assert cluster.objects[VLLM]["metadata"]["labels"][WORK_LABEL] == f"{NS}.chat"
    # Removing the second Work altogether does not delete it either.
    await proc.remove(NS, "code")
    assert VLLM in cluster.objects
    assert ("v1", "ConfigMap", "ml", "b") not in cluster.objects


async def test_an_object_a_removed_work_left_behind_is_adopted(tmp_path: Path) -> None:
    reg = Registry()
    cluster = FakeCluster()
    proc = processor(cluster, tmp_path, reg)
    left = manifest("ConfigMap", "old")
    left["metadata"]["labels"] = {WORK_LABEL: f"{NS}.gone"}  # no inventory names it
    await cluster.apply(left)
    result = await proc.sync(named(work(reg.push([manifest("ConfigMap", "old")])), "new"))
    assert cond(result.status, "Applied")["status"] == "True"
    live = cluster.objects[("v1", "ConfigMap", "ml", "old")]
    assert live["metadata"]["labels"][WORK_LABEL] == f"{NS}.new"
