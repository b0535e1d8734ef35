"""`axle token create`: add a user to a hub's tokens file and print the user's token.

Users of the embedded hub are entries of `DATA_DIR/tokens.yaml` (see `axle.server.auth`); this
is the operator's way to add one without editing YAML by hand. It works on the data dir, not
over the API (like `kubeadm token create` on a control-plane node), because the hub does not
expose credential minting to API users. The running hub picks the change up within a second.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.group("token", short_help="Manage users of a hub's tokens file.")
def token_grp() -> None:
    """Manage the static bearer-token users of a hub (its DATA_DIR/tokens.yaml)."""


@token_grp.command("create", short_help="Add a user and print the user's bearer token.")
@click.argument("user")
@click.option(
    "--group",
    "groups",
    multiple=True,
    help="A group the user belongs to (repeatable); RBAC bindings name groups.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="AXLE_DATA_DIR",
    default=Path(".axle"),
    show_default=True,
    help="The hub's data dir [env AXLE_DATA_DIR].",
)
def create_cmd(user: str, groups: tuple[str, ...], data_dir: Path) -> None:
    """Add USER (with --group memberships) to DATA_DIR/tokens.yaml and print the token.

    \b
    Example:
      AXLE_TOKEN=$(axle token create vera --group acme-everyone) axle get projects -A
    """
    from axle.server.auth import TOKENS_FILE, add_user  # the server stack loads only here

    if not (data_dir / TOKENS_FILE).exists():
        raise click.ClickException(
            f"{data_dir / TOKENS_FILE} does not exist: is {data_dir} the data dir of a hub "
            "that has been started (`axle up --data-dir DIR`)?"
        )
    try:
        token = add_user(data_dir, user, list(groups))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(token)
