"""Where the hub is and who we are: the contexts file, environment and flags, merged.

Like a kubeconfig, `~/.axle/config` (or `$AXLE_CONFIG`) holds named contexts, each a server URL,
a token and a default namespace, plus `current-context`. Precedence, lowest first: the current
context of the file, then `AXLE_SERVER` / `AXLE_TOKEN` / `AXLE_NAMESPACE`, then the `--context`
flag (an explicit choice beats the environment), then `--server` / `--token` / `-n`. The file
holds secrets, so it is written with mode 0600 and atomically (never half-written).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from axle.client.errors import ConfigError

DEFAULT_SERVER = "http://127.0.0.1:8080"
DEFAULT_NAMESPACE = "default"


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    explicit = env.get("AXLE_CONFIG")
    return Path(explicit).expanduser() if explicit else Path.home() / ".axle" / "config"


@dataclass(frozen=True)
class Context:
    name: str
    server: str
    token: str | None = None
    namespace: str | None = None
    ca_file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"server": self.server}
        if self.ca_file:
            body["certificate-authority"] = self.ca_file
        if self.token:
            body["token"] = self.token
        if self.namespace:
            body["namespace"] = self.namespace
        return {"name": self.name, "context": body}


@dataclass
class ConfigFile:
    """The contexts file, read into memory; `save()` writes it back (mode 0600)."""

    path: Path
    contexts: dict[str, Context]
    current_context: str | None = None

    @classmethod
    def load(cls, path: Path | None = None) -> ConfigFile:
        path = path or config_path()
        if not path.exists():
            return cls(path=path, contexts={})
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read the axle config {path}: {exc}") from exc
        if not isinstance(doc, dict):
            raise ConfigError(f"the axle config {path} is not a mapping")
        contexts: dict[str, Context] = {}
        for i, entry in enumerate(doc.get("contexts") or []):
            body = entry.get("context") if isinstance(entry, dict) else None
            if not isinstance(body, dict) or not entry.get("name") or not body.get("server"):
                raise ConfigError(
                    f"the axle config {path}: contexts[{i}] needs a name and context.server"
                )
            contexts[str(entry["name"])] = Context(
                name=str(entry["name"]),
                server=str(body["server"]),
                token=body.get("token"),
                namespace=body.get("namespace"),
                ca_file=body.get("certificate-authority"),
            )
        current = doc.get("current-context")
        return cls(path=path, contexts=contexts, current_context=str(current) if current else None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "apiVersion": "axle.dev/v1",
            "kind": "Config",
            "current-context": self.current_context,
            "contexts": [c.to_dict() for c in self.contexts.values()],
        }

    def set_context(self, ctx: Context, *, make_current: bool = True) -> None:
        self.contexts[ctx.name] = ctx
        if make_current:
            self.current_context = ctx.name

    def use(self, name: str) -> None:
        if name not in self.contexts:
            raise ConfigError(f'no context exists with the name: "{name}"')
        self.current_context = name

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        # Write a private temp file next to the target, then rename: atomic, never world-readable.
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".config-")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


@dataclass(frozen=True)
class Connection:
    """The resolved server, token and default namespace for one invocation."""

    server: str
    token: str | None
    namespace: str
    context: str | None = None
    ca_file: str | None = None


def resolve_connection(
    *,
    server: str | None = None,
    token: str | None = None,
    context: str | None = None,
    namespace: str | None = None,
    env: Mapping[str, str] | None = None,
    config: ConfigFile | None = None,
) -> Connection:
    """Merge the contexts file, the environment and flags (see the module docstring)."""
    env = os.environ if env is None else env
    cfg = config if config is not None else ConfigFile.load(config_path(env))
    ctx: Context | None = None
    if context is not None:
        if context not in cfg.contexts:
            raise ConfigError(f'context "{context}" does not exist in {cfg.path}')
        ctx = cfg.contexts[context]
    elif cfg.current_context:
        ctx = cfg.contexts.get(cfg.current_context)

    srv = ctx.server if ctx else None
    tok = ctx.token if ctx else None
    ns = ctx.namespace if ctx else None
    if context is None:
        srv = env.get("AXLE_SERVER") or srv
        tok = env.get("AXLE_TOKEN") or tok
        ns = env.get("AXLE_NAMESPACE") or ns
    srv = server or srv or DEFAULT_SERVER
    tok = token or tok
    ns = namespace or ns or DEFAULT_NAMESPACE
    # The context's CA belongs to the context's server, not to one the env or a flag names.
    ca = ctx.ca_file if ctx and srv == ctx.server else None
    return Connection(
        server=srv.rstrip("/"),
        token=tok,
        namespace=ns,
        context=ctx.name if ctx else None,
        ca_file=ca,
    )
