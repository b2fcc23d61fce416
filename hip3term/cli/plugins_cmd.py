"""`hip3term plugins`: the strategies available, with their parameters and defaults."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from hip3term.strategy.loader import StrategyEntry

_HELP = """\
List the strategy plugins and their parameters.

Strategies are the packages in plugins/ (plugins/<name>/ exporting STRATEGY) and the
entry points of the group "hip3term.strategies" of installed distributions. Select one
with `--strategy NAME` or `strategy.name` in the config, and set its parameters in the
`[strategy.params]` table; a parameter left out takes the default shown here, and an
unknown or out-of-range parameter is refused with the field named. A plugin that fails to
load is reported on stderr (exit status 1) without hiding the others.
"""

_JsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print one JSON object: strategy name -> {origin, description, params: "
        "[{name, type, default, description}]}, plus `problems` (a list of texts).",
    ),
]
_NameArgument = Annotated[
    str | None,
    typer.Argument(
        metavar="[NAME]",
        show_default=False,
        help="Show only this strategy (its name as `strategy.name` selects it).",
    ),
]


def register(app: typer.Typer) -> None:
    """Add the `plugins` command to the root app."""
    app.command("plugins", help=_HELP)(plugins)


def plugins(name: _NameArgument = None, as_json: _JsonOption = False) -> None:
    """List the strategy plugins with their parameters."""
    from hip3term.strategy.loader import PluginError, discover

    catalog = discover()
    entries = dict(catalog.entries)
    if name is not None:
        if name not in entries:
            raise PluginError(f"no strategy named {name!r}; available: "
                              f"{', '.join(entries) or 'none'}")
        entries = {name: entries[name]}
    problems = [e.error for e in entries.values() if e.error]
    if name is None:
        problems = list(catalog.problems)
    if as_json:
        typer.echo(json.dumps(_as_json(entries, problems), indent=2))
    else:
        typer.echo(_as_text(entries))
    for problem in problems:
        typer.echo(f"hip3term: plugin error: {problem}", err=True)
    if problems:
        raise typer.Exit(1)


def _as_json(entries: dict[str, StrategyEntry], problems: list[str]) -> dict[str, object]:
    return {
        "strategies": {
            name: {
                "origin": entry.origin,
                "description": entry.description,
                "error": entry.error or None,
                "params": [
                    {"name": p.name, "type": p.type, "default": p.default,
                     "description": p.description}
                    for p in entry.params
                ],
            }
            for name, entry in entries.items()
        },
        "problems": problems,
    }


def _as_text(entries: dict[str, StrategyEntry]) -> str:
    if not entries:
        return "no strategies found (plugins/ and entry points of 'hip3term.strategies')"
    blocks = [_entry_text(entry) for entry in entries.values()]
    return "\n\n".join(blocks)


def _entry_text(entry: StrategyEntry) -> str:
    lines = [f"{entry.name}  ({entry.origin})"]
    if entry.strategy is None:
        lines.append("  (failed to load, see below)")
        return "\n".join(lines)
    lines.append(f"  {entry.description}")
    params = entry.params
    if not params:
        lines.append("  (no parameters)")
        return "\n".join(lines)
    rows = [("parameter", "type", "default", "description")]
    rows += [(p.name, p.type, p.default, p.description) for p in params]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)]
        lines.append(("  " + "  ".join([*cells, row[3]])).rstrip())
    return "\n".join(lines)

