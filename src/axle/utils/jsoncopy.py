"""Deep copies of JSON values (objects as decoded from request bodies, the store or a cache).

Controllers copy objects before editing them on almost every pass (a cached object is shared;
a status is edited in place and compared with the stored one). `copy.deepcopy` walks a 2 KiB
object with its memo dict in about 30 us; a round trip through orjson (C, and the encoding the
store uses anyway) takes about 4. A value that is not plain JSON (a tuple, a set, an object)
falls back to `copy.deepcopy`, so the result is always a private copy of what was given.
"""

from __future__ import annotations

import copy
from typing import TypeVar

import orjson

T = TypeVar("T")


def copy_json(value: T) -> T:
    """A private deep copy of `value`: by orjson round trip, else by `copy.deepcopy`."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    try:
        copied: T = orjson.loads(orjson.dumps(value))
    except TypeError:
        return copy.deepcopy(value)
    if type(copied) is not type(value):  # a tuple came back a list: not a faithful copy
        return copy.deepcopy(value)
    return copied
