"""ComputeConfig admission: every rule of notes section 8 refuses a bad object with its field.

Each row of the rule table takes a valid object, breaks one thing, and names the field path
(`details.causes[].field`) and a fragment of the message that admission must report; the
valid object itself must pass, so a row can only pass because of its own rule.
"""

from __future__ import annotations

import base64
import copy
import struct
from collections.abc import Callable
from typing import Any

import pytest

import axle.api.kinds  # noqa: F401  (registers every kind)
from axle.api.admission import admit
from axle.api.computeconfig import COMPUTE_CONFIG, parse_memory_mib, ssh_public_key_type
from axle.errors import Invalid

ED25519 = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFCQvSBQj7bP/+BjKMEq4o+ETFa8GlRWgsZaL/RMUdE7 "
    "ops@example.com"
)
RSA = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC4iIYC4TLy49xYfuBXMiYg84M+apr3Y6+D3igN4MOvPFDfa0bYyoa"
    "Chqvbg74OFrYnCe0hdufSpKw8MI5GSyCOOGdMx54ldFC6sK3HwjB8aD/99G9jOi9WDxfOHqc/Et9jIvBvUIGqnDaSFu"
    "Ag18XrmkLcuClwt0xJQ4AE4DyG2VlgGE8gntWaBi52XnfzOh4+RYNuYjO7sy3tgEm+RwUTvdu/XPYhyuaVW13mxmvW"
    "OL+8tRk3zMeFJoUGs9qUKPsHGd6HnqZzz8k+VQ8gCPPexCxoaWC6Dvo3x3xkQQ7dNrc2r1ibCCFg+lti6GCmb+fjy5"
    "/KYDzMF4uMxlo0mn5j ops@example.com"
)
P256 = (
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBBaeDLRRhV2Pr/ZTVD"
    "BLSYInH8vM+qrzfprYv7vLk+d3Ngqs6dSP4cRNo2rARFbk4suE4KIrTEVgwd/IXrCXxzs= ops@example.com"
)
P384 = (
    "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBH/Hrsu0IjaoW953kL"
    "gyHBR+7kRecUDpazmmBw6T4Z+7DWnzUrjQqejOwunn5oQ/R7HV6Sn9ClSgF5iXToHwpsuMHFIwOyBYP1VzANf2FN98"
    "ivxW6owqithEOeUHytQosw== ops@example.com"
)
P521 = (
    "ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBAA2+kFKCP9cPkyzyT"
    "ftSNQd+Lme2WuY1KmmyUOd2AusX74/TY2eTvxsxczHbrpywZ2GI6JBWZo6fSYDN9a2CMtBhwC+91dSVR2AzCkiEjNb"
    "pdtoY1E6+nEwzjhn1Mo2dRow3x78U9xTDDq8J0HEHqt63wM+wCDYMg+Vbpz4W+VHdQ2Wdg== ops@example.com"
)


def _blob(*fields: bytes) -> str:
    return base64.b64encode(b"".join(struct.pack(">I", len(f)) + f for f in fields)).decode()


SK_ED25519 = "sk-ssh-ed25519@openssh.com " + _blob(
    b"sk-ssh-ed25519@openssh.com", bytes(range(32)), b"ssh:"
)
SK_P256 = "sk-ecdsa-sha2-nistp256@openssh.com " + _blob(
    b"sk-ecdsa-sha2-nistp256@openssh.com", b"nistp256", b"\x04" + bytes(64), b"ssh:"
)
RSA_768 = "ssh-rsa " + _blob(b"ssh-rsa", b"\x01\x00\x01", b"\x00" + b"\xc1" * 96)
CP = "spec.paletteClusterConfig.defaults.controlPlanePool"
WP = "spec.paletteClusterConfig.defaults.workerPools"
EDGE = "spec.paletteClusterConfig.edge"


def valid() -> dict[str, Any]:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "ComputeConfig",
        "metadata": {"name": "defaults", "namespace": "ml-prod"},
        "spec": {
            "paletteClusterConfig": {
                "edge": {
                    "ntpServers": ["pool.ntp.org", "10.0.0.1", "2001:db8::1"],
                    "networkOverlayConfig": {
                        "enabled": True,
                        "cidr": "100.64.192.0/23",
                        "overlayNetworkType": "VXLAN",
                    },
                    "podCIDR": "192.168.0.0/16",
                    "serviceCIDR": "10.96.0.0/12",
                },
                "defaults": {
                    "sshKeys": [ED25519, RSA],
                    "controlPlanePool": {
                        "nodeCount": 3,
                        "architecture": "amd64",
                        "cpu": {"cpuCount": 8},
                        "memory": {"memory": "16 GB"},
                        "labels": {"axle.dev/role": "control-plane"},
                        "annotations": {"example.com/owner": "platform"},
                        "taints": [
                            {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
                        ],
                    },
                    "workerPools": [
                        {
                            "name": "h100",
                            "gpu": {"family": "NVIDIA-H100", "gpuCount": 8},
                            "labels": {"gpu": "h100"},
                            "taints": [
                                {
                                    "key": "nvidia.com/gpu",
                                    "value": "present",
                                    "effect": "NoSchedule",
                                }
                            ],
                        },
                        {"name": "cpu", "architecture": "arm64", "memory": {"memoryMiB": 4096}},
                    ],
                },
            }
        },
    }


def admit_new(obj: dict[str, Any]) -> dict[str, Any]:
    return admit(COMPUTE_CONFIG, obj)


def causes(obj: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(Invalid) as exc:
        admit_new(obj)
    assert exc.value.code == 422
    return {c.field: c.message for c in exc.value.causes}


def at(obj: dict[str, Any], path: str) -> Any:
    cur: Any = obj
    for step in path.split("."):
        cur = cur[int(step)] if isinstance(cur, list) else cur[step]
    return cur


def setter(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    parent, _, last = path.rpartition(".")

    def apply(obj: dict[str, Any]) -> None:
        target = at(obj, parent)
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return apply


def deleter(path: str) -> Callable[[dict[str, Any]], None]:
    parent, _, last = path.rpartition(".")
    return lambda obj: at(obj, parent).pop(last)


def appender(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda obj: at(obj, path).append(copy.deepcopy(value))


S = "spec.paletteClusterConfig"
D = f"{S}.defaults"
C = f"{D}.controlPlanePool"

# (id, change, field reported, fragment of its message)
RULES: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    ("no control plane", deleter(C), CP, "Required value"),
    ("no nodeCount", deleter(f"{C}.nodeCount"), f"{CP}.nodeCount", "Required value"),
    ("nodeCount 2", setter(f"{C}.nodeCount", 2), f"{CP}.nodeCount", "supported values"),
    ("nodeCount 4", setter(f"{C}.nodeCount", 4), f"{CP}.nodeCount", "supported values"),
    (
        "single node not worker eligible",
        setter(f"{C}.nodeCount", 1),
        f"{CP}.workerNodeEligible",
        "must be true when nodeCount is 1",
    ),
    (
        "singleNodeCluster with 3 nodes",
        setter(f"{C}.singleNodeCluster", True),
        f"{CP}.singleNodeCluster",
        "must be false when nodeCount is 3",
    ),
    ("bad architecture", setter(f"{C}.architecture", "x86"), f"{CP}.architecture", "supported"),
    ("zero cpu", setter(f"{C}.cpu.cpuCount", 0), f"{CP}.cpu.cpuCount", "greater than or equal"),
    ("memory no unit", setter(f"{C}.memory.memory", "16"), f"{CP}.memory.memory", "no unit"),
    ("memory bad unit", setter(f"{C}.memory.memory", "16 GX"), f"{CP}.memory.memory", "unit"),
    ("memory garbage", setter(f"{C}.memory.memory", "lots"), f"{CP}.memory.memory", "a unit"),
    (
        "memory twice",
        setter(f"{C}.memory", {"memory": "16 GB", "memoryMiB": 16384}),
        f"{CP}.memory.memoryMiB",
        "not both",
    ),
    ("label key", setter(f"{C}.labels", {"bad key": "x"}), f"{CP}.labels", "name part"),
    ("label value", setter(f"{C}.labels", {"ok": "bad value!"}), f"{CP}.labels", "valid label"),
    (
        "annotation key",
        setter(f"{C}.annotations", {"a/b/c": "x"}),
        f"{CP}.annotations",
        "qualified name",
    ),
    (
        "taint key",
        setter(f"{C}.taints.0.key", "bad key"),
        f"{CP}.taints[0].key",
        "name part",
    ),
    (
        "taint value",
        setter(f"{C}.taints.0.value", "not a value!"),
        f"{CP}.taints[0].value",
        "valid label",
    ),
    (
        "taint effect",
        setter(f"{C}.taints.0.effect", "NoRun"),
        f"{CP}.taints[0].effect",
        '"NoSchedule", "PreferNoSchedule", "NoExecute"',
    ),
    (
        "taint twice",
        appender(
            f"{C}.taints",
            {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
        ),
        f"{CP}.taints[1]",
        "Duplicate value",
    ),
    (
        "worker pool name twice",
        appender(f"{D}.workerPools", {"name": "h100"}),
        f"{WP}[2].name",
        'Duplicate value: "h100"',
    ),
    (
        "worker pool name not a DNS label",
        setter(f"{D}.workerPools.0.name", "H100_pool"),
        f"{WP}[0].name",
        "RFC 1123 label",
    ),
    (
        "worker pool label",
        setter(f"{D}.workerPools.0.labels", {"-x": "y"}),
        f"{WP}[0].labels",
        "name part",
    ),
    (
        "worker pool taint effect",
        setter(f"{D}.workerPools.0.taints.0.effect", "Never"),
        f"{WP}[0].taints[0].effect",
        "supported values",
    ),
    (
        "worker pool memory",
        setter(f"{D}.workerPools.1.memory", {"memory": "4 parsecs"}),
        f"{WP}[1].memory.memory",
        "unknown unit",
    ),
    (
        "worker pool architecture",
        setter(f"{D}.workerPools.1.architecture", "riscv"),
        f"{WP}[1].architecture",
        "supported values",
    ),
    (
        "worker pool gpu family",
        setter(f"{D}.workerPools.0.gpu.family", "NVIDIA H100"),
        f"{WP}[0].gpu.family",
        "GPU family",
    ),
    (
        "ssh key not a key",
        setter(f"{D}.sshKeys.0", "hello"),
        f"{D}.sshKeys[0]",
        "<type> <base64 key>",
    ),
    (
        "ssh key type unknown",
        setter(f"{D}.sshKeys.0", "ssh-dss AAAAB3NzaC1kc3M="),
        f"{D}.sshKeys[0]",
        "unsupported key type 'ssh-dss'",
    ),
    (
        "ssh key not base64",
        setter(f"{D}.sshKeys.0", "ssh-ed25519 not*base64"),
        f"{D}.sshKeys[0]",
        "not valid base64",
    ),
    (
        "ssh key type mismatch",
        setter(f"{D}.sshKeys.0", "ssh-rsa " + ED25519.split()[1]),
        f"{D}.sshKeys[0]",
        "holds a 'ssh-ed25519' key, not 'ssh-rsa'",
    ),
    (
        "ssh key truncated",
        setter(f"{D}.sshKeys.0", "ssh-ed25519 " + ED25519.split()[1][:40]),
        f"{D}.sshKeys[0]",
        "truncated",
    ),
    (
        "ssh key short ed25519",
        setter(f"{D}.sshKeys.0", "ssh-ed25519 " + _blob(b"ssh-ed25519", bytes(31))),
        f"{D}.sshKeys[0]",
        "a ssh-ed25519 key has 32",
    ),
    (
        "ssh key wrong curve",
        setter(
            f"{D}.sshKeys.0",
            "ecdsa-sha2-nistp256 "
            + _blob(b"ecdsa-sha2-nistp256", b"nistp384", b"\x04" + bytes(64)),
        ),
        f"{D}.sshKeys[0]",
        "names curve",
    ),
    ("ssh rsa too short", setter(f"{D}.sshKeys.0", RSA_768), f"{D}.sshKeys[0]", "too short"),
    (
        "ssh private key",
        setter(f"{D}.sshKeys.0", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END"),
        f"{D}.sshKeys[0]",
        "private key",
    ),
    (
        "two ssh keys in one entry",
        setter(f"{D}.sshKeys.0", ED25519 + "\n" + RSA),
        f"{D}.sshKeys[0]",
        "single key",
    ),
    ("ssh key twice", appender(f"{D}.sshKeys", ED25519), f"{D}.sshKeys[2]", "Duplicate value"),
    ("vip", setter(f"{S}.edge.vip", "10.0.0.300"), f"{EDGE}.vip", "must be an IP address"),
    (
        "ntp server",
        setter(f"{S}.edge.ntpServers.0", "ntp server!"),
        f"{EDGE}.ntpServers[0]",
        "IP address or a host name",
    ),
    (
        "ntp numeric name",
        setter(f"{S}.edge.ntpServers.0", "300.1.1.1"),
        f"{EDGE}.ntpServers[0]",
        "IP address or a host name",
    ),
    (
        "ntp twice",
        appender(f"{S}.edge.ntpServers", "POOL.ntp.org"),
        f"{EDGE}.ntpServers[3]",
        "Duplicate value",
    ),
    (
        "overlay cidr does not parse",
        setter(f"{S}.edge.networkOverlayConfig.cidr", "100.64.0.0/33"),
        f"{EDGE}.networkOverlayConfig.cidr",
        "must be a CIDR",
    ),
    (
        "overlay cidr host bits",
        setter(f"{S}.edge.networkOverlayConfig.cidr", "100.64.192.1/23"),
        f"{EDGE}.networkOverlayConfig.cidr",
        "host bits set; the network is 100.64.192.0/23",
    ),
    (
        "overlay enabled without cidr",
        deleter(f"{S}.edge.networkOverlayConfig.cidr"),
        f"{EDGE}.networkOverlayConfig.cidr",
        "Required value",
    ),
    (
        "overlay type",
        setter(f"{S}.edge.networkOverlayConfig.overlayNetworkType", "GENEVE"),
        f"{EDGE}.networkOverlayConfig.overlayNetworkType",
        "supported values",
    ),
    (
        "pod cidr overlaps overlay",
        setter(f"{S}.edge.podCIDR", "100.64.0.0/16"),
        f"{EDGE}.podCIDR",
        "overlaps networkOverlayConfig.cidr 100.64.192.0/23",
    ),
    (
        "service cidr overlaps pod cidr",
        setter(f"{S}.edge.serviceCIDR", "192.168.128.0/24"),
        f"{EDGE}.serviceCIDR",
        "overlaps podCIDR 192.168.0.0/16",
    ),
    (
        "service cidr does not parse",
        setter(f"{S}.edge.serviceCIDR", "10.96.0.0"),
        f"{EDGE}.serviceCIDR",
        "no prefix length",
    ),
    ("unknown field", setter(f"{C}.replicas", 3), f"{CP}.replicas", "not declared in schema"),
]


def test_the_valid_object_is_admitted_and_defaulted() -> None:
    out = admit_new(valid())
    cp = out["spec"]["paletteClusterConfig"]["defaults"]["controlPlanePool"]
    assert cp["architecture"] == "AMD64"
    assert cp["singleNodeCluster"] is False
    assert cp["workerNodeEligible"] is False
    pools = out["spec"]["paletteClusterConfig"]["defaults"]["workerPools"]
    # A worker pool takes the control plane's architecture unless it names its own.
    assert [p["architecture"] for p in pools] == ["AMD64", "ARM64"]
    # Admission is idempotent: the stored object admits to itself.
    assert admit(COMPUTE_CONFIG, out, out) == out


def test_the_minimal_object_is_defaulted() -> None:
    obj = valid()
    obj["spec"] = {"paletteClusterConfig": {"defaults": {"controlPlanePool": {"nodeCount": 3}}}}
    out = admit_new(obj)
    defaults = out["spec"]["paletteClusterConfig"]["defaults"]
    assert defaults == {
        "sshKeys": [],
        "controlPlanePool": {
            "nodeCount": 3,
            "singleNodeCluster": False,
            "workerNodeEligible": False,
            "architecture": "AMD64",
        },
        "workerPools": [],
    }


def test_a_single_node_cluster() -> None:
    obj = valid()
    cp = obj["spec"]["paletteClusterConfig"]["defaults"]["controlPlanePool"]
    cp.update(nodeCount=1, workerNodeEligible=True)
    out = admit_new(obj)
    assert out["spec"]["paletteClusterConfig"]["defaults"]["controlPlanePool"]["singleNodeCluster"]
    cp["singleNodeCluster"] = False
    assert "must be true when nodeCount is 1" in causes(obj)[f"{CP}.singleNodeCluster"]


@pytest.mark.parametrize(
    ("change", "field", "fragment"), [r[1:] for r in RULES], ids=[r[0] for r in RULES]
)
def test_rule_refuses_with_field_path(
    change: Callable[[dict[str, Any]], None], field: str, fragment: str
) -> None:
    obj = valid()
    change(obj)
    found = causes(obj)
    assert field in found, found
    assert fragment in found[field], found[field]


def test_every_problem_is_reported_at_once() -> None:
    obj = valid()
    setter(f"{C}.nodeCount", 1)(obj)
    setter(f"{D}.sshKeys.0", "hello")(obj)
    setter(f"{S}.edge.podCIDR", "100.64.0.0/16")(obj)
    found = causes(obj)
    assert {f"{CP}.workerNodeEligible", f"{D}.sshKeys[0]", f"{EDGE}.podCIDR"} <= set(found)


def test_an_update_is_checked_too() -> None:
    stored = admit_new(valid())
    bad = copy.deepcopy(stored)
    bad["spec"]["paletteClusterConfig"]["defaults"]["sshKeys"] = ["ssh-rsa AAAA"]
    with pytest.raises(Invalid) as exc:
        admit(COMPUTE_CONFIG, bad, stored)
    assert exc.value.causes[0].field == f"{D}.sshKeys[0]"


def test_spectrocloud_manifests_are_accepted() -> None:
    obj = valid()
    obj["apiVersion"] = "spectrocloud.com/v1alpha1"
    assert admit_new(obj)["apiVersion"] == "axle.dev/v1alpha1"


@pytest.mark.parametrize("key", [ED25519, RSA, P256, P384, P521, SK_ED25519, SK_P256])
def test_every_supported_key_type_parses(key: str) -> None:
    assert ssh_public_key_type(key) == key.split()[0]
    assert ssh_public_key_type(key.split()[0] + " " + key.split()[1]) == key.split()[0]


def test_a_long_key_is_shortened_in_the_message() -> None:
    obj = valid()
    setter(f"{D}.sshKeys.0", "ssh-rsa " + ED25519.split()[1])(obj)
    message = causes(obj)[f"{D}.sshKeys[0]"]
    assert "..." in message and ED25519.split()[1] not in message


@pytest.mark.parametrize(
    ("text", "mib"),
    [
        ("16 GB", 15259),
        ("16GiB", 16384),
        ("16 Gi", 16384),
        ("512 MiB", 512),
        ("1.5 TB", 1430512),
        ("64 gb", 61036),
        ("1 KB", 1),
    ],
)
def test_memory_sizes(text: str, mib: int) -> None:
    assert parse_memory_mib(text) == mib


@pytest.mark.parametrize("text", ["16", "", "GB", "16 GX", "-1 GB", "0 MB"])
def test_memory_sizes_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_memory_mib(text)
