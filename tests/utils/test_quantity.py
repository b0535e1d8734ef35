"""Kubernetes quantities, parsed once for the simulator and the spoke agent."""

from __future__ import annotations

from decimal import Decimal

import pytest

from axle.utils.quantity import parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("0.5", Decimal("0.5")),
        ("2", Decimal(2)),
        ("64Gi", Decimal(64 * 2**30)),
        ("1e9", Decimal("1e9")),
        ("1.5Ki", Decimal(1536)),
        ("100n", Decimal("1e-7")),
        (8, Decimal(8)),
        (0.25, Decimal("0.25")),
    ],
)
def test_quantities(text: str | int | float, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "abc", "1Xi", "1..2", "Gi", " ", True])
def test_not_quantities(text: str | bool) -> None:
    assert parse_quantity(text) is None


def test_canonical_forms_compare_equal() -> None:
    # What the spoke agent relies on: the API server writes "0.5" back as "500m".
    assert parse_quantity("0.5") == parse_quantity("500m")
    assert parse_quantity("1Gi") == parse_quantity("1073741824")
