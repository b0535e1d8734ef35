"""`RealCluster`: the Cluster protocol over a real Kubernetes API, through the official client.

The agent applies arbitrary kinds (whatever an artifact holds: CRDs, HelmReleases, ...), so
this uses the official client's dynamic client, which resolves a kind to its REST path by
discovery. Writes are server-side apply (`application/apply-patch+yaml`) with field manager
`axle` and `force=true`: the agent owns the fields it applies and takes them back from anyone
who changed them (that is how drift is corrected), while fields set by others stay theirs.

Why `asyncio.to_thread` around the synchronous `kubernetes` package rather than
`kubernetes_asyncio`: the official client is the one the issue asks for and the one that
tracks Kubernetes releases (kubernetes_asyncio is a separate, generated port that lags it);
an agent makes a few requests per Work pass, so a thread per call costs nothing that
matters, and the event loop never blocks on the cluster.

`changes()` polls, per kind the agent has applied, the objects carrying the inventory label
`axle.dev/work` and yields each one whose resourceVersion moved (and the last seen copy of
each that disappeared); the protocol allows polling, and one labelled list per kind is far
cheaper than a watch per kind on a real cluster.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import DynamicApiError, ResourceNotFoundError
from kubernetes.utils.quantity import parse_quantity

from axle.errors import ApiError, NotFound, ServiceUnavailable
from axle.kube.cluster import ClusterCapacity, NodeCapacity, Obj

log = logging.getLogger("axle.kube.real")
T = TypeVar("T")

FIELD_MANAGER = "axle"
INVENTORY_LABEL = "axle.dev/work"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"


def api_client_from_kubeconfig(kubeconfig: str | dict[str, Any]) -> k8s.ApiClient:
    """An ApiClient for a kubeconfig file path or an already-parsed kubeconfig dict."""
    configuration = k8s.Configuration()
    if isinstance(kubeconfig, dict):
        k8s_config.load_kube_config_from_dict(kubeconfig, client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        k8s_config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)  # type: ignore[no-untyped-call]
    return k8s.ApiClient(configuration)


def to_api_error(exc: BaseException) -> ApiError:
    """The axle ApiError a client failure stands for (the cluster's Status when it sent one)."""
    status = getattr(exc, "status", None)
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    if status:
        parsed: Any = None
        if isinstance(body, str):
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        if isinstance(parsed, dict) and parsed.get("kind") == "Status":
            parsed.setdefault("code", status)
            return ApiError.from_status(parsed)
        reason = getattr(exc, "reason", None) or "error"
        return ApiError.from_status({"code": int(status), "message": str(body or reason)})
    return ServiceUnavailable(f"cannot reach the cluster: {exc}")


def _quantity(value: Any) -> Decimal:
    try:
        return Decimal(parse_quantity(value)) if value is not None else Decimal(0)  # type: ignore[no-untyped-call]
    except (ValueError, TypeError):
        return Decimal(0)


def node_capacity(node: Obj) -> NodeCapacity:
    """A Node's capacity (allocatable where reported) as the agent reports it."""
    meta, status = node.get("metadata") or {}, node.get("status") or {}
    amounts = status.get("allocatable") or status.get("capacity") or {}
    labels = dict(meta.get("labels") or {})
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    return NodeCapacity(
        name=str(meta.get("name") or ""),
        cpu_millis=int(_quantity(amounts.get("cpu")) * 1000),
        memory_bytes=int(_quantity(amounts.get("memory"))),
        gpus=int(_quantity(amounts.get(GPU_RESOURCE))),
        gpu_product=labels.get(GPU_PRODUCT_LABEL),
        labels=labels,
        ready=ready,
    )


class RealCluster:
    """A Kubernetes cluster reached through a kubeconfig (or a ready ApiClient)."""

    def __init__(
        self,
        kubeconfig: str | dict[str, Any] | None = None,
        *,
        api_client: k8s.ApiClient | None = None,
        discovery_cache: Path | None = None,
        poll_interval: float = 10.0,
    ) -> None:
        if api_client is None:
            if kubeconfig is None:
                raise ValueError("RealCluster needs a kubeconfig or an api_client")
            api_client = api_client_from_kubeconfig(kubeconfig)
        self.api_client = api_client
        self.discovery_cache = discovery_cache
        self.poll_interval = poll_interval
        self._dynamic: DynamicClient | None = None
        self._applied_kinds: dict[tuple[str, str], None] = {}
        self.polls = 0  # completed `changes()` polls (tests wait for the first)

    @classmethod
    def in_cluster(cls, **kwargs: Any) -> RealCluster:
        """The cluster this process runs in (its ServiceAccount token and CA)."""
        configuration = k8s.Configuration()
        k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        return cls(api_client=k8s.ApiClient(configuration), **kwargs)

    # ---- plumbing ----------------------------------------------------------------------------

    def _client(self) -> DynamicClient:
        if self._dynamic is None:
            cache = str(self.discovery_cache) if self.discovery_cache else None
            self._dynamic = DynamicClient(self.api_client, cache_file=cache)  # type: ignore[no-untyped-call]
        return self._dynamic

    async def _call(self, fn: Callable[[], T]) -> T:
        """Run one blocking client call in a thread; client failures become ApiErrors."""
        try:
            return await asyncio.to_thread(fn)
        except (ApiException, DynamicApiError) as exc:
            raise to_api_error(exc) from exc
        except ResourceNotFoundError as exc:
            raise NotFound(str(exc)) from exc
        except OSError as exc:
            raise ServiceUnavailable(f"cannot reach the cluster: {exc}") from exc
        except Exception as exc:
            # urllib3's MaxRetryError and friends: the cluster did not answer.
            if type(exc).__module__.startswith("urllib3"):
                raise ServiceUnavailable(f"cannot reach the cluster: {exc}") from exc
            raise

    def _resource(self, api_version: str, kind: str) -> Any:
        return self._client().resources.get(api_version=api_version, kind=kind)

    @staticmethod
    def _dict(found: Any) -> Obj:
        data = found.to_dict() if hasattr(found, "to_dict") else found
        return dict(data)

    # ---- the protocol ------------------------------------------------------------------------

    async def apply(
        self, obj: Obj, *, field_manager: str = FIELD_MANAGER, force: bool = True
    ) -> Obj:
        """Server-side apply of `obj` as `field_manager` (force: take fields from others)."""
        api_version, kind = str(obj.get("apiVersion")), str(obj.get("kind"))
        meta = obj.get("metadata") or {}

        def call() -> Obj:
            res = self._resource(api_version, kind)
            found = self._client().server_side_apply(  # type: ignore[no-untyped-call]
                res,
                body=obj,
                namespace=meta.get("namespace") if res.namespaced else None,
                field_manager=field_manager,
                force_conflicts="true" if force else None,
            )
            return self._dict(found)

        live = await self._call(call)
        self._applied_kinds[(api_version, kind)] = None
        return live

    async def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> Obj | None:
        def call() -> Obj:
            res = self._resource(api_version, kind)
            return self._dict(res.get(name=name, namespace=namespace if res.namespaced else None))

        try:
            return await self._call(call)
        except NotFound:
            return None

    async def list_objects(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[Obj]:
        def call() -> list[Obj]:
            res = self._resource(api_version, kind)
            found = self._dict(
                res.get(
                    namespace=namespace if res.namespaced else None,
                    label_selector=label_selector,
                )
            )
            items = [dict(i) for i in found.get("items") or []]
            for item in items:
                item.setdefault("apiVersion", api_version)
                item.setdefault("kind", kind)
            return items

        return await self._call(call)

    async def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        def call() -> None:
            res = self._resource(api_version, kind)
            res.delete(
                name=name,
                namespace=namespace if res.namespaced else None,
                body={"propagationPolicy": "Background"},
            )

        try:
            await self._call(call)
        except NotFound:
            return False
        return True

    async def events_for(self, obj: Obj) -> list[Obj]:
        """Events whose involvedObject is `obj`, oldest first, by field selector."""
        meta = obj.get("metadata") or {}
        parts = [
            f"involvedObject.name={meta.get('name')}",
            f"involvedObject.kind={obj.get('kind')}",
        ]
        namespace = meta.get("namespace")
        if namespace:
            parts.append(f"involvedObject.namespace={namespace}")

        def call() -> list[Obj]:
            res = self._resource("v1", "Event")
            found = self._dict(res.get(namespace=namespace, field_selector=",".join(parts)))
            return [dict(i) for i in found.get("items") or []]

        events = await self._call(call)
        uid = meta.get("uid")
        if uid:
            events = [
                e for e in events if (e.get("involvedObject") or {}).get("uid") in (None, uid)
            ]
        return sorted(
            events,
            key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""),
        )

    async def capacity(self) -> ClusterCapacity:
        """Nodes (allocatable CPU, memory, GPUs and their product) and the server version."""

        def call() -> tuple[str, list[Obj]]:
            # Raw, not VersionApi: its strict model refuses servers that omit build fields.
            raw = self._client().request("get", "/version", serialize=False)
            version = json.loads(raw.data.decode())
            res = self._resource("v1", "Node")
            nodes = self._dict(res.get())
            return str(version.get("gitVersion") or ""), [dict(n) for n in nodes.get("items") or []]

        version, nodes = await self._call(call)
        return ClusterCapacity(version, tuple(node_capacity(n) for n in nodes))

    async def changes(self) -> AsyncIterator[Obj]:
        """Objects of the kinds applied here, carrying the inventory label, as they change."""
        seen: dict[tuple[str, str, str, str], Obj] = {}
        first = True
        while True:
            now: dict[tuple[str, str, str, str], Obj] = {}
            for api_version, kind in list(self._applied_kinds):
                try:
                    items = await self.list_objects(api_version, kind, None, INVENTORY_LABEL)
                except ApiError as exc:
                    log.debug("polling %s %s: %s", api_version, kind, exc.message)
                    items = [o for k, o in seen.items() if k[:2] == (api_version, kind)]
                for item in items:
                    meta = item.get("metadata") or {}
                    key = (api_version, kind, str(meta.get("namespace") or ""), str(meta["name"]))
                    now[key] = item
            if not first:
                for key, item in now.items():
                    old = seen.get(key)
                    old_rv = (old or {}).get("metadata", {}).get("resourceVersion")
                    if old is None or old_rv != item["metadata"].get("resourceVersion"):
                        yield item
                for key, item in seen.items():
                    if key not in now:
                        yield item
            seen, first = now, False
            self.polls += 1
            await asyncio.sleep(self.poll_interval)

    async def close(self) -> None:
        await asyncio.to_thread(self.api_client.close)
