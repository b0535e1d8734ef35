"""ComputeConfig (axle.dev/v1alpha1, namespaced): default cluster settings for a project.

Every project references one, so data scientists never supply infrastructure details: the
control-plane pool (`nodeCount` 1, 3 or 5; a single node must also take workloads), worker pool
defaults, SSH keys and cluster-wide edge settings. The VIP is per deployment (on a ComputePool
or AIWorkload), not here, as in current PaletteAI; an `edge.vip` from older manifests is still
accepted and checked.

Everything Palette would refuse later (or, worse, accept and build a broken cluster from) is
refused here, at admission, with the field path of the bad value (notes section 8):

- `defaults.controlPlanePool.nodeCount` is required and one of 1, 3, 5; `nodeCount: 1` needs
  `workerNodeEligible: true`, and `singleNodeCluster` (defaulted from `nodeCount`) must agree
  with it;
- `defaults.sshKeys[]` are OpenSSH public keys (`<type> <base64> [comment]`, one per entry):
  the type is one OpenSSH accepts today (ed25519, RSA of at least 1024 bits, ECDSA P-256/384/
  521 and the FIDO `sk-` variants) and the base64 blob decodes to a key of that same type with
  the fields that type has, so a truncated paste or a private key is caught;
- edge network: the overlay CIDR and the optional `podCIDR` / `serviceCIDR` are canonical
  networks (no host bits) that do not overlap; an enabled overlay needs its CIDR; NTP servers
  are IP addresses or host names; the VIP is an IP address;
- pools: labels, annotations and taints are valid Kubernetes ones (qualified-name keys, label
  values, effect NoSchedule / PreferNoSchedule / NoExecute, no key+effect twice), worker pool
  names are unique DNS labels, and a `memory` such as "16 GB" parses (SI units are powers of
  1000, `Gi`/`GiB` of 1024; a bare number has no unit and is refused). `memory` and
  `memoryMiB` are alternatives: giving both is refused rather than guessing which wins.

Defaulting: architecture `AMD64` (lower case accepted and normalized to Palette's upper case;
worker pools default to the control plane's architecture), `singleNodeCluster` from
`nodeCount`, `workerNodeEligible: false`, `workerPools: []` and `sshKeys: []`.

The rules are plain functions of the wire dict (`computeconfig_errors`, `parse_memory_mib`,
`ssh_public_key_type`) so the ComputePool and AIWorkload kinds can reuse them.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import re
import struct
from typing import Any, Literal

from pydantic import Field

from axle.api import validation as v
from axle.api.common import NameRef, NonEmptyStr
from axle.api.meta import Model, ObjectMeta, StatusBase
from axle.api.nodepools import (
    ControlPlanePool,
    EdgeConfig,
    WorkerPool,
    control_plane_errors,
    worker_pools_errors,
)
from axle.api.registry import KindInfo, PrinterColumn, register

DEFAULT_ARCHITECTURE = "AMD64"
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


class ComputeConfigEdge(EdgeConfig):
    """Cluster-wide edge settings; `podCIDR` / `serviceCIDR` are axle's additions so that an
    overlap with the overlay network is caught before Palette builds the cluster."""

    podCIDR: str | None = None
    serviceCIDR: str | None = None


class ComputeConfigDefaults(Model):
    sshKeys: list[NonEmptyStr] | None = None
    controlPlanePool: ControlPlanePool
    workerPools: list[WorkerPool] | None = None


class PaletteClusterConfig(Model):
    edge: ComputeConfigEdge | None = None
    defaults: ComputeConfigDefaults


class ComputeConfigSpec(Model):
    settingsRef: NameRef | None = None
    paletteClusterConfig: PaletteClusterConfig


class ComputeConfig(Model):
    apiVersion: Literal["axle.dev/v1alpha1"] = "axle.dev/v1alpha1"
    kind: Literal["ComputeConfig"] = "ComputeConfig"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ComputeConfigSpec
    status: StatusBase | None = None


# --- memory --------------------------------------------------------------------------------

_MEMORY_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]+)\s*$")
_BYTES_PER_UNIT = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "k": 1000,
    "m": 1000**2,
    "g": 1000**3,
    "t": 1000**4,
    "ki": 1024,
    "mi": 1024**2,
    "gi": 1024**3,
    "ti": 1024**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_MEBIBYTE = 1024**2


def parse_memory_mib(text: str) -> int:
    """`"16 GB"` -> 15259: a memory size with a unit, in MiB rounded up (so a request never
    shrinks). Raises ValueError with a message for users."""
    match = _MEMORY_RE.match(text)
    if not match:
        raise ValueError(
            'must be a number and a unit, such as "16 GB", "16GiB" or "512 MiB"'
            + (" (a bare number has no unit)" if text.strip().replace(".", "").isdigit() else "")
        )
    number, unit = match.groups()
    per = _BYTES_PER_UNIT.get(unit.lower())
    if per is None:
        raise ValueError(
            f"unknown unit {unit!r}: use B, KB, MB, GB, TB (powers of 1000) or "
            "KiB, MiB, GiB, TiB (powers of 1024)"
        )
    mib = math.ceil(float(number) * per / _MEBIBYTE)
    if mib < 1:
        raise ValueError("must be at least 1 MiB")
    return mib


# --- SSH public keys -----------------------------------------------------------------------

# Key type -> (curve name inside the blob or None, public key length or None, has application)
_SSH_KEY_TYPES: dict[str, tuple[str | None, int | None, bool]] = {
    "ssh-ed25519": (None, 32, False),
    "ssh-rsa": (None, None, False),
    "ecdsa-sha2-nistp256": ("nistp256", 65, False),
    "ecdsa-sha2-nistp384": ("nistp384", 97, False),
    "ecdsa-sha2-nistp521": ("nistp521", 133, False),
    "sk-ssh-ed25519@openssh.com": (None, 32, True),
    "sk-ecdsa-sha2-nistp256@openssh.com": ("nistp256", 65, True),
}
RSA_MIN_BITS = 1024  # OpenSSH refuses shorter RSA keys


def _ssh_strings(blob: bytes) -> list[bytes]:
    """The length-prefixed strings of an SSH wire-format blob (RFC 4251 section 5)."""
    out: list[bytes] = []
    offset = 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            raise ValueError("the key data is truncated")
        (size,) = struct.unpack(">I", blob[offset : offset + 4])
        end = offset + 4 + size
        if end > len(blob):
            raise ValueError("the key data is truncated")
        out.append(blob[offset + 4 : end])
        offset = end
    return out


def ssh_public_key_type(line: str) -> str:
    """The key type of one OpenSSH public key line (`<type> <base64> [comment]`), after
    checking that the base64 blob really is a key of that type. Raises ValueError."""
    text = line.strip()
    if "PRIVATE KEY" in text:
        raise ValueError("this is a private key; give the public key (the .pub file)")
    if "\n" in text or "\r" in text:
        raise ValueError("must be a single key on one line (one list entry per key)")
    parts = text.split(None, 2)
    if len(parts) < 2:
        raise ValueError("must be '<type> <base64 key> [comment]', as in an OpenSSH .pub file")
    key_type, encoded = parts[0], parts[1]
    spec = _SSH_KEY_TYPES.get(key_type)
    if spec is None:
        supported = ", ".join(_SSH_KEY_TYPES)
        raise ValueError(f"unsupported key type {key_type!r} (supported: {supported})")
    try:
        blob = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the key data is not valid base64") from None
    fields = _ssh_strings(blob)
    if not fields:
        raise ValueError("the key data is empty")
    inner = fields[0].decode("ascii", "replace")
    if inner != key_type:
        raise ValueError(f"the key data holds a {inner!r} key, not {key_type!r}")
    curve, key_len, has_application = spec
    expected = 2 + (curve is not None) + has_application
    if key_type == "ssh-rsa":
        if len(fields) != 3:
            raise ValueError("the key data is not an RSA public key (exponent, modulus)")
        bits = int.from_bytes(fields[2], "big").bit_length()
        if bits < RSA_MIN_BITS:
            raise ValueError(f"RSA key of {bits} bits is too short (at least {RSA_MIN_BITS})")
        return key_type
    if len(fields) != expected:
        raise ValueError(f"the key data does not have the fields of a {key_type} key")
    rest = fields[1:]
    if curve is not None:
        if rest[0] != curve.encode():
            raise ValueError(f"the key data names curve {rest[0]!r}, not {curve}")
        rest = rest[1:]
    point = rest[0]
    if key_len is not None and len(point) != key_len:
        raise ValueError(f"the key is {len(point)} bytes long, a {key_type} key has {key_len}")
    if curve is not None and point[:1] != b"\x04":
        raise ValueError("the key data is not an uncompressed EC point")
    return key_type


# --- edge network --------------------------------------------------------------------------


def _host_errors(value: str, path: str) -> list[v.FieldError]:
    """An IP address or an RFC 1123 host name (an all-numeric name is a mistyped IP)."""
    try:
        ipaddress.ip_address(value)
        return []
    except ValueError:
        pass
    name = value.lower().removesuffix(".")
    if v.is_dns1123_subdomain(name) or all(label.isdigit() for label in name.split(".")):
        return [v.invalid(path, value, "must be an IP address or a host name")]
    return []


def _network(value: str, path: str, errs: list[v.FieldError]) -> _Network | None:
    if "/" not in value:
        # ipaddress reads a bare address as a /32 network; a CIDR names its prefix length.
        errs.append(v.invalid(path, value, "must be a CIDR such as 10.0.0.0/16 (no prefix length)"))
        return None
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        try:
            loose = ipaddress.ip_network(value, strict=False)
        except ValueError:
            errs.append(v.invalid(path, value, f"must be a CIDR such as 10.0.0.0/16 ({exc})"))
        else:
            errs.append(v.invalid(path, value, f"has host bits set; the network is {loose}"))
        return None


def edge_errors(edge: dict[str, Any] | None, path: str) -> list[v.FieldError]:
    errs: list[v.FieldError] = []
    if not edge:
        return errs
    if edge.get("vip"):
        try:
            ipaddress.ip_address(edge["vip"])
        except ValueError:
            errs.append(v.invalid(f"{path}.vip", edge["vip"], "must be an IP address"))
    ntp = edge.get("ntpServers") or []
    for i, server in enumerate(ntp):
        errs.extend(_host_errors(server, f"{path}.ntpServers[{i}]"))
    errs.extend(v.unique([s.lower() for s in ntp], f"{path}.ntpServers"))
    overlay = edge.get("networkOverlayConfig") or {}
    networks: list[tuple[str, str, _Network]] = []
    declared = [
        ("networkOverlayConfig.cidr", overlay.get("cidr")),
        ("podCIDR", edge.get("podCIDR")),
        ("serviceCIDR", edge.get("serviceCIDR")),
    ]
    if overlay.get("enabled") and not overlay.get("cidr"):
        errs.append(
            v.required(f"{path}.networkOverlayConfig.cidr", "an enabled overlay network needs")
        )
    for name, value in declared:
        if not value:
            continue
        net = _network(value, f"{path}.{name}", errs)
        if net is None:
            continue
        for other_name, other_value, other in networks:
            if net.overlaps(other):
                errs.append(
                    v.invalid(f"{path}.{name}", value, f"overlaps {other_name} {other_value}")
                )
        networks.append((name, value, net))
    return errs


# --- pools ---------------------------------------------------------------------------------


def pool_errors(pool: dict[str, Any] | None, path: str) -> list[v.FieldError]:
    """Labels, annotations, taints and memory of one control-plane or worker pool."""
    if not pool:
        return []
    errs: list[v.FieldError] = []
    errs.extend(v.labels(pool.get("labels") or {}, f"{path}.labels"))
    errs.extend(v.annotations(pool.get("annotations") or {}, f"{path}.annotations"))
    seen: set[tuple[str, str]] = set()
    for i, taint in enumerate(pool.get("taints") or []):
        tpath = f"{path}.taints[{i}]"
        value = taint.get("value")
        if value:
            errs.extend(v.invalid(f"{tpath}.value", value, d) for d in v.is_label_value(value))
        pair = (str(taint.get("key")), str(taint.get("effect")))
        if pair in seen:
            errs.append(
                v.duplicate(tpath, {"key": pair[0], "effect": pair[1]}),
            )
        seen.add(pair)
    memory = pool.get("memory") or {}
    if memory.get("memory") is not None and memory.get("memoryMiB") is not None:
        errs.append(v.forbidden(f"{path}.memory.memoryMiB", "give memory or memoryMiB, not both"))
    if memory.get("memory") is not None:
        try:
            parse_memory_mib(memory["memory"])
        except ValueError as exc:
            errs.append(v.invalid(f"{path}.memory.memory", memory["memory"], str(exc)))
    return errs


def computeconfig_errors(obj: dict[str, Any]) -> list[v.FieldError]:
    """Every cross-field rule of a ComputeConfig (the schema has checked types and enums)."""
    cfg = (obj.get("spec") or {}).get("paletteClusterConfig") or {}
    defaults = cfg.get("defaults") or {}
    path = "spec.paletteClusterConfig"
    cp_path = f"{path}.defaults.controlPlanePool"
    cp = defaults.get("controlPlanePool") or {}
    errs = [*control_plane_errors(cp, cp_path)]
    single = cp.get("singleNodeCluster")
    if single is not None and cp.get("nodeCount") is not None and single != (cp["nodeCount"] == 1):
        errs.append(
            v.invalid(
                f"{cp_path}.singleNodeCluster",
                single,
                f"must be {'true' if cp['nodeCount'] == 1 else 'false'} when nodeCount is "
                f"{cp['nodeCount']} (a single-node cluster has exactly one node)",
            )
        )
    errs.extend(pool_errors(cp, cp_path))
    wp_path = f"{path}.defaults.workerPools"
    workers = defaults.get("workerPools") or []
    errs.extend(worker_pools_errors(workers, wp_path))
    for i, pool in enumerate(workers):
        errs.extend(pool_errors(pool, f"{wp_path}[{i}]"))
    keys = defaults.get("sshKeys") or []
    for i, key in enumerate(keys):
        try:
            ssh_public_key_type(key)
        except ValueError as exc:
            errs.append(v.invalid(f"{path}.defaults.sshKeys[{i}]", _short(key), str(exc)))
    errs.extend(v.unique([" ".join(k.split()[:2]) for k in keys], f"{path}.defaults.sshKeys"))
    errs.extend(edge_errors(cfg.get("edge"), f"{path}.edge"))
    return errs


def _short(key: str) -> str:
    """A key as shown in an error: long base64 blobs are cut, so messages stay readable."""
    return key if len(key) <= 60 else key[:40] + "..." + key[-12:]


# --- defaulting ----------------------------------------------------------------------------


def _architecture(value: Any, fallback: str) -> str:
    return str(value).upper() if value else fallback


def default_computeconfig(obj: dict[str, Any]) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    cfg = spec.get("paletteClusterConfig")
    defaults = cfg.get("defaults") if isinstance(cfg, dict) else None
    if not isinstance(defaults, dict):
        return
    cp = defaults.get("controlPlanePool")
    arch = DEFAULT_ARCHITECTURE
    if isinstance(cp, dict):
        arch = cp["architecture"] = _architecture(cp.get("architecture"), DEFAULT_ARCHITECTURE)
        if cp.get("singleNodeCluster") is None and cp.get("nodeCount") in (1, 3, 5):
            cp["singleNodeCluster"] = cp["nodeCount"] == 1
        cp.setdefault("workerNodeEligible", False)
    workers = defaults.setdefault("workerPools", [])
    for pool in workers if isinstance(workers, list) else []:
        if isinstance(pool, dict):
            pool["architecture"] = _architecture(pool.get("architecture"), arch)
    defaults.setdefault("sshKeys", [])


COMPUTE_CONFIG = register(
    KindInfo(
        group="axle.dev",
        version="v1alpha1",
        kind="ComputeConfig",
        plural="computeconfigs",
        singular="computeconfig",
        namespaced=True,
        model=ComputeConfig,
        short_names=("cc",),
        categories=("axle",),
        columns=(
            PrinterColumn(
                "Control Plane Nodes",
                ".spec.paletteClusterConfig.defaults.controlPlanePool.nodeCount",
                "integer",
            ),
            PrinterColumn(
                "Architecture",
                ".spec.paletteClusterConfig.defaults.controlPlanePool.architecture",
            ),
            PrinterColumn("Age", ".metadata.creationTimestamp", "date"),
            PrinterColumn(
                "Worker Eligible",
                ".spec.paletteClusterConfig.defaults.controlPlanePool.workerNodeEligible",
                "boolean",
                priority=1,
            ),
        ),
        validate_object=computeconfig_errors,
        default=default_computeconfig,
        name_rule=v.dns1123_label,
        description="Default cluster settings (control plane, worker pools, edge network).",
    )
)
