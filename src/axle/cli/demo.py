"""`make demo`: an embedded hub, the quickstart, then an App Deployment Running with its URL.

The hub runs with the Palette simulator (`--palette-sim`, examples/inventory/small-fleet.yaml
on port 8700, where the quickstart's Palette Secret points), so the demo also shows the
machine inventory the Compute discovered through the real Palette client, and the shared
Compute Pool of examples/quickstart/50-pool.yaml Running: a simulated Palette cluster on
three reserved machines whose spoke agent joined the hub and reports its nodes and GPUs.
Then it plays the data scientist: it applies the LLM inference bundle
(examples/bundles/llm-inference.yaml) and the App Deployment examples/apps/chat.yaml, follows
the AIWorkload's phases with `axle rollout status` (quota reserved, rendered, artifact pushed,
Work applied by the spoke agent) and prints its status and URL once Running, or fails after
60 s with the blocking message.

It drives the real `axle` command line as subprocesses, so what it prints is exactly what a
user typing the same commands would see; nothing here talks to the hub's internals. The hub
runs on a free loopback port with a fresh data dir (or `DEMO_DATA_DIR`), and stops at the end
unless `DEMO_SERVE=1`, in which case it keeps serving until Ctrl-C.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from axle.api.meta import get_condition

ROOT = Path(__file__).resolve().parents[3]
QUICKSTART = ROOT / "examples" / "quickstart"
INVENTORY = ROOT / "examples" / "inventory" / "small-fleet.yaml"
BUNDLE = ROOT / "examples" / "bundles" / "llm-inference.yaml"
APP = ROOT / "examples" / "apps" / "chat.yaml"
READY_TIMEOUT = 90.0
URL_RE = re.compile(r"hub serving on (https?://[0-9.]+:[0-9]+)")


def _axle(*args: str) -> list[str]:
    return [sys.executable, "-m", "axle.cli.main", *args]


def _say(text: str) -> None:
    print(text, flush=True)


def _run(args: Sequence[str], env: dict[str, str]) -> str:
    shown = " ".join(shlex.quote(a) for a in ["axle", *args[3:]])
    _say(f"\n$ {shown}")
    proc = subprocess.run(
        list(args), env=env, capture_output=True, text=True, check=False, cwd=ROOT
    )
    out = proc.stdout + proc.stderr
    print(out, end="" if out.endswith("\n") else "\n", flush=True)
    if proc.returncode != 0:
        raise SystemExit(f"demo: `{shown}` failed with exit code {proc.returncode}")
    return proc.stdout


def _start_hub(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    port = os.environ.get("DEMO_PORT", "0")
    sim = [
        "--palette-sim",
        "--inventory",
        str(INVENTORY.relative_to(ROOT)),
        # A real edge cluster takes minutes; the demo's simulated one a few seconds.
        "--palette-sim-provisioning-seconds",
        "3",
        # Re-list the machines every 2 s (30 s by default) so the pool's show up in-use.
        "--compute-sync-seconds",
        "2",
    ]
    cmd = _axle("up", "--data-dir", str(data_dir), "--port", port, *sim)
    _say(f"$ axle up --data-dir {data_dir} {' '.join(sim)}")
    hub = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, cwd=ROOT
    )
    deadline = time.monotonic() + 20
    assert hub.stdout is not None
    url = ""
    while time.monotonic() < deadline:
        line = hub.stdout.readline()
        if not line:
            if hub.poll() is not None:
                raise SystemExit(f"demo: the hub exited with code {hub.returncode}")
            continue
        print("  " + line, end="", flush=True)
        match = URL_RE.search(line)
        if match:
            url = match.group(1)
            break
    if not url:
        hub.terminate()
        raise SystemExit("demo: the hub did not print its URL within 20 s")
    # Keep draining the hub's output so a chatty hub never blocks on a full pipe.
    verbose = os.environ.get("DEMO_VERBOSE") == "1"
    threading.Thread(target=_drain, args=(hub, verbose), daemon=True).start()
    return hub, url


def _drain(hub: subprocess.Popen[str], verbose: bool) -> None:
    assert hub.stdout is not None
    for line in hub.stdout:
        if verbose:
            print("  hub: " + line, end="", flush=True)


def _wait_ready(url: str, token: str) -> None:
    """Poll until the tenant and every project report phase Ready (or time out)."""
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + READY_TIMEOUT
    last = ""
    with httpx.Client(base_url=url, headers=headers, timeout=5) as http:
        while time.monotonic() < deadline:
            tenants = http.get("/apis/axle.dev/v1alpha1/tenants").json().get("items", [])
            projects = http.get("/apis/axle.dev/v1alpha1/projects").json().get("items", [])
            computes = http.get("/apis/axle.dev/v1alpha1/computes").json().get("items", [])
            phases = {
                f"{o['kind']}/{o['metadata']['name']}": (o.get("status") or {}).get("phase")
                for o in [*tenants, *projects]
            }
            for c in computes:
                synced = get_condition(c, "Synced") or {}
                in_use = (c.get("status") or {}).get("inUseMachines") or 0
                phases[f"Compute/{c['metadata']['name']}"] = (
                    "Ready"
                    if synced.get("status") == "True" and in_use >= 3
                    else synced.get("message") or f"{in_use} machines in use"
                )
            last = json.dumps(phases)
            pools = http.get("/apis/axle.dev/v1alpha1/computepools").json().get("items", [])
            for pool in pools:
                phase = (pool.get("status") or {}).get("phase")
                phases[f"ComputePool/{pool['metadata']['name']}"] = (
                    "Ready" if phase == "Running" else phase
                )
            if len(phases) >= 5 and all(p == "Ready" for p in phases.values()):
                return
            time.sleep(0.2)
    raise SystemExit(f"demo: not Ready within {READY_TIMEOUT:.0f} s: {last}")


def _app_url(url: str, token: str, namespace: str, name: str) -> str:
    path = f"/apis/axle.dev/v1alpha1/namespaces/{namespace}/aiworkloads/{name}"
    resp = httpx.get(url + path, headers={"Authorization": f"Bearer {token}"}, timeout=5)
    return str((resp.json().get("status") or {}).get("url") or "")


def main() -> None:
    data_dir = Path(os.environ.get("DEMO_DATA_DIR") or tempfile.mkdtemp(prefix="axle-demo-"))
    started = time.monotonic()
    hub, url = _start_hub(data_dir)
    try:
        token = (data_dir / "admin-token").read_text().strip()
        env = {**os.environ, "AXLE_SERVER": url, "AXLE_TOKEN": token}
        _run(_axle("apply", "-f", str(QUICKSTART.relative_to(ROOT))), env)
        _say(
            "\nwaiting for the tenant and projects to be Ready, the inventory synced, and the "
            "shared pool Running (Palette cluster provisioned, spoke agent joined) ..."
        )
        _wait_ready(url, token)
        _run(_axle("get", "tenants,projects", "-A"), env)
        _run(_axle("get", "settings", "-A"), env)
        _run(_axle("get", "computepools", "-A"), env)
        _run(_axle("get", "spokes", "-o", "wide"), env)
        _run(_axle("get", "compute", "-A"), env)
        _run(_axle("get", "compute", "fleet", "-n", "ml-prod", "-o", "wide"), env)
        _say(
            f"\nplatform ready in {time.monotonic() - started:.1f} s. Now a data scientist "
            "deploys the LLM inference bundle on the shared pool:"
        )
        _run(
            _axle("apply", "-f", str(BUNDLE.relative_to(ROOT)), "-f", str(APP.relative_to(ROOT))),
            env,
        )
        # `rollout status` prints each phase and what blocks it, and fails after the timeout.
        _run(_axle("rollout", "status", "chat", "-n", "ml-prod", "--timeout", "60"), env)
        app_url = _app_url(url, token, "ml-prod", "chat")
        _run(_axle("get", "aiworkloads", "-n", "ml-prod"), env)
        _run(_axle("get", "workloaddeployments", "-n", "ml-prod", "-o", "wide"), env)
        _run(_axle("describe", "aiworkload", "chat", "-n", "ml-prod"), env)
        _say(
            f"\nchat is Running at {app_url} ({time.monotonic() - started:.1f} s after "
            f"`axle up`); hub at {url}, data in {data_dir}"
        )
        if os.environ.get("DEMO_SERVE") == "1":
            _say(
                f"serving; try: AXLE_SERVER={url} AXLE_TOKEN=$(cat {data_dir}/admin-token) "
                "axle get projects -A   (Ctrl-C stops)"
            )
            hub.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if hub.poll() is None:
            hub.send_signal(signal.SIGTERM)
            try:
                hub.wait(timeout=10)
            except subprocess.TimeoutExpired:
                hub.kill()


if __name__ == "__main__":
    main()
