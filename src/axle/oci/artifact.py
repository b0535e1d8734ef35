"""The Flux-compatible artifact: rendered manifests as one reproducible OCI image manifest.

What Flux's source-controller accepts from an `OCIRepository` (and what `flux push artifact`
writes): an OCI image manifest whose config blob has media type
`application/vnd.cncf.flux.config.v1+json` (content `{}`) and whose single layer is a tar.gz of
YAML files, media type `application/vnd.cncf.flux.content.v1.tar+gzip`. Flux's
kustomize-controller then applies every YAML file in the tree, so a real spoke running Flux
consumes exactly what the axle agent consumes.

Layout of the layer (decided here, read back by `read_artifact`):

- one file per object at the root of the tar, in the order the caller gave them (render orders
  them by deployment priority), named `NNNN-<kind>[-<namespace>]-<name>.yaml`: the zero-padded
  index keeps the caller's order when a tool sorts by name, the rest tells a human what is
  inside (`tar tzf`). Names are lower-cased and reduced to `[a-z0-9.-]`.
- each file is YAML with keys sorted, so the bytes depend on the content, not on the insertion
  order of the dicts the caller built.

Reproducibility: the same manifests, source, revision and input digest give byte-identical
blobs and so the same manifest digest, in any process. Tar entries carry mtime 0, uid/gid 0,
empty user/group names and mode 0644; gzip gets header mtime 0 and no file name; the manifest
JSON is canonical (sorted keys, no spaces). The `org.opencontainers.image.created` annotation
is fixed at the Unix epoch: any clock reading would change the digest of an unchanged render,
and a time computed from a hash would be a date that means nothing. What identifies the input
is recorded instead: the caller's input digest (the digest of what was rendered) goes in the
`dev.axle.input-digest` annotation, so two renders of different inputs that happen to produce
the same objects share the layer blob but not the manifest.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import struct
import tarfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from axle.oci import yamlfast
from axle.oci.digests import DIGEST_RE, check_digest, sha256_digest, verify
from axle.oci.errors import InvalidArtifact

MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_MEDIA_TYPE = "application/vnd.cncf.flux.config.v1+json"
CONTENT_MEDIA_TYPE = "application/vnd.cncf.flux.content.v1.tar+gzip"

ANNOTATION_SOURCE = "org.opencontainers.image.source"
ANNOTATION_REVISION = "org.opencontainers.image.revision"
ANNOTATION_CREATED = "org.opencontainers.image.created"
ANNOTATION_INPUT_DIGEST = "dev.axle.input-digest"

# The Unix epoch, as RFC 3339: see the module docstring for why `created` is not the clock.
CREATED = "1970-01-01T00:00:00Z"

# Flux's config blob is an empty JSON object.
CONFIG_BYTES = b"{}"
CONFIG_DIGEST = sha256_digest(CONFIG_BYTES)

# A pulled layer is untrusted input: refuse to inflate more than this (a gzip bomb would
# otherwise exhaust the agent's memory). Far above any rendered workload.
MAX_UNPACKED_BYTES = 256 * 1024 * 1024

_NAME_UNSAFE = re.compile(r"[^a-z0-9.-]+")
_INPUT_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")

try:  # libyaml is several times faster; both emit the same YAML for the JSON-shaped objects here.
    _Dumper: Any = yaml.CSafeDumper
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Dumper = yaml.SafeDumper
    _Loader = yaml.SafeLoader


@dataclass(frozen=True)
class Artifact:
    """An artifact ready to push, or one pulled and verified.

    `blobs` maps digest to bytes for the config and the layer; the manifest itself is
    `manifest_bytes`, addressed by `manifest_digest`.
    """

    manifest_bytes: bytes
    manifest_digest: str
    blobs: Mapping[str, bytes]
    manifest: Mapping[str, Any] = field(repr=False)

    @property
    def config_digest(self) -> str:
        """Digest of the Flux config blob."""
        return str(self.manifest["config"]["digest"])

    @property
    def layer_digest(self) -> str:
        """Digest of the tar.gz content layer."""
        return str(self.manifest["layers"][0]["digest"])

    @property
    def annotations(self) -> dict[str, str]:
        """The manifest annotations (source, revision, created, input digest)."""
        return dict(self.manifest.get("annotations") or {})

    def manifests(self) -> list[dict[str, Any]]:
        """The Kubernetes objects inside, in the order they were packed."""
        return read_artifact(self.manifest_bytes, self.blobs)


def pyyaml_text(obj: Mapping[str, Any]) -> str:
    """A manifest as PyYAML writes it for an artifact: keys sorted, block style, no line
    wrapping. `yamlfast` must produce exactly these bytes or decline."""
    return str(
        yaml.dump(
            dict(obj),
            Dumper=_Dumper,
            sort_keys=True,
            default_flow_style=False,
            allow_unicode=True,
            width=1 << 30,
        )
    )


def build_artifact(
    manifests: Sequence[Mapping[str, Any]],
    *,
    source: str,
    revision: str,
    input_digest: str | None = None,
) -> Artifact:
    """Package `manifests` (Kubernetes objects, in apply order) as a Flux artifact.

    `source` says where the content comes from (e.g. `axle://<ns>/<workload>`), `revision`
    which revision of it (e.g. `<profile>@<revision>`); both become the standard OCI
    annotations Flux shows. `input_digest`, if given, identifies the render input. The result
    is a pure function of the arguments.
    """
    if not source:
        raise InvalidArtifact("cannot build artifact: source is empty")
    if not revision:
        raise InvalidArtifact("cannot build artifact: revision is empty")
    if input_digest is not None and not _INPUT_DIGEST_RE.match(input_digest):
        raise InvalidArtifact(
            f"cannot build artifact: input digest {input_digest!r} is not of the form"
            " 'algorithm:hex'"
        )
    layer = _pack(_files(manifests))
    layer_digest = sha256_digest(layer)
    config_digest = CONFIG_DIGEST
    annotations = {
        ANNOTATION_CREATED: CREATED,
        ANNOTATION_REVISION: revision,
        ANNOTATION_SOURCE: source,
    }
    if input_digest is not None:
        annotations[ANNOTATION_INPUT_DIGEST] = input_digest
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {
            "mediaType": CONFIG_MEDIA_TYPE,
            "digest": config_digest,
            "size": len(CONFIG_BYTES),
        },
        "layers": [{"mediaType": CONTENT_MEDIA_TYPE, "digest": layer_digest, "size": len(layer)}],
        "annotations": annotations,
    }
    manifest_bytes = canonical_json(manifest)
    return Artifact(
        manifest_bytes=manifest_bytes,
        manifest_digest=sha256_digest(manifest_bytes),
        blobs={config_digest: CONFIG_BYTES, layer_digest: layer},
        manifest=manifest,
    )


def artifact_from_parts(
    manifest_bytes: bytes, blobs: Mapping[str, bytes], *, manifest_digest: str
) -> Artifact:
    """Assemble a pulled artifact, verifying the manifest digest and every blob digest.

    Raises `DigestMismatch` when any content does not hash to its digest and `InvalidArtifact`
    when the manifest is not a Flux artifact or a blob it names is missing.
    """
    check_digest(manifest_digest, what="manifest digest")
    verify(manifest_bytes, manifest_digest, what="manifest")
    manifest = parse_manifest(manifest_bytes)
    kept: dict[str, bytes] = {}
    for desc, what in ((manifest["config"], "config blob"), (manifest["layers"][0], "layer")):
        digest = desc["digest"]
        if digest not in blobs:
            raise InvalidArtifact(
                f"artifact {manifest_digest} is incomplete: {what} {digest} missing"
            )
        data = verify(blobs[digest], digest, what=what)
        if len(data) != desc["size"]:
            raise InvalidArtifact(
                f"artifact {manifest_digest}: {what} {digest} is {len(data)} bytes,"
                f" the manifest says {desc['size']}"
            )
        kept[digest] = data
    return Artifact(
        manifest_bytes=manifest_bytes,
        manifest_digest=manifest_digest,
        blobs=kept,
        manifest=manifest,
    )


def parse_manifest(manifest_bytes: bytes) -> dict[str, Any]:
    """Parse and check an image manifest: OCI media type, Flux config, one Flux content layer."""
    try:
        manifest = json.loads(manifest_bytes)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArtifact(f"artifact manifest is not JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("schemaVersion") != 2:
        raise InvalidArtifact("artifact manifest is not an OCI image manifest (schemaVersion 2)")
    media_type = manifest.get("mediaType", MANIFEST_MEDIA_TYPE)
    if media_type != MANIFEST_MEDIA_TYPE:
        raise InvalidArtifact(
            f"artifact manifest has media type {media_type!r}, expected {MANIFEST_MEDIA_TYPE!r}"
        )
    config: Any = manifest.get("config")
    if not _is_descriptor(config) or config["mediaType"] != CONFIG_MEDIA_TYPE:
        got = config.get("mediaType") if isinstance(config, dict) else None
        raise InvalidArtifact(
            f"not a Flux artifact: config media type is {got!r}, expected {CONFIG_MEDIA_TYPE!r}"
        )
    layers = manifest.get("layers")
    if not isinstance(layers, list) or len(layers) != 1 or not _is_descriptor(layers[0]):
        raise InvalidArtifact("not a Flux artifact: expected exactly one content layer")
    if layers[0]["mediaType"] != CONTENT_MEDIA_TYPE:
        raise InvalidArtifact(
            f"not a Flux artifact: layer media type is {layers[0]['mediaType']!r},"
            f" expected {CONTENT_MEDIA_TYPE!r}"
        )
    return manifest


def read_artifact(manifest_bytes: bytes, blobs: Mapping[str, bytes]) -> list[dict[str, Any]]:
    """The Kubernetes objects of an artifact, in packing order.

    Checks the media types, that the layer is present and hashes to its digest, and that every
    YAML document is an object. Any `.yaml`/`.yml` regular file in the tar is read (as Flux
    does), so artifacts pushed by `flux push artifact` read too.
    """
    manifest = parse_manifest(manifest_bytes)
    layer_digest = manifest["layers"][0]["digest"]
    if layer_digest not in blobs:
        raise InvalidArtifact(f"artifact layer {layer_digest} missing")
    layer = verify(blobs[layer_digest], layer_digest, what="layer")
    objects: list[dict[str, Any]] = []
    for name, data in _unpack(layer):
        try:
            docs = list(yaml.load_all(data, Loader=_Loader))
        except yaml.YAMLError as exc:
            raise InvalidArtifact(f"artifact file {name} is not valid YAML: {exc}") from None
        for i, doc in enumerate(docs):
            if doc is None:
                continue
            if not isinstance(doc, dict):
                raise InvalidArtifact(
                    f"artifact file {name} document {i} is a {type(doc).__name__}, not an object"
                )
            objects.append(doc)
    return objects


def canonical_json(value: Any) -> bytes:
    """JSON with sorted keys and no whitespace: one byte string per value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _is_descriptor(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("mediaType"), str)
        and isinstance(value.get("digest"), str)
        and isinstance(value.get("size"), int)
        and bool(DIGEST_RE.match(value["digest"]))
    )


def _files(manifests: Sequence[Mapping[str, Any]]) -> list[tuple[str, bytes]]:
    """(file name, YAML bytes) per object, named as the module docstring says."""
    width = max(4, len(str(len(manifests) - 1)))
    files: list[tuple[str, bytes]] = []
    for i, obj in enumerate(manifests):
        if not isinstance(obj, Mapping):
            raise InvalidArtifact(f"cannot build artifact: manifest {i} is not an object")
        kind = obj.get("kind")
        meta = obj.get("metadata")
        if not isinstance(meta, Mapping):
            meta = {}
        name = meta.get("name")
        if not isinstance(obj.get("apiVersion"), str) or not isinstance(kind, str):
            raise InvalidArtifact(f"cannot build artifact: manifest {i} lacks apiVersion or kind")
        if not isinstance(name, str) or not name:
            raise InvalidArtifact(
                f"cannot build artifact: manifest {i} ({kind}) lacks metadata.name"
            )
        parts = [kind]
        namespace = meta.get("namespace")
        if isinstance(namespace, str) and namespace:
            parts.append(namespace)
        parts.append(name)
        stem = "-".join(_NAME_UNSAFE.sub("-", p.lower()).strip("-") or "x" for p in parts)
        try:
            # The same bytes PyYAML writes, several times faster, for the usual object;
            # PyYAML itself for anything the fast writer does not vouch for.
            text = yamlfast.dump(obj)
            if text is None:
                text = pyyaml_text(obj)
        except yaml.YAMLError as exc:
            raise InvalidArtifact(
                f"cannot build artifact: manifest {i} ({kind}/{name}) is not plain data: {exc}"
            ) from None
        files.append((f"{i:0{width}d}-{stem}.yaml", text.encode()))
    return files


def _pack(files: Sequence[tuple[str, bytes]]) -> bytes:
    """A reproducible tar.gz of `files`: fixed metadata, gzip header without time or name.

    The bytes are those `tarfile` (PAX format) inside `gzip.GzipFile(compresslevel=9,
    mtime=0, filename="")` write, built directly: the hub packs one layer per deployment,
    and `tarfile`'s per-member machinery (a TarInfo, its header dict, a file object per
    member) and GzipFile's stream wrappers cost more than the compression. A name `tarfile`
    would give a PAX extended header (longer than 100 bytes) makes the whole layer go
    through `tarfile` itself. The digest of an unchanged render must never change (every
    spoke would re-apply it), so `tests/oci/test_artifact.py` holds golden digests and
    checks these bytes against the `tarfile`/`GzipFile` reference for many inputs."""
    if not all(len(name) <= _TAR_NAME and name.isascii() for name, _ in files):
        return _gzip(_tar_reference(files))
    parts: list[bytes] = []
    offset = 0
    for name, data in files:
        parts.append(_ustar_header(name.encode("ascii"), len(data)))
        parts.append(data)
        pad = -len(data) % _BLOCK
        if pad:
            parts.append(b"\0" * pad)
        offset += _BLOCK + len(data) + pad
    # The end-of-archive marker (two zero blocks), then zeros up to a whole tar record.
    offset += 2 * _BLOCK
    parts.append(b"\0" * (2 * _BLOCK + (-offset % _RECORD)))
    return _gzip(b"".join(parts))


# tar's block and record sizes, and the longest name a plain ustar header holds.
_BLOCK = 512
_RECORD = 20 * _BLOCK
_TAR_NAME = 100
# The fixed parts of every member's ustar header, as `tarfile` writes them for the metadata
# `_tar_reference` sets: mode 0644, uid/gid 0, mtime 0, a regular file, no link name,
# "ustar\x0000" magic, empty user/group names, no device numbers, no prefix.
_HDR_IDS = b"0000644\0" + b"0000000\0" * 2  # mode, uid, gid
_HDR_MTIME = b"00000000000\0"
_HDR_TAIL = b"0" + b"\0" * 100 + b"ustar\x0000" + b"\0" * (32 + 32 + 8 + 8 + 155 + 12)
# The checksum counts its own 8-byte field as spaces.
_HDR_FIXED_SUM = sum(_HDR_IDS) + sum(_HDR_MTIME) + sum(_HDR_TAIL) + 8 * 32
# gzip's header as GzipFile writes it for filename="" and mtime=0: no flags, no time, XFL 2
# (maximum compression), OS 255 (unknown).
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"


def _ustar_header(name: bytes, size: int) -> bytes:
    size_field = b"%011o\0" % size
    chksum = _HDR_FIXED_SUM + sum(name) + sum(size_field)
    return b"".join(
        (
            name,
            b"\0" * (_TAR_NAME - len(name)),
            _HDR_IDS,
            size_field,
            _HDR_MTIME,
            b"%06o\0 " % chksum,
            _HDR_TAIL,
        )
    )


def _tar_reference(files: Sequence[tuple[str, bytes]]) -> bytes:
    """The tar `tarfile` writes: the reference `_pack` matches, and what it uses for names a
    plain ustar header cannot hold."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.type = tarfile.REGTYPE
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def _gzip(raw: bytes) -> bytes:
    """`raw` gzipped as GzipFile(filename="", mtime=0, compresslevel=9) does: one raw deflate
    stream (zlib's defaults: window 15, memory level 8) between the header and the CRC-32 and
    length trailer."""
    trailer = struct.pack("<LL", zlib.crc32(raw), len(raw) & 0xFFFFFFFF)
    return _GZIP_HEADER + zlib.compress(raw, 9, -zlib.MAX_WBITS) + trailer


def _unpack(layer: bytes) -> list[tuple[str, bytes]]:
    """(path, bytes) of the YAML regular files in a layer, in tar order, safely."""
    try:
        raw = _gunzip(layer)
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
            out: list[tuple[str, bytes]] = []
            for member in tar:
                name = member.name
                if name.startswith("/") or ".." in name.split("/"):
                    raise InvalidArtifact(f"artifact layer holds an unsafe path {name!r}")
                if not member.isreg() or not name.endswith((".yaml", ".yml")):
                    continue
                fh = tar.extractfile(member)
                assert fh is not None  # regular files always have content
                out.append((name, fh.read()))
            return out
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise InvalidArtifact(f"artifact layer is not a valid tar.gz: {exc}") from None


def _gunzip(data: bytes) -> bytes:
    """Decompress, refusing more than `MAX_UNPACKED_BYTES`."""
    with gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb") as gz:
        raw = gz.read(MAX_UNPACKED_BYTES + 1)
    if len(raw) > MAX_UNPACKED_BYTES:
        raise InvalidArtifact(
            f"artifact layer unpacks to more than {MAX_UNPACKED_BYTES} bytes; refusing it"
        )
    return raw
