"""`axle rollout history|undo|status AIWORKLOAD`: an AIWorkload's revisions, like kubectl's.

The AIWorkload controller keeps one ControllerRevision per distinct revision it deployed
(labelled `axle.dev/aiworkload=<name>`, `data: {spec, bundle}`, `revision: N`;
`api/controllerrevision.py`), and `status.revision` names the one deployed now. So:

- `history` lists them (bundle, variables as changed from the revision before, age), the
  current one marked; `--revision N` prints one revision's data;
- `undo` writes revision N's `data.spec` back as the AIWorkload's spec together with the
  annotation `axle.dev/rollback-revision: "N"`, in ONE update guarded by the object's
  resourceVersion (a conflicting write in between is re-read and retried, so the undo never
  overwrites someone else's change half-way). The controller sees the annotation and deploys
  that revision's bundle snapshot rather than the live bundle, until the spec changes again;
- `status` watches the AIWorkload until it is Running (exit 0) or Failed (exit 1), printing
  each phase change with the one blocking cause the controller reports.

Everything goes through the client SDK, so it works against any hub the CLI reaches.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import time
from collections.abc import Mapping
from typing import IO, Any

import click

from axle.cli.printers import Out, TableView, age, to_yaml
from axle.cli.state import connection_options, fail, globals_of, namespace_option, open_client, run
from axle.client import Client
from axle.client.discovery import Resource
from axle.errors import Conflict

REVISION_LABEL = "axle.dev/aiworkload"
ROLLBACK_ANNOTATION = "axle.dev/rollback-revision"
# How often `undo` re-reads and retries after a 409 (someone else wrote in between).
UNDO_ATTEMPTS = 5
# The VARIABLES column is a summary: longer cells are cut here.
VARIABLES_WIDTH = 60
TERMINAL = {"Running": 0, "Failed": 1}


class RolloutError(click.ClickException):
    """A rollout precondition that does not hold (no history, unknown revision): exit 1."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.message}", file=file, err=file is None)


def _value(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, separators=(",", ":"), sort_keys=True)


def variables_summary(current: Mapping[str, Any], previous: Mapping[str, Any] | None) -> str:
    """`a=1, b=x` for a first revision; later ones only what changed: `b=y, +c=1, -a`."""
    if previous is None:
        parts = [f"{k}={_value(v)}" for k, v in sorted(current.items())]
        text = ", ".join(parts) or "<none>"
    else:
        parts = []
        for key in sorted(set(current) | set(previous)):
            if key not in current:
                parts.append(f"-{key}")
            elif key not in previous:
                parts.append(f"+{key}={_value(current[key])}")
            elif current[key] != previous[key]:
                parts.append(f"{key}={_value(current[key])}")
        text = ", ".join(parts) or "<unchanged>"
    return text if len(text) <= VARIABLES_WIDTH else text[: VARIABLES_WIDTH - 3] + "..."


def _data(rev: Mapping[str, Any]) -> dict[str, Any]:
    data = rev.get("data")
    return data if isinstance(data, dict) else {}


def _variables(rev: Mapping[str, Any]) -> dict[str, Any]:
    spec = _data(rev).get("spec") or {}
    variables = spec.get("variables") if isinstance(spec, dict) else None
    return variables if isinstance(variables, dict) else {}


def bundle_cell(rev: Mapping[str, Any]) -> str:
    bundle = _data(rev).get("bundle") or {}
    name = str(bundle.get("name") or "<none>")
    return f"{name}@{bundle['version']}" if bundle.get("version") else name


def history_view(revisions: list[dict[str, Any]], current: int | None) -> TableView:
    """The history table: revisions ascending, `*` in CURRENT on the deployed one."""
    view = TableView(["REVISION", "CURRENT", "BUNDLE", "VARIABLES", "CREATED"])
    previous: dict[str, Any] | None = None
    for rev in revisions:
        number = int(rev.get("revision") or 0)
        variables = _variables(rev)
        view.rows.append(
            [
                str(number),
                "*" if number == current else "",
                bundle_cell(rev),
                variables_summary(variables, previous),
                age((rev.get("metadata") or {}).get("creationTimestamp")),
            ]
        )
        previous = variables
    return view


async def _resources(c: Client) -> tuple[Resource, Resource]:
    return await c.resolve("aiworkloads"), await c.resolve("controllerrevisions.apps")


async def _history(
    c: Client, aiw: Mapping[str, Any], revisions_res: Resource
) -> list[dict[str, Any]]:
    """The AIWorkload's revisions, ascending. Revisions another object of the same name left
    behind (a different owner uid, garbage collection pending) are not its history."""
    meta = aiw.get("metadata") or {}
    listed = await c.list(
        revisions_res, meta.get("namespace"), label_selector=f"{REVISION_LABEL}={meta['name']}"
    )
    uid = meta.get("uid")
    mine = []
    for rev in listed["items"]:
        owners = [
            o
            for o in (rev.get("metadata") or {}).get("ownerReferences") or []
            if o.get("kind") == "AIWorkload"
        ]
        if uid and owners and all(o.get("uid") != uid for o in owners):
            continue
        mine.append(rev)
    return sorted(mine, key=lambda r: int(r.get("revision") or 0))


def _current(aiw: Mapping[str, Any], revisions: list[dict[str, Any]]) -> int | None:
    value = (aiw.get("status") or {}).get("revision")
    if value is not None:
        return int(value)
    return int(revisions[-1].get("revision") or 0) if revisions else None


def _find(revisions: list[dict[str, Any]], number: int, name: str) -> dict[str, Any]:
    for rev in revisions:
        if int(rev.get("revision") or 0) == number:
            return rev
    known = ", ".join(str(r.get("revision")) for r in revisions)
    raise RolloutError(f"aiworkload {name} has no revision {number} (revisions: {known})")


def _qualified(res: Resource, name: str) -> str:
    return f"{res.qualified_kind}/{name}"


@click.group("rollout", short_help="Show, undo and follow an AIWorkload's rollouts.")
def rollout_grp() -> None:
    """Show, undo and follow the rollouts of an AIWorkload, from its stored revisions.

    \b
      axle rollout history chat -n ml-prod
      axle rollout history chat --revision 2
      axle rollout undo chat                  # back to the revision before the current one
      axle rollout undo chat --to-revision 1
      axle rollout status chat --timeout 5m
    """


@rollout_grp.command("history")
@click.argument("name", metavar="AIWORKLOAD")
@click.option("--revision", type=click.IntRange(min=1), default=None, help="Print this revision.")
@namespace_option
@connection_options
@click.pass_context
def history_cmd(ctx: click.Context, name: str, revision: int | None) -> None:
    """List the AIWorkload's revisions (the deployed one marked *), or print one with
    --revision N (its AIWorkload spec and bundle snapshot, as YAML)."""
    g = globals_of(ctx)
    out = Out()

    async def body() -> None:
        async with open_client(ctx) as c:
            aiw_res, rev_res = await _resources(c)
            aiw = await c.get(aiw_res, name, g.namespace)
            revisions = await _history(c, aiw, rev_res)
        if revision is not None:
            out.echo(to_yaml(_data(_find(revisions, revision, name))).rstrip("\n"))
            return
        if not revisions:
            raise RolloutError(f"aiworkload {name} has no rollout history yet")
        out.echo(_qualified(aiw_res, name))
        out.table(history_view(revisions, _current(aiw, revisions)))

    run(body())


def _target(revisions: list[dict[str, Any]], current: int | None, wanted: int | None) -> int:
    if wanted:
        return wanted
    numbers = [int(r.get("revision") or 0) for r in revisions]
    before = [n for n in numbers if current is None or n < current]
    if not before:
        raise RolloutError(
            f"no revision before the current one ({current}) to roll back to "
            f"(revisions: {', '.join(map(str, numbers))})"
        )
    return max(before)


@rollout_grp.command("undo")
@click.argument("name", metavar="AIWORKLOAD")
@click.option(
    "--to-revision",
    type=click.IntRange(min=0),
    default=0,
    help="The revision to go back to (default 0: the one before the current).",
)
@namespace_option
@connection_options
@click.pass_context
def undo_cmd(ctx: click.Context, name: str, to_revision: int) -> None:
    """Roll the AIWorkload back to an earlier revision: its spec becomes that revision's,
    and the hub deploys that revision's bundle snapshot (annotation
    axle.dev/rollback-revision) until the spec is changed again."""
    g = globals_of(ctx)
    out = Out()

    async def body() -> None:
        async with open_client(ctx) as c:
            aiw_res, rev_res = await _resources(c)
            for attempt in range(UNDO_ATTEMPTS):
                aiw = await c.get(aiw_res, name, g.namespace)
                revisions = await _history(c, aiw, rev_res)
                if not revisions:
                    raise RolloutError(f"aiworkload {name} has no rollout history to undo")
                current = _current(aiw, revisions)
                number = _target(revisions, current, to_revision or None)
                spec = _data(_find(revisions, number, name)).get("spec")
                if not isinstance(spec, dict):
                    raise RolloutError(f"revision {number} of aiworkload {name} holds no spec")
                meta = aiw["metadata"]
                annotations = meta.get("annotations") or {}
                if number == current and aiw.get("spec") == spec:
                    out.echo(
                        f"{_qualified(aiw_res, name)} skipped rollback "
                        f"(revision {number} is the current one)"
                    )
                    return
                body_obj = {k: v for k, v in aiw.items() if k != "status"}
                body_obj["spec"] = copy.deepcopy(spec)
                body_obj["metadata"] = {
                    **meta,
                    "annotations": {**annotations, ROLLBACK_ANNOTATION: str(number)},
                }
                try:
                    # Carries the resourceVersion just read: a write in between is a 409.
                    await c.replace(body_obj, g.namespace)
                except Conflict:
                    if attempt == UNDO_ATTEMPTS - 1:
                        raise
                    continue
                out.echo(f"{_qualified(aiw_res, name)} rolled back to revision {number}")
                return

    run(body())


def _settled(aiw: Mapping[str, Any]) -> bool:
    """Whether the status describes the current spec (observedGeneration caught up)."""
    status = aiw.get("status") or {}
    generation = (aiw.get("metadata") or {}).get("generation")
    observed = status.get("observedGeneration")
    return not (generation is not None and observed is not None and int(observed) < int(generation))


def _phase_line(name: str, aiw: Mapping[str, Any]) -> tuple[str, str]:
    status = aiw.get("status") or {}
    phase = str(status.get("phase") or "Pending")
    if not _settled(aiw):
        # Status of an older spec: the controller has not looked at the change yet.
        return phase, f'aiworkload "{name}": waiting for the hub to pick up the change'
    message = " ".join(str(status.get("message") or "").split())
    line = f'aiworkload "{name}": {phase}' + (f": {message}" if message else "")
    if phase == "Running":
        url = status.get("url")
        revision = status.get("revision")
        line = f'aiworkload "{name}" is Running' + (f" (revision {revision})" if revision else "")
        line += f": {url}" if url else ""
    return phase, line


class Duration(click.ParamType[Any, float]):
    """Seconds, or a kubectl-style duration: `90`, `90s`, `5m`, `1h30m`."""

    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, int | float):
            seconds = float(value)
        else:
            text = str(value).strip()
            match = re.fullmatch(
                r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?", text
            )
            if not text or match is None:
                self.fail(f"{value!r} is not a duration (e.g. 90, 90s, 5m, 1h30m)", param, ctx)
            hours, minutes, secs = (float(g) if g else 0.0 for g in match.groups())
            seconds = hours * 3600 + minutes * 60 + secs
        if seconds <= 0:
            self.fail("must be more than 0", param, ctx)
        return seconds


@rollout_grp.command("status")
@click.argument("name", metavar="AIWORKLOAD")
@click.option(
    "--timeout",
    type=Duration(),
    default="10m",
    show_default=True,
    help="Give up after this long (seconds, or 90s, 5m, 1h), with exit code 1.",
)
@namespace_option
@connection_options
@click.pass_context
def status_cmd(ctx: click.Context, name: str, timeout: float) -> None:
    """Wait until the AIWorkload is Running (exit 0) or Failed (exit 1), printing each phase
    change and what the hub says blocks it."""
    g = globals_of(ctx)
    out = Out()

    async def follow(c: Client, aiw_res: Resource, state: dict[str, Any]) -> int:
        last = ""
        async for event in c.watch(aiw_res, g.namespace, name=name):
            obj = event.get("object") or {}
            if (obj.get("metadata") or {}).get("name") != name:
                continue
            if event.get("type") == "DELETED":
                raise RolloutError(f"aiworkload {name} was deleted")
            state["last"] = obj
            phase, line = _phase_line(name, obj)
            if line != last:
                out.echo(line)
                last = line
            if _settled(obj) and phase in TERMINAL:
                return TERMINAL[phase]
        return 1

    async def body() -> int:
        state: dict[str, Any] = {}
        async with open_client(ctx) as c:
            aiw_res = await c.resolve("aiworkloads")
            await c.get(aiw_res, name, g.namespace)  # NotFound: a clear error, at once
            started = time.monotonic()
            try:
                return await asyncio.wait_for(follow(c, aiw_res, state), timeout)
            except TimeoutError:
                waited = time.monotonic() - started
                phase = _phase_line(name, state.get("last") or {})[0]
                fail(
                    f"error: timed out after {waited:.0f}s waiting for aiworkload {name} to be "
                    f"Running (phase {phase})"
                )

    raise SystemExit(run(body()))
