"""What every `axle` command shares: global options, the connection, errors and exit codes.

Global options (`-n`, `-A`, `--server`, `--token`, `--context`, `-v`) are accepted both before
the command (`axle -n x get ...`) and after it (`axle get ... -n x`), as kubectl users type
them; the value given last wins. Commands run their async body through `run()`, which turns an
`ApiError` into kubectl's wording on stderr (`Error from server (Forbidden): ...`, or
`error: ...` for failures found locally) and exit code 1.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import click
import httpx

from axle.client import Client
from axle.client.config import Connection, resolve_connection
from axle.client.errors import ConnectionFailed, is_client_side
from axle.errors import ApiError

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
META_KEY = "axle.globals"
# Tests may route every client of a CLI run through an in-process transport.
TRANSPORT: httpx.AsyncBaseTransport | None = None


@dataclass(frozen=True)
class Globals:
    namespace: str | None = None
    all_namespaces: bool = False
    server: str | None = None
    token: str | None = None
    context: str | None = None
    verbose: bool = False


class _StderrHandler(logging.Handler):
    """Log lines to whatever stderr is when they are written (click swaps it in tests)."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(self.format(record), err=True)


def _store(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    # ctx.meta is one dict shared by the group's and the command's contexts.
    if value is None or value is False:
        return
    ctx.meta.setdefault(META_KEY, {})[param.name] = value
    if param.name == "verbose":
        logger = logging.getLogger("axle")
        logger.setLevel(logging.DEBUG)
        if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
            handler = _StderrHandler()
            handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
            logger.addHandler(handler)


def connection_options(f: F) -> F:
    """--server, --token, --context and -v, on the group and on every command that talks."""
    opts = [
        click.option(
            "--server",
            metavar="URL",
            expose_value=False,
            callback=_store,
            help="Hub URL (default: the current context, $AXLE_SERVER, http://127.0.0.1:8080).",
        ),
        click.option(
            "--token",
            metavar="TOKEN",
            expose_value=False,
            callback=_store,
            help="Bearer token (default: the current context, or $AXLE_TOKEN).",
        ),
        click.option(
            "--context",
            metavar="NAME",
            expose_value=False,
            callback=_store,
            help="Use this context of the contexts file instead of the current one.",
        ),
        click.option(
            "-v",
            "--verbose",
            is_flag=True,
            expose_value=False,
            callback=_store,
            help="Log every request to stderr.",
        ),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def namespace_option(f: F) -> F:
    return click.option(
        "-n",
        "--namespace",
        metavar="NS",
        expose_value=False,
        callback=_store,
        help="Namespace (default: the context's, $AXLE_NAMESPACE, or `default`).",
    )(f)


def all_namespaces_option(f: F) -> F:
    return click.option(
        "-A",
        "--all-namespaces",
        is_flag=True,
        expose_value=False,
        callback=_store,
        help="Across all namespaces (tables get a NAMESPACE column).",
    )(f)


def globals_of(ctx: click.Context) -> Globals:
    return Globals(**ctx.meta.get(META_KEY, {}))


def connection(ctx: click.Context) -> Connection:
    g = globals_of(ctx)
    return resolve_connection(
        server=g.server, token=g.token, context=g.context, namespace=g.namespace
    )


def open_client(ctx: click.Context, *, timeout: float = 30.0) -> Client:
    conn = connection(ctx)
    return Client(
        conn.server,
        conn.token,
        timeout=timeout,
        namespace=conn.namespace,
        transport=TRANSPORT,
        ca_file=conn.ca_file,
    )


def describe_error(err: ApiError) -> str:
    """kubectl's wording for an error, without the trailing newline."""
    if isinstance(err, ConnectionFailed):
        return (
            f"error: {err.message}\n"
            f"Is the hub running? Start one with `axle up`, or point at another with "
            f"--server, $AXLE_SERVER or `axle login`."
        )
    if is_client_side(err):
        return f"error: {err.message}"
    text = f"Error from server ({err.reason}): {err.message}"
    extra = [c for c in err.causes if c.field and c.field not in err.message]
    for cause in extra:
        text += f"\n  {cause.field}: {cause.message}"
    return text


def echo_err(text: str) -> None:
    click.echo(text, err=True)


def fail(err: ApiError | str) -> NoReturn:
    echo_err(err if isinstance(err, str) else describe_error(err))
    raise SystemExit(1)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's async body; errors become kubectl-style messages and exit code 1."""
    try:
        return asyncio.run(coro)
    except ApiError as err:
        fail(err)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
