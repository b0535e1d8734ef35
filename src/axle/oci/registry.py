"""Push to and pull from any OCI-distribution registry, over httpx.

Speaks the distribution API directly rather than through the `oras` Python package, which was
considered first: oras-py is synchronous (requests), uploads from file paths, re-serializes
the manifest dict on upload (so the registry would store other bytes, under another digest,
than the artifact axle built and recorded) and returns pulled manifests already parsed (so
their digest cannot be checked against the bytes received). Content addressing needs the exact
bytes both ways; the protocol subset needed is small:

    HEAD /v2/<repo>/blobs/<digest>                   skip blobs the registry already has
    POST /v2/<repo>/blobs/uploads/ ; PUT <location>?digest=<digest>   monolithic upload
    HEAD /v2/<repo>/manifests/<tag>                  skip a tag already at this digest
    PUT  /v2/<repo>/manifests/<tag>                  the manifest bytes, as built
    GET  /v2/<repo>/manifests/<ref>, /blobs/<digest> pull (redirects to storage followed)

Authentication answers the registry's `WWW-Authenticate` challenge: `Basic` with a username and
password, or `Bearer` through the token endpoint the challenge names (with the username and
password, or anonymously); a `token` credential is sent as a bearer token up front.

Plain HTTP or HTTPS: `insecure=True` forces HTTP, `False` HTTPS; by default loopback hosts
(localhost, 127.0.0.0/8, ::1) use HTTP and everything else HTTPS, as Docker and ORAS do.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from axle.oci.artifact import MANIFEST_MEDIA_TYPE, Artifact, artifact_from_parts, parse_manifest
from axle.oci.digests import check_digest, sha256_digest, verify
from axle.oci.errors import (
    ArtifactNotFound,
    OciError,
    RegistryUnauthorized,
    RegistryUnavailable,
)
from axle.oci.layout import PushResult

DEFAULT_TIMEOUT = 30.0
_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))')


@dataclass(frozen=True)
class Credentials:
    """Registry credentials: a username and password (or access token as password), or a
    bearer token sent as is."""

    username: str | None = None
    password: str | None = None
    token: str | None = None

    def __repr__(self) -> str:  # never print secrets in logs or tracebacks
        return f"Credentials(username={self.username!r}, password=***, token=***)"

    @classmethod
    def from_docker_config(cls, config: bytes | str | Mapping[str, Any], host: str) -> Credentials:
        """The credentials for `host` in a Docker config (`.dockerconfigjson` of a
        `kubernetes.io/dockerconfigjson` Secret, the kind Flux's `OCIRepository.spec.secretRef`
        names). Entries keyed `host` or `https://host/...` match; `auth` (base64 user:password),
        `username`/`password` and `registrytoken` are understood. No entry: anonymous."""
        try:
            data = json.loads(config) if isinstance(config, bytes | str) else config
            auths = data.get("auths") or {}
        except (ValueError, AttributeError):
            raise RegistryUnauthorized(
                'registry credentials are not a Docker config JSON ({"auths": {...}})'
            ) from None
        for key, entry in auths.items():
            name = key.split("://", 1)[-1].split("/", 1)[0]
            if name != host or not isinstance(entry, Mapping):
                continue
            if entry.get("registrytoken"):
                return cls(token=str(entry["registrytoken"]))
            if entry.get("auth"):
                try:
                    user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
                except (ValueError, UnicodeDecodeError):
                    raise RegistryUnauthorized(
                        f"registry credentials for {host}: 'auth' is not base64 of user:password"
                    ) from None
                return cls(username=user, password=password)
            return cls(username=entry.get("username"), password=entry.get("password"))
        return cls()


def use_http(host: str, insecure: bool | None) -> bool:
    """Whether to talk plain HTTP to `host` (see the module docstring)."""
    if insecure is not None:
        return insecure
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class RegistryClient:
    """An async client for one registry host. Use as `async with RegistryClient(...) as c:`."""

    def __init__(
        self,
        host: str,
        *,
        credentials: Credentials | None = None,
        insecure: bool | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.host = host
        scheme = "http" if use_http(host, insecure) else "https"
        self._http = httpx.AsyncClient(
            base_url=f"{scheme}://{host}",
            auth=_RegistryAuth(credentials or Credentials()),
            timeout=timeout,
            follow_redirects=True,
            transport=transport,
        )

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def push(self, repository: str, artifact: Artifact, tag: str) -> PushResult:
        """Upload the blobs the registry lacks, then point `tag` at the manifest."""
        uploaded: list[str] = []
        for digest, data in artifact.blobs.items():
            if await self.blob_exists(repository, digest):
                continue
            await self._upload_blob(repository, digest, data)
            uploaded.append(digest)
        url = f"/v2/{repository}/manifests/{tag}"
        head = await self._request("HEAD", url, op="push", headers=_ACCEPT, ok=(200, 404))
        if head.status_code == 200 and head.headers.get("docker-content-digest") == (
            artifact.manifest_digest
        ):
            return PushResult(digest=artifact.manifest_digest, uploaded=uploaded, tagged=False)
        resp = await self._request(
            "PUT",
            url,
            op="push",
            content=artifact.manifest_bytes,
            headers={"Content-Type": MANIFEST_MEDIA_TYPE},
            ok=(200, 201),
        )
        stored = resp.headers.get("docker-content-digest")
        if stored and stored != artifact.manifest_digest:
            raise OciError(
                f"artifact push failed: registry {self.host} stored the manifest as {stored},"
                f" expected {artifact.manifest_digest} (the registry rewrote it)"
            )
        uploaded.append(artifact.manifest_digest)
        return PushResult(digest=artifact.manifest_digest, uploaded=uploaded, tagged=True)

    async def fetch(self, repository: str, digest: str) -> Artifact:
        """Download the artifact with manifest `digest`, verifying every digest."""
        check_digest(digest, what="manifest digest")
        resp = await self._request(
            "GET", f"/v2/{repository}/manifests/{digest}", op="pull", headers=_ACCEPT
        )
        manifest_bytes = verify(resp.content, digest, what="manifest")
        manifest = parse_manifest(manifest_bytes)
        blobs: dict[str, bytes] = {}
        for desc, what in ((manifest["config"], "config blob"), (manifest["layers"][0], "layer")):
            blob = await self._request("GET", f"/v2/{repository}/blobs/{desc['digest']}", op="pull")
            blobs[desc["digest"]] = verify(blob.content, desc["digest"], what=what)
        return artifact_from_parts(manifest_bytes, blobs, manifest_digest=digest)

    async def resolve(self, repository: str, tag: str) -> str:
        """The manifest digest `tag` points at."""
        resp = await self._request(
            "HEAD", f"/v2/{repository}/manifests/{tag}", op="pull", headers=_ACCEPT
        )
        digest = resp.headers.get("docker-content-digest")
        if not digest:  # some registries omit the header on HEAD: hash the body instead
            got = await self._request(
                "GET", f"/v2/{repository}/manifests/{tag}", op="pull", headers=_ACCEPT
            )
            digest = sha256_digest(got.content)
        return check_digest(digest, what="manifest digest")

    async def blob_exists(self, repository: str, digest: str) -> bool:
        """Whether the repository already holds blob `digest`."""
        resp = await self._request(
            "HEAD", f"/v2/{repository}/blobs/{digest}", op="push", ok=(200, 404)
        )
        return resp.status_code == 200

    async def _upload_blob(self, repository: str, digest: str, data: bytes) -> None:
        start = await self._request(
            "POST", f"/v2/{repository}/blobs/uploads/", op="push", ok=(202,), content=b""
        )
        location = start.headers.get("location")
        if not location:
            raise OciError(
                f"artifact push failed: registry {self.host} gave no upload location for {digest}"
            )
        url = httpx.URL(location)
        if not url.is_absolute_url:
            url = self._http.base_url.join(location)
        await self._request(
            "PUT",
            url.copy_merge_params({"digest": digest}),
            op="push",
            content=data,
            headers={"Content-Type": "application/octet-stream"},
            ok=(201, 204),
        )

    async def _request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        op: str,
        ok: tuple[int, ...] = (200,),
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """One request; any other status than `ok` becomes the matching `OciError`."""
        try:
            resp = await self._http.request(method, url, headers=headers, content=content)
        except httpx.TimeoutException:
            raise RegistryUnavailable(
                f"artifact {op} failed: registry {self.host} did not answer in time"
            ) from None
        except httpx.TransportError as exc:
            raise RegistryUnavailable(
                f"artifact {op} failed: cannot reach registry {self.host}:"
                f" {exc or type(exc).__name__}"
            ) from None
        if resp.status_code in ok:
            return resp
        code = resp.status_code
        path = httpx.URL(str(url)).path
        detail = _registry_errors(resp)
        if code in (401, 403):
            raise RegistryUnauthorized(
                f"artifact {op} failed: registry {self.host} returned {code}"
                f" ({'credentials missing or refused' if code == 401 else 'access denied'})"
                f" for {path}{detail}"
            )
        if code == 404:
            raise ArtifactNotFound(
                f"artifact {op} failed: {path} not found in registry {self.host}{detail}"
            )
        if code == 429 or code >= 500:
            raise RegistryUnavailable(
                f"artifact {op} failed: registry {self.host} returned {code} for {path}{detail}"
            )
        raise OciError(
            f"artifact {op} failed: registry {self.host} returned {code} for {method} {path}"
            f"{detail}"
        )


_ACCEPT = {"Accept": MANIFEST_MEDIA_TYPE}


def _registry_errors(resp: httpx.Response) -> str:
    """The registry's own error messages (distribution `errors[]`), for the user."""
    if resp.request.method == "HEAD":
        return ""
    try:
        body: Any = resp.json()
    except ValueError:
        return ""
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return ""
    msgs = [
        f"{e.get('code', '')}: {e.get('message', '')}".strip(": ")
        for e in errors
        if isinstance(e, dict)
    ]
    return f": {'; '.join(msgs)}" if msgs else ""


class _RegistryAuth(httpx.Auth):
    """Answers `WWW-Authenticate` challenges (Basic, or Bearer via the token endpoint)."""

    requires_response_body = True

    def __init__(self, credentials: Credentials) -> None:
        self._creds = credentials
        self._header: str | None = f"Bearer {credentials.token}" if credentials.token else None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._header is not None:
            request.headers["Authorization"] = self._header
        response = yield request
        if response.status_code != 401:
            return
        scheme, params = _parse_challenge(response.headers.get("www-authenticate", ""))
        basic = self._basic()
        if scheme == "basic":
            if basic is None or self._header == basic:
                return
            header = basic
        elif scheme == "bearer" and "realm" in params:
            query: dict[str, str] = {k: params[k] for k in ("service", "scope") if k in params}
            token_request = httpx.Request("GET", params["realm"], params=query)
            if basic is not None:
                token_request.headers["Authorization"] = basic
            token_response = yield token_request
            if token_response.status_code != 200:
                return
            try:
                body = token_response.json()
            except ValueError:
                return
            token = (
                body.get("token") or body.get("access_token") if isinstance(body, dict) else None
            )
            if not isinstance(token, str) or not token:
                return
            header = f"Bearer {token}"
        else:
            return
        self._header = header
        request.headers["Authorization"] = header
        yield request

    def _basic(self) -> str | None:
        user, password = self._creds.username, self._creds.password
        if user is None and password is None:
            return None
        raw = f"{user or ''}:{password or ''}".encode()
        return "Basic " + base64.b64encode(raw).decode()


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """(`basic`|`bearer`|..., params) from a `WWW-Authenticate` header."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        m.group(1).lower(): m.group(2) or m.group(3) or "" for m in _CHALLENGE_PARAM.finditer(rest)
    }
    return scheme.lower(), params
