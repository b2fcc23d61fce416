"""`hip3term config check`: validate the layered configuration and print the result."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

import typer

from hip3term.cli.common import (
    ConfigOption,
    DexOption,
    MarketOption,
    VenueOption,
    WsUrlOption,
    config_from_cli,
)

if TYPE_CHECKING:
    from hip3term.config import LoadedConfig, Settings

_CHECK_HELP = """\
Validate the configuration and print the effective settings as TOML.

The layers, later wins: configs/default.toml, the --config file, HIP3TERM_<SECTION>__<FIELD>
environment variables (e.g. HIP3TERM_VENUE__NAME=testnet), then the flags below. The first
line lists the sources used. Secrets are printed as "**********". On an invalid setting
it names the file and line (or variable or flag), the field, the value and what is
allowed, and exits with status 2.
"""
_REDACTED = '"**********"'
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def register(app: typer.Typer) -> None:
    """Add the `config` group (with `config check`) to the root app."""
    group = typer.Typer(
        name="config",
        help="Inspect and validate the configuration (TOML files, HIP3TERM_* variables, flags).",
        no_args_is_help=True,
    )

    @group.command("check", help=_CHECK_HELP)
    def check(
        config: ConfigOption = None,
        venue: VenueOption = None,
        ws_url: WsUrlOption = None,
        dex: DexOption = None,
        market: MarketOption = None,
    ) -> None:
        loaded = config_from_cli(config, venue=venue, ws_url=ws_url, dex=dex, market=market)
        typer.echo(render_report(loaded))

    app.add_typer(group, name="config", short_help="Check and print the configuration.")


def render_report(loaded: LoadedConfig) -> str:
    """The sources, a summary of what the settings mean, then the settings as TOML."""
    settings = loaded.settings
    header = [
        f"# sources (later wins): {', '.join(loaded.sources) or 'built-in defaults only'}",
        f"# market {settings.market.name} on {settings.venue.name}: {_connection(settings)}",
        f"# orders: {_orders(settings)}",
        f"# agent key: {_key_source(settings)} (not read by this check)",
    ]
    return "\n".join(header) + "\n\n" + render_toml(settings.model_dump(mode="python"))


def _connection(settings: Settings) -> str:
    url = settings.venue.ws_endpoint
    return f"connects to {url}" if url else "embedded simulator (started as a child process)"


def _orders(settings: Settings) -> str:
    if settings.observe_only:
        return "withheld (observe only: signals and would-be orders are logged)"
    if settings.venue.name == "sim":
        return "sent to the simulator (paper money)"
    return f"LIVE, sent to {settings.venue.name} within the risk limits"


def _key_source(settings: Settings) -> str:
    key = settings.account.agent_key
    match key.effective_source:
        case "direct":
            return "given directly as account.agent_key.private_key"
        case "env":
            return f"environment variable {key.env_var}"
        case "keystore":
            password = f", password from {key.password_env}" if key.password_env else ""
            return f"keystore {key.keystore}{password}"
        case _:
            return "none (nothing can be signed)"


def render_toml(data: Mapping[str, Any]) -> str:
    """TOML text of nested plain data; None values become comments, secrets are redacted."""
    lines: list[str] = []
    _render_table(lines, (), data)
    return "\n".join(lines).strip("\n") + "\n"


def _render_table(lines: list[str], path: tuple[str, ...], table: Mapping[str, Any]) -> None:
    subtables = {key: value for key, value in table.items() if isinstance(value, Mapping)}
    if path and (len(subtables) < len(table) or not subtables):
        lines.append(f"\n[{'.'.join(_key(part) for part in path)}]")
    for key, value in table.items():
        if key in subtables:
            continue
        if value is None:
            lines.append(f"# {_key(key)} is not set")
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in subtables.items():
        _render_table(lines, (*path, key), value)


def _key(key: object) -> str:
    text = str(key)
    return text if _BARE_KEY.fullmatch(text) else json.dumps(text)


def _value(value: object) -> str:
    from pydantic import SecretStr  # here, so that `hip3term --help` does not load pydantic

    if isinstance(value, SecretStr):
        return _REDACTED
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | PurePath):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None)
        return f"{{ {inner} }}" if inner else "{}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    return json.dumps(str(value))
