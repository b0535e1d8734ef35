"""Run a function in a forked child process, under a deadline, and get its result or its error.

Definitions are user code: Jsonnet that never terminates, or that recurses in tail position
(`f(n - 1) tailstrict`, which the evaluator's stack bound does not catch), would hang or
abort the whole process, since the evaluator runs native code that Python cannot interrupt.
Rendering therefore runs in a child: a deadline kills it, and a crash of the evaluator
becomes a clear error instead of taking the caller down. (DESIGN section 5: "a wall-clock
limit enforced outside the evaluator".)

The child sends back either the result or the `Status` of an `ApiError` (so errors keep
their causes and field paths across the process boundary); anything else it raises is
reported with its type and message.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.context import ForkContext, SpawnContext
from typing import Any, TypeVar

from axle.errors import ApiError, Invalid

T = TypeVar("T")


def _child(conn: Connection, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        conn.send(("ok", fn(*args)))
    except ApiError as err:
        conn.send(("api", err.to_status()))
    except Exception as err:  # reported to the parent, which raises it as Invalid
        conn.send(("exc", f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=3)}"))
    finally:
        conn.close()


def run_isolated(fn: Callable[..., T], *args: Any, timeout: float, what: str) -> T:
    """`fn(*args)` in a forked child; raises Invalid on a timeout or a crash of the child."""
    # fork is cheapest; but once gojsonnet is loaded, Go's runtime threads exist and do not
    # survive fork(), so a forked child would hang at its first Jsonnet call. A parent that
    # has rendered in-process (a test run, say) starts a fresh interpreter instead.
    ctx: SpawnContext | ForkContext = (
        multiprocessing.get_context("spawn")
        if "_gojsonnet" in sys.modules
        else multiprocessing.get_context("fork")
    )
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, fn, args), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(timeout):
            proc.kill()
            raise Invalid(
                f"{what} did not finish within {timeout:g} s: a definition's Jsonnet may "
                "never terminate (stopped)"
            )
        try:
            kind, value = parent.recv()
        except EOFError:
            proc.join()
            code = proc.exitcode
            how = (
                f"signal {signal.Signals(-code).name}"
                if code is not None and code < 0
                else f"exit code {code}"
            )
            raise Invalid(
                f"{what} crashed ({how}): a definition's Jsonnet exhausted the evaluator, "
                "e.g. unbounded recursion in tail position"
            ) from None
    finally:
        parent.close()
        proc.join(timeout=5)
    if kind == "ok":
        result: T = value
        return result
    if kind == "api":
        raise ApiError.from_status(value)
    raise Invalid(f"{what} failed: {value}")
