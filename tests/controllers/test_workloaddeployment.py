"""WorkloadDeployment delivery: render -> artifact -> Works -> status, on both stores.

Renders run in a real worker process; the artifact store is an OCI layout directory; the
spoke agent is played by the test, which writes Work status the way the agent does.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from axle.controllers.objects import get_or_none
from axle.controllers.workloaddeployment import FINALIZER
from axle.errors import Conflict
from axle.oci import pull, resolve
from axle.oci.layout import has_layout_artifact
from axle.store.base import Store
from tests.controllers.deliveryfixtures import (
    NS,
    PROFILE,
    REG,
    SPOKE,
    WD,
    WORK,
    Hub,
    K,
    deployment,
    modify,
    phase_is,
    release,
    report,
    running_hub,
    set_spoke,
    setup,
    wd_status,
    web_profile,
    work_of,
)
from tests.controllers.helpers import eventually

# Renders run in a real worker process.
pytestmark = pytest.mark.integration


@pytest.fixture
async def hub(store: Store, tmp_path: Path) -> AsyncIterator[Hub]:
    async with running_hub(store, tmp_path) as h:
        yield h


async def test_happy_path_to_running(hub: Hub, tmp_path: Path) -> None:
    store = hub.store
    await setup(store, ("s1", "s2"))
    await store.create(WD, deployment())
    w1 = await eventually(lambda: work_of(store, "s1"), what="the Work on s1")
    w2 = await eventually(lambda: work_of(store, "s2"), what="the Work on s2")
    status = await eventually(lambda: phase_is(store, "Deploying"), what="Deploying")
    artifact = status["artifact"]
    assert artifact["url"] == f"file://{tmp_path / 'artifacts' / NS / 'app-web'}"
    assert await resolve(artifact["url"], f"{NS}.app-web.r1") == artifact["digest"]
    assert status["gpuRequests"] == {"H100": 2}
    assert status["observedRevision"] == 1
    for work in (w1, w2):
        assert work["spec"]["artifact"] == artifact
        assert work["spec"]["workloadDeploymentRef"] == {"name": "app-web", "namespace": NS}
        assert work["spec"]["priorityGroups"] == [{"priority": 0, "components": ["web"]}]
        assert "definitionOutputs" in work["spec"]["outputs"]
        assert work["metadata"]["labels"]["axle.dev/workloaddeployment"] == "app-web"
        assert work["metadata"]["labels"]["axle.dev/workloaddeployment-namespace"] == NS
        assert "axle.dev/spoke-cleanup" in work["metadata"]["finalizers"]
    wd = await store.get(WD, NS, "app-web")
    assert FINALIZER in wd["metadata"]["finalizers"]

    await report(store, "s1")
    await report(store, "s2")
    status = await eventually(lambda: phase_is(store, "Running"), what="Running")
    assert "message" not in status
    assert status["components"] == [{"name": "web", "ready": 2, "desired": 2, "health": "Healthy"}]
    assert [e["url"] for e in status["endpoints"]] == ["http://s1:8080", "http://s2:8080"]
    assert status["outputs"]["def"]["web"]["url"] == "http://s1:8080"
    assert [s["spoke"] for s in status["spokes"]] == ["s1", "s2"]
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions == {"Rendered": "True", "Delivered": "True", "Available": "True"}


async def test_render_error_fails_with_the_field_path(hub: Hub) -> None:
    store = hub.store
    await setup(store, ("s1",), profile=web_profile(port="eighty"))
    await store.create(WD, deployment())
    status = await eventually(lambda: phase_is(store, "Failed"), what="Failed")
    assert status["message"].startswith("render failed: ")
    assert "component 'web'" in status["message"]
    rendered = next(c for c in status["conditions"] if c["type"] == "Rendered")
    assert rendered["status"] == "False" and rendered["reason"] == "RenderFailed"
    assert "spec.workload.components[0].properties.port" in rendered["message"]
    assert "artifact" not in status
    assert await work_of(store, "s1") is None


async def test_suspended_renders_but_delivers_nothing(hub: Hub) -> None:
    store = hub.store
    await setup(store, ("s1",))
    await store.create(WD, deployment(suspend=True))
    status = await eventually(
        lambda: _with(store, "gpuRequests"), what="the GPU requests of a suspended deployment"
    )
    assert status["gpuRequests"] == {"H100": 2}
    assert status["phase"] == "Pending"
    assert "artifact" in status
    assert await work_of(store, "s1") is None
    renders = hub.pool.stats.renders
    # Resuming delivers the rendered artifact without rendering again.
    await modify(store, WD, NS, "app-web", lambda wd: wd["spec"].update(suspend=False))
    work = await eventually(lambda: work_of(store, "s1"), what="the Work after resume")
    assert work["spec"]["artifact"] == status["artifact"]
    assert hub.pool.stats.renders == renders


async def reconcile_now(hub: Hub) -> None:
    """Run the deployment's reconcile here and now (again if the controller, running the
    same reconcile at the same time, wrote first)."""
    for _ in range(20):
        try:
            await hub.reconciler.reconcile(f"{NS}/app-web")
            return
        except Conflict:
            continue
    raise AssertionError("the reconcile conflicted all along")


def _label(obj: dict[str, Any], value: str) -> None:
    obj["metadata"].setdefault("labels", {})["nudge"] = value


async def _with(store: Store, field: str) -> dict[str, object] | None:
    status = await wd_status(store)
    return status if field in status else None


async def test_new_revision_gives_a_new_artifact_and_updates_the_works(hub: Hub) -> None:
    store = hub.store
    await setup(store, ("s1",))
    await store.create(WD, deployment())
    first = await eventually(lambda: work_of(store, "s1"), what="the first Work")
    new_spec = deployment(image="httpd", revision=2)["spec"]
    await modify(store, WD, NS, "app-web", lambda wd: wd.update(spec=new_spec))

    async def updated() -> object:
        work = await work_of(store, "s1")
        moved = work and work["spec"]["artifact"] != first["spec"]["artifact"]
        return work if moved else None

    second = await eventually(updated, what="the Work with the new artifact")
    assert second["spec"]["artifact"]["digest"] != first["spec"]["artifact"]["digest"]

    async def status_at_2() -> dict[str, object] | None:
        status = await wd_status(store)
        return status if status.get("observedRevision") == 2 else None

    status = await eventually(status_at_2, what="the status at revision 2")
    assert status["artifact"] == second["spec"]["artifact"]
    assert (
        await resolve(status["artifact"]["url"], f"{NS}.app-web.r2")
        == (status["artifact"]["digest"])
    )


async def test_unchanged_inputs_write_nothing(hub: Hub) -> None:
    store = hub.store
    await setup(store, ("s1",))
    await store.create(WD, deployment())
    await eventually(lambda: work_of(store, "s1"), what="the Work")
    await report(store, "s1")
    await eventually(lambda: phase_is(store, "Running"), what="Running")
    reconciler = hub.reconciler
    renders, pushes, writes = hub.pool.stats.renders, hub.artifacts.pushes, reconciler.work_writes
    work = await work_of(store, "s1")
    assert work is not None
    # Nudge the deployment (a label: no spec change) and let it reconcile again, twice.
    for value in ("a", "b"):
        await modify(store, WD, NS, "app-web", lambda wd, v=value: _label(wd, v))
    wd = await store.get(WD, NS, "app-web")
    await reconcile_now(hub)
    assert hub.pool.stats.renders == renders
    assert hub.artifacts.pushes == pushes
    assert reconciler.work_writes == writes
    again = await work_of(store, "s1")
    assert again is not None
    assert again["metadata"]["resourceVersion"] == work["metadata"]["resourceVersion"]
    after = await store.get(WD, NS, "app-web")
    assert after["status"] == wd["status"]


async def test_progressive_rollout_stops_on_failure(hub: Hub) -> None:
    store = hub.store
    strategy = {"type": "Progressive", "progressive": {"maxConcurrency": 1}}
    await setup(store, ("s1", "s2", "s3"), strategy=strategy)
    await store.create(WD, deployment())
    await eventually(lambda: work_of(store, "s1"), what="the first spoke's Work")

    async def delivered() -> dict[str, str] | None:
        conditions = (await wd_status(store)).get("conditions") or []
        return next((c for c in conditions if c["type"] == "Delivered"), None)

    condition = await eventually(delivered, what="the Delivered condition")
    assert condition["reason"] == "RolloutInProgress"
    assert "next: s2, s3" in condition["message"]
    assert await work_of(store, "s2") is None and await work_of(store, "s3") is None
    await report(store, "s1")
    await eventually(lambda: work_of(store, "s2"), what="the second spoke's Work")
    assert await work_of(store, "s3") is None
    await report(
        store,
        "s2",
        applied=False,
        applied_message="artifact pull failed: registry 127.0.0.1:5000 returned 401",
    )
    status = await eventually(lambda: phase_is(store, "Degraded"), what="Degraded")
    assert status["message"] == (
        "rollout stopped at spoke s2: artifact pull failed: registry 127.0.0.1:5000 returned 401"
    )
    assert await work_of(store, "s3") is None
    # Fixed on s2: the rollout goes on to s3.
    await report(store, "s2")
    await eventually(lambda: work_of(store, "s3"), what="the third spoke's Work")
    await report(store, "s3")
    await eventually(lambda: phase_is(store, "Running"), what="Running")


async def test_deletion_waits_for_the_works(hub: Hub) -> None:
    store = hub.store
    await setup(store, ("s1",))
    await store.create(WD, deployment())
    await eventually(lambda: work_of(store, "s1"), what="the Work")
    await store.delete(WD, NS, "app-web")

    async def work_deleting() -> object:
        work = await work_of(store, "s1")
        return work and work["metadata"].get("deletionTimestamp")

    await eventually(work_deleting, what="the Work to be deleted")
    await eventually(lambda: phase_is(store, "Deleting"), what="Deleting")
    assert (await store.get(WD, NS, "app-web"))["metadata"]["finalizers"] == [FINALIZER]
    await release(store, "s1")

    async def gone() -> bool:
        return not await wd_status(store) and (await work_of(store, "s1")) is None

    await eventually(gone, what="the deployment to go once its Work is pruned")


async def test_a_deleted_spokes_work_is_released(hub: Hub) -> None:
    store = hub.store
    await setup(store, ("s1", "s2"))
    await store.create(WD, deployment())
    await eventually(lambda: work_of(store, "s2"), what="the Work on s2")
    await store.delete(SPOKE, None, "s2")

    async def released() -> bool:
        return await work_of(store, "s2") is None

    await eventually(released, what="the Work of the deleted spoke to be released")
    assert await work_of(store, "s1") is not None
    status = await wd_status(store)
    assert [s["spoke"] for s in status["spokes"]] == ["s1"]


async def test_messages_a_data_scientist_reads(hub: Hub) -> None:
    store = hub.store
    await setup(store, ("s1",))
    await store.create(WD, deployment())
    await eventually(lambda: work_of(store, "s1"), what="the Work")
    await report(
        store,
        "s1",
        available=False,
        health="Progressing",
        ready=0,
        message="0/1 pods scheduled: Insufficient nvidia.com/gpu (needs 2, 0 free)",
    )

    async def message() -> str | None:
        return (await wd_status(store)).get("message")

    await eventually(
        lambda: _is(
            message(),
            "component web: 0/1 pods scheduled: Insufficient nvidia.com/gpu on pool gpu-a "
            "(needs 2, 0 free)",
        ),
        what="the scheduler's reason",
    )
    status = await wd_status(store)
    assert status["components"][0]["ready"] == 0 and status["phase"] == "Deploying"
    await set_spoke(store, "s1", available="Unknown")
    await eventually(
        lambda: _is(message(), "spoke s1 unreachable since 10:42"), what="the unreachable spoke"
    )


async def _is(value: object, expected: str) -> bool:
    got = await value  # type: ignore[misc]
    return bool(got == expected)


async def test_profile_revision_comes_from_its_snapshot(hub: Hub) -> None:
    """The WD renders the pinned revision even after the live profile moved on."""
    store = hub.store
    await setup(store, ("s1",))
    await store.create(WD, deployment())
    first = await eventually(lambda: work_of(store, "s1"), what="the Work")
    await eventually(lambda: phase_is(store, "Deploying"), what="Deploying")
    moved_spec = web_profile(gpus=4)["spec"]
    # WorkloadProfile specs are immutable through the API; the store lets the test move it.
    await modify(store, PROFILE, NS, "app", lambda p: p.update(spec=copy.deepcopy(moved_spec)))
    await modify(store, WD, NS, "app-web", lambda wd: _label(wd, "1"))
    await reconcile_now(hub)
    work = await store.get(WORK, "spoke-s1", f"{NS}.app-web")
    assert work["spec"]["artifact"] == first["spec"]["artifact"]
    assert (await wd_status(store))["gpuRequests"] == {"H100": 2}


async def test_secret_refs_reach_the_spoke_as_copies(hub: Hub) -> None:
    store = hub.store
    await setup(store, ("s1",))
    await store.create(
        K.secret,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "hf-token", "namespace": NS},
            "type": "Opaque",
            "data": {"token": "aGYtc2VjcmV0"},
        },
    )
    refs = [{"name": "hf-token", "targetName": "model-credentials"}]
    await store.create(WD, deployment(secretRefs=refs))
    work = await eventually(lambda: work_of(store, "s1"), what="the Work")
    assert work["spec"]["secretRefs"] == [
        {"name": "app-web-model-credentials", "targetName": "model-credentials"}
    ]
    copy_ = await store.get(K.secret, "spoke-s1", "app-web-model-credentials")
    assert copy_["data"] == {"token": "aGYtc2VjcmV0"}
    assert copy_["metadata"]["labels"]["axle.dev/workloaddeployment"] == "app-web"
    # The manifests never carry it.
    artifact = work["spec"]["artifact"]
    objects = await pull(artifact["url"], artifact["digest"])
    assert "aGYtc2VjcmV0" not in str(objects) and "hf-secret" not in str(objects)
    await store.delete(WD, NS, "app-web")
    await eventually(lambda: _deleting(store, "s1"), what="the Work to be deleted")

    async def copy_gone() -> bool:
        return await get_or_none(store, K.secret, "spoke-s1", "app-web-model-credentials") is None

    await eventually(copy_gone, what="the Secret copy to go with the Work")


async def _deleting(store: Store, spoke: str) -> bool:
    work = await work_of(store, spoke)
    return bool(work and work["metadata"].get("deletionTimestamp"))


def consumer_profile() -> dict[str, object]:
    profile = web_profile("ui")
    component = profile["spec"]["workload"]["components"][0]  # type: ignore[index]
    component["name"] = "ui"
    component["properties"]["env"] = {"BACKEND": "{{ .def.web.url }}"}
    component["traits"] = []
    return profile


async def test_hub_outputs_of_other_deployments_feed_macros(hub: Hub) -> None:
    store = hub.store
    await setup(store, ("s1",))
    await store.create(PROFILE, consumer_profile())
    ui = deployment("app-ui")
    ui["spec"]["workloadProfileRef"] = {"name": "ui", "revision": 1}
    await store.create(WD, ui)

    async def waiting() -> bool:
        status = await wd_status(store, "app-ui")
        return status.get("message") == (
            f"waiting for output .def.web.url from another workload in {NS}"
        )

    await eventually(waiting, what="the consumer to wait for the output")
    assert (await wd_status(store, "app-ui"))["phase"] == "Pending"
    await store.create(WD, deployment())
    await eventually(lambda: work_of(store, "s1"), what="the producer's Work")
    await report(store, "s1")  # reports def.web.url = http://s1:8080
    work = await eventually(lambda: work_of(store, "s1", "app-ui"), what="the consumer's Work")
    artifact = work["spec"]["artifact"]
    objects = await pull(artifact["url"], artifact["digest"])
    deploy = next(o for o in objects if o["kind"] == "Deployment")
    env = deploy["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "BACKEND", "value": "http://s1:8080"} in env


async def test_a_missing_secret_is_waited_for(hub: Hub) -> None:
    store = hub.store
    await setup(store, ("s1",))
    refs = [{"name": "hf-token", "targetName": "model-credentials"}]
    await store.create(WD, deployment(secretRefs=refs))

    async def waiting() -> bool:
        return (await wd_status(store)).get("message") == (
            f"waiting for secret {NS}/hf-token (the deployment's model-credentials): not found"
        )

    await eventually(waiting, what="the missing secret in the message")
    assert await work_of(store, "s1") is None
    await store.create(
        K.secret,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "hf-token", "namespace": NS},
            "data": {"token": "eA=="},
        },
    )
    await eventually(lambda: work_of(store, "s1"), within=20, what="delivery once it exists")


def config_definition(value: str) -> dict[str, object]:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "ComponentDefinition",
        "metadata": {"name": "settings-map", "namespace": NS},
        "spec": {
            "schematic": {
                "kube": {
                    "template": {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": "settings"},
                        "data": {"mode": value},
                    }
                }
            }
        },
    }


async def test_project_definitions_render_and_their_changes_roll_out(hub: Hub) -> None:
    store = hub.store
    compdef = REG.by_group_kind("axle.dev", "ComponentDefinition")
    profile = web_profile()
    profile["spec"]["workload"]["components"].append(  # type: ignore[index]
        {"name": "settings", "type": "settings-map"}
    )
    await store.create(compdef, config_definition("one"))
    await setup(store, ("s1",), profile=profile)
    await store.create(WD, deployment())
    first = await eventually(lambda: work_of(store, "s1"), what="the Work")
    objects = await pull(first["spec"]["artifact"]["url"], first["spec"]["artifact"]["digest"])
    assert next(o for o in objects if o["kind"] == "ConfigMap")["data"] == {"mode": "one"}
    two = config_definition("two")["spec"]
    await modify(store, compdef, NS, "settings-map", lambda d: d.update(spec=two))

    async def moved() -> object:
        work = await work_of(store, "s1")
        moved_on = work and work["spec"]["artifact"] != first["spec"]["artifact"]
        return work if moved_on else None

    second = await eventually(moved, what="a new artifact from the changed definition")
    objects = await pull(second["spec"]["artifact"]["url"], second["spec"]["artifact"]["digest"])
    assert next(o for o in objects if o["kind"] == "ConfigMap")["data"] == {"mode": "two"}


async def test_a_new_owner_revision_with_the_same_inputs_changes_nothing(hub: Hub) -> None:
    store = hub.store
    await setup(store, ("s1",))
    await store.create(WD, deployment())
    await eventually(lambda: work_of(store, "s1"), what="the Work")
    await eventually(lambda: phase_is(store, "Deploying"), what="Deploying")
    work = await work_of(store, "s1")
    assert work is not None
    renders, pushes = hub.pool.stats.renders, hub.artifacts.pushes
    await modify(store, WD, NS, "app-web", lambda wd: wd["spec"].update(revision=2))

    async def observed() -> dict[str, Any] | None:
        status = await wd_status(store)
        return status if status.get("observedRevision") == 2 else None

    await eventually(observed, what="revision 2 observed")
    assert (hub.pool.stats.renders, hub.artifacts.pushes) == (renders, pushes)
    again = await work_of(store, "s1")
    assert again is not None
    assert again["metadata"]["resourceVersion"] == work["metadata"]["resourceVersion"]


async def test_a_pass_woken_by_its_own_writes_is_skipped_but_changes_are_not(hub: Hub) -> None:
    store = hub.store
    await setup(store, ("s1",))
    await store.create(WD, deployment())
    await eventually(lambda: work_of(store, "s1"), what="the Work")
    await eventually(lambda: phase_is(store, "Deploying"), what="Deploying")
    reconciler = hub.reconciler

    async def skipped() -> bool:
        # Once its own finalizer, status and Work writes are back in the caches and nothing
        # it reads changed, a pass (a wake-up by its own write, a resync) does nothing.
        before = reconciler.settled_skips
        await reconcile_now(hub)
        return reconciler.settled_skips == before + 1

    await eventually(skipped, what="a skipped pass")
    renders, writes = hub.pool.stats.renders, reconciler.work_writes
    # What the pass reads changing is never skipped: the agent's report, a spoke going away.
    await report(store, "s1")
    await eventually(lambda: phase_is(store, "Running"), what="Running")
    await set_spoke(store, "s1", available="Unknown")
    status = await eventually(
        lambda: _message_has(store, "unreachable since 10:42"), what="the unreachable spoke"
    )
    assert status["phase"] == "Deploying"
    assert (hub.pool.stats.renders, reconciler.work_writes) == (renders, writes)


async def _message_has(store: Store, text: str) -> dict[str, Any] | None:
    status = await wd_status(store)
    return status if text in str(status.get("message")) else None


async def test_an_artifact_lost_with_the_power_is_pushed_again(
    store: Store, tmp_path: Path
) -> None:
    async with running_hub(store, tmp_path):
        await setup(store, ("s1",))
        await store.create(WD, deployment())
        await eventually(lambda: work_of(store, "s1"), what="the Work")
        status = await eventually(lambda: phase_is(store, "Deploying"), what="Deploying")
    work = await work_of(store, "s1")
    assert work is not None
    digest = status["artifact"]["digest"]
    layout = tmp_path / "artifacts" / NS / "app-web"
    # A restart that lost nothing trusts what is there: no render, no push.
    async with running_hub(store, tmp_path) as hub:
        await eventually(lambda: hub.reconciler.wds.get(f"{NS}/app-web"), what="the cache")
        await reconcile_now(hub)
        assert (hub.pool.stats.renders, hub.artifacts.pushes) == (0, 0)
    # Artifact writes are not fsynced: a power loss may take them. The next hub checks the
    # artifact before relying on it, and renders and pushes it again, byte for byte.
    shutil.rmtree(layout / "blobs")
    async with running_hub(store, tmp_path) as hub:
        await eventually(lambda: hub.artifacts.pushes == 1, what="the artifact pushed again")
        assert has_layout_artifact(layout, digest)
        assert hub.reconciler.work_writes == 0
    assert (await wd_status(store))["artifact"]["digest"] == digest
    again = await work_of(store, "s1")
    assert again is not None
    assert again["metadata"]["resourceVersion"] == work["metadata"]["resourceVersion"]
