"""The render worker pool: renders in child processes, errors with field paths, crashes and
deadlines contained, results cached by input digest."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from axle.controllers.artifactstore import LayoutJob, LayoutPushed
from axle.controllers.renderworker import RenderPool, RenderRequest
from axle.errors import Invalid
from axle.oci import build_artifact
from axle.oci.layout import has_layout_artifact, layout_tags
from axle.render import builtins
from tests.controllers.helpers import eventually


def profile(components: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "WorkloadProfile",
        "metadata": {"name": "app", "namespace": "team-a"},
        "spec": {"type": "Application", "workload": {"components": components}},
    }


WEB = {
    "name": "web",
    "type": "webservice",
    "properties": {"image": "{{ .var.image }}", "port": 8080},
    "traits": [{"type": "gpu", "properties": {"count": 2}}],
}
VARS = [("system", [{"name": "image", "variableType": "string", "value": {"string": "nginx"}}])]


def request(what: str = "team-a/app-web", **overrides: Any) -> RenderRequest:
    values: dict[str, Any] = {
        "what": what,
        "profile": profile([WEB]),
        "definitions": builtins.load(),
        "layers": VARS,
        "context": {"name": "app", "namespace": "team-a"},
        "revision": 1,
        **overrides,
    }
    return RenderRequest(**values)


def runaway() -> dict[str, Any]:
    """A component whose Jsonnet recurses in tail position until the evaluator aborts."""
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "ComponentDefinition",
        "metadata": {"name": "runaway", "namespace": "team-a"},
        "spec": {
            "schematic": {
                "jsonnet": {
                    "template": (
                        "local f(n) = if n == 0 then 0 else f(n - 1) tailstrict;\n"
                        "{ output: { apiVersion: 'v1', kind: 'ConfigMap', "
                        "metadata: { name: 'x' }, data: { n: std.toString(f(100000000)) } } }"
                    )
                }
            }
        },
    }


def forever() -> dict[str, Any]:
    """A component whose Jsonnet takes far longer than any deadline."""
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "ComponentDefinition",
        "metadata": {"name": "forever", "namespace": "team-a"},
        "spec": {
            "schematic": {
                "jsonnet": {
                    "template": (
                        "{ output: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' },"
                        " data: { n: std.toString(std.length(std.range(1, 1000000000))) } } }"
                    )
                }
            }
        },
    }


def with_definition(extra: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    catalog = builtins.load()
    catalog["ComponentDefinition"][extra["metadata"]["name"]] = extra
    return catalog


@pytest.fixture
async def pool() -> AsyncIterator[RenderPool]:
    p = RenderPool(1)
    try:
        yield p
    finally:
        await p.close()


@pytest.mark.integration
async def test_render_in_a_worker_and_cache_by_digest(pool: RenderPool) -> None:
    result = await pool.render(request())
    deploy = next(m for m in result.manifests if m["kind"] == "Deployment")
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert result.priority_groups == [{"priority": 0, "components": ["web"]}]
    assert pool.stats.renders == 1
    again = await pool.render(request())
    assert again == result
    assert pool.stats.renders == 1 and pool.stats.cache_hits == 1
    # Another input renders again.
    other = await pool.render(
        request(layers=[("system", [{**VARS[0][1][0], "value": {"string": "httpd"}}])])
    )
    assert other.manifests != result.manifests
    assert pool.stats.renders == 2


@pytest.mark.integration
async def test_invalid_input_gives_causes_with_field_paths(pool: RenderPool) -> None:
    bad = {**WEB, "properties": {"image": "nginx", "port": "eighty"}}
    with pytest.raises(Invalid) as info:
        await pool.render(request(profile=profile([bad])))
    assert "component 'web'" in info.value.message
    fields = [c.field for c in info.value.causes]
    assert any(f.startswith("spec.workload.components[0].properties.port") for f in fields), fields


@pytest.mark.integration
async def test_crashing_definition_is_contained(pool: RenderPool) -> None:
    bad = request(
        "team-a/boom",
        profile=profile([{"name": "r", "type": "runaway"}]),
        definitions=with_definition(runaway()),
    )
    with pytest.raises(Invalid) as info:
        await pool.render(bad)
    assert "render of team-a/boom aborted: the Jsonnet evaluator crashed" in info.value.message
    assert pool.stats.crashes == 1
    # The pool keeps serving with a fresh worker; the crash is remembered, not repeated.
    result = await pool.render(request())
    assert result.manifests
    with pytest.raises(Invalid):
        await pool.render(bad)
    assert pool.stats.crashes == 1


@pytest.mark.integration
async def test_timeout_kills_the_worker_and_the_pool_goes_on(pool: RenderPool) -> None:
    slow = request(
        "team-a/slow",
        profile=profile([{"name": "f", "type": "forever"}]),
        definitions=with_definition(forever()),
    )
    with pytest.raises(Invalid) as info:
        await pool.render(slow, deadline=0.5)
    assert info.value.message.startswith("render of team-a/slow timed out after 0.5 s")
    assert pool.stats.timeouts == 1
    assert (await pool.render(request())).manifests


@pytest.mark.integration
async def test_a_worker_that_dies_idle_is_replaced_before_the_next_render(
    pool: RenderPool,
) -> None:
    await pool.render(request())
    (worker,) = pool._workers
    assert worker.process.pid is not None
    os.kill(worker.process.pid, signal.SIGKILL)
    # The pool checks a worker before handing it a request: no render fails for it.
    await eventually(lambda: not worker.alive(), what="the dead worker noticed")
    result = await pool.render(request(context={"name": "other"}))
    assert result.manifests
    assert pool.stats.crashes == 0 and pool.stats.workers_started == 2


async def test_digest_is_stable_and_input_sensitive() -> None:
    a, b = request(), request()
    assert a.digest() == b.digest()
    assert request(values={"x": 1}).digest() != a.digest()
    assert request(context={"name": "other"}).digest() != a.digest()


def test_fork_is_refused() -> None:
    with pytest.raises(ValueError):
        RenderPool(1, start_method="fork")


def job(root: Path, tag: str = "team-a.app-web.r1") -> LayoutJob:
    return LayoutJob(
        root=str(root),
        tag=tag,
        source="axle://team-a/app-web",
        revision="app@1",
        input_digest=request().digest(),
    )


@pytest.mark.integration
async def test_the_worker_pushes_what_it_rendered(pool: RenderPool, tmp_path: Path) -> None:
    layout = tmp_path / "artifacts" / "team-a" / "app-web"
    result, pushed = await pool.render_and_push(request(), job(layout))
    # The artifact the hub would have built from the same manifests, in the layout.
    expected = build_artifact(
        result.manifests,
        source="axle://team-a/app-web",
        revision="app@1",
        input_digest=request().digest(),
    )
    assert pushed == LayoutPushed(digest=expected.manifest_digest)
    assert layout_tags(layout) == {"team-a.app-web.r1": expected.manifest_digest}
    assert has_layout_artifact(layout, expected.manifest_digest)
    assert result == await pool.render(request())
    assert (pool.stats.renders, pool.stats.pushes, pool.stats.cache_hits) == (1, 1, 1)
    # An answer from the cache comes without a push: its caller pushes.
    again, none = await pool.render_and_push(request(), job(tmp_path / "other"))
    assert (again, none) == (result, None)
    assert not (tmp_path / "other").exists()


@pytest.mark.integration
async def test_a_push_the_worker_cannot_make_is_reported(pool: RenderPool, tmp_path: Path) -> None:
    blocker = tmp_path / "artifacts"
    blocker.write_text("a file where the store's directory should be")
    result, pushed = await pool.render_and_push(request(), job(blocker / "team-a" / "app-web"))
    assert result.manifests and pushed is not None and pushed.digest is None
    assert pushed.reason == "ArtifactError"
    assert pushed.error is not None
    assert pushed.error.startswith(f"artifact push failed: cannot write OCI layout {blocker}/")
    # The render itself succeeded and is remembered.
    assert pool.stats.renders == 1 and pool.stats.pushes == 0


@pytest.mark.integration
async def test_a_failed_render_pushes_nothing(pool: RenderPool, tmp_path: Path) -> None:
    bad = {**WEB, "properties": {"image": "nginx", "port": "eighty"}}
    with pytest.raises(Invalid, match="component 'web'"):
        await pool.render_and_push(request(profile=profile([bad])), job(tmp_path / "wd"))
    assert os.listdir(tmp_path) == []
