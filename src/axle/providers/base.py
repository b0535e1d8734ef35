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
    └── BadResponse                BadResponse         (a body that does not match the contract)
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
