"""How to run a simulator: `SimConfig`, and building the simulator it describes.

`build_sim(config)` decides where the state comes from: the state file when one exists (a
restart keeps clusters and host states), else the inventory, which then seeds the state file.
The inventory is read and validated either way, so a broken file is reported at start.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from axle.errors import Invalid
from axle.sim.palette.clock import Clock, system_clock
from axle.sim.palette.faults import FaultRule, Faults
from axle.sim.palette.inventory import Inventory, load_inventory, parse_inventory, seed_state
from axle.sim.palette.persistence import StateFile
from axle.sim.palette.simulator import PaletteSim, Timings


@dataclass
class SimConfig:
    """Everything `axle sim palette` takes, plus test hooks (clock, sleep)."""

    inventory: str | Path | Mapping[str, Any] | None = None  # a YAML path or a parsed document
    host: str = "127.0.0.1"
    port: int = 8700  # 0: any free port, reported through on_ready
    state_file: str | Path | None = None  # None: state lives in memory only
    reset_state: bool = False  # ignore an existing state file, reseed from the inventory
    provisioning_seconds: float = 20.0
    deletion_seconds: float = 5.0
    pending_seconds: float = 1.0
    latency_ms: float = 0.0
    fail_rate: float = 0.0  # fraction of /v1 requests answered 500
    admin_key: str | None = None  # overrides the inventory's adminKey
    seed: int = 0  # of the generator behind fault rates
    tick_seconds: float = 1.0  # how often the server advances lifecycles on its own
    clock: Clock = system_clock
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)

    def timings(self) -> Timings:
        for name in ("provisioning_seconds", "deletion_seconds", "pending_seconds", "latency_ms"):
            if getattr(self, name) < 0:
                raise Invalid(f"{name.replace('_', '-')} must not be negative")
        if not 0.0 <= self.fail_rate <= 1.0:
            raise Invalid("fail-rate must be between 0 and 1")
        return Timings(
            provisioning_seconds=self.provisioning_seconds,
            deletion_seconds=self.deletion_seconds,
            pending_seconds=self.pending_seconds,
        )


def read_inventory(config: SimConfig) -> Inventory:
    if config.inventory is None:
        raise Invalid("an inventory is required (--inventory FILE)")
    if isinstance(config.inventory, Mapping):
        return parse_inventory(config.inventory)
    return load_inventory(config.inventory)


def base_faults(config: SimConfig) -> Faults:
    """The faults the flags ask for: latency and a standing failure rate."""
    faults = Faults(latency_ms=config.latency_ms, seed=config.seed)
    if config.fail_rate > 0:
        faults.add(FaultRule(status=500, rate=config.fail_rate, message="injected by --fail-rate"))
    return faults


def build_sim(config: SimConfig) -> PaletteSim:
    timings = config.timings()
    inventory = read_inventory(config)
    store = StateFile(config.state_file) if config.state_file is not None else None
    state = None if store is None or config.reset_state else store.load()
    fresh = state is None
    if state is None:
        state = seed_state(inventory, config.clock())
    if config.admin_key is not None:
        state.adminKey = config.admin_key
    sim = PaletteSim(state, clock=config.clock, timings=timings, store=store)
    if fresh and store is not None:
        sim.commit()
    sim.tick()  # a restart mid-provisioning catches up at once
    return sim
