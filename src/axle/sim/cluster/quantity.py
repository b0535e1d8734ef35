"""Kubernetes resource quantities (`500m`, `2`, `64Gi`, `1e9`) as integers.

The scheduler adds and compares requests, so every quantity is turned into an integer of a
fixed unit: CPU in millicores, everything else (memory, GPUs, pods) in base units rounded up,
as Kubernetes rounds a fractional byte request up. Parsing is `axle.utils.quantity`'s.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from axle.errors import Invalid
from axle.utils.quantity import parse_quantity


def parse(value: Any, field: str = "quantity") -> Decimal:
    """A quantity as a Decimal of base units; a malformed one is an `Invalid` error."""
    parsed = parse_quantity(value) if isinstance(value, str | int | float) else None
    if parsed is None:
        raise Invalid(
            f"{field}: quantities must match the regular expression "
            f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$', got {value!r}"
        )
    return parsed


def cpu_millis(value: Any, field: str = "cpu") -> int:
    return math.ceil(parse(value, field) * 1000)


def units(value: Any, field: str = "quantity") -> int:
    return math.ceil(parse(value, field))
