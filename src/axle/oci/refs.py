"""Artifact URLs: one string names an artifact in a registry or in a layout directory.

    oci://HOST[:PORT]/REPO[:TAG][@sha256:HEX]     a repository in an OCI-distribution registry,
                                                 the URL form of Flux's `OCIRepository.spec.url`
    file:///ABS/PATH[:TAG][@sha256:HEX]          an OCI image layout directory (absolute path)
    oci-layout://PATH[:TAG][@sha256:HEX]         the same; PATH may be relative to the working
                                                 directory (`oci-layout:///abs` is absolute)

The tag and digest are parsed from the last path segment only, as registries do, so a port
(`host:5000`) or a colon in a parent directory is never taken for a tag. A layout directory
whose own name contains `:` or `@` cannot be named this way. `file://` URLs are
percent-decoded; the host part must be empty or `localhost`.

Repository names follow the distribution grammar (lowercase path components separated by
`.`, `_`, `__` or dashes); tags `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`; digests sha256.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from axle.oci.digests import check_digest
from axle.oci.errors import InvalidReference

TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_REPO_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
REPOSITORY_RE = re.compile(rf"^{_REPO_COMPONENT}(?:/{_REPO_COMPONENT})*$")
_HOST_RE = re.compile(
    r"^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::\d{1,5})?$"
)


@dataclass(frozen=True)
class RegistryRef:
    """A repository in a registry, with an optional tag and digest."""

    host: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        return _with_ref(f"oci://{self.host}/{self.repository}", self.tag, self.digest)


@dataclass(frozen=True)
class LayoutRef:
    """An OCI image layout directory, with an optional tag and digest."""

    path: Path
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        return _with_ref(f"file://{self.path}", self.tag, self.digest)


def parse_ref(url: str) -> RegistryRef | LayoutRef:
    """Parse an artifact URL (see the module docstring); `InvalidReference` if it does not fit."""
    if not isinstance(url, str) or "://" not in url:
        raise InvalidReference(
            f"invalid artifact URL {url!r}: expected oci://HOST/REPO, file:///PATH or"
            " oci-layout://PATH"
        )
    scheme, rest = url.split("://", 1)
    scheme = scheme.lower()
    if scheme == "oci":
        host, sep, path = rest.partition("/")
        if not sep or not _HOST_RE.match(host):
            raise InvalidReference(
                f"invalid artifact URL {url!r}: expected oci://HOST[:PORT]/REPOSITORY"
            )
        repository, tag, digest = _split_ref(path, url)
        if not REPOSITORY_RE.match(repository):
            raise InvalidReference(
                f"invalid artifact URL {url!r}: repository {repository!r} must be lowercase"
                " letters, digits and . _ - separated by /"
            )
        return RegistryRef(host=host, repository=repository, tag=tag, digest=digest)
    if scheme == "file":
        host, sep, path = rest.partition("/")
        if host not in ("", "localhost") or not sep:
            raise InvalidReference(
                f"invalid artifact URL {url!r}: expected file:///ABSOLUTE/PATH (three slashes)"
            )
        location, tag, digest = _split_ref("/" + path, url)
        return LayoutRef(path=Path(unquote(location)), tag=tag, digest=digest)
    if scheme == "oci-layout":
        if not rest:
            raise InvalidReference(f"invalid artifact URL {url!r}: no layout path")
        location, tag, digest = _split_ref(rest, url)
        return LayoutRef(path=Path(location).absolute(), tag=tag, digest=digest)
    raise InvalidReference(
        f"invalid artifact URL {url!r}: scheme {scheme!r} is not oci, file or oci-layout"
    )


def check_tag(tag: str) -> str:
    """Return `tag` if it is a valid OCI tag, else raise `InvalidReference`."""
    if not isinstance(tag, str) or not TAG_RE.match(tag):
        raise InvalidReference(
            f"invalid tag {tag!r}: use up to 128 letters, digits, '_', '.' or '-',"
            " not starting with '.' or '-'"
        )
    return tag


def _split_ref(path: str, url: str) -> tuple[str, str | None, str | None]:
    """Split `path[:tag][@digest]`, looking for the tag in the last segment only."""
    digest: str | None = None
    if "@" in path:
        path, digest = path.rsplit("@", 1)
        check_digest(digest, what=f"digest in {url!r}")
    head, slash, last = path.rpartition("/")
    tag: str | None = None
    if ":" in last:
        last, tag = last.rsplit(":", 1)
        check_tag(tag)
    location = f"{head}{slash}{last}".rstrip("/") or "/"
    if not last and not head:
        raise InvalidReference(f"invalid artifact URL {url!r}: empty path")
    return location, tag, digest


def _with_ref(base: str, tag: str | None, digest: str | None) -> str:
    return base + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
