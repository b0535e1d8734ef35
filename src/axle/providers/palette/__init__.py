"""The Palette provider: an async REST client for the Palette API subset axle uses.

Modules: `credentials` (the Secret's JSON), `retry` (backoff and Retry-After), `envelope`
(`v1Error` -> ProviderError), `session` (the retrying HTTP core), `wire` and `clusters`
(wire models), `mapping` (edge host -> Host), `client` (PaletteClient), `factory`
(`provider_from_secret_data`).
"""

from axle.providers.palette.client import PAGE_LIMIT, PaletteClient
from axle.providers.palette.clusters import (
    ClusterMetadata,
    ClusterProfileEntity,
    ControlPlaneEndpoint,
    EdgeNativeClusterConfig,
    EdgeNativeClusterEntity,
    EdgeNativeClusterSpec,
    MachinePool,
    MachinePoolCloudConfig,
    MachinePoolHost,
    PackValues,
    PoolConfig,
    ProfileVariable,
)
from axle.providers.palette.credentials import (
    DEFAULT_SECRET_KEY,
    PaletteCredentials,
    credentials_from_secret_data,
)
from axle.providers.palette.factory import provider_from_secret_data
from axle.providers.palette.mapping import host_from_wire

__all__ = [
    "DEFAULT_SECRET_KEY",
    "PAGE_LIMIT",
    "ClusterMetadata",
    "ClusterProfileEntity",
    "ControlPlaneEndpoint",
    "EdgeNativeClusterConfig",
    "EdgeNativeClusterEntity",
    "EdgeNativeClusterSpec",
    "MachinePool",
    "MachinePoolCloudConfig",
    "MachinePoolHost",
    "PackValues",
    "PaletteClient",
    "PaletteCredentials",
    "PoolConfig",
    "ProfileVariable",
    "credentials_from_secret_data",
    "host_from_wire",
    "provider_from_secret_data",
]
