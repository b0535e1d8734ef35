"""The state file: the simulator's whole state as one JSON document, replaced atomically.

Written after every change (a create, a retag, a health fault, a lifecycle step), so a
simulator stopped at any moment restarts with its clusters and host states. The write goes
to a temporary file in the same directory, is flushed to disk, then renamed over the old
one: a crash leaves either the old or the new state, never half of one. A file that does not
parse is refused with its path rather than silently replaced by a fresh inventory.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from pydantic import ValidationError

from axle.errors import Invalid
from axle.sim.palette.model import STATE_VERSION, StateData


class StateFile:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self) -> StateData | None:
        """The saved state, or None when there is none yet."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise Invalid(f"cannot read state file {self.path}: {exc.strerror or exc}") from None
        try:
            state = StateData.model_validate_json(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise Invalid(
                f"state file {self.path} is not a simulator state ({where}: {first['msg']}); "
                "remove it to start fresh from the inventory"
            ) from None
        if state.version != STATE_VERSION:
            raise Invalid(
                f"state file {self.path} has version {state.version}, this simulator "
                f"writes {STATE_VERSION}; remove it to start fresh from the inventory"
            )
        return state

    def save(self, state: StateData) -> None:
        data = state.model_dump_json().encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
