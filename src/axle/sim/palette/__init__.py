"""The Palette simulator: an HTTP server speaking the subset of Palette's REST API axle uses.

It exists so the real Palette client (`providers/palette`) is exercised over HTTP, in tests,
benchmarks and the embedded default, without a Palette installation. Seeded from an
inventory file, it models edge hosts (hardware, tags, health, ready/unpaired/in-use),
edge-native clusters with a timed lifecycle, cluster profiles and projects; it persists its
state in a file and injects faults on demand. See docs/palette-simulator.md.

    server.py      create_app / serve / run
    config.py      SimConfig and building a simulator from it
    simulator.py   PaletteSim: state, lifecycle, operations
    app.py         the /v1 routes, auth and faults gate;  admin.py: the /admin API
    inventory.py   the inventory YAML;  fleet.py: large generated fleets
    model.py       state records;  persistence.py: the state file
    search.py      filters, sort and paging;  wire.py, clusters.py: Palette's JSON shapes
    faults.py      fault rules and request counters;  clock.py: injectable time
    kubeconfig.py  kubeconfigs of simulated clusters (sim://<name>)
"""

from axle.sim.palette.clock import ManualClock
from axle.sim.palette.config import SimConfig
from axle.sim.palette.server import create_app, run, serve

__all__ = ["ManualClock", "SimConfig", "create_app", "run", "serve"]
