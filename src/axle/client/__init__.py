"""The Python SDK over httpx: what the CLI, the spoke agent and the tests use to talk to the hub.

`Client` is the async connection (discovery-resolved CRUD, server-side apply, watch, tables,
events); `config` merges the contexts file, environment and flags into a `Connection`;
`manifests` reads FILE|DIR|- into objects sorted for apply.
"""

from axle.client.client import Client
from axle.client.config import Connection, resolve_connection
from axle.client.discovery import Resource
from axle.client.errors import ConnectionFailed, ManifestError, UnknownResource
from axle.client.manifests import Manifest, load_manifests

__all__ = [
    "Client",
    "Connection",
    "ConnectionFailed",
    "Manifest",
    "ManifestError",
    "Resource",
    "UnknownResource",
    "load_manifests",
    "resolve_connection",
]
