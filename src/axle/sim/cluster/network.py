"""Services and Ingresses: cluster IPs, node ports, load-balancer addresses.

Addresses are allocated at admission (a Service is stored with its `clusterIP`, as the API
server does), from the sets already in use by stored objects, so nothing but the objects
themselves needs persisting: ClusterIPs from 10.96.0.0/16 (from .10, below is reserved),
node ports from 30000-32767. A `LoadBalancer` Service gets
`status.loadBalancer.ingress[0].ip` from the load-balancer pool (default 10.200.0.0/24) once
`start_latency` has passed since its creation, with the service controller's
`EnsuringLoadBalancer`/`EnsuredLoadBalancer` events; an exhausted pool leaves it without an
address and says so in a warning (MetalLB's `AllocationFailed`).

The pool is per cluster, as a MetalLB `IPAddressPool` is: by default a /24 in 10.200.0.0 -
10.255.255.0 chosen by a hash of the cluster's name (`lb_pool_for`), so the same cluster always
hands out the same addresses (also after a restart) and two clusters rarely share a range.

An Ingress gets its address from the same pool the same way, without waiting for an
IngressClass or controller to exist: the simulator stands in for a cluster whose ingress
controller is installed with it (as Palette's edge profiles do), and a Work's Ingress should
show a usable address without one more object to apply.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from axle.sim.cluster.kinds import key_of
from axle.sim.cluster.objects import clone
from axle.sim.cluster.runtime import Ctx

Obj = dict[str, Any]
SERVICE_CIDR = "10.96.0.0/16"
NODE_PORTS = range(30000, 32768)
SERVICE_CONTROLLER = "service-controller"


def lb_pool_for(cluster: str) -> str:
    """The default load-balancer pool of cluster `cluster`: a /24 fixed by its name."""
    digest = hashlib.sha256(cluster.encode()).digest()
    return f"10.{200 + digest[0] % 56}.{digest[1]}.0/24"


def _used_cluster_ips(ctx: Ctx) -> set[str]:
    return {
        str((s.get("spec") or {}).get("clusterIP"))
        for s in ctx.store.of_kind("", "Service")
        if (s.get("spec") or {}).get("clusterIP")
    }


def _used_node_ports(ctx: Ctx) -> set[int]:
    return {
        int(p["nodePort"])
        for s in ctx.store.of_kind("", "Service")
        for p in (s.get("spec") or {}).get("ports") or []
        if p.get("nodePort")
    }


def _used_lb_ips(ctx: Ctx) -> set[str]:
    out = set()
    for kind, group in (("Service", ""), ("Ingress", "networking.k8s.io")):
        for o in ctx.store.of_kind(group, kind):
            for ing in ((o.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
                if ing.get("ip"):
                    out.add(str(ing["ip"]))
    return out


def admit_service(ctx: Ctx, svc: Obj, old: Obj | None) -> None:
    """Fill in what the API server allocates when a Service is stored. An update keeps the
    node ports its ports already had (an applied port list does not carry them)."""
    spec = svc.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec["type"] != "ExternalName":
        if not spec.get("clusterIP"):
            used = _used_cluster_ips(ctx)
            network = ipaddress.ip_network(SERVICE_CIDR)
            spec["clusterIP"] = next(
                str(ip) for i, ip in enumerate(network.hosts()) if i >= 9 and str(ip) not in used
            )
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        if spec["clusterIP"] != "None":
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        kept = {
            (p.get("port"), p.get("protocol", "TCP")): p["nodePort"]
            for p in ((old or {}).get("spec") or {}).get("ports") or []
            if p.get("nodePort")
        }
        used_ports = _used_node_ports(ctx)
        free = (p for p in NODE_PORTS if p not in used_ports)
        for port in spec.get("ports") or []:
            if not port.get("nodePort"):
                previous = kept.get((port.get("port"), port.get("protocol", "TCP")))
                port["nodePort"] = previous or next(free)
        spec.setdefault("externalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))


def _free_lb_ip(ctx: Ctx) -> str | None:
    used = _used_lb_ips(ctx)
    for ip in ipaddress.ip_network(ctx.lb_pool, strict=False).hosts():
        if str(ip) not in used:
            return str(ip)
    return None


def _ensure_address(ctx: Ctx, obj: Obj, *, ip_mode: bool) -> None:
    status = obj.get("status") or {}
    if (status.get("loadBalancer") or {}).get("ingress"):
        return
    created = ctx.store.mark(obj, "created")
    new = clone(obj)
    new.setdefault("status", {}).setdefault("loadBalancer", {})
    if not ctx.due(created + ctx.timings.start_latency):
        if ctx.store.write(new) and obj["kind"] == "Service":
            ctx.event(
                new, "Normal", "EnsuringLoadBalancer", "Ensuring load balancer", SERVICE_CONTROLLER
            )
        return
    ip = _free_lb_ip(ctx)
    meta = obj["metadata"]
    if ip is None:
        ctx.lb_waiting.add(key_of(obj))
        if not ctx.store.has_mark(obj, "pool-exhausted"):
            ctx.store.mark(obj, "pool-exhausted")
            msg = (
                f'Failed to allocate IP for "{meta["namespace"]}/{meta["name"]}": no available IPs'
            )
            ctx.event(obj, "Warning", "AllocationFailed", msg, "metallb-controller")
        ctx.store.write(new)
        return
    entry: Obj = {"ip": ip}
    if ip_mode:
        entry["ipMode"] = "VIP"
    new["status"]["loadBalancer"]["ingress"] = [entry]
    ctx.store.write(new)
    if obj["kind"] == "Service":
        ctx.event(new, "Normal", "EnsuredLoadBalancer", "Ensured load balancer", SERVICE_CONTROLLER)
    else:
        ctx.event(new, "Normal", "Sync", "Scheduled for sync", "nginx-ingress-controller")


def _lb_kinds_touched(ctx: Ctx) -> bool:
    # Addresses come from one pool: a Service or Ingress changing (or going, freeing its
    # address) concerns every one still waiting for an address.
    return ctx.touches(("", "Service"), ("networking.k8s.io", "Ingress"))


def _lb_candidates(ctx: Ctx, group: str, kind: str) -> list[Obj]:
    """The objects of one kind that may need an address now: all of them in a full pass,
    else those this pass looks at and those left waiting when the pool ran dry (any other
    has its address, or got its status when it was created, which put it in a scope). Those
    still waiting afterwards are recorded again by `_ensure_address`."""
    waiting = {k for k in ctx.lb_waiting if k[:2] == (group, kind)}
    ctx.lb_waiting -= waiting
    if ctx.full:
        return ctx.store.of_kind(group, kind)
    found = {key_of(o): o for o in ctx.candidates(group, kind)}
    for key in waiting - found.keys():
        left = ctx.store.get(key)
        if left is not None:
            found[key] = left
    return [found[k] for k in sorted(found)]


def services(ctx: Ctx) -> None:
    if not _lb_kinds_touched(ctx):
        return
    for svc in _lb_candidates(ctx, "", "Service"):
        spec = svc.get("spec") or {}
        if spec.get("type") == "LoadBalancer":
            _ensure_address(ctx, svc, ip_mode=True)
        elif "status" not in svc:
            new = clone(svc)
            new["status"] = {"loadBalancer": {}}
            ctx.store.write(new)


def ingresses(ctx: Ctx) -> None:
    if not _lb_kinds_touched(ctx):
        return
    for ing in _lb_candidates(ctx, "networking.k8s.io", "Ingress"):
        _ensure_address(ctx, ing, ip_mode=False)
