"""`axle clone` against a real in-process hub (controllers off: DefinitionRevisions are
written here by hand, as the DefinitionRevision controller writes them)."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from axle.cli.clone import is_system_key
from axle.client import Client
from axle.errors import NotFound
from tests.cli.conftest import Axle
from tests.client.hubthread import HubThread, api_only_hub

T = TypeVar("T")
NS = "ml-clone"
NS2 = "ml-clone-2"


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


def _workload(image: str) -> dict[str, Any]:
    return {
        "components": [
            {
                "name": "web",
                "type": "webservice",
                "properties": {"image": image},
                "traits": [{"type": "scaler", "properties": {"replicas": 2}}],
            }
        ]
    }


SPEC_V1 = {"type": "Application", "workload": _workload("web:1")}
SPEC_V2 = {"type": "Application", "description": "second", "workload": _workload("web:2")}
LABELS = {
    "team": "search",
    "app.kubernetes.io/part-of": "shop",
    "app.kubernetes.io/managed-by": "axle",
    "axle.dev/definition-kind": "WorkloadProfile",
}
ANNOTATIONS = {
    "owner": "ml@example.com",
    "kubectl.kubernetes.io/last-applied-configuration": "{}",
    "rev.axle.dev/note": "system",
}


async def _namespaces(c: Client) -> None:
    for ns in (NS, NS2):
        try:
            await c.get("namespaces", ns)
        except NotFound:
            await c.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})


def make_profile(hub: HubThread, name: str) -> dict[str, Any]:
    """A WorkloadProfile whose live spec is SPEC_V2, with revisions v1 (SPEC_V1) and v2."""

    async def work(c: Client) -> dict[str, Any]:
        await _namespaces(c)
        wp = await c.create(
            {
                "apiVersion": "axle.dev/v1alpha1",
                "kind": "WorkloadProfile",
                "metadata": {
                    "name": name,
                    "namespace": NS,
                    "labels": LABELS,
                    "annotations": ANNOTATIONS,
                },
                "spec": SPEC_V2,
            }
        )
        for number, spec in ((1, SPEC_V1), (2, SPEC_V2)):
            await c.create(
                {
                    "apiVersion": "axle.dev/v1alpha1",
                    "kind": "DefinitionRevision",
                    "metadata": {
                        "name": f"{name}-v{number}",
                        "namespace": NS,
                        "labels": {
                            "axle.dev/definition-kind": "WorkloadProfile",
                            "axle.dev/definition-name": name,
                        },
                        "ownerReferences": [
                            {
                                "apiVersion": "axle.dev/v1alpha1",
                                "kind": "WorkloadProfile",
                                "name": name,
                                "uid": wp["metadata"]["uid"],
                                "controller": True,
                            }
                        ],
                    },
                    "spec": {
                        "definitionType": "WorkloadProfile",
                        "revision": number,
                        "revisionHash": f"h{number}",
                        "workloadProfile": {"name": name, "spec": spec},
                    },
                }
            )
        wp["status"] = {"latestRevision": {"name": f"{name}-v2", "revision": 2}}
        return await c.replace_status(wp)

    return call(hub, work)


def get(hub: HubThread, kind: str, name: str, ns: str = NS) -> dict[str, Any]:
    return call(hub, lambda c: c.get(kind, name, ns))


def test_system_keys() -> None:
    assert is_system_key("axle.dev/definition-name")
    assert is_system_key("rev.axle.dev/x")
    assert is_system_key("kubectl.kubernetes.io/last-applied-configuration")
    assert is_system_key("app.kubernetes.io/managed-by")
    assert not is_system_key("app.kubernetes.io/part-of")
    assert not is_system_key("team")
    assert not is_system_key("notaxle.dev/x")


def test_clone_a_profile(real: HubThread, axle: Axle) -> None:
    make_profile(real, "shop")
    r = axle("clone", "workloadprofile", "shop", "shop-copy", "-n", NS)
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == f"workloadprofile.axle.dev/shop-copy created from {NS}/shop"
    copy_ = get(real, "workloadprofiles", "shop-copy")
    source = get(real, "workloadprofiles", "shop")
    assert copy_["spec"] == source["spec"]
    assert copy_["spec"]["workload"]["components"][0]["properties"] == {"image": "web:2"}
    assert copy_["metadata"]["labels"] == {"team": "search", "app.kubernetes.io/part-of": "shop"}
    assert copy_["metadata"]["annotations"] == {"owner": "ml@example.com"}
    assert not copy_.get("status")
    assert not copy_["metadata"].get("ownerReferences")
    assert copy_["metadata"]["uid"] != source["metadata"]["uid"]


def test_clone_a_revision_into_another_namespace(real: HubThread, axle: Axle) -> None:
    make_profile(real, "shop-rev")
    r = axle(
        "clone", "wp", "shop-rev", "shop-old", "-n", NS, "--to-namespace", NS2, "--revision", "1"
    )
    assert r.exit_code == 0, r.output
    assert "revision 1" in r.stdout
    spec = get(real, "workloadprofiles", "shop-old", NS2)["spec"]
    assert spec["workload"]["components"][0]["properties"] == {"image": "web:1"}
    assert "description" not in spec  # revision 1 had none; the live spec has one


def test_clone_output_and_dry_run(real: HubThread, axle: Axle) -> None:
    make_profile(real, "shop-dry")
    r = axle("clone", "wp", "shop-dry", "shop-dry-2", "-n", NS, "--dry-run", "-o", "yaml")
    assert r.exit_code == 0, r.output
    shown = yaml.safe_load(r.stdout)
    assert shown["metadata"]["name"] == "shop-dry-2"
    assert not {"uid", "resourceVersion", "creationTimestamp"} & set(shown["metadata"])
    assert shown["spec"] == get(real, "workloadprofiles", "shop-dry")["spec"]
    with pytest.raises(NotFound):
        get(real, "workloadprofiles", "shop-dry-2")
    r = axle("clone", "wp", "shop-dry", "shop-dry-3", "-n", NS, "-o", "name")
    assert r.stdout.strip() == "workloadprofile.axle.dev/shop-dry-3"


def test_clone_errors_create_nothing(real: HubThread, axle: Axle) -> None:
    make_profile(real, "shop-err")
    r = axle("clone", "wp", "missing", "x", "-n", NS)
    assert r.exit_code == 1 and "NotFound" in r.stderr

    r = axle("clone", "wp", "shop-err", "x-rev", "-n", NS, "--revision", "5")
    assert r.exit_code == 1
    assert "workloadprofile shop-err has no revision 5 (revisions: 1, 2)" in r.stderr
    with pytest.raises(NotFound):
        get(real, "workloadprofiles", "x-rev")

    make_profile(real, "shop-taken")
    before = get(real, "workloadprofiles", "shop-taken")
    r = axle("clone", "wp", "shop-err", "shop-taken", "-n", NS)
    assert r.exit_code == 1
    assert "AlreadyExists" in r.stderr and "shop-taken" in r.stderr
    after = get(real, "workloadprofiles", "shop-taken")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]

    r = axle("clone", "namespaces", NS, "other")
    assert r.exit_code == 2 and "cannot clone namespaces" in r.stderr


def test_clone_a_definition_and_a_bundle(real: HubThread, axle: Axle) -> None:
    definition = {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "TraitDefinition",
        "metadata": {"name": "team-labels", "namespace": NS},
        "spec": {
            "description": "labels",
            "schema": {"openAPIV3Schema": {"type": "object"}},
            "schematic": {"jsonnet": {"template": "function(parameter, context) {patch: {}}"}},
        },
    }
    bundle = {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "ProfileBundle",
        "metadata": {"name": "shop-bundle", "namespace": NS},
        "spec": {
            "type": "Application",
            "version": "1.0.0",
            "workloadProfiles": [{"name": "shop", "revision": 1}],
        },
    }

    async def work(c: Client) -> None:
        await _namespaces(c)
        await c.create(copy.deepcopy(definition))
        await c.create(copy.deepcopy(bundle))

    call(real, work)
    r = axle(
        "clone", "traitdefinition", "team-labels", "team-labels", "-n", NS, "--to-namespace", NS2
    )
    assert r.exit_code == 0, r.output
    assert get(real, "traitdefinitions", "team-labels", NS2)["spec"] == definition["spec"]

    r = axle("clone", "profilebundle", "shop-bundle", "shop-bundle-2", "-n", NS)
    assert r.exit_code == 0, r.output
    cloned = get(real, "profilebundles", "shop-bundle-2")
    assert cloned["spec"]["workloadProfiles"] == bundle["spec"]["workloadProfiles"]

    r = axle("clone", "profilebundle", "shop-bundle", "b3", "-n", NS, "--revision", "1")
    assert r.exit_code == 1 and "no numbered revisions" in r.stderr
