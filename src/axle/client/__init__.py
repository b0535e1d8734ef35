"""The Python SDK over httpx: what the CLI, the spoke agent and the tests use to talk to the hub.

`Client` is the async connection (discovery-resolved CRUD, server-side apply, watch, tables,
events); `config` merges the contexts file, environment and flags into a `Connection`;
`manifests` reads FILE|DIR|- into objects sorted for apply; `transport` shares TLS contexts and
connection pools between the many clients of one process (the spoke-agent host).
"""

from axle.client.client import Client
from axle.client.config import Connection, resolve_connection
from axle.client.discovery import Resource
from axle.client.errors import ConnectionFailed, ManifestError, UnknownResource
from axle.client.manifests import Manifest, load_manifests
from axle.client.transport import SharedTransport, TransportPool, tls_context

__all__ = [
    "Client",
    "Connection",
    "ConnectionFailed",
    "Manifest",
    "ManifestError",
    "Resource",
    "SharedTransport",
    "TransportPool",
    "UnknownResource",
    "load_manifests",
    "resolve_connection",
    "tls_context",
]
