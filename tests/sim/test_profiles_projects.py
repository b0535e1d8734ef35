"""Cluster profiles (get, metadata, import) and projects."""

from __future__ import annotations

from typing import Any

from tests.sim.conftest import SimHarness
from tests.sim.helpers import cluster_body, create

IMPORT = "/v1/clusterprofiles/import"


def profile_doc(name: str = "gpu-operator", version: str = "1.0.0") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "description": "NVIDIA GPU operator", "labels": {"team": "ml"}},
        "spec": {
            "version": version,
            "template": {
                "cloudType": "edge-native",
                "type": "add-on",
                "packs": [
                    {
                        "name": "nvidia-gpu-operator",
                        "tag": "24.9.0",
                        "layer": "addon",
                        "type": "spectro",
                    }
                ],
            },
            "variables": [{"name": "driver"}],
        },
    }


async def test_get_profile_and_its_users(h: SimHarness) -> None:
    r = await h.client.get("/v1/clusterprofiles/edge-k8s-1-32")
    doc = r.json()
    assert doc["metadata"]["name"] == "edge-k8s"
    assert doc["spec"]["published"]["cloudType"] == "edge-native"
    assert [p["layer"] for p in doc["spec"]["published"]["packs"]] == ["os", "k8s", "cni", "csi"]
    assert doc["spec"]["version"] == "1.32.0"
    assert doc["status"]["isPublished"] is True and doc["status"]["inUseClusterUids"] == []
    uid = await create(h, cluster_body(h))
    doc = (await h.client.get("/v1/clusterprofiles/edge-k8s-1-32")).json()
    assert doc["status"]["inUseClusterUids"] == [uid]
    assert (await h.client.get("/v1/clusterprofiles/nope")).status_code == 404


async def test_import_then_metadata_and_use(h: SimHarness) -> None:
    r = await h.client.post(IMPORT, params={"publish": "true"}, json=profile_doc())
    assert r.status_code == 201 and r.headers["AuditUid"]
    uid = r.json()["uid"]
    meta = (await h.client.get("/v1/dashboard/clusterprofiles/metadata")).json()["items"]
    assert {
        "metadata": {"name": "gpu-operator", "uid": uid},
        "spec": {"cloudType": "edge-native", "version": "1.0.0"},
    } in meta
    doc = (await h.client.get(f"/v1/clusterprofiles/{uid}")).json()
    assert doc["spec"]["published"]["type"] == "add-on"
    assert doc["metadata"]["labels"] == {"team": "ml"}
    r = await h.client.post(IMPORT, json=profile_doc())
    assert r.status_code == 409 and r.json()["code"] == "DuplicateClusterProfile"
    r = await h.client.post(IMPORT, json=profile_doc(version="1.1.0"))
    draft = (await h.client.get(f"/v1/clusterprofiles/{r.json()['uid']}")).json()
    assert (
        draft["status"]["isPublished"] is False and draft["spec"]["draft"]["name"] == "gpu-operator"
    )
    body = cluster_body(h)
    body["spec"]["profiles"].append({"uid": uid})
    await create(h, body)


async def test_bad_imports_create_nothing(h: SimHarness) -> None:
    before = len(h.sim.state.profiles)
    for doc in (
        {},
        {"metadata": {"name": ""}},
        {"metadata": {"name": "x"}, "spec": {"template": {"packs": [{}]}}},
        [],
    ):
        r = await h.client.post(IMPORT, json=doc)
        assert r.status_code == 400, doc
    assert len(h.sim.state.profiles) == before


async def test_projects(h: SimHarness) -> None:
    r = await h.client.get("/v1/dashboard/projects/metadata")
    assert r.json() == {"items": [{"metadata": {"name": "Default", "uid": "acme-default"}}]}
    r = await h.client.get("/v1/dashboard/projects/metadata", params={"name": "Nope"})
    assert r.json() == {"items": []}
    r = await h.client.get("/v1/projects/acme-default", headers={"ProjectUid": ""})
    assert r.json()["metadata"] == r.json()["metadata"] | {"name": "Default", "uid": "acme-default"}
    assert (await h.client.get("/v1/projects/nope")).status_code == 404
