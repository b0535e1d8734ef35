"""The join endpoint: a spoke agent trades its one-time bootstrap token for a spoke credential.

`POST /apis/axle.dev/v1alpha1/spokes/{name}/join` with `{"bootstrapToken": "<id>.<secret>"}`
and no bearer token (the agent has none yet; the bootstrap token is its proof). Steps, each
refusing with a Kubernetes `Status` and changing nothing:

1. the token must be well-formed and recorded by `axle-system/bootstrap-token-<id>`, with the
   right secret, unexpired, and for this spoke: otherwise 401, saying which of these failed
   (an expired token's Secret is deleted on the way, as Kubernetes' token cleaner would);
2. the Spoke must accept its agent: created if absent (the bootstrap Secret, which only an
   admin or the ComputePool controller can write, is the authorization to do so); 403 if its
   `spec.hubAcceptsClient` is false or it is being deleted. The token is not used up then,
   so an admin can accept the spoke and the agent can retry;
3. the token is consumed by deleting its Secret with a uid and resourceVersion precondition,
   so of two concurrent joins with one token exactly one proceeds; the other, and every later
   attempt, is 401 "already used";
4. a new credential is minted (each join replaces the previous one, which revokes it), and
   the spoke's namespace and RBAC are made to exist (`controllers.spokeaccess`);
5. the answer is `{"spoke", "namespace", "token", "leaseDurationSeconds"}`.

Every attempt is audited as verb `create` on `spokes/join`, by user `system:bootstrap:<id>`
(Kubernetes' name for bootstrap-token users) or anonymous for a malformed token.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response

import axle.api.kinds  # noqa: F401  (registers Spoke, Secret, RBAC kinds)
from axle.api.admission import admit
from axle.api.meta import GROUP, SYSTEM_NAMESPACE, VERSION
from axle.api.registry import REGISTRY, Registry
from axle.api.spoke import spoke_namespace
from axle.api.spoketokens import (
    bootstrap_secret_name,
    credential_secret,
    new_spoke_credential,
    parse_bootstrap_token,
    secret_field,
    verify_bootstrap,
)
from axle.controllers.objects import ensure, owner_ref
from axle.controllers.spokeaccess import ensure_access
from axle.errors import (
    AlreadyExists,
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    InternalError,
    NotFound,
    Unauthorized,
)
from axle.server.auth import UserInfo
from axle.server.bodies import decode_object, read_body
from axle.server.handlers import json_response
from axle.store.base import Obj, Store

log = logging.getLogger(__name__)

JOIN_PATH = f"/apis/{GROUP}/{VERSION}/spokes/{{name}}/join"
BOOTSTRAPPERS_GROUP = "system:bootstrappers"
# Discovery: `spokes/join` is a create-only subresource of Spoke.
DISCOVERY_ENTRY: dict[str, Any] = {
    "name": "spokes/join",
    "singularName": "",
    "namespaced": False,
    "kind": "Spoke",
    "verbs": ["create"],
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Auditor(Protocol):
    def record(
        self,
        user: UserInfo | None,
        verb: str,
        resource: str,
        namespace: str | None,
        name: str | None,
        code: int,
        *,
        group: str = "",
        subresource: str | None = None,
    ) -> None: ...


class SpokeJoin:
    """Serves the join endpoint over the store."""

    def __init__(
        self,
        store: Store,
        audit: Auditor | None = None,
        *,
        registry: Registry | None = None,
        body_limit: int = 64 * 1024,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.audit = audit
        self.registry = registry if registry is not None else REGISTRY
        self.body_limit = body_limit
        self.clock = clock
        self.secret = self.registry.by_group_kind("", "Secret")
        self.spoke = self.registry.by_group_kind(GROUP, "Spoke")

    async def endpoint(self, request: Request) -> Response:
        """The Starlette endpoint: decode, `join`, answer, audit."""
        name = str(request.path_params["name"])
        user: UserInfo | None = None
        code = 500
        try:
            raw = await read_body(
                request.stream(), request.headers.get("content-length"), self.body_limit
            )
            body = decode_object(raw, request.headers.get("content-type"))
            token = body.get("bootstrapToken")
            if not isinstance(token, str) or not token:
                raise BadRequest('the body must be {"bootstrapToken": "<id>.<secret>"}')
            parts = parse_bootstrap_token(token)
            if parts is not None:
                user = UserInfo(f"system:bootstrap:{parts[0]}", (BOOTSTRAPPERS_GROUP,))
            answer = await self.join(name, token)
            code = 200
            return json_response(answer)
        except ApiError as err:
            code = err.code
            return json_response(err.to_status(), err.code)
        except Exception as exc:
            log.exception("spoke %s: join failed", name)
            internal = InternalError(f"joining spoke {name} failed: {type(exc).__name__}: {exc}")
            return json_response(internal.to_status(), internal.code)
        finally:
            if self.audit is not None:
                try:
                    self.audit.record(
                        user, "create", "spokes", None, name, code, group=GROUP, subresource="join"
                    )
                except Exception:
                    log.exception("audit record failed")

    async def join(self, name: str, token: str) -> dict[str, Any]:
        """Check and consume `token` for spoke `name`; returns the join answer."""
        parts = parse_bootstrap_token(token)
        if parts is None:
            raise Unauthorized(
                "malformed bootstrap token: expected <6 lowercase letters or digits>."
                "<16 lowercase letters or digits>"
            )
        token_id = parts[0]
        secret_name = bootstrap_secret_name(token_id)
        unknown = Unauthorized(
            f"bootstrap token {token_id} is not valid: it does not exist or was already used"
        )
        try:
            record = await self.store.get(self.secret, SYSTEM_NAMESPACE, secret_name)
        except NotFound:
            raise unknown from None
        now = self.clock()
        spoke_for = verify_bootstrap(record, token, now)
        if spoke_for is None:
            if verify_bootstrap(record, token, _EPOCH) is not None:
                expired = secret_field(record, "expiration")
                await self._discard(record)
                raise Unauthorized(f"bootstrap token {token_id} expired at {expired}")
            raise unknown
        if spoke_for != name:
            raise Unauthorized(f"bootstrap token {token_id} is not valid for spoke {name}")

        spoke = await self._accepting_spoke(name)
        try:
            await self.store.delete(
                self.secret,
                SYSTEM_NAMESPACE,
                secret_name,
                uid=record["metadata"].get("uid"),
                resource_version=record["metadata"].get("resourceVersion"),
            )
        except (NotFound, Conflict):  # another join used it first
            raise unknown from None

        credential = new_spoke_credential()
        await ensure(
            self.store,
            self.secret,
            _owned(credential_secret(name, credential), spoke),
            fields=("type", "data"),
        )
        await ensure_access(self.store, self.registry, spoke)
        log.info("spoke %s joined with bootstrap token %s", name, token_id)
        return {
            "spoke": name,
            "namespace": spoke_namespace(name),
            "token": credential,
            "leaseDurationSeconds": int(spoke["spec"].get("leaseDurationSeconds") or 60),
        }

    async def _accepting_spoke(self, name: str) -> Obj:
        """The Spoke `name`, created when absent; Forbidden unless it accepts its agent."""
        try:
            spoke = await self.store.get(self.spoke, None, name)
        except NotFound:
            body = admit(
                self.spoke,
                {"apiVersion": self.spoke.api_version, "kind": "Spoke", "metadata": {"name": name}},
            )
            try:
                spoke = await self.store.create(self.spoke, body)
            except AlreadyExists:
                spoke = await self.store.get(self.spoke, None, name)
        if spoke["metadata"].get("deletionTimestamp"):
            raise Forbidden(f"spoke {name} is being deleted and cannot be joined")
        if (spoke.get("spec") or {}).get("hubAcceptsClient") is False:
            raise Forbidden(
                f"spoke {name} does not accept its agent (spec.hubAcceptsClient is false)"
            )
        spoke = copy.deepcopy(spoke)
        spoke.setdefault("spec", {})
        return spoke

    async def _discard(self, record: Obj) -> None:
        m = record["metadata"]
        with contextlib.suppress(NotFound, Conflict):
            await self.store.delete(self.secret, m.get("namespace"), m["name"], uid=m.get("uid"))


def _owned(obj: Obj, owner: Obj) -> Obj:
    """`obj` with an ownerReference to `owner`, so it goes when the owner does."""
    obj["metadata"]["ownerReferences"] = [owner_ref(owner)]
    return obj
