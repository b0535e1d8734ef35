"""Kubernetes resource quantities (`500m`, `2`, `64Gi`, `1e9`) as integers.

The scheduler adds and compares requests, so every quantity is turned into an integer of a
fixed unit: CPU in millicores, everything else (memory, GPUs, pods) in base units rounded up,
as Kubernetes rounds a fractional byte request up. `Decimal` keeps `0.1` exact.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from axle.errors import Invalid

_SUFFIX = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)$")


def parse(value: Any, field: str = "quantity") -> Decimal:
    """A quantity as a Decimal of base units; a malformed one is an `Invalid` error."""
    if isinstance(value, bool):
        raise Invalid(f"{field}: quantities must match the regular expression, got {value!r}")
    if isinstance(value, int | float):
        return Decimal(str(value))
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise Invalid(
            f"{field}: quantities must match the regular expression "
            f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$', got {value!r}"
        )
    try:
        return Decimal(match.group(1)) * _SUFFIX[match.group(2)]
    except InvalidOperation:
        raise Invalid(f"{field}: {value!r} is not a quantity") from None


def cpu_millis(value: Any, field: str = "cpu") -> int:
    return math.ceil(parse(value, field) * 1000)


def units(value: Any, field: str = "quantity") -> int:
    return math.ceil(parse(value, field))
