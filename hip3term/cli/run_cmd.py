"""`hip3term run`: the workstation (engine + TUI, or headless)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hip3term.cli.common import (
    ConfigOption,
    DexOption,
    LiveOption,
    VenueOption,
    WsUrlOption,
)
from hip3term.errors import ConfigError

if TYPE_CHECKING:
    from hip3term.config import Settings
    from hip3term.runtime.credentials import Credentials
    from hip3term.strategy.base import Strategy

_HELP = """\
Run the trading workstation on one market: feeds, strategy, risk gates, executor, position
tracker and hard-stop latch in one engine process, with the TUI (or a status line with
--headless). Under the TUI the engine runs in a child process of it, so drawing the screen
never delays the engine (`[tui] engine = "thread"` keeps both in one process); its log
goes to state/hip3term.log.

Venues: with no other setting it trades the embedded exchange simulator (paper money, no
network), started as a child process that dies with this one; a fresh key is created
and funded there unless one is configured. --venue testnet|mainnet connects to the real
exchange and only OBSERVES (strategy signals and would-be orders with their expected edge
go to the journal and the status line; nothing is sent) unless --live is given; then the
agent key (HIP3TERM_AGENT_KEY or a keystore) signs and account.address is queried.
Mainnet with --live asks you to type MAINNET first. --observe withholds orders anywhere.

Risk: every order passes the gates in the design's order (hard stop, READY-TRADING,
notional per market and total, position, pending order, action budget). The latch trips
on cumulative loss, losing streaks, flatten failures, stale data, oracle-mark
divergence, websocket down, reject storms or the operator; it cancels all, flattens all
and holds until an explicit resume. Limits are in the [risk] section of the config.

Headless operator commands (one per line on stdin): halt, flatten, cancel, pause,
resume <reason>, status, quit, help. SIGINT/SIGTERM quit gracefully (open orders are
canceled first when risk.cancel_all_on_quit). Every session is journaled
(paths.journal) and recorded (paths.recordings_dir); a restart recovers positions and
open orders from the exchange and the latch and strategy state from the journal, and
never reuses a nonce (paths.state_dir).

Examples:

\b
  hip3term run --headless --duration 10m
  hip3term run --market TSLA --strategy maker --headless
  hip3term run --venue testnet --headless                 (observe only)
  hip3term run --venue testnet --live --config mine.toml  (trades; key from env)
"""

MarketRunOption = Annotated[
    str | None,
    typer.Option("--market", metavar="COIN", show_default=False,
                 help="Coin on the dex: COIN means xyz:COIN (the default market); a full name "
                 "such as xyz:TSLA also sets the dex."),
]  # fmt: skip
ObserveOption = Annotated[
    bool,
    typer.Option("--observe", help="Withhold every order: the strategy runs and its would-be "
                 "orders are journaled and shown with their expected edge; nothing is sent. "
                 "The default on testnet and mainnet without --live."),
]  # fmt: skip
StrategyOption = Annotated[
    str | None,
    typer.Option("--strategy", metavar="NAME", show_default=False,
                 help="Strategy plugin (default strategy.name, oracle_dislocation); see "
                 "`hip3term plugins` for the list and their [strategy.params]."),
]  # fmt: skip
HeadlessOption = Annotated[
    bool,
    typer.Option("--headless", help="No TUI: a status line every few seconds on stdout, logs "
                 "on stderr, operator commands on stdin. For servers, scripts and tests."),
]  # fmt: skip
DurationOption = Annotated[
    str | None,
    typer.Option("--duration", metavar="TIME", show_default=False,
                 help="Stop gracefully after this long (90s, 15m, 1h); default: until quit, "
                 "Ctrl-C or SIGTERM."),
]  # fmt: skip
SeedOption = Annotated[
    int | None,
    typer.Option("--seed", metavar="S", show_default=False,
                 help="Seed of the embedded simulator's market (default sim.seed)."),
]  # fmt: skip
FaultsOption = Annotated[
    str | None,
    typer.Option("--faults", metavar="SPEC", show_default=False,
                 help="Faults for the embedded simulator, e.g. drop=30s,malformed=0.01 "
                 "(see `hip3term sim --help`)."),
]  # fmt: skip
StatusEveryOption = Annotated[
    float,
    typer.Option("--status-every", metavar="S", min=0.1,
                 help="Seconds between status lines in --headless mode."),
]  # fmt: skip
MainnetYesOption = Annotated[
    bool,
    typer.Option("--yes-i-mean-mainnet", help="Skip the typed confirmation of mainnet --live "
                 "(needed when stdin is not a terminal, e.g. under a service manager)."),
]  # fmt: skip
LogLevelOption = Annotated[
    str,
    typer.Option("--log-level", metavar="LEVEL",
                 help="Logging on stderr in --headless mode: debug, info, warning or error."),
]  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add the `run` command to the root app."""
    app.command("run", help=_HELP, short_help="Run the workstation (TUI, or --headless).")(run)


def run(
    market: MarketRunOption = None,
    dex: DexOption = None,
    venue: VenueOption = None,
    ws_url: WsUrlOption = None,
    live: LiveOption = False,
    observe: ObserveOption = False,
    strategy: StrategyOption = None,
    headless: HeadlessOption = False,
    duration: DurationOption = None,
    config: ConfigOption = None,
    seed: SeedOption = None,
    faults: FaultsOption = None,
    status_every: StatusEveryOption = 5.0,
    yes_i_mean_mainnet: MainnetYesOption = False,
    log_level: LogLevelOption = "info",
) -> None:
    """Run the workstation."""
    from hip3term.cli.common import settings_from_cli
    from hip3term.cli.record_cmd import parse_duration
    from hip3term.runtime.credentials import resolve_credentials
    from hip3term.strategy.loader import load_strategy

    settings = settings_from_cli(
        config, venue=venue, ws_url=ws_url, live=live, observe=True if observe else None,
        dex=dex, market=market, strategy=strategy, seed=seed, faults=faults,
    )  # fmt: skip
    seconds = parse_duration(duration) if duration is not None else None
    plugin = load_strategy(settings.strategy.name, settings.strategy.params)
    observing = settings.observe_only
    credentials = resolve_credentials(settings, observe=observing,
                                      embedded_sim=settings.venue.ws_endpoint is None)
    mainnet_live = settings.venue.is_mainnet and not observing
    tui = None if headless else _tui()
    if mainnet_live and not yes_i_mean_mainnet and tui is None:
        _confirm_mainnet(settings, credentials)
    if tui is not None:
        code = _run_tui(tui, settings, plugin, credentials, mainnet_live and not yes_i_mean_mainnet)
        raise typer.Exit(code)
    if not headless:
        typer.echo("hip3term run: the TUI is not built yet; running headless (status lines "
                   "on stdout, commands on stdin).", err=True)  # fmt: skip
    _headless(settings, plugin, credentials, seconds, status_every, log_level)


def _tui() -> Any:
    import importlib
    import importlib.util

    if importlib.util.find_spec("hip3term.tui.app") is None:
        return None
    # imported by name: the TUI is optional here and typed on its own side
    app = importlib.import_module("hip3term.tui.app")
    return app if hasattr(app, "run_tui") else None


def _summary(settings: Settings, credentials: Credentials) -> str:
    risk = settings.risk
    return (f"{settings.market.name} on mainnet for account {credentials.account}, strategy "
            f"{settings.strategy.name}; limits ${risk.max_notional_per_market} a market, "
            f"${risk.max_notional_total} in all, hard stop at a ${risk.max_cumulative_loss} "
            "loss")  # fmt: skip


def _confirm_mainnet(settings: Settings, credentials: Credentials) -> None:
    if not sys.stdin.isatty():
        raise ConfigError(
            "mainnet with --live needs a typed confirmation and stdin is not a terminal; "
            "pass --yes-i-mean-mainnet to confirm on the command line"
        )
    typer.echo(f"MAINNET LIVE: real orders with real money. {_summary(settings, credentials)}.")
    answer = typer.prompt("Type MAINNET to start trading (anything else quits)", default="",
                          show_default=False)  # fmt: skip
    if answer.strip() != "MAINNET":
        typer.echo("not confirmed: nothing was started")
        raise typer.Exit(1)


def _run_tui(tui: Any, settings: Settings, plugin: Strategy[Any], credentials: Credentials,
             confirm: bool) -> int:  # fmt: skip
    log_path = settings.paths.state_dir / "hip3term.log"
    engine: Any
    if settings.tui.engine == "process":
        from hip3term.runtime.process import EngineProcess, NodeSpec

        # The child loads the strategy again from the settings (the plugin was loaded
        # here to fail early on bad parameters); the key goes over the pipe, never pickled.
        key = None if credentials.key is None else credentials.key.secret_bytes()
        engine = EngineProcess(NodeSpec.of(settings, credentials, log_path), key)
    else:
        from hip3term.runtime.launch import LaunchedNode, launch
        from hip3term.runtime.thread import EngineThread

        async def factory() -> LaunchedNode:
            return await launch(settings, strategy=plugin, credentials=credentials)

        engine = EngineThread(factory)
    code: int = tui.run_tui(engine, settings, confirm_mainnet=confirm,
                            mainnet_summary=_summary(settings, credentials),
                            log_path=log_path)  # fmt: skip
    return code


def _headless(settings: Settings, plugin: Strategy[Any], credentials: Credentials,
              seconds: float | None, status_every: float, log_level: str) -> None:  # fmt: skip
    import asyncio
    import logging

    levels = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
              "error": logging.ERROR}  # fmt: skip
    if log_level.lower() not in levels:
        raise ConfigError(f"--log-level {log_level}: expected debug, info, warning or error")
    logging.basicConfig(level=levels[log_level.lower()], stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("websockets", "hip3term.feeds", "hip3term.sim"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, levels[log_level.lower()]))
    from hip3term.runtime.headless import run_headless

    asyncio.run(run_headless(settings, strategy=plugin, credentials=credentials,
                             duration_s=seconds, status_every_s=status_every))
