"""The `hip3term` command line (typer). Commands build objects; they hold no logic.

Each command group lives in its own module and registers itself on the root app. Heavy
imports happen inside the commands so that `hip3term --help` stays fast.
"""

from __future__ import annotations

import sys

import typer

from hip3term import __version__, _native
from hip3term.cli import (
    config_cmd,
    keys_cmd,
    plugins_cmd,
    record_cmd,
    recordings_cmd,
    replay_cmd,
    report_cmd,
    run_cmd,
    sign_cmd,
    sim_cmd,
    train_cmd,
)
from hip3term.errors import Hip3Error

app = typer.Typer(
    name="hip3term",
    help=(
        "Terminal trading workstation for Hyperliquid HIP-3 markets (builder-deployed perps "
        "such as xyz:COIN). Runs against the embedded simulator unless told otherwise."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hip3term {__version__} (hot path: {_native.STATUS})")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Terminal trading workstation for Hyperliquid HIP-3 markets."""


_COMMANDS = (  # the order of `hip3term --help`
    run_cmd, sim_cmd, record_cmd, recordings_cmd, replay_cmd, report_cmd, train_cmd,
    plugins_cmd, config_cmd, keys_cmd, sign_cmd,
)
for _module in _COMMANDS:
    _module.register(app)


def main() -> None:
    """Console entry point: run the app; hip3term's own errors exit without a traceback."""
    try:
        app()
    except Hip3Error as exc:
        typer.echo(f"hip3term: {exc.title}: {exc.message}", err=True)
        sys.exit(exc.exit_code)
