"""`axle rollout history|undo|status` against a real in-process hub (controllers off: the
ControllerRevisions and the AIWorkload's status are written here by hand, as the AIWorkload
controller would write them)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from axle.cli import rollout
from axle.cli.rollout import variables_summary
from axle.client import Client
from axle.errors import NotFound
from tests.cli.conftest import Axle
from tests.client.hubthread import HubThread, api_only_hub

T = TypeVar("T")
NS = "ml-rollout"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubThread]:
    yield from api_only_hub(tmp_path_factory)


@pytest.fixture
def real(hub: HubThread, isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> HubThread:
    monkeypatch.setenv("AXLE_SERVER", hub.url)
    monkeypatch.setenv("AXLE_TOKEN", hub.token)
    return hub


def call(hub: HubThread, work: Callable[[Client], Coroutine[Any, Any, T]]) -> T:
    async def body() -> T:
        async with Client(hub.url, hub.token) as c:
            return await work(c)

    return asyncio.run(body())


def _spec(variables: dict[str, Any], bundle: str = "llm") -> dict[str, Any]:
    return {
        "profileBundleRef": {"name": bundle, "namespace": NS},
        "computePoolRef": {"name": "gpu-a"},
        "variables": variables,
    }


REVISIONS = [
    (1, {"model": "llama-8b", "replicas": 1}, "1.0.0"),
    (2, {"model": "llama-8b", "replicas": 2}, "1.0.0"),
    (3, {"model": "llama-70b", "replicas": 2, "tag": "v2"}, "1.1.0"),
]


def make_workload(hub: HubThread, name: str, *, revisions: bool = True) -> dict[str, Any]:
    """An AIWorkload at revision 3 with revisions 1..3 (spec = revision 3's)."""

    async def work(c: Client) -> dict[str, Any]:
        try:
            await c.get("namespaces", NS)
        except NotFound:
            await c.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        aiw = await c.create(
            {
                "apiVersion": "axle.dev/v1alpha1",
                "kind": "AIWorkload",
                "metadata": {"name": name, "namespace": NS},
                "spec": _spec(REVISIONS[-1][1]),
            }
        )
        if not revisions:
            return aiw
        for number, variables, version in REVISIONS:
            await c.create(
                {
                    "apiVersion": "apps/v1",
                    "kind": "ControllerRevision",
                    "metadata": {
                        "name": f"{name}-r{number}",
                        "namespace": NS,
                        "labels": {"axle.dev/aiworkload": name},
                        "ownerReferences": [
                            {
                                "apiVersion": "axle.dev/v1alpha1",
                                "kind": "AIWorkload",
                                "name": name,
                                "uid": aiw["metadata"]["uid"],
                                "controller": True,
                            }
                        ],
                    },
                    "revision": number,
                    "data": {
                        "spec": _spec(variables),
                        "bundle": {
                            "name": "llm",
                            "namespace": NS,
                            "version": version,
                            "spec": {"version": version},
                        },
                    },
                }
            )
        return await set_status(c, name, {"phase": "Running", "revision": 3})

    return call(hub, work)


async def set_status(c: Client, name: str, status: dict[str, Any]) -> dict[str, Any]:
    aiw = await c.get("aiworkloads", name, NS)
    aiw["status"] = status
    return await c.replace_status(aiw)


def get(hub: HubThread, name: str) -> dict[str, Any]:
    return call(hub, lambda c: c.get("aiworkloads", name, NS))


def rows(text: str) -> list[list[str]]:
    import re

    return [re.split(r"\s{3,}", line.rstrip()) for line in text.splitlines()[1:]]


# ---- history ---------------------------------------------------------------------------------


def test_history_table_marks_the_current_revision(real: HubThread, axle: Axle) -> None:
    make_workload(real, "chat")
    r = axle("rollout", "history", "chat", "-n", NS)
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == "aiworkload.axle.dev/chat"
    assert lines[1].split() == ["REVISION", "CURRENT", "BUNDLE", "VARIABLES", "CREATED"]
    table = rows(r.stdout)[1:]
    assert [t[0] for t in table] == ["1", "2", "3"]
    by_rev = {t[0]: t for t in table}
    assert "model=llama-8b, replicas=1" in r.stdout
    assert "replicas=2" in by_rev["2"]
    assert "model=llama-70b, +tag=v2" in r.stdout and "llm@1.1.0" in by_rev["3"]
    assert "*" in by_rev["3"] and "*" not in by_rev["1"] and "*" not in by_rev["2"]


def test_history_revision_prints_its_data(real: HubThread, axle: Axle) -> None:
    make_workload(real, "chat-show")
    r = axle("rollout", "history", "chat-show", "-n", NS, "--revision", "2")
    assert r.exit_code == 0, r.output
    data = yaml.safe_load(r.stdout)
    assert data["spec"]["variables"] == {"model": "llama-8b", "replicas": 2}
    assert data["bundle"]["version"] == "1.0.0"


def test_history_errors(real: HubThread, axle: Axle) -> None:
    make_workload(real, "chat-err")
    r = axle("rollout", "history", "chat-err", "-n", NS, "--revision", "9")
    assert r.exit_code == 1
    assert "aiworkload chat-err has no revision 9 (revisions: 1, 2, 3)" in r.stderr
    r = axle("rollout", "history", "nope", "-n", NS)
    assert r.exit_code == 1 and "NotFound" in r.stderr
    make_workload(real, "fresh", revisions=False)
    r = axle("rollout", "history", "fresh", "-n", NS)
    assert r.exit_code == 1 and "has no rollout history" in r.stderr


def test_variables_summary() -> None:
    assert variables_summary({"b": 2, "a": "x"}, None) == "a=x, b=2"
    assert variables_summary({}, None) == "<none>"
    assert variables_summary({"a": 1}, {"a": 1}) == "<unchanged>"
    assert variables_summary({"a": 2, "c": [1]}, {"a": 1, "b": 1}) == "a=2, -b, +c=[1]"
    long = variables_summary({"k": "x" * 100}, None)
    assert len(long) == rollout.VARIABLES_WIDTH and long.endswith("...")


# ---- undo ------------------------------------------------------------------------------------


def test_undo_goes_to_the_previous_revision(real: HubThread, axle: Axle) -> None:
    make_workload(real, "undo-prev")
    r = axle("rollout", "undo", "undo-prev", "-n", NS)
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "aiworkload.axle.dev/undo-prev rolled back to revision 2"
    aiw = get(real, "undo-prev")
    assert aiw["spec"]["variables"] == {"model": "llama-8b", "replicas": 2}
    assert aiw["metadata"]["annotations"]["axle.dev/rollback-revision"] == "2"


def test_undo_to_a_revision(real: HubThread, axle: Axle) -> None:
    make_workload(real, "undo-to")
    r = axle("rollout", "undo", "undo-to", "-n", NS, "--to-revision", "1")
    assert r.exit_code == 0, r.output
    aiw = get(real, "undo-to")
    assert aiw["spec"]["variables"] == {"model": "llama-8b", "replicas": 1}
    assert aiw["metadata"]["annotations"]["axle.dev/rollback-revision"] == "1"


def test_undo_errors_change_nothing(real: HubThread, axle: Axle) -> None:
    before = make_workload(real, "undo-bad")
    r = axle("rollout", "undo", "undo-bad", "-n", NS, "--to-revision", "7")
    assert r.exit_code == 1
    assert "no revision 7 (revisions: 1, 2, 3)" in r.stderr
    after = get(real, "undo-bad")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]

    fresh = make_workload(real, "undo-none", revisions=False)
    r = axle("rollout", "undo", "undo-none", "-n", NS)
    assert r.exit_code == 1 and "has no rollout history to undo" in r.stderr
    again = get(real, "undo-none")
    assert again["metadata"]["resourceVersion"] == fresh["metadata"]["resourceVersion"]

    r = axle("rollout", "undo", "missing", "-n", NS)
    assert r.exit_code == 1 and "NotFound" in r.stderr


def test_undo_with_nothing_before_the_current_revision(real: HubThread, axle: Axle) -> None:
    make_workload(real, "undo-first")
    call(real, lambda c: set_status(c, "undo-first", {"phase": "Running", "revision": 1}))
    r = axle("rollout", "undo", "undo-first", "-n", NS)
    assert r.exit_code == 1
    assert "no revision before the current one (1)" in r.stderr


def test_undo_retries_after_a_conflict(
    real: HubThread, axle: Axle, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_workload(real, "undo-race")
    original = Client.replace
    raced = []

    async def racing_replace(
        self: Client, obj: Any, namespace: str | None = None, **kw: Any
    ) -> Any:
        if not raced:
            # Someone else writes between our read and our write: ours must get a 409.
            raced.append(True)
            await set_status(self, "undo-race", {"phase": "Deploying", "revision": 3})
            other = await self.get("aiworkloads", "undo-race", NS)
            other["metadata"].setdefault("labels", {})["touched"] = "yes"
            await original(self, other)
        return await original(self, obj, namespace, **kw)

    monkeypatch.setattr(Client, "replace", racing_replace)
    r = axle("rollout", "undo", "undo-race", "-n", NS)
    assert r.exit_code == 0, r.output
    aiw = get(real, "undo-race")
    assert raced
    assert aiw["metadata"]["labels"]["touched"] == "yes"  # the other write was kept
    assert aiw["metadata"]["annotations"]["axle.dev/rollback-revision"] == "2"


# ---- status ----------------------------------------------------------------------------------


class SignallingOut(rollout.Out):
    """Out that tells the test when the command has printed a line (so it is watching)."""

    printed = threading.Event()

    def echo(self, text: str = "") -> None:
        super().echo(text)
        SignallingOut.printed.set()


def test_status_follows_phases_until_running(
    real: HubThread, axle: Axle, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_workload(real, "st-run")
    call(
        real,
        lambda c: set_status(
            c, "st-run", {"phase": "Deploying", "message": "component vllm: 0/1 ready"}
        ),
    )
    SignallingOut.printed.clear()
    monkeypatch.setattr(rollout, "Out", SignallingOut)

    def progress() -> None:
        assert SignallingOut.printed.wait(20)
        call(
            real,
            lambda c: set_status(
                c,
                "st-run",
                {"phase": "Running", "revision": 3, "url": "http://10.0.0.5:8000"},
            ),
        )

    helper = threading.Thread(target=progress)
    helper.start()
    try:
        r = axle("rollout", "status", "st-run", "-n", NS, "--timeout", "30")
    finally:
        helper.join(30)
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [
        'aiworkload "st-run": Deploying: component vllm: 0/1 ready',
        'aiworkload "st-run" is Running (revision 3): http://10.0.0.5:8000',
    ]


def test_status_failed_exits_1(real: HubThread, axle: Axle) -> None:
    make_workload(real, "st-fail")
    message = "render failed: component 'vllm' trait 'gpu': bad count"
    call(real, lambda c: set_status(c, "st-fail", {"phase": "Failed", "message": message}))
    r = axle("rollout", "status", "st-fail", "-n", NS, "--timeout", "30")
    assert r.exit_code == 1
    assert r.stdout.strip() == f'aiworkload "st-fail": Failed: {message}'


def test_status_times_out(real: HubThread, axle: Axle) -> None:
    make_workload(real, "st-slow")
    call(real, lambda c: set_status(c, "st-slow", {"phase": "Provisioning"}))
    r = axle("rollout", "status", "st-slow", "-n", NS, "--timeout", "0.5")
    assert r.exit_code == 1
    assert 'aiworkload "st-slow": Provisioning' in r.stdout
    assert "timed out" in r.stderr and "phase Provisioning" in r.stderr


def test_status_of_a_missing_workload(real: HubThread, axle: Axle) -> None:
    r = axle("rollout", "status", "ghost", "-n", NS, "--timeout", "5")
    assert r.exit_code == 1 and "NotFound" in r.stderr


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("90s", 90.0), ("5m", 300.0), ("1h30m", 5400.0), ("0.5", 0.5)],
)
def test_timeout_durations(text: str, seconds: float) -> None:
    assert rollout.Duration().convert(text, None, None) == seconds


@pytest.mark.parametrize("text", ["", "5x", "m", "0", "-3"])
def test_bad_timeouts(text: str) -> None:
    import click

    with pytest.raises(click.BadParameter):
        rollout.Duration().convert(text, None, None)


def test_status_waits_for_the_hub_to_see_a_new_spec(
    real: HubThread, axle: Axle, monkeypatch: pytest.MonkeyPatch
) -> None:
    aiw = make_workload(real, "st-gen")
    generation = int(aiw["metadata"]["generation"])
    # Running, but as of an older spec: not the answer yet.
    stale = {"phase": "Running", "revision": 2, "observedGeneration": generation - 1}
    call(real, lambda c: set_status(c, "st-gen", stale))
    SignallingOut.printed.clear()
    monkeypatch.setattr(rollout, "Out", SignallingOut)
    fresh = {"phase": "Failed", "message": "bad", "observedGeneration": generation}

    def progress() -> None:
        assert SignallingOut.printed.wait(20)
        call(real, lambda c: set_status(c, "st-gen", fresh))

    helper = threading.Thread(target=progress)
    helper.start()
    try:
        r = axle("rollout", "status", "st-gen", "-n", NS, "--timeout", "30")
    finally:
        helper.join(30)
    assert r.exit_code == 1
    assert r.stdout.splitlines() == [
        'aiworkload "st-gen": waiting for the hub to pick up the change',
        'aiworkload "st-gen": Failed: bad',
    ]
