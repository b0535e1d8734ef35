"""Model Deployments: Model-as-a-Service mappings, model variables, credentials by reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from axle.controllers.maas import (
    CREDENTIALS_SECRET,
    choose_mapping,
    credentials_ref,
    mapping_matches,
    model_variables,
    organization,
)
from axle.controllers.manager import ControllerManager
from axle.store.base import Obj, Store
from tests.controllers.test_aiworkload import (
    AIW,
    AXLE,
    BUNDLE,
    NS,
    PROFILE,
    aiw_obj,
    base,
    bundle_obj,
    cond,
    hub,
    profile_obj,
    set_status,
    wait_aiw,
    wait_wd,
)
from tests.controllers.test_tenant import K

__all__ = ["hub"]

EXAMPLE_TEXT = (
    Path(__file__).resolve().parents[2] / "examples" / "bundles" / "model-vllm.yaml"
).read_text()
LLAMA = {"source": "huggingFace", "name": "meta-llama/Llama-3.1-8B-Instruct", "revision": "abc1"}


def mapping(name: str, source: str = "huggingFace", bundle: str = "vllm", **filters: Any) -> dict:
    m: dict[str, Any] = {"name": name, "source": source, "profileBundleRef": {"name": bundle}}
    if filters:
        m["filters"] = filters
    return m


def test_mapping_filters() -> None:
    assert organization("meta-llama/Llama-3.1-8B") == "meta-llama"
    assert organization("gpt2") == "gpt2"
    assert mapping_matches(mapping("any"), LLAMA)
    assert not mapping_matches(mapping("nim", source="ngc"), LLAMA)
    assert mapping_matches(mapping("p", namePatterns=["meta-llama/*"]), LLAMA)
    assert not mapping_matches(mapping("p", namePatterns=["mistralai/*"]), LLAMA)
    assert mapping_matches(mapping("o", organizations=["meta-llama", "qwen"]), LLAMA)
    assert not mapping_matches(mapping("o", organizations=["qwen"]), LLAMA)
    # Every filter set must match.
    both = mapping("b", namePatterns=["*Instruct"], organizations=["qwen"])
    assert not mapping_matches(both, LLAMA)


def test_first_matching_mapping_wins() -> None:
    project = {
        "metadata": {"namespace": NS},
        "spec": {
            "modelAsAServiceMappings": [
                mapping("nim", source="ngc", bundle="nim"),
                mapping("qwen", organizations=["qwen"], bundle="small"),
                mapping("llama", namePatterns=["meta-llama/*"], bundle="big"),
                mapping("fallback", bundle="generic"),
            ]
        },
    }
    assert (choose_mapping(project, LLAMA) or {})["name"] == "llama"
    assert (choose_mapping(project, {**LLAMA, "name": "gpt2"}) or {})["name"] == "fallback"
    assert choose_mapping({"spec": {}}, LLAMA) is None


def test_model_variables_only_when_declared() -> None:
    assert model_variables(LLAMA, {"model", "modelRevision"}) == {
        "model": LLAMA["name"],
        "modelRevision": "abc1",
    }
    assert model_variables(LLAMA, {"model"}) == {"model": LLAMA["name"]}
    assert model_variables(LLAMA, set()) == {}
    assert model_variables({"source": "ngc", "name": "nim/llama"}, {"modelRevision"}) == {}


def test_credentials_by_reference() -> None:
    effective = {
        "huggingFace": {
            "source": {"namespace": NS, "name": "s"},
            "secretRef": {"name": "hf", "namespace": NS, "key": "token"},
        }
    }
    assert credentials_ref(effective, "huggingFace") == {
        "name": "hf",
        "namespace": NS,
        "targetName": CREDENTIALS_SECRET,
    }
    assert credentials_ref(effective, "ngc") is None
    assert credentials_ref(None, "huggingFace") is None


def model_bundle(name: str = "vllm", declare: bool = True) -> Obj:
    variables = (
        [{"name": "model", "variableType": "string", "value": {"string": "gpt2"}}]
        if declare
        else []
    )
    return bundle_obj(name, ["llm"], btype="Model", variables=variables)


async def setup_models(store: Store, **project_spec: Any) -> None:
    await base(store, settingsRef={"name": "ml-settings"}, **project_spec)
    await store.create(PROFILE, profile_obj("llm", "Model"))
    await store.create(BUNDLE, model_bundle())
    await store.create(BUNDLE, model_bundle("plain", declare=False))
    await store.create(
        K.settings,
        {
            "apiVersion": AXLE,
            "kind": "Settings",
            "metadata": {"name": "ml-settings", "namespace": NS},
            "spec": {"huggingFace": {"secretRef": {"name": "hf-token"}}},
        },
    )
    await set_status(
        store,
        K.settings,
        NS,
        "ml-settings",
        effectiveSettings={
            "huggingFace": {
                "source": {"namespace": NS, "name": "ml-settings"},
                "secretRef": {"name": "hf-token", "namespace": NS, "key": "token"},
            }
        },
    )
    varsets = K.registry.by_group_kind("axle.dev", "VariableSet")
    await store.create(
        varsets,
        {
            "apiVersion": AXLE,
            "kind": "VariableSet",
            "metadata": {"name": "axle-variables", "namespace": NS},
            "spec": {"variables": [{"name": "modelRevision", "variableType": "string"}]},
        },
    )


async def test_model_deployment_through_a_mapping(store: Store, hub: ControllerManager) -> None:
    await setup_models(
        store,
        modelAsAServiceMappings=[
            mapping("nim", source="ngc", bundle="plain"),
            mapping("llama", namePatterns=["meta-llama/*"]),
        ],
    )
    await store.create(AIW, aiw_obj("llama", bundle=None, wtype="model", model=LLAMA))
    wd = await wait_wd(store, "llama-llm")
    assert wd["spec"]["profileBundleRef"] == {"name": "vllm", "namespace": NS}
    assert wd["spec"]["variables"] == {"model": LLAMA["name"], "modelRevision": "abc1"}
    assert wd["spec"]["bundleVariables"][0]["name"] == "model"
    assert wd["spec"]["secretRefs"] == [
        {"name": "hf-token", "namespace": NS, "targetName": "model-credentials"}
    ]
    obj = await wait_aiw(store, "llama", lambda o: o["status"].get("bundle"), "bundle summary")
    assert obj["status"]["bundle"]["mapping"] == "llama"
    assert "mapping llama" in cond(obj, "BundleResolved")["message"]


async def test_user_variables_win_and_undeclared_model_variables_are_left_out(
    store: Store, hub: ControllerManager
) -> None:
    await setup_models(store)
    await store.create(
        AIW,
        aiw_obj(
            "custom",
            bundle="plain",
            wtype="model",
            model={"source": "huggingFace", "name": "gpt2"},
            variables={"modelRevision": "pinned"},
        ),
    )
    wd = await wait_wd(store, "custom-llm")
    # `plain` does not declare `model`; the project VariableSet declares modelRevision, but
    # the model has no revision and the user's own value wins anyway.
    assert wd["spec"]["variables"] == {"modelRevision": "pinned"}


async def test_no_mapping_waits_with_a_clear_message(store: Store, hub: ControllerManager) -> None:
    await setup_models(store, modelAsAServiceMappings=[mapping("qwen", organizations=["qwen"])])
    await store.create(AIW, aiw_obj("llama", bundle=None, wtype="model", model=LLAMA))
    obj = await wait_aiw(
        store, "llama", lambda o: "Model-as-a-Service" in str(o["status"].get("message")), "msg"
    )
    assert obj["status"]["phase"] == "Pending"
    assert obj["status"]["message"] == (
        f"no Model-as-a-Service mapping of project {NS} matches huggingFace model "
        f"{LLAMA['name']} (mappings for huggingFace: qwen); add a mapping to the Project or "
        "set spec.profileBundleRef"
    )
    assert cond(obj, "BundleResolved")["reason"] == "NoModelMapping"


async def test_model_bundle_for_an_app_fails(store: Store, hub: ControllerManager) -> None:
    await setup_models(store)
    await store.create(AIW, aiw_obj("app", bundle="vllm"))
    obj = await wait_aiw(store, "app", lambda o: o["status"].get("phase") == "Failed", "failed")
    assert "has no workload profile of type Application" in obj["status"]["message"]
    assert "llm (Model)" in obj["status"]["message"]


async def test_the_example_model_bundle_gets_model_and_revision(
    store: Store, hub: ControllerManager
) -> None:
    await base(store, modelAsAServiceMappings=[mapping("hf", bundle="model-vllm")])
    for doc in yaml.safe_load_all(EXAMPLE_TEXT):
        doc["metadata"]["namespace"] = NS
        await store.create(K.registry.by_api_version(doc["apiVersion"], doc["kind"]), doc)
    await store.create(AIW, aiw_obj("llama", bundle=None, wtype="model", model=LLAMA))
    wd = await wait_wd(store, "llama-model-vllm")
    assert wd["spec"]["variables"] == {"model": LLAMA["name"], "modelRevision": "abc1"}
    assert "secretRefs" not in wd["spec"]  # no Hugging Face integration in this project


async def test_credentials_follow_the_settings(store: Store, hub: ControllerManager) -> None:
    await setup_models(store, modelAsAServiceMappings=[mapping("hf")])
    await store.create(AIW, aiw_obj("llama", bundle=None, wtype="model", model=LLAMA))
    await wait_wd(store, "llama-llm", lambda w: w["spec"].get("secretRefs"), "secretRefs")
    await set_status(
        store,
        K.settings,
        NS,
        "ml-settings",
        effectiveSettings={
            "huggingFace": {
                "source": {"namespace": NS, "name": "ml-settings"},
                "secretRef": {"name": "hf-token-2", "namespace": NS, "key": "token"},
            }
        },
    )
    wd = await wait_wd(
        store,
        "llama-llm",
        lambda w: (w["spec"].get("secretRefs") or [{}])[0].get("name") == "hf-token-2",
        "the new Secret",
    )
    assert wd["spec"]["secretRefs"][0]["targetName"] == "model-credentials"
