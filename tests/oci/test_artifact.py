"""The artifact format: reproducible bytes, Flux media types, and refusing what is not one."""

from __future__ import annotations

import copy
import gzip
import io
import json
import random
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

import axle.oci.artifact as artifact_mod
from axle.oci import (
    CONFIG_MEDIA_TYPE,
    CONTENT_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    DigestMismatch,
    InvalidArtifact,
    build_artifact,
    read_artifact,
)
from axle.oci.artifact import artifact_from_parts, canonical_json
from axle.oci.digests import sha256_digest
from tests.oci.conftest import sample_manifests

SOURCE = "axle://team-a/llm"
INPUT = "sha256:" + "ab" * 32


def build(manifests: list[dict[str, Any]] | None = None, **kw: Any) -> Any:
    args: dict[str, Any] = {"source": SOURCE, "revision": "llm@1", "input_digest": INPUT}
    args.update(kw)
    return build_artifact(sample_manifests() if manifests is None else manifests, **args)


def test_same_input_gives_identical_bytes_and_digest() -> None:
    a, b = build(), build()
    assert a.manifest_digest == b.manifest_digest
    assert a.manifest_bytes == b.manifest_bytes
    assert dict(a.blobs) == dict(b.blobs)


def test_dict_key_order_does_not_change_the_digest() -> None:
    objs = sample_manifests()
    reordered = [dict(reversed(list(o.items()))) for o in copy.deepcopy(objs)]
    reordered[1]["spec"] = dict(reversed(list(reordered[1]["spec"].items())))
    assert build(reordered).manifest_digest == build(objs).manifest_digest


@pytest.mark.integration
def test_digest_is_the_same_in_another_process() -> None:
    code = (
        "from axle.oci import build_artifact\n"
        "from tests.oci.conftest import sample_manifests\n"
        f"a = build_artifact(sample_manifests(), source={SOURCE!r}, revision='llm@1',"
        f" input_digest={INPUT!r})\n"
        "print(a.manifest_digest, a.layer_digest)\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        env={"PYTHONPATH": str(root), "PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    a = build()
    assert out == [a.manifest_digest, a.layer_digest]


def test_different_input_gives_a_different_digest() -> None:
    base = build()
    changed_content = build(sample_manifests(replicas=2))
    assert changed_content.manifest_digest != base.manifest_digest
    assert changed_content.layer_digest != base.layer_digest
    # Same objects, other revision or input: the layer is shared, the manifest is not.
    for other in (build(revision="llm@2"), build(input_digest="sha256:" + "cd" * 32)):
        assert other.manifest_digest != base.manifest_digest
        assert other.layer_digest == base.layer_digest
    assert build(source="axle://team-b/llm").manifest_digest != base.manifest_digest
    reversed_order = build(list(reversed(sample_manifests())))
    assert reversed_order.layer_digest != base.layer_digest


def test_manifest_is_a_flux_oci_artifact() -> None:
    a = build()
    manifest = json.loads(a.manifest_bytes)
    assert a.manifest_bytes == canonical_json(manifest)
    assert a.manifest_digest == sha256_digest(a.manifest_bytes)
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == MANIFEST_MEDIA_TYPE
    assert manifest["config"]["mediaType"] == CONFIG_MEDIA_TYPE
    assert a.blobs[manifest["config"]["digest"]] == b"{}"
    [layer] = manifest["layers"]
    assert layer["mediaType"] == CONTENT_MEDIA_TYPE
    assert layer["size"] == len(a.blobs[layer["digest"]])
    assert manifest["annotations"] == {
        "org.opencontainers.image.source": SOURCE,
        "org.opencontainers.image.revision": "llm@1",
        "org.opencontainers.image.created": "1970-01-01T00:00:00Z",
        "dev.axle.input-digest": INPUT,
    }
    assert set(a.blobs) == {a.config_digest, a.layer_digest}


def test_input_digest_is_optional() -> None:
    a = build(input_digest=None)
    assert "dev.axle.input-digest" not in a.annotations
    assert a.annotations["org.opencontainers.image.created"] == "1970-01-01T00:00:00Z"


def test_layer_is_a_reproducible_tar_gz_of_one_yaml_file_per_object() -> None:
    layer = build().blobs[build().layer_digest]
    # gzip header: magic, deflate, no flags (so no file name), mtime 0.
    assert layer[:4] == b"\x1f\x8b\x08\x00"
    assert layer[4:8] == b"\x00\x00\x00\x00"
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == [
            "0000-namespace-team-a.yaml",
            "0001-deployment-team-a-vllm.yaml",
            "0002-service-team-a-vllm.yaml",
        ]
        for m in members:
            assert (m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) == (0, 0, 0, "", "", 0o644)
            assert m.isreg()
        body = tar.extractfile(members[1])
        assert body is not None
        text = body.read().decode()
    assert text.startswith("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n")


def test_file_names_are_sanitized_and_keep_order_beyond_10000() -> None:
    objs = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}", "namespace": "N_s"}}
        for i in range(10001)
    ]
    a = build(objs)
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(a.blobs[a.layer_digest]))) as tar:
        names = tar.getnames()
    assert names[0] == "00000-configmap-n-s-c0.yaml"
    assert names == sorted(names)
    assert a.manifests() == objs


def test_round_trip_preserves_objects_and_order() -> None:
    objs = sample_manifests()
    objs.append(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "tricky"},
            "data": {"yes": "yes", "octal": "0777", "multi": "a\nb\n", "empty": "", "uni": "ü"},
        }
    )
    a = build(objs)
    assert read_artifact(a.manifest_bytes, a.blobs) == objs
    assert a.manifests() == objs


def test_artifact_from_parts_verifies_everything() -> None:
    a = build()
    again = artifact_from_parts(a.manifest_bytes, a.blobs, manifest_digest=a.manifest_digest)
    assert again.manifests() == sample_manifests()
    tampered = dict(a.blobs)
    layer = bytearray(a.blobs[a.layer_digest])
    layer[len(layer) // 2] ^= 0xFF
    tampered[a.layer_digest] = bytes(layer)
    with pytest.raises(DigestMismatch) as err:
        artifact_from_parts(a.manifest_bytes, tampered, manifest_digest=a.manifest_digest)
    assert err.value.expected == a.layer_digest
    assert err.value.actual == sha256_digest(tampered[a.layer_digest])
    assert a.layer_digest in str(err.value) and err.value.actual in str(err.value)
    wrong = "sha256:" + "0" * 64
    with pytest.raises(DigestMismatch, match="manifest digest mismatch: expected sha256:0000"):
        artifact_from_parts(a.manifest_bytes, a.blobs, manifest_digest=wrong)
    missing = {a.layer_digest: a.blobs[a.layer_digest]}
    with pytest.raises(InvalidArtifact, match=r"config blob .* missing"):
        artifact_from_parts(a.manifest_bytes, missing, manifest_digest=a.manifest_digest)


def test_read_artifact_rejects_a_tampered_layer() -> None:
    a = build()
    blobs = {a.layer_digest: b"not the layer"}
    with pytest.raises(DigestMismatch, match="layer digest mismatch"):
        read_artifact(a.manifest_bytes, blobs)


def _manifest_with(**changes: Any) -> bytes:
    manifest = json.loads(build().manifest_bytes)
    for path, value in changes.items():
        target = manifest
        *parents, last = path.split("__")
        for p in parents:
            target = target[int(p)] if isinstance(target, list) else target[p]
        target[last] = value
    return canonical_json(manifest)


@pytest.mark.parametrize(
    ("manifest_bytes", "message"),
    [
        (b"not json", "not JSON"),
        (b"[]", "schemaVersion 2"),
        (_manifest_with(mediaType="application/vnd.oci.image.index.v1+json"), "media type"),
        (_manifest_with(config__mediaType="application/vnd.oci.image.config.v1+json"), "config"),
        (_manifest_with(layers__0__mediaType="application/vnd.oci.image.layer.v1.tar"), "layer"),
        (_manifest_with(layers=[]), "exactly one content layer"),
    ],
)
def test_read_artifact_rejects_non_flux_manifests(manifest_bytes: bytes, message: str) -> None:
    with pytest.raises(InvalidArtifact, match=message):
        read_artifact(manifest_bytes, build().blobs)


def _artifact_with_layer(files: list[tuple[str, bytes]]) -> tuple[bytes, dict[str, bytes]]:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    layer = gzip.compress(raw.getvalue())
    manifest = json.loads(build().manifest_bytes)
    manifest["layers"][0].update(digest=sha256_digest(layer), size=len(layer))
    return canonical_json(manifest), {sha256_digest(layer): layer}


def test_reads_artifacts_made_by_flux_push() -> None:
    # `flux push artifact` packs a directory: nested paths, multi-document files, non-YAML files.
    manifest_bytes, blobs = _artifact_with_layer(
        [
            ("./apps/README.md", b"# not applied\n"),
            ("./apps/all.yml", b"apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n"),
            ("./apps/x.yaml", b"---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n"),
        ]
    )
    names = [o["metadata"]["name"] for o in read_artifact(manifest_bytes, blobs)]
    assert names == ["a", "b"]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([("../evil.yaml", b"a: 1\n")], "unsafe path"),
        ([("/etc/evil.yaml", b"a: 1\n")], "unsafe path"),
        ([("x.yaml", b"- 1\n- 2\n")], "is a list, not an object"),
        ([("x.yaml", b"a: [1\n")], "not valid YAML"),
    ],
)
def test_read_artifact_rejects_bad_layers(files: list[tuple[str, bytes]], message: str) -> None:
    manifest_bytes, blobs = _artifact_with_layer(files)
    with pytest.raises(InvalidArtifact, match=message):
        read_artifact(manifest_bytes, blobs)


def test_read_artifact_rejects_a_layer_that_is_not_gzip() -> None:
    layer = b"plain bytes"
    manifest = json.loads(build().manifest_bytes)
    manifest["layers"][0].update(digest=sha256_digest(layer), size=len(layer))
    with pytest.raises(InvalidArtifact, match=r"not a valid tar\.gz"):
        read_artifact(canonical_json(manifest), {sha256_digest(layer): layer})


def test_read_artifact_refuses_a_decompression_bomb(monkeypatch: pytest.MonkeyPatch) -> None:
    a = build()
    monkeypatch.setattr(artifact_mod, "MAX_UNPACKED_BYTES", 1024)
    with pytest.raises(InvalidArtifact, match="more than 1024 bytes"):
        read_artifact(a.manifest_bytes, a.blobs)


@pytest.mark.parametrize(
    ("objs", "kw", "message"),
    [
        ([{"kind": "Namespace", "metadata": {"name": "a"}}], {}, "manifest 0 lacks apiVersion"),
        ([{"apiVersion": "v1", "kind": "Namespace"}], {}, r"manifest 0 \(Namespace\) lacks"),
        ([{"apiVersion": "v1", "kind": "X", "metadata": {"name": ""}}], {}, "metadata.name"),
        (["nope"], {}, "manifest 0 is not an object"),
        (
            [{"apiVersion": "v1", "kind": "X", "metadata": {"name": "a"}, "v": object()}],
            {},
            "not plain data",
        ),
        (None, {"source": ""}, "source is empty"),
        (None, {"revision": ""}, "revision is empty"),
        (None, {"input_digest": "abc"}, "input digest"),
    ],
)
def test_build_rejects_bad_input(objs: Any, kw: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArtifact, match=message):
        build(objs, **kw)


# Digests of artifacts built before `_pack` wrote tar and gzip itself (tarfile + GzipFile,
# Python 3.11). They must never change: a new digest for the same render makes every spoke
# re-apply every deployment after an upgrade.
GOLDEN = {
    "sample": (
        "sha256:4756309b0cb3b6e0a4f311634a443e5c5d91988791b4812142a60e4baf05e835",
        "sha256:b96ca17af9a9ac41ef1bcc037343d2a769f6c608e7ac4df0fb87d6c228f207ed",
    ),
    "long-names": (
        "sha256:c5534802d4ec26530ec9e836282798d8301fce0623fc3385459109fdb6e81e02",
        "sha256:7a5f0fcf9da99a586c2c54cd9affd5491bb2874d3c1d14abbac5aae6cf603624",
    ),
}


def test_digests_of_unchanged_input_never_change() -> None:
    a = build()
    assert (a.manifest_digest, a.layer_digest) == GOLDEN["sample"]
    # A file name past the 100 bytes of a ustar header (a PAX header in the tar), and a
    # non-ASCII object.
    objs = sample_manifests(3)
    objs[2]["metadata"]["name"] = "s" * 120
    objs.append(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "café", "namespace": "team-a"},
            "data": {"k": "vé" * 300},
        }
    )
    b = build_artifact(objs, source=SOURCE, revision="llm@2")
    assert (b.manifest_digest, b.layer_digest) == GOLDEN["long-names"]


def _reference_pack(files: list[tuple[str, bytes]]) -> bytes:
    """How layers were packed before: `tarfile` (PAX; the builder keeps that path for names a
    plain ustar header cannot hold, `_tar_reference`) inside `GzipFile`."""
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9, mtime=0) as gz:
        gz.write(artifact_mod._tar_reference(files))
    return out.getvalue()


def _random_files(rng: random.Random) -> list[tuple[str, bytes]]:
    files = []
    for _ in range(rng.randint(0, 5)):
        length = rng.choice([1, 37, 99, 100, 101, 180, rng.randint(1, 120)])
        name = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789.-") for _ in range(length))
        size = rng.choice([0, 1, 511, 512, 513, 10 * 512, 20 * 512, rng.randint(0, 40000)])
        if rng.random() < 0.5:
            data = rng.randbytes(size)
        else:
            data = (b"apiVersion: v1\nkind: ConfigMap\n" * (size // 30 + 1))[:size]
        files.append((name, data))
    return files


def test_layers_are_the_bytes_tarfile_and_gzip_wrote() -> None:
    rng = random.Random(6)
    cases = [[], [("a.yaml", b"")], [("x" * 100, b"y" * 512)], [("x" * 101, b"y")]]
    cases += [_random_files(rng) for _ in range(400)]
    for files in cases:
        assert artifact_mod._pack(files) == _reference_pack(files), [(n, len(d)) for n, d in files]
    # And for real objects, one file per manifest.
    files = artifact_mod._files(sample_manifests(7))
    assert artifact_mod._pack(files) == _reference_pack(files)
