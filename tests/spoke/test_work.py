"""Work processing against an in-memory cluster: order, waits, prune, drift, errors, delete."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from axle.errors import NotFound
from axle.spoke.artifacts import ArtifactCache, ArtifactError
from axle.spoke.manifests import REVISION_ANNOTATION, WORK_LABEL, contains, group_by_priority
from axle.spoke.work import WorkProcessor
from tests.spoke.fakecluster import FakeCluster

Obj = dict[str, Any]
NS = "spoke-gpu-a"


def manifest(kind: str, name: str, component: str | None = None, **extra: Any) -> Obj:
    api = {"Deployment": "apps/v1", "CustomResourceDefinition": "apiextensions.k8s.io/v1"}
    meta: Obj = {"name": name}
    if kind not in ("Namespace", "CustomResourceDefinition"):
        meta["namespace"] = "ml"
    if component:
        meta["labels"] = {"axle.dev/component": component}
    out: Obj = {"apiVersion": api.get(kind, "v1"), "kind": kind, "metadata": meta}
    if kind == "Deployment":
        out["spec"] = {"replicas": 1, "selector": {"matchLabels": {"app": name}}}
    out.update(extra)
    return out


class Registry:
    """A fake puller: artifacts by digest, counting pulls."""

    def __init__(self) -> None:
        self.blobs: dict[str, list[Obj]] = {}
        self.pulls: list[str] = []

    def push(self, manifests: list[Obj]) -> str:
        digest = "sha256:" + hashlib.sha256(json.dumps(manifests).encode()).hexdigest()
        self.blobs[digest] = manifests
        return digest

    async def pull(self, url: str, digest: str) -> list[Obj]:
        self.pulls.append(digest)
        if digest not in self.blobs:
            raise ArtifactError(f"digest mismatch: {url} has no manifest {digest}")
        return self.blobs[digest]


def work(digest: str, generation: int = 1, groups: Any = None, policy: str = "Foreground") -> Obj:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "Work",
        "metadata": {"name": "llm", "namespace": NS, "generation": generation, "uid": "u1"},
        "spec": {
            "artifact": {"url": "oci://registry/llm", "digest": digest},
            "priorityGroups": groups,
            "deleteOption": {"propagationPolicy": policy},
        },
    }


def cond(status: Obj, type_: str) -> Obj:
    return next(c for c in status["conditions"] if c["type"] == type_)


async def no_sleep(_: float) -> None:
    return None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def reg() -> Registry:
    return Registry()


def processor(cluster: FakeCluster, tmp_path: Path, reg: Registry, **kw: Any) -> WorkProcessor:
    clock = Clock()
    kw.setdefault("group_wait", 5.0)
    return WorkProcessor(cluster, tmp_path, puller=reg.pull, sleep=clock.sleep, clock=clock, **kw)


def test_group_by_priority_puts_namespaces_first_and_unlisted_last() -> None:
    ms = [
        manifest("ConfigMap", "loose"),
        manifest("Deployment", "api", "api"),
        manifest("Deployment", "db", "db"),
        manifest("Namespace", "ml"),
        manifest("CustomResourceDefinition", "things.example.com"),
    ]
    groups = group_by_priority(
        ms, [{"priority": 20, "components": ["api"]}, {"priority": 10, "components": ["db"]}]
    )
    names = [[m["metadata"]["name"] for m in g] for g in groups]
    assert names == [["ml", "things.example.com"], ["db"], ["api"], ["loose"]]


async def test_applies_in_priority_order_labels_and_reports(tmp_path: Path, reg: Registry) -> None:
    cluster = FakeCluster(namespaces=("default",))
    digest = reg.push(
        [
            manifest("Deployment", "api", "api"),
            manifest("Deployment", "db", "db"),
            manifest("ConfigMap", "settings"),
            manifest("Namespace", "ml"),
        ]
    )
    proc = processor(cluster, tmp_path, reg)
    result = await proc.sync(
        work(
            digest,
            groups=[{"priority": 1, "components": ["db"]}, {"priority": 2, "components": ["api"]}],
        )
    )
    assert [k[3] for k in cluster.applied] == ["ml", "db", "api", "settings"]
    live = cluster.objects[("apps/v1", "Deployment", "ml", "api")]
    assert live["metadata"]["labels"][WORK_LABEL] == f"{NS}.llm"
    assert live["metadata"]["annotations"][REVISION_ANNOTATION] == digest
    status = result.status
    assert status["appliedDigest"] == digest
    assert status["observedGeneration"] == 1
    assert cond(status, "Applied")["status"] == "True"
    assert cond(status, "Available")["status"] == "True"
    rows = {r["name"]: r for r in status["resourceStatus"]}
    assert rows["api"] == {
        "kind": "Deployment",
        "group": "apps",
        "version": "v1",
        "name": "api",
        "namespace": "ml",
        "component": "api",
        "health": "Healthy",
        "ready": 1,
        "desired": 1,
    }
    assert result.settled


async def test_next_group_waits_for_the_previous_to_be_healthy(
    tmp_path: Path, reg: Registry
) -> None:
    cluster = FakeCluster(
        on_apply=lambda obj: {"replicas": 1} if obj["kind"] == "Deployment" else None
    )
    cluster.events.append(
        {
            "involvedObject": {"name": "db-0"},
            "reason": "FailedScheduling",
            "type": "Warning",
            "message": "0/4 nodes are available: 4 Insufficient nvidia.com/gpu.",
        }
    )
    digest = reg.push([manifest("Deployment", "db", "db"), manifest("Deployment", "api", "api")])
    proc = processor(cluster, tmp_path, reg)
    cluster.objects[("v1", "Pod", "ml", "db-0")] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "db-0", "namespace": "ml", "labels": {"app": "db"}},
        "status": {"phase": "Pending"},
    }
    w = work(
        digest,
        groups=[{"priority": 1, "components": ["db"]}, {"priority": 2, "components": ["api"]}],
    )
    result = await proc.sync(w)
    assert [k[3] for k in cluster.applied] == ["db"]  # api waits for db
    applied = cond(result.status, "Applied")
    assert applied["status"] == "False"
    available = cond(result.status, "Available")
    assert available["reason"] == "Progressing"
    assert "Deployment ml/db" in available["message"]
    assert "Insufficient nvidia.com/gpu" in available["message"]
    assert not result.settled
    # The GPUs arrive: the next pass applies the second group.
    cluster.set_status(
        "Deployment", "db", {"replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}
    )
    result = await proc.sync({**w, "status": result.status})
    assert [k[3] for k in cluster.applied] == ["db", "api"]
    assert cond(result.status, "Applied")["status"] == "True"


async def test_unchanged_digest_is_not_pulled_or_reapplied(tmp_path: Path, reg: Registry) -> None:
    cluster = FakeCluster()
    digest = reg.push([manifest("ConfigMap", "a", data={"k": "v"})])
    proc = processor(cluster, tmp_path, reg)
    first = await proc.sync(work(digest))
    second = await proc.sync({**work(digest), "status": first.status})
    assert reg.pulls == [digest]
    assert len(cluster.applied) == 1
    assert second.status == first.status
    # A new agent (fresh processor, same state dir) neither pulls nor applies either.
    again = await processor(cluster, tmp_path, reg).sync({**work(digest), "status": first.status})
    assert reg.pulls == [digest] and len(cluster.applied) == 1
    assert again.status == first.status


async def test_new_revision_prunes_dropped_objects(tmp_path: Path, reg: Registry) -> None:
    cluster = FakeCluster()
    one = reg.push([manifest("ConfigMap", "a"), manifest("ConfigMap", "b")])
    two = reg.push([manifest("ConfigMap", "a", data={"x": "1"})])
    proc = processor(cluster, tmp_path, reg)
    await proc.sync(work(one))
    # Someone else's object of the same name as a future prune target is never touched.
    result = await proc.sync(work(two, generation=2))
    assert result.pruned == 1
    assert ("v1", "ConfigMap", "ml", "b") not in cluster.objects
    assert cluster.objects[("v1", "ConfigMap", "ml", "a")]["data"] == {"x": "1"}
    assert [r["name"] for r in result.status["resourceStatus"]] == ["a"]


async def test_prune_spares_objects_another_work_took_over(tmp_path: Path, reg: Registry) -> None:
    cluster = FakeCluster()
    one = reg.push([manifest("ConfigMap", "a"), manifest("ConfigMap", "b")])
    two = reg.push([manifest("ConfigMap", "a")])
    proc = processor(cluster, tmp_path, reg)
    await proc.sync(work(one))
    cluster.objects[("v1", "ConfigMap", "ml", "b")]["metadata"]["labels"][WORK_LABEL] = "other.w"
    result = await proc.sync(work(two, generation=2))
    assert result.pruned == 0
    assert ("v1", "ConfigMap", "ml", "b") in cluster.objects


async def test_drift_is_reapplied(tmp_path: Path, reg: Registry) -> None:
    cluster = FakeCluster()
    digest = reg.push([manifest("ConfigMap", "a", data={"k": "v"}), manifest("ConfigMap", "b")])
    proc = processor(cluster, tmp_path, reg)
    first = await proc.sync(work(digest))
    cluster.objects[("v1", "ConfigMap", "ml", "a")]["data"]["k"] = "edited"
    del cluster.objects[("v1", "ConfigMap", "ml", "b")]
    result = await proc.sync({**work(digest), "status": first.status})
    assert result.applied == 2
    assert cluster.objects[("v1", "ConfigMap", "ml", "a")]["data"] == {"k": "v"}
    assert ("v1", "ConfigMap", "ml", "b") in cluster.objects
    assert reg.pulls == [digest]


async def test_pull_failure_is_reported(tmp_path: Path, reg: Registry) -> None:
    cluster = FakeCluster()
    bad = "sha256:" + "0" * 64
    result = await processor(cluster, tmp_path, reg).sync(work(bad))
    applied = cond(result.status, "Applied")
    assert (applied["status"], applied["reason"]) == ("False", "ArtifactPullFailed")
    assert "digest mismatch" in applied["message"]
    available = cond(result.status, "Available")
    assert (available["status"], available["reason"]) == ("Unknown", "ArtifactPullFailed")
    assert cluster.applied == []
    assert not result.settled


async def test_apply_failure_names_the_object(tmp_path: Path, reg: Registry) -> None:
    cluster = FakeCluster()
    cluster.refuse["b"] = 'ConfigMap "b" is invalid: data[bad key]: Invalid value'
    digest = reg.push([manifest("ConfigMap", "a"), manifest("ConfigMap", "b")])
    result = await processor(cluster, tmp_path, reg).sync(work(digest))
    applied = cond(result.status, "Applied")
    assert applied["reason"] == "ApplyFailed"
    assert "ConfigMap ml/b" in applied["message"] and "Invalid value" in applied["message"]
    available = cond(result.status, "Available")
    assert (available["reason"], available["message"]) == ("ApplyFailed", applied["message"])
    assert "appliedDigest" not in result.status


async def test_degraded_names_the_first_unhealthy_object(tmp_path: Path, reg: Registry) -> None:
    cluster = FakeCluster()
    digest = reg.push([manifest("Pod", "trainer", image="x")])
    cluster.on_apply = lambda obj: {
        "phase": "Pending",
        "containerStatuses": [
            {
                "name": "main",
                "state": {"waiting": {"reason": "ErrImagePull", "message": "pull access denied"}},
            }
        ],
    }
    result = await processor(cluster, tmp_path, reg).sync(work(digest))
    available = cond(result.status, "Available")
    assert available["reason"] == "Degraded"
    assert "Pod ml/trainer" in available["message"]
    assert "ErrImagePull" in available["message"]


@pytest.mark.parametrize(("policy", "left"), [("Foreground", 0), ("Orphan", 2)])
async def test_remove_honours_the_propagation_policy(
    tmp_path: Path, reg: Registry, policy: str, left: int
) -> None:
    cluster = FakeCluster(namespaces=("default",))
    digest = reg.push([manifest("Namespace", "ml"), manifest("ConfigMap", "a")])
    proc = processor(cluster, tmp_path, reg)
    await proc.sync(work(digest, policy=policy))
    assert proc.known_works() == [(NS, "llm")]
    # The agent may have restarted in between: the inventory in the state dir is enough.
    fresh = processor(cluster, tmp_path, reg)
    await fresh.remove(NS, "llm")
    assert len(cluster.objects) == left
    if policy == "Foreground":
        assert [k[1] for k in cluster.deleted] == ["ConfigMap", "Namespace"]
    assert fresh.known_works() == []


@pytest.mark.parametrize(
    ("live", "desired", "same"),
    [
        ({"a": 1, "b": {"c": "x"}, "extra": 2}, {"a": 1, "b": {"c": "x"}}, True),
        ({"a": 1}, {"a": 2}, False),
        ({"a": [1, 2]}, {"a": [1]}, False),
        ({"cpu": "500m"}, {"cpu": "0.5"}, True),
        ({"memory": "1Gi"}, {"memory": "1073741824"}, True),
        ({"gpu": "4"}, {"gpu": 4}, True),
        ({"image": "busybox"}, {"image": "busybox:1"}, False),
        ({"flag": True}, {"flag": "true"}, False),
        ({}, {"a": None}, True),
        ({"a": 1}, {"a": None}, False),
    ],
)
def test_contains_is_the_drift_check(live: Obj, desired: Obj, same: bool) -> None:
    assert contains(live, desired) is same


def test_merge_patch_nulls_what_was_dropped() -> None:
    from axle.spoke.agent import merge_patch

    old = {"capacity": {"gpus": {"H100": 8}, "nodes": 2}, "gone": 1, "same": [1]}
    new = {"capacity": {"gpus": {}, "nodes": 1}, "same": [1]}
    assert merge_patch(old, new) == {
        "capacity": {"gpus": {"H100": None}, "nodes": 1},
        "same": [1],
        "gone": None,
    }


async def test_a_changed_work_ends_the_health_wait(tmp_path: Path, reg: Registry) -> None:
    cluster = FakeCluster(on_apply=lambda obj: {"replicas": 1})  # never available
    digest = reg.push([manifest("Deployment", "db", "db"), manifest("Deployment", "api", "api")])
    proc = processor(cluster, tmp_path, reg, group_wait=1000.0)
    asked: list[bool] = []

    def interrupted() -> bool:
        asked.append(True)
        return len(asked) >= 3  # the Work changes while the pass waits

    w = work(
        digest,
        groups=[{"priority": 1, "components": ["db"]}, {"priority": 2, "components": ["api"]}],
    )
    result = await proc.sync(w, interrupted)
    assert len(asked) == 3
    assert proc.clock() < 1000.0  # type: ignore[operator]
    assert cond(result.status, "Applied")["reason"] == "WaitingForGroup"


async def test_registry_down_then_up_recovers(tmp_path: Path, reg: Registry) -> None:
    cluster = FakeCluster()
    digest = reg.push([manifest("ConfigMap", "a")])
    failures = ["registry returned 401 Unauthorized: authentication required", "connection refused"]

    async def flaky(url: str, wanted: str) -> list[Obj]:
        if failures:
            raise ArtifactError(failures.pop(0))
        return await reg.pull(url, wanted)

    proc = WorkProcessor(cluster, tmp_path, puller=flaky, sleep=no_sleep)
    first = await proc.sync(work(digest))
    applied = cond(first.status, "Applied")
    assert (applied["status"], applied["reason"]) == ("False", "ArtifactPullFailed")
    assert applied["message"] == (
        "artifact pull failed: registry returned 401 Unauthorized: authentication required"
    )
    assert not first.settled and cluster.applied == []
    second = await proc.sync({**work(digest), "status": first.status})
    assert cond(second.status, "Applied")["message"] == "artifact pull failed: connection refused"
    # The registry is back: the same processor (no restart) pulls and applies.
    third = await proc.sync({**work(digest), "status": second.status})
    assert cond(third.status, "Applied")["status"] == "True"
    assert third.status["appliedDigest"] == digest and third.settled
    assert [k[3] for k in cluster.applied] == ["a"]


def hub_secrets(**secrets: Obj) -> Any:
    async def read(name: str) -> Obj:
        if name not in secrets:
            raise NotFound(f'secrets "{name}" not found')
        return secrets[name]

    return read


TOKEN = base64.b64encode(b"hf_secret_value").decode()


async def test_secrets_are_copied_before_anything_and_pruned_with_the_work(
    tmp_path: Path, reg: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cluster = FakeCluster()
    digest = reg.push([manifest("Deployment", "api", "api"), manifest("ConfigMap", "cfg")])
    source = hub_secrets(
        **{
            "llm-hf": {"type": "Opaque", "data": {"token": TOKEN}},
            "llm-ngc": {"stringData": {"key": "ngc_secret_value"}},
        }
    )
    proc = processor(cluster, tmp_path, reg, secret_source=source)
    w = work(digest)
    w["spec"]["secretRefs"] = [
        {"name": "llm-hf", "targetName": "model-credentials"},
        {"name": "llm-ngc", "targetName": "ngc", "targetNamespace": "creds"},
    ]
    result = await proc.sync(w)
    assert cond(result.status, "Applied")["status"] == "True"
    # The secrets (and the namespace one of them needs) came first.
    assert [k[1:] for k in cluster.applied[:3]] == [
        ("Namespace", "", "creds"),
        ("Secret", "ml", "model-credentials"),
        ("Secret", "creds", "ngc"),
    ]
    copy_ = cluster.objects[("v1", "Secret", "ml", "model-credentials")]
    assert copy_["data"] == {"token": TOKEN} and copy_["type"] == "Opaque"
    assert copy_["metadata"]["labels"][WORK_LABEL] == f"{NS}.llm"
    ngc = cluster.objects[("v1", "Secret", "creds", "ngc")]
    assert base64.b64decode(ngc["data"]["key"]) == b"ngc_secret_value"
    namespace = cluster.objects[("v1", "Namespace", "", "creds")]
    assert namespace["metadata"]["labels"][WORK_LABEL] == f"{NS}.llm"
    # Values reach neither the Work's status nor the logs.
    text = json.dumps(result.status) + caplog.text
    assert TOKEN not in text and "hf_secret_value" not in text and "ngc_secret_value" not in text
    rows = [(r["kind"], r["name"]) for r in result.status["resourceStatus"]]
    assert rows[:2] == [("Secret", "model-credentials"), ("Secret", "ngc")]
    # Unchanged: nothing is applied again.
    cluster.applied.clear()
    await proc.sync({**w, "status": result.status})
    assert cluster.applied == []
    # The Work goes: its objects, its secret copies and the namespace the agent made go too;
    # `ml`, which was there before, stays.
    await proc.remove(NS, "llm")
    assert ("v1", "Secret", "ml", "model-credentials") not in cluster.objects
    assert ("v1", "Namespace", "", "creds") not in cluster.objects
    assert await cluster.get("v1", "Namespace", None, "ml") is not None


async def test_missing_secret_stops_the_work(tmp_path: Path, reg: Registry) -> None:
    cluster = FakeCluster()
    digest = reg.push([manifest("ConfigMap", "cfg")])
    proc = processor(cluster, tmp_path, reg, secret_source=hub_secrets())
    w = work(digest)
    w["spec"]["secretRefs"] = [{"name": "llm-hf", "targetName": "model-credentials"}]
    result = await proc.sync(w)
    applied = cond(result.status, "Applied")
    assert (applied["status"], applied["reason"]) == ("False", "SecretMissing")
    assert applied["message"] == (
        f"secret 'llm-hf' not found in the hub namespace {NS} (copied to the cluster as"
        " Secret ml/model-credentials)"
    )
    assert cluster.applied == [] and not result.settled


async def test_agent_created_namespace_goes_with_the_last_work(
    tmp_path: Path, reg: Registry
) -> None:
    cluster = FakeCluster(namespaces=("default",))
    digest = reg.push([manifest("ConfigMap", "cfg")])  # in namespace ml, which is missing
    other = reg.push([manifest("ConfigMap", "other")])
    proc = processor(cluster, tmp_path, reg)
    await proc.sync(work(digest))
    second = work(other)
    second["metadata"]["name"] = "chat"
    await proc.sync(second)
    live = cluster.objects[("v1", "Namespace", "", "ml")]
    assert live["metadata"]["annotations"]["axle.dev/created-by"] == "axle-spoke-agent"
    assert [k[1] for k in cluster.applied].count("Namespace") == 1
    await proc.remove(NS, "llm")
    assert ("v1", "Namespace", "", "ml") in cluster.objects  # chat still uses it
    assert ("v1", "ConfigMap", "ml", "other") in cluster.objects
    await proc.remove(NS, "chat")
    assert ("v1", "Namespace", "", "ml") not in cluster.objects


async def test_agents_can_share_one_artifact_cache(tmp_path: Path, reg: Registry) -> None:
    digest = reg.push([manifest("ConfigMap", "a")])
    shared = ArtifactCache(tmp_path / "shared", reg.pull, memory=1)
    one, two = FakeCluster(), FakeCluster()
    for cluster, state in ((one, "a"), (two, "b")):
        proc = WorkProcessor(cluster, tmp_path / state, artifacts=shared, sleep=no_sleep)
        result = await proc.sync(work(digest))
        assert cond(result.status, "Applied")["status"] == "True"
    assert reg.pulls == [digest] and shared.pulls == 1  # pulled once for both spokes
    # Kept parsed in memory (most recent first), so a pass does not read the file again...
    for path in (tmp_path / "shared").glob("*.json"):
        path.unlink()
    assert shared.cached(digest) is not None
    # ...but only the most recent `memory` digests.
    other = reg.push([manifest("ConfigMap", "b")])
    await shared.get("oci://registry/llm", other)
    assert shared.cached(other) is not None and shared.cached(digest) is None


async def test_a_waiting_pass_reports_why_at_once(tmp_path: Path, reg: Registry) -> None:
    cluster = FakeCluster(on_apply=lambda obj: {"replicas": 1})  # never available
    digest = reg.push([manifest("Deployment", "db", "db"), manifest("Deployment", "api", "api")])
    reports: list[Obj] = []

    async def report(result: Any) -> None:
        reports.append(result.status)

    groups = [{"priority": 1, "components": ["db"]}, {"priority": 2, "components": ["api"]}]
    result = await processor(cluster, tmp_path, reg).sync(
        work(digest, groups=groups), report=report
    )
    assert len(reports) == 1  # once when the wait began; the reason never changed
    applied = cond(reports[0], "Applied")
    assert (applied["status"], applied["reason"]) == ("False", "WaitingForGroup")
    assert "Deployment ml/db" in applied["message"]
    assert cond(reports[0], "Available")["status"] == "False"
    assert cond(result.status, "Applied")["reason"] == "WaitingForGroup"


async def test_works_sharing_a_declared_namespace_do_not_fight_over_it(
    tmp_path: Path, reg: Registry
) -> None:
    cluster = FakeCluster(namespaces=("default", "kept"))
    ns_manifest = manifest("Namespace", "ml")
    ns_manifest["metadata"]["labels"] = {"team": "llm"}
    kept = manifest("Namespace", "kept")  # there before the agent: never deleted by it
    one = reg.push([ns_manifest, kept, manifest("ConfigMap", "a")])
    two = reg.push([ns_manifest, manifest("ConfigMap", "b")])
    proc = processor(cluster, tmp_path, reg)
    first, second = work(one), work(two)
    second["metadata"]["name"] = "chat"
    results = [await proc.sync(first), await proc.sync(second)]
    live = cluster.objects[("v1", "Namespace", "", "ml")]
    assert live["metadata"]["labels"] == {"team": "llm", WORK_LABEL: f"{NS}.llm"}
    cluster.applied.clear()
    for w, r in zip((first, second), results, strict=True):
        await proc.sync({**w, "status": r.status})
    assert cluster.applied == []  # neither takes the namespace from the other
    await proc.remove(NS, "llm")
    assert await cluster.get("v1", "Namespace", None, "ml") is not None
    await proc.remove(NS, "chat")
    assert await cluster.get("v1", "Namespace", None, "ml") is None
    assert await cluster.get("v1", "Namespace", None, "kept") is not None
