"""Workload controllers on a manual clock: rollouts, counts, ordered sets, jobs, cron, pulls."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from axle.sim.cluster import SimCluster
from axle.sim.palette.clock import ManualClock
from tests.sim_cluster.conftest import container, deployment, job


def cond(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in obj["status"].get("conditions", []) if c["type"] == type_)


async def pods_of(sim: SimCluster, selector: str) -> list[dict[str, Any]]:
    return await sim.list_objects("v1", "Pod", "default", selector)


async def test_deployment_becomes_available_after_start_latency(
    make_cluster: Callable[..., SimCluster],
) -> None:
    sim = make_cluster(start_latency=5.0)
    d = await sim.apply(deployment("web", replicas=3))
    # Pods are bound but still creating: counts as Kubernetes reports them (zeros left out).
    assert d["status"]["replicas"] == 3 and d["status"]["updatedReplicas"] == 3
    assert "readyReplicas" not in d["status"] and "availableReplicas" not in d["status"]
    assert d["status"]["unavailableReplicas"] == 3
    assert cond(d, "Available")["status"] == "False"
    assert cond(d, "Available")["reason"] == "MinimumReplicasUnavailable"
    assert cond(d, "Progressing")["reason"] == "ReplicaSetUpdated"
    pods = await pods_of(sim, "app=web")
    waiting = {p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] for p in pods}
    assert waiting == {"ContainerCreating"}
    await sim.advance(5)
    live = await sim.get("apps/v1", "Deployment", "default", "web")
    assert live is not None
    st = live["status"]
    assert (st["replicas"], st["readyReplicas"], st["availableReplicas"]) == (3, 3, 3)
    assert st["updatedReplicas"] == 3 and "unavailableReplicas" not in st
    assert st["observedGeneration"] == 1
    assert cond(live, "Available")["reason"] == "MinimumReplicasAvailable"
    progressing = cond(live, "Progressing")
    assert progressing["reason"] == "NewReplicaSetAvailable"
    rs = (await sim.list_objects("apps/v1", "ReplicaSet", "default"))[0]
    assert (
        progressing["message"]
        == f'ReplicaSet "{rs["metadata"]["name"]}" has successfully progressed.'
    )
    assert rs["status"]["readyReplicas"] == 3
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"


async def test_rolling_update_makes_a_new_replicaset(
    make_cluster: Callable[..., SimCluster],
) -> None:
    sim = make_cluster(start_latency=2.0)
    await sim.apply(deployment("web", replicas=2))
    await sim.advance(2)
    first = (await sim.list_objects("apps/v1", "ReplicaSet", "default"))[0]["metadata"]["name"]
    d = await sim.apply(deployment("web", replicas=2, image="nginx:1.28"))
    assert d["metadata"]["generation"] == 2
    sets = {r["metadata"]["name"]: r for r in await sim.list_objects("apps/v1", "ReplicaSet")}
    assert len(sets) == 2
    # The old pods serve until the new ones are ready.
    assert sets[first]["spec"]["replicas"] == 2
    assert d["status"]["replicas"] == 4 and d["status"]["updatedReplicas"] == 2
    assert d["status"]["availableReplicas"] == 2
    assert cond(d, "Progressing")["reason"] == "ReplicaSetUpdated"
    assert cond(d, "Available")["status"] == "True"
    await sim.advance(2)
    sets = {r["metadata"]["name"]: r for r in await sim.list_objects("apps/v1", "ReplicaSet")}
    assert sets[first]["spec"]["replicas"] == 0
    new = next(n for n in sets if n != first)
    assert sets[new]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    pods = await pods_of(sim, "app=web")
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx:1.28"}
    live = await sim.get("apps/v1", "Deployment", "default", "web")
    assert live is not None and live["status"]["replicas"] == 2
    assert (
        cond(live, "Progressing")["message"] == f'ReplicaSet "{new}" has successfully progressed.'
    )


async def test_scale_down_and_recreate(sim: SimCluster) -> None:
    await sim.apply(deployment("web", replicas=4))
    d = await sim.apply(deployment("web", replicas=1))
    assert d["status"]["replicas"] == 1 and len(await pods_of(sim, "app=web")) == 1
    d = await sim.apply(
        deployment("web", replicas=1, image="nginx:2", strategy={"type": "Recreate"})
    )
    assert d["status"]["readyReplicas"] == 1
    assert [p["spec"]["containers"][0]["image"] for p in await pods_of(sim, "app=web")] == [
        "nginx:2"
    ]


async def test_image_pull_failure_then_backoff_and_deadline(
    make_cluster: Callable[..., SimCluster],
) -> None:
    sim = make_cluster()
    d = await sim.apply(
        deployment(
            "bad", replicas=1, image="registry.example/does-not-exist:1", progressDeadlineSeconds=60
        )
    )
    assert cond(d, "Available")["status"] == "False"
    [p] = await pods_of(sim, "app=bad")
    waiting = p["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "ErrImagePull" and "not found" in waiting["message"]
    assert p["status"]["phase"] == "Pending"
    await sim.advance(10)
    [p] = await pods_of(sim, "app=bad")
    waiting = p["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting == {
        "reason": "ImagePullBackOff",
        "message": 'Back-off pulling image "registry.example/does-not-exist:1"',
    }
    reasons = [(e["type"], e["reason"], e["message"]) for e in await sim.events_for(p)]
    assert ("Warning", "Failed", "Error: ErrImagePull") in reasons
    assert ("Warning", "Failed", "Error: ImagePullBackOff") in reasons
    await sim.advance(60)
    live = await sim.get("apps/v1", "Deployment", "default", "bad")
    assert live is not None
    progressing = cond(live, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "ProgressDeadlineExceeded")


async def test_crashing_server_is_running_but_not_ready(sim: SimCluster) -> None:
    d = await sim.apply(deployment("crash", replicas=1, annotations={"sim.axle.dev/fail": "true"}))
    [p] = await pods_of(sim, "app=crash")
    assert p["status"]["phase"] == "Running"
    cs = p["status"]["containerStatuses"][0]
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff" and not cs["ready"]
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    assert "readyReplicas" not in d["status"]


async def test_statefulset_ordered_with_claims(make_cluster: Callable[..., SimCluster]) -> None:
    sim = make_cluster(start_latency=3.0)
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "default"},
        "spec": {
            "replicas": 3,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [container(image="postgres:16")]},
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "10Gi"}},
                    },
                }
            ],
        },
    }
    live = await sim.apply(sts)
    assert [p["metadata"]["name"] for p in await pods_of(sim, "app=db")] == ["db-0"]
    assert live["status"]["replicas"] == 1 and "readyReplicas" not in live["status"]
    for ordinal in (1, 2):
        await sim.advance(3)
        names = [p["metadata"]["name"] for p in await pods_of(sim, "app=db")]
        assert names == [f"db-{i}" for i in range(ordinal + 1)]
    await sim.advance(3)
    live = await sim.get("apps/v1", "StatefulSet", "default", "db")
    assert live is not None
    st = live["status"]
    assert (st["replicas"], st["readyReplicas"], st["availableReplicas"]) == (3, 3, 3)
    assert st["currentRevision"] == st["updateRevision"] and st["updatedReplicas"] == 3
    claims = await sim.list_objects("v1", "PersistentVolumeClaim", "default")
    assert [c["metadata"]["name"] for c in claims] == ["data-db-0", "data-db-1", "data-db-2"]
    assert {c["status"]["phase"] for c in claims} == {"Bound"}
    [pod0] = await pods_of(sim, "statefulset.kubernetes.io/pod-name=db-0")
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}} in pod0["spec"][
        "volumes"
    ]
    sts["spec"]["replicas"] = 1
    await sim.apply(sts)
    assert [p["metadata"]["name"] for p in await pods_of(sim, "app=db")] == ["db-0"]
    # Claims outlive their pods, as the default retention policy says.
    assert len(await sim.list_objects("v1", "PersistentVolumeClaim", "default")) == 3


async def test_statefulset_rolling_update(sim: SimCluster) -> None:
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "kv", "namespace": "default"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "kv"}},
            "template": {
                "metadata": {"labels": {"app": "kv"}},
                "spec": {"containers": [container(image="kv:1")]},
            },
        },
    }
    first = await sim.apply(sts)
    sts["spec"]["template"]["spec"]["containers"][0]["image"] = "kv:2"
    live = await sim.apply(sts)
    assert live["status"]["updateRevision"] != first["status"]["updateRevision"]
    assert live["status"]["currentRevision"] == live["status"]["updateRevision"]
    images = {p["spec"]["containers"][0]["image"] for p in await pods_of(sim, "app=kv")}
    assert images == {"kv:2"}


async def test_job_completes_after_its_duration(make_cluster: Callable[..., SimCluster]) -> None:
    sim = make_cluster(job_duration=30.0)
    j = await sim.apply(job("batch", completions=2, parallelism=2))
    assert j["status"]["active"] == 2 and "succeeded" not in j["status"]
    assert "conditions" not in j["status"]
    await sim.advance(30)
    live = await sim.get("batch/v1", "Job", "default", "batch")
    assert live is not None
    assert live["status"]["succeeded"] == 2 and "active" not in live["status"]
    assert cond(live, "Complete")["status"] == "True"
    assert live["status"]["completionTime"]
    pods = await pods_of(sim, "job-name=batch")
    assert {p["status"]["phase"] for p in pods} == {"Succeeded"}
    term = pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (0, "Completed")
    assert "Completed" in [e["reason"] for e in await sim.events_for(live)]


async def test_job_fails_past_its_backoff_limit(sim: SimCluster) -> None:
    j = await sim.apply(job("flaky", annotations={"sim.axle.dev/fail": "true"}, backoffLimit=2))
    assert j["status"]["failed"] == 3
    failed = cond(j, "Failed")
    assert (failed["status"], failed["reason"]) == ("True", "BackoffLimitExceeded")
    assert failed["message"] == "Job has reached the specified backoff limit"
    pods = await pods_of(sim, "job-name=flaky")
    assert len(pods) == 3 and {p["status"]["phase"] for p in pods} == {"Failed"}
    term = pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (1, "Error")
    j = await sim.apply(job("exit2", annotations={"sim.axle.dev/exit-code": "2"}, backoffLimit=0))
    assert cond(j, "Failed")["status"] == "True"


async def test_cronjob_runs_on_schedule(clock: ManualClock, sim: SimCluster) -> None:
    clock.now = 1_800_000_000.0 - (1_800_000_000.0 % 3600)  # on the hour
    cj = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "tick", "namespace": "default"},
        "spec": {
            "schedule": "*/5 * * * *",
            "successfulJobsHistoryLimit": 2,
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {"restartPolicy": "Never", "containers": [container(image="x")]}
                    }
                }
            },
        },
    }
    await sim.apply(cj)
    assert await sim.list_objects("batch/v1", "Job", "default") == []
    await sim.advance(299)
    assert await sim.list_objects("batch/v1", "Job", "default") == []
    await sim.advance(1)
    jobs = await sim.list_objects("batch/v1", "Job", "default")
    minutes = int(clock.now // 60)
    assert [j["metadata"]["name"] for j in jobs] == [f"tick-{minutes}"]
    assert cond(jobs[0], "Complete")["status"] == "True"
    live = await sim.get("batch/v1", "CronJob", "default", "tick")
    assert live is not None and live["status"]["lastScheduleTime"]
    assert live["status"]["lastSuccessfulTime"]
    for _ in range(3):
        await sim.advance(300)
    jobs = await sim.list_objects("batch/v1", "Job", "default")
    assert len(jobs) == 2  # the history limit keeps the two newest
    # A missed stretch runs only the latest slot, as the CronJob controller does.
    await sim.advance(3600)
    newest = max(
        int(j["metadata"]["name"].split("-")[1])
        for j in await sim.list_objects("batch/v1", "Job", "default")
    )
    assert newest == int(clock.now // 60)


async def test_cronjob_with_bad_schedule_says_so(sim: SimCluster) -> None:
    cj = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "bad", "namespace": "default"},
        "spec": {"schedule": "every day", "jobTemplate": {"spec": {"template": {"spec": {}}}}},
    }
    live = await sim.apply(cj)
    [event] = await sim.events_for(live)
    assert (event["reason"], event["type"]) == ("UnparseableSchedule", "Warning")
    await sim.advance(600)
    assert len(await sim.events_for(live)) == 1


async def test_run_steps_when_a_timer_comes_due(
    clock: ManualClock, make_cluster: Callable[..., SimCluster]
) -> None:
    sim = make_cluster(start_latency=5.0)
    await sim.apply(deployment("web", replicas=1))
    assert sim.controllers.next_due == clock.now + 5
    runner = asyncio.create_task(sim.run(interval=0.01))
    clock.advance(5)
    deadline = asyncio.get_running_loop().time() + 5
    while True:
        live = await sim.get("apps/v1", "Deployment", "default", "web")
        if live and live["status"].get("readyReplicas") == 1:
            break
        assert asyncio.get_running_loop().time() < deadline, live
        await asyncio.sleep(0.01)
    await sim.close()
    await asyncio.wait_for(runner, 5)


async def test_daemonset_one_pod_per_eligible_node(sim: SimCluster) -> None:
    ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {"containers": [container(image="agent:1")]},
            },
        },
    }
    live = await sim.apply(ds)
    pods = await pods_of(sim, "app=agent")
    assert sorted(p["spec"]["nodeName"] for p in pods) == ["gpu-01", "gpu-02"]
    st = live["status"]
    assert (st["desiredNumberScheduled"], st["numberReady"], st["numberAvailable"]) == (2, 2, 2)
    assert "numberUnavailable" not in st
    # Tolerating the control-plane taint puts it on every node; a new template replaces pods.
    ds["spec"]["template"]["spec"]["tolerations"] = [{"operator": "Exists"}]
    ds["spec"]["template"]["spec"]["containers"][0]["image"] = "agent:2"
    live = await sim.apply(ds)
    pods = await pods_of(sim, "app=agent")
    assert sorted(p["spec"]["nodeName"] for p in pods) == ["cp-01", "cp-02", "gpu-01", "gpu-02"]
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"agent:2"}
    assert live["status"]["numberReady"] == 4
