"""Server-side tables: column definitions from the kind's printer columns, cells from the
object, and the JSONPath subset the columns use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from axle.api.registry import KindInfo, PrinterColumn
from axle.server.tables import TableConverter, evaluate, human_duration
from tests.server.conftest import tenant

TABLE = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,"
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)


def test_jsonpath_subset() -> None:
    obj = {
        "status": {
            "conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "Synced", "status": "False"},
            ]
        },
        "subjects": [{"name": "a"}, {"name": "b"}],
    }
    assert evaluate(obj, '.status.conditions[?(@.type=="Ready")].status') == ["True"]
    assert evaluate(obj, ".status.conditions[1].type") == ["Synced"]
    assert evaluate(obj, ".subjects[*].name") == ["a", "b"]
    assert evaluate(obj, "{.status.missing}") == []
    with pytest.raises(ValueError):
        evaluate(obj, ".status..conditions")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (5, "5s"),
        (119, "119s"),
        (150, "2m30s"),
        (600, "10m"),
        (3 * 3600 + 60, "3h1m"),
        (30 * 3600, "30h"),
        (3 * 86400, "3d"),
        (400 * 86400, "400d"),
        (3 * 365 * 86400, "3y"),
    ],
)
def test_human_duration(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def test_columns_name_first_age_last_when_not_declared() -> None:
    info = KindInfo(
        group="example.com",
        version="v1",
        kind="Thing",
        plural="things",
        singular="thing",
        namespaced=True,
        columns=(
            PrinterColumn("Phase", ".status.phase"),
            PrinterColumn("Size", ".spec.size", type="integer"),
        ),
    )
    conv = TableConverter(info)
    assert [c["name"] for c in conv.column_definitions] == ["Name", "Phase", "Size", "Age"]
    created = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    obj = {"metadata": {"name": "t", "creationTimestamp": created}, "spec": {"size": 3}}
    cells = conv.cells(obj, datetime.now(UTC))
    assert cells[:3] == ["t", "<none>", 3]
    assert cells[3] in ("5m", "4m59s", "5m1s")


async def test_table_for_list_get_and_include_object(client: httpx.AsyncClient) -> None:
    await client.post("/apis/axle.dev/v1alpha1/tenants", json=tenant("acme"))
    r = await client.get("/apis/axle.dev/v1alpha1/tenants", headers={"Accept": TABLE})
    table = r.json()
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names[0] == "Name" and "Status" in names and "Age" in names
    assert table["rows"][0]["cells"][0] == "acme"
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert table["rows"][0]["object"]["metadata"]["name"] == "acme"
    assert table["metadata"]["resourceVersion"]

    r = await client.get(
        "/apis/axle.dev/v1alpha1/tenants/acme?includeObject=Object", headers={"Accept": TABLE}
    )
    row = r.json()["rows"][0]
    assert row["object"]["kind"] == "Tenant"
    r = await client.get(
        "/apis/axle.dev/v1alpha1/tenants?includeObject=None", headers={"Accept": TABLE}
    )
    assert "object" not in r.json()["rows"][0]


def test_no_extra_age_when_the_kind_shows_a_time() -> None:
    info = KindInfo(
        group="example.com",
        version="v1",
        kind="Ev",
        plural="evs",
        singular="ev",
        namespaced=True,
        columns=(
            PrinterColumn("Last Seen", ".lastTimestamp", type="date"),
            PrinterColumn("Reason", ".reason"),
        ),
    )
    assert [c["name"] for c in TableConverter(info).column_definitions] == [
        "Name",
        "Last Seen",
        "Reason",
    ]


def test_label_keys_with_dots_escaped_or_bracketed() -> None:
    obj = {"metadata": {"labels": {"axle.dev/aiworkload-type": "model"}}}
    assert evaluate(obj, r".metadata.labels.axle\.dev/aiworkload-type") == ["model"]
    assert evaluate(obj, ".metadata.labels['axle.dev/aiworkload-type']") == ["model"]


def test_every_registered_column_path_compiles() -> None:
    import axle.api.kinds  # noqa: F401
    from axle.api.registry import REGISTRY
    from axle.server.tables import compile_path

    for info in REGISTRY:
        for column in info.columns:
            compile_path(column.json_path)  # raises on a path tables would show as <invalid>
