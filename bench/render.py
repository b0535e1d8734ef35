"""Render benchmark: renders per second of the LLM example bundle, and artifact build + push.

One core, in process: the LLM inference example (examples/bundles/llm-inference.yaml) is
rendered again and again through the same pipeline `axle render` uses (parameters checked
against the definitions' schemas, Jsonnet evaluated, macros resolved, every object validated
against the Kubernetes schemas); then artifacts of its manifests (each new) are built and
pushed as the hub's artifact store does (a layout per deployment, no fsync: see
`controllers/artifactstore.py`), and as `axle push` does (an fsync per file). Nothing asserts.

    python bench/render.py [--seconds 5]

Targets (issue 5, this machine): >= 200 renders/s and >= 100 artifacts/s. Besides wall-clock
figures it prints renders per CPU second of this process: a render is single-threaded, so
that is the one-core rate even when other work shares the machine (wall-clock rates then
drop with the CPU share this process gets). `--profile` prints the top of a cProfile run.

`--hub-side N` measures instead what a WorkloadDeployment costs the hub process itself
besides reconciling: N deployments of `bench/fleet.py`'s profile rendered in a pool of two
workers and their artifacts pushed to a new layout each, as the controller does it, 32 at
once; it prints the hub's CPU (user and system) and the workers' per deployment. This is
the figure to watch for fleet scale, where the hub's one process is the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pickle
import pstats
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

import axle.api.kinds  # noqa: F401  (registers the kinds admission needs)
from axle.api.admission import admit
from axle.api.registry import REGISTRY
from axle.controllers.artifactstore import ArtifactStore
from axle.controllers.renderworker import RenderPool, RenderRequest, catalog_digest
from axle.oci import build_artifact, push
from axle.render import builtins
from axle.render.pipeline import render_bundle

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "bundles" / "llm-inference.yaml"


def load_example() -> tuple[dict[str, Any], dict[tuple[str, int], dict[str, Any]]]:
    docs = [d for d in yaml.safe_load_all(EXAMPLE.read_text()) if d]
    objs = [admit(REGISTRY.by_api_version(d["apiVersion"], d["kind"]), d) for d in docs]
    bundle = next(o for o in objs if o["kind"] == "ProfileBundle")
    profiles = {(o["metadata"]["name"], 1): o for o in objs if o["kind"] == "WorkloadProfile"}
    return bundle, profiles


def bench_render(seconds: float) -> tuple[float, float, list[float], list[dict[str, Any]]]:
    """(renders per wall second, renders per CPU second, wall times, the last manifests)."""
    bundle, profiles = load_example()
    catalog = builtins.load()
    manifests: list[dict[str, Any]] = []
    render_bundle(bundle, profiles, definitions=catalog)  # warm the validator caches
    times: list[float] = []
    cpu0 = time.process_time()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        results = render_bundle(bundle, profiles, definitions=catalog)
        times.append(time.perf_counter() - t0)
        manifests = [m for r in results for m in r.manifests]
    cpu = time.process_time() - cpu0
    return len(times) / sum(times), len(times) / cpu, times, manifests


def profile_render(count: int = 300) -> None:
    bundle, profiles = load_example()
    catalog = builtins.load()
    render_bundle(bundle, profiles, definitions=catalog)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(count):
        render_bundle(bundle, profiles, definitions=catalog)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


async def bench_artifacts(manifests: list[dict[str, Any]], seconds: float) -> tuple[float, int]:
    """Artifacts built and pushed per second the way the hub does it: `ArtifactStore.push`
    (one layout per deployment, no fsyncs), the manifests as a render worker sends them."""
    root = Path(tempfile.mkdtemp(prefix="axle-bench-oci-"))
    store = ArtifactStore(f"file://{root}")
    sent = pickle.loads(pickle.dumps(manifests))
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        await store.push(
            sent, namespace="bench", name=f"llm-{n}", revision=1, source_revision=f"llm@{n}"
        )
        n += 1
    store.close()
    return n / (time.perf_counter() - t0), len(manifests)


async def bench_durable_pushes(manifests: list[dict[str, Any]], seconds: float) -> float:
    """The same through `axle.oci.push` to one layout, which fsyncs every file (`axle push`)."""
    root = Path(tempfile.mkdtemp(prefix="axle-bench-oci-")) / "layout"
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        artifact = build_artifact(manifests, source="axle://bench/llm", revision=f"llm@{n}")
        await push(artifact, f"file://{root}", f"r{n}")
        n += 1
    return n / (time.perf_counter() - t0)


FLEET_PROFILE: dict[str, Any] = {
    "apiVersion": "axle.dev/v1alpha1",
    "kind": "WorkloadProfile",
    "metadata": {"name": "fleet-web-0", "namespace": "bench"},
    "spec": {
        "type": "Application",
        "workload": {
            "components": [
                {
                    "name": "web-0",
                    "type": "webservice",
                    "properties": {
                        "image": "nginx:1.27",
                        "port": 80,
                        "replicas": 1,
                        "env": {"INDEX": "{{ .var.index }}"},
                    },
                }
            ]
        },
    },
}


# The fleet bundle's variable set (bench/fleet.py); each deployment sets its own value.
VARIABLE = {"name": "index", "variableType": "string", "value": {"string": "0"}}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of another process (Linux `/proc/PID/stat`)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bench_hub_side(count: int) -> tuple[float, float, float]:
    """The hub's own CPU per deployment for what `bench/fleet.py` makes it do, the way the
    WorkloadDeployment controller does it: render in the worker pool, then the artifact
    (built and pushed by the worker to a new layout, or by `ArtifactStore.push` when the
    store has no worker-side push, as before it did), `count` deployments of the fleet's
    profile, each with its own variable, 32 at once (the controller's concurrency).
    Returns (user, system) CPU ms per deployment of this process (its threads) and the CPU
    ms per deployment of the render workers."""
    pool = RenderPool(2)
    root = Path(tempfile.mkdtemp(prefix="axle-bench-oci-"))
    store = ArtifactStore(f"file://{root}")
    catalog = builtins.load()
    digest = catalog_digest(catalog)
    gate = asyncio.Semaphore(32)

    def request(i: int) -> RenderRequest:
        return RenderRequest(
            what=f"bench/w-{i}",
            profile=FLEET_PROFILE,
            definitions=catalog,
            definitions_digest=digest,
            layers=[("bundle", [VARIABLE])],
            values={"index": str(i)},
            system={"workloadName": f"w-{i}", "workloadDeployment": f"w-{i}-web"},
            context={"name": f"w-{i}", "namespace": "bench"},
            revision=1,
        )

    async def deploy(i: int) -> None:
        req = request(i)
        target: dict[str, Any] = {
            "namespace": "bench",
            "name": f"w-{i}-web",
            "revision": 1,
            "source_revision": "fleet-web-0@1",
            "input_digest": req.digest(),
        }
        async with gate:
            job = store.layout_job(**target) if hasattr(store, "layout_job") else None
            if job is None:
                result = await pool.render(req)
                await store.push(result.manifests, **target)
            else:
                result, pushed = await pool.render_and_push(req, job)
                await store.push(result.manifests, **target, pushed=pushed)

    await asyncio.gather(*(deploy(-i) for i in range(1, 5)))  # workers started and warm
    workers = [w.process.pid for w in pool._workers if w.process.pid is not None]
    w0 = sum(map(_cpu_seconds, workers))
    t0 = os.times()
    await asyncio.gather(*(deploy(i) for i in range(count)))
    t1 = os.times()
    w1 = sum(map(_cpu_seconds, workers))
    store.close()
    await pool.close()
    user = (t1.user - t0.user) / count * 1000
    system = (t1.system - t0.system) / count * 1000
    return user, system, (w1 - w0) / count * 1000


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--profile", action="store_true", help="cProfile 300 renders and stop")
    ap.add_argument(
        "--hub-side",
        type=int,
        metavar="N",
        help="only the hub's CPU per deployment for N fleet deployments (render hand-off, "
        "artifact build and push, as the controller does them), and stop",
    )
    args = ap.parse_args()
    if args.profile:
        profile_render()
        return
    if args.hub_side:
        user, system, workers = asyncio.run(bench_hub_side(args.hub_side))
        print(
            f"CPU per fleet deployment, render + artifact ({args.hub_side} deployments): hub "
            f"{user + system:.3f} ms ({user:.3f} user, {system:.3f} system), render workers "
            f"{workers:.3f} ms"
        )
        return
    rate, cpu_rate, times, manifests = bench_render(args.seconds)
    times.sort()
    print(f"render of {EXAMPLE.name}: {len(manifests)} manifests per render")
    print(
        f"  {rate:7.0f} renders/s   p50 {statistics.median(times) * 1000:6.2f} ms   "
        f"p99 {times[int(len(times) * 0.99) - 1] * 1000:6.2f} ms   (target >= 200/s)"
    )
    print(f"  {cpu_rate:7.0f} renders per CPU second of this process (one core)")
    arate, count = asyncio.run(bench_artifacts(manifests, args.seconds))
    print(
        f"  {arate:7.0f} artifacts/s built and pushed as the hub does (a layout per "
        f"deployment, no fsync), {count} objects each (target >= 100/s)"
    )
    drate = asyncio.run(bench_durable_pushes(manifests, args.seconds))
    print(f"  {drate:7.0f} artifacts/s built and pushed with an fsync per file (axle push)")


if __name__ == "__main__":
    main()
