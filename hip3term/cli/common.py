"""Options shared by every command that loads settings, and the call that loads them.

A command declares the options it offers with these aliases and hands them to
`settings_from_cli`, which layers them over the configuration (defaults file, `--config`
file, `HIP3TERM_*` variables) and names the flag in any error:

    def run(config: ConfigOption = None, venue: VenueOption = None, live: LiveOption = False):
        settings = settings_from_cli(config, venue=venue, live=live)

Flags left at None (and `--live` left off) are "not given": the configuration decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final

import typer

if TYPE_CHECKING:
    from hip3term.config import LoadedConfig, Settings

CLI_FLAGS: Final[Mapping[str, tuple[str, str]]] = {
    "venue": ("--venue", "venue.name"),
    "ws_url": ("--ws-url", "venue.ws_url"),
    "live": ("--live", "venue.live"),
    "observe": ("--observe", "venue.observe"),
    "dex": ("--dex", "market.dex"),
    "market": ("--market", "market.coin"),
    "strategy": ("--strategy", "strategy.name"),
    "seed": ("--seed", "sim.seed"),
    "port": ("--port", "sim.port"),
    "faults": ("--faults", "sim.faults"),
}
"""Keyword of `settings_from_cli` -> (flag as typed, dotted settings path)."""

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="FILE",
        show_default=False,
        help=(
            "TOML file layered over configs/default.toml; HIP3TERM_<SECTION>__<FIELD> "
            "environment variables and command-line flags override it. Unknown keys are "
            "refused. See `hip3term config check`."
        ),
    ),
]
VenueOption = Annotated[
    str | None,
    typer.Option(
        "--venue",
        metavar="sim|testnet|mainnet",
        show_default=False,
        help=(
            "Exchange: sim (embedded simulator, paper money, no network; the default), "
            "testnet or mainnet. Real venues only observe unless --live is given."
        ),
    ),
]
WsUrlOption = Annotated[
    str | None,
    typer.Option(
        "--ws-url",
        metavar="URL",
        show_default=False,
        help=(
            "Websocket URL used instead of the venue's own, e.g. ws://127.0.0.1:8080/ws for a "
            "`hip3term sim` started elsewhere, a local node or a proxy."
        ),
    ),
]
DexOption = Annotated[
    str | None,
    typer.Option(
        "--dex",
        metavar="DEX",
        show_default=False,
        help='HIP-3 dex of the market (default xyz); "" means the validator-operated perps.',
    ),
]
MarketOption = Annotated[
    str | None,
    typer.Option(
        "--market",
        metavar="COIN",
        show_default=False,
        help=(
            "Coin on the dex, e.g. COIN for xyz:COIN (default COIN); a full name such as "
            "xyz:TSLA also sets the dex."
        ),
    ),
]
LiveOption = Annotated[
    bool,
    typer.Option(
        "--live",
        help=(
            "Send real orders on testnet/mainnet (within the risk limits). Without it a real "
            "venue is only observed. Only this flag can switch trading on."
        ),
    ),
]


def cli_overrides(**flags: object) -> tuple[dict[str, object], dict[str, str]]:
    """Given flags -> (dotted-path overrides, dotted path -> flag name for error messages).

    Raises:
        TypeError: for a keyword not in `CLI_FLAGS` (a programming error).
    """
    overrides: dict[str, object] = {}
    labels: dict[str, str] = {}
    for name, value in flags.items():
        if name not in CLI_FLAGS:
            raise TypeError(f"unknown settings flag {name!r}; known: {', '.join(CLI_FLAGS)}")
        if value is None or (name == "live" and value is False):
            continue
        flag, path = CLI_FLAGS[name]
        overrides[path] = value
        labels[path] = flag
    return overrides, labels


def config_from_cli(config: Path | None, /, **flags: object) -> LoadedConfig:
    """Load the layered configuration with these flags on top; keeps the list of sources.

    Raises:
        ConfigError: naming the file, variable or flag at fault.
    """
    from hip3term.config import load_config

    overrides, labels = cli_overrides(**flags)
    return load_config(config, overrides, override_labels=labels)


def settings_from_cli(config: Path | None, /, **flags: object) -> Settings:
    """The settings for a command: defaults < `--config` file < HIP3TERM_* < these flags.

    Args:
        config: the `--config` file, or None.
        **flags: keywords of `CLI_FLAGS` (venue, ws_url, live, observe, dex, market,
            strategy, seed, port, faults); None means "not given".

    Raises:
        ConfigError: naming the file, variable or flag at fault.
    """
    return config_from_cli(config, **flags).settings
