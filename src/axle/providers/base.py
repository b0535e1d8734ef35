"""The Provider protocol: what the hub needs of an infrastructure provider, and its errors.

axle learns which machines exist, and later creates clusters on them, only through a
provider. Palette (`providers/palette`) is the first; another (a cloud, a bare-metal API) can
be added by implementing this protocol. Providers declare `capabilities` instead of raising
"not supported" deep inside a reconcile, so a controller can say up front that a Settings'
provider cannot, for example, create clusters (dstack's backends use the same shape).

Values crossing this boundary are small frozen dataclasses in the provider-neutral shape the
Compute and ComputePool controllers work with; each provider maps its own API to them.

Errors (all `ProviderError`, each with a `reason` a condition can carry as is):

    ProviderError                  reason
    ├── InvalidCredentials         InvalidCredentials  (401/403: no retry until the Secret changes)
    ├── Unreachable                Unreachable         (connection refused, DNS, TLS, timeout)
    ├── RateLimited                RateLimited         (429 after retries; `retry_after` seconds)
    ├── ServerError                ServerError         (5xx after retries)
    ├── NotFound                   NotFound            (404)
    ├── InvalidRequest             InvalidRequest      (other 4xx: the request was refused)
    ├── BadResponse                BadResponse         (a body that does not match the contract)
    └── InvalidConfiguration       InvalidConfiguration (Secret or credentials malformed)

Clusters are optional (`Capability.CLUSTERS`): a provider that declares it also satisfies
`ClusterProvider`, and reports clusters as `ClusterInfo`. Creating a cluster takes a
provider-specific request (the machine-pool shapes differ too much between providers to share),
so `create` is not part of the neutral protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, Protocol, runtime_checkable


class Capability(StrEnum):
    INVENTORY = "inventory"  # list and get hosts
    CLUSTERS = "clusters"  # create, get, delete clusters on hosts
    KUBECONFIG = "kubeconfig"  # download a running cluster's kubeconfig
    MACHINE_POOLS = "machine-pools"  # resize a cluster's machine pools


HostState = Literal["ready", "unpaired", "in-use"]


@dataclass(frozen=True)
class GPU:
    vendor: str  # "NVIDIA"
    model: str  # "H100", as the provider reports it
    count: int
    memory_mib: int | None = None  # per GPU

    @property
    def family(self) -> str:
        """`NVIDIA-H100`: the name GPU limits and pool requirements use."""
        return f"{self.vendor}-{self.model}".replace(" ", "-")


@dataclass(frozen=True)
class Host:
    """One machine as a provider reports it."""

    uid: str
    name: str
    architecture: str  # "amd64" | "arm64"
    cpu_cores: int
    memory_mib: int
    state: HostState
    healthy: bool
    health_message: str = ""
    gpus: tuple[GPU, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    address: str | None = None
    disks_gb: tuple[int, ...] = ()
    in_use_by: tuple[str, ...] = ()  # cluster uids or names holding the host

    @property
    def gpu_count(self) -> int:
        return sum(g.count for g in self.gpus)


class ProviderError(Exception):
    reason = "ProviderError"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class InvalidCredentials(ProviderError):
    reason = "InvalidCredentials"


class Unreachable(ProviderError):
    reason = "Unreachable"


class RateLimited(ProviderError):
    reason = "RateLimited"

    def __init__(
        self, message: str, *, status: int | None = 429, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class ServerError(ProviderError):
    reason = "ServerError"


class NotFound(ProviderError):
    reason = "NotFound"


class BadResponse(ProviderError):
    reason = "BadResponse"


class InvalidRequest(ProviderError):
    """The provider refused the request itself (400, 409, 422, ...); retrying will not help."""

    reason = "InvalidRequest"


class InvalidConfiguration(ProviderError):
    """The provider cannot even be built: a Secret key or credential field is missing or bad.

    `fields` names what is wrong (`palette`, `palette.hostUrl`), for a condition message.
    """

    reason = "InvalidConfiguration"

    def __init__(self, message: str, *, fields: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.fields = fields


@dataclass(frozen=True)
class ClusterCondition:
    """One condition a provider reports on a cluster (Kubernetes-like: type and status)."""

    type: str
    status: str
    reason: str = ""
    message: str = ""


@dataclass(frozen=True)
class ClusterInfo:
    """A workload cluster as a provider reports it.

    `state` is the provider's lifecycle word (Palette: Pending, Provisioning, Running,
    Deleting, Deleted, Error, Importing) passed through as is: the spec types it as a plain
    string, so an unknown value must not break the caller.
    """

    uid: str
    name: str
    state: str
    health: str | None = None  # provider's health word ("healthy", ...); None when unreported
    health_message: str = ""
    conditions: tuple[ClusterCondition, ...] = ()
    api_endpoints: tuple[str, ...] = ()  # "host:port"
    host_uids: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    cloud_config_uid: str | None = None  # where the machine pools live
    kubeconfig_ready: bool = False
    kubernetes_version: str | None = None


@runtime_checkable
class Provider(Protocol):
    """An infrastructure provider. Inventory is required; other capabilities are declared."""

    name: str
    capabilities: frozenset[Capability]

    async def check_credentials(self) -> None:
        """A cheap authenticated call; raises InvalidCredentials, Unreachable, ..."""

    async def list_hosts(self, tags: Mapping[str, str] | None = None) -> list[Host]:
        """Every host carrying all of `tags` (all hosts when None), across all pages."""

    async def get_host(self, uid: str) -> Host: ...

    async def close(self) -> None: ...


@runtime_checkable
class ClusterProvider(Provider, Protocol):
    """A provider declaring `Capability.CLUSTERS` (and usually KUBECONFIG)."""

    async def get_cluster(self, uid: str) -> ClusterInfo: ...

    async def get_cluster_status(self, uid: str) -> str:
        """Only the lifecycle state: the cheapest poll while a cluster provisions."""

    async def delete_cluster(self, uid: str, force: bool = False) -> None: ...

    async def download_kubeconfig(self, uid: str, admin: bool = False) -> str: ...
