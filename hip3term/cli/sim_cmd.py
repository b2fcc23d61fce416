"""`hip3term sim`: the embedded exchange simulator alone, on loopback.

It serves Hyperliquid's websocket protocol at ws://127.0.0.1:PORT/ws until Ctrl-C or
SIGTERM, then closes every connection and exits with status 0.
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import sys
import textwrap
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer

from hip3term.core.numeric import to_wire
from hip3term.errors import ConfigError, RecordingError

if TYPE_CHECKING:
    from hip3term.venue.sim.exchange import SimExchange
    from hip3term.venue.sim.server import SimServer

DEFAULT_FUNDING = Decimal(10_000)
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")

_HELP = """\
Run the embedded exchange simulator on 127.0.0.1: a websocket server that speaks
Hyperliquid's protocol (subscriptions, post info requests, signed actions), so that any
Hyperliquid client can connect to ws://127.0.0.1:PORT/ws and trade with paper money.

Markets are coins of the `xyz` dex (HIP-3), with the real mainnet meta, so asset ids
match mainnet (xyz:COIN = 110007). Each is a seeded synthetic market (a random-walk fair
price, an oracle pushed every ~3 s, a 20-level house book that sometimes lags the
oracle, house takers), or the replay of a recording.

The same port also answers POST /info and POST /exchange (HTTP base URL
http://127.0.0.1:PORT), for clients that query and trade over HTTP and subscribe over
the websocket, such as the official Python SDK.

Signed actions are verified as on mainnet (phantom-agent source "a"; --testnet for "b")
and must come from a funded account (--fund) or from an agent it approved with
approveAgent. Clients that pick the network from the URL sign as testnet for a local URL
(the official Python SDK does): run those with --testnet. The URL, the port and the
funded accounts are printed on start.
"""


def _faults_epilog() -> str:
    from hip3term.venue.sim.faults import FAULTS_HELP

    wrap = textwrap.TextWrapper(
        width=86, subsequent_indent="    ", break_long_words=False, break_on_hyphens=False
    )
    lines = [wrap.fill(line) for line in FAULTS_HELP.splitlines()]
    # \b keeps click from re-wrapping the list of faults into one paragraph.
    return "Fault kinds for --faults:\n\n\b\n" + "\n".join(lines)


MarketOption = Annotated[
    list[str] | None,
    typer.Option(
        "--market",
        "-m",
        metavar="COIN",
        help="A coin of the xyz dex to simulate (COIN or xyz:COIN); repeat for several "
        "markets. Default: COIN, or with --from-recording the coins found in the recording.",
    ),
]
PortOption = Annotated[
    int,
    typer.Option(
        "--port",
        min=0,
        max=65535,
        metavar="N",
        help="TCP port on 127.0.0.1; 0 (the default) picks a free one and prints it.",
    ),
]
SeedOption = Annotated[
    int,
    typer.Option(
        "--seed",
        metavar="S",
        help="Seed of the synthetic markets and of the faults: the same seed gives the same "
        "market. Default 0.",
    ),
]
FundOption = Annotated[
    list[str] | None,
    typer.Option(
        "--fund",
        metavar="ADDR[=USDC]",
        help="Create a funded account: its address, optionally with an amount of USDC "
        f"(default {DEFAULT_FUNDING}). Repeat for several accounts. Only funded accounts, "
        "and agents they approve, may send actions.",
    ),
]
FaultsOption = Annotated[
    str,
    typer.Option(
        "--faults",
        metavar="SPEC",
        help="Faults to inject, e.g. drop=30s,dup=0.01 (the kinds are listed below). "
        "Default: none.",
    ),
]
RecordingOption = Annotated[
    Path | None,
    typer.Option(
        "--from-recording",
        metavar="FILE",
        help="Replay the public frames of a session recording (a .h3rec file written by "
        '`hip3term record` or `run`, or a JSON-lines file of {"ts_ns", "frame"}) instead of '
        "synthetic markets; your orders are matched against the recorded book.",
    ),
]
SpeedOption = Annotated[
    float,
    typer.Option(
        "--speed",
        metavar="X",
        help="Replay speed with --from-recording: 1 is real time, 10 ten times faster.",
    ),
]
ShocksOption = Annotated[
    float | None,
    typer.Option(
        "--shocks-per-hour",
        metavar="N",
        show_default=False,
        help="Rate of dislocation shocks of the synthetic markets (the book leaving the "
        "oracle by 10 bps or more, Pareto-sized, mostly reverting within seconds). Default "
        "20, calibrated on the real 48-hour study; the workstation's embedded simulator "
        "uses sim.shocks_per_hour of the configuration (480) so the taker has work at once.",
    ),
]
BookIntervalOption = Annotated[
    float,
    typer.Option(
        "--book-interval",
        metavar="S",
        help="Seconds between l2Book snapshots (default 0.5, as the exchange's minimum).",
    ),
]
IdleOption = Annotated[
    float,
    typer.Option(
        "--idle-timeout",
        metavar="S",
        help="Close a connection after this many seconds without a client message "
        "(default 60, as the exchange).",
    ),
]
TestnetOption = Annotated[
    bool,
    typer.Option(
        "--testnet",
        help='Verify signatures as testnet (source "b", hyperliquidChain "Testnet") '
        'instead of mainnet (source "a").',
    ),
]
ExitWithParentOption = Annotated[
    bool,
    typer.Option(
        "--exit-with-parent",
        hidden=True,
        help="Stop when standard input reaches end of file: a parent process that started "
        "the simulator with a pipe on its stdin ends it by exiting, even after kill -9.",
    ),
]
LogOption = Annotated[
    str,
    typer.Option(
        "--log-level",
        metavar="LEVEL",
        help="Logging on stderr: debug, info (default), warning or error.",
    ),
]


def register(app: typer.Typer) -> None:
    """Add the `sim` command to the root app."""
    app.command("sim", help=_HELP, epilog=_faults_epilog(),
                short_help="The embedded exchange simulator on 127.0.0.1.")(sim)


def sim(
    market: MarketOption = None,
    port: PortOption = 0,
    seed: SeedOption = 0,
    fund: FundOption = None,
    faults: FaultsOption = "",
    from_recording: RecordingOption = None,
    speed: SpeedOption = 1.0,
    book_interval: BookIntervalOption = 0.5,
    shocks_per_hour: ShocksOption = None,
    idle_timeout: IdleOption = 60.0,
    testnet: TestnetOption = False,
    log_level: LogOption = "info",
    exit_with_parent: ExitWithParentOption = False,
) -> None:
    """Run the simulator until Ctrl-C / SIGTERM."""
    from hip3term.venue.sim.exchange import SimExchange
    from hip3term.venue.sim.faults import FaultSpec
    from hip3term.venue.sim.server import ServerConfig, SimServer

    _setup_logging(log_level)
    if book_interval <= 0 or idle_timeout <= 0:
        raise ConfigError("--book-interval and --idle-timeout must be positive numbers of seconds")
    if shocks_per_hour is not None and shocks_per_hour < 0:
        raise ConfigError("--shocks-per-hour must be a number of shocks an hour, 0 or more")
    if from_recording is None and speed != 1.0:
        raise ConfigError("--speed applies to a replay: give --from-recording FILE too")
    accounts = _parse_funding(fund or [])
    spec = FaultSpec.parse(faults)
    markets = market or (_recording_coins(from_recording) if from_recording else ["COIN"])
    exchange = SimExchange.create(
        markets, seed=seed, fund=accounts, is_mainnet=not testnet,
        recording=_recording_source(from_recording), speed=speed,
        shocks_per_hour=shocks_per_hour,
    )  # fmt: skip
    config = ServerConfig(
        port=port, book_interval_s=book_interval, idle_timeout_s=idle_timeout,
        faults=spec, seed=seed,
    )  # fmt: skip
    server = SimServer(exchange, config)
    asyncio.run(_serve(server, lambda: _banner(server, exchange, seed, str(spec) or "none"),
                       exit_with_parent=exit_with_parent))


async def _serve(server: SimServer, announce: Callable[[], None], *,
                 exit_with_parent: bool = False) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    watcher = (loop.create_task(_stop_at_stdin_eof(stop), name="sim parent watch")
               if exit_with_parent else None)
    await server.start()
    try:
        announce()
        await stop.wait()
    finally:
        if watcher is not None:
            watcher.cancel()
        await server.stop()
        typer.echo("hip3term sim: stopped", err=True)


async def _stop_at_stdin_eof(stop: asyncio.Event) -> None:
    # The parent holds the write end of our stdin pipe; when it exits, however it died,
    # the pipe closes and the read below sees end of file.
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    except (OSError, ValueError) as exc:
        logging.getLogger("hip3term.sim").warning("--exit-with-parent: stdin unusable: %s", exc)
        return
    while await reader.read(4096):
        pass
    logging.getLogger("hip3term.sim").info("parent gone (stdin closed): stopping")
    stop.set()


def _banner(server: SimServer, exchange: SimExchange, seed: int, faults: str) -> None:
    network = "mainnet (source a)" if exchange.is_mainnet else "testnet (source b)"
    lines = [
        f"hip3term sim: serving {server.url}",
        f"http: {server.url.replace('ws://', 'http://').removesuffix('/ws')} "
        "(POST /info, POST /exchange)",
        f"port: {server.port}",
        "markets: " + ", ".join(
            f"{coin} (asset {driver.spec.asset})" for coin, driver in exchange.drivers.items()
        ),
        f"seed: {seed}",
        f"signatures: {network}",
        f"faults: {faults}",
        "funded accounts:" if exchange.accounts.accounts else "funded accounts: none "
        "(add --fund ADDR to trade; info and subscriptions work without)",
    ]
    lines.extend(
        f"  {address} {to_wire(exchange.engine.ledger.balance(address))} USDC"
        for address in exchange.accounts.accounts
    )
    lines.append("Ctrl-C or SIGTERM stops it.")
    typer.echo("\n".join(lines))


def _parse_funding(items: list[str]) -> dict[str, Decimal]:
    accounts: dict[str, Decimal] = {}
    for item in items:
        address, sep, amount = item.partition("=")
        if not _ADDRESS.fullmatch(address):
            raise ConfigError(
                f"--fund {item}: the address must be 0x followed by 40 hex digits"
            )
        usdc = DEFAULT_FUNDING
        if sep:
            try:
                usdc = Decimal(amount)
            except InvalidOperation:
                usdc = Decimal(-1)
            if not usdc.is_finite() or usdc <= 0:
                raise ConfigError(f"--fund {item}: the amount must be a positive number of USDC")
        accounts[address.lower()] = accounts.get(address.lower(), Decimal(0)) + usdc
    return accounts


def _is_h3rec(path: Path) -> bool:
    from hip3term.recording.format import MAGIC

    try:
        with path.open("rb") as handle:
            return handle.read(len(MAGIC)) == MAGIC
    except OSError:
        return False  # the simulator reports a missing or unreadable file itself


def _recording_source(path: Path | None) -> Path | Callable[[], Iterator[tuple[int, bytes]]] | None:
    """The recording as the simulator takes it: a JSON-lines path, or for a .h3rec file a
    factory of its received frames as (wall_ns, raw) pairs (one iterator per market)."""
    if path is None or not _is_h3rec(path):
        return path
    from hip3term.recording.format import RecordKind
    from hip3term.recording.reader import RecordingReader

    def frames() -> Iterator[tuple[int, bytes]]:
        for record in RecordingReader(path):
            if record.kind == RecordKind.FRAME_IN:
                yield record.wall_ns, record.raw

    return frames


def _recording_coins(path: Path, max_lines: int = 100_000) -> list[str]:
    if _is_h3rec(path):
        from hip3term.recording.reader import read_header

        return [read_header(path).market]
    coins: list[str] = []
    try:
        with path.open("rb") as file:
            for number, line in enumerate(file):
                if number >= max_lines:
                    break
                coin = _book_coin(line)
                if coin is not None and coin not in coins:
                    coins.append(coin)
    except OSError as exc:
        raise RecordingError(f"{path}: {exc.strerror or exc}") from None
    xyz = [coin for coin in coins if coin.startswith("xyz:")]
    if not xyz:
        raise ConfigError(f"{path}: no l2Book frame of an xyz market found; name one with --market")
    return xyz


def _book_coin(line: bytes) -> str | None:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    frame = record.get("frame") if isinstance(record, dict) else None
    if isinstance(frame, str):
        try:
            frame = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return None
    if isinstance(frame, dict) and frame.get("channel") == "l2Book":
        data = frame.get("data")
        coin = data.get("coin") if isinstance(data, dict) else None
        return coin if isinstance(coin, str) else None
    return None


def _setup_logging(level: str) -> None:
    levels = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
              "error": logging.ERROR}  # fmt: skip
    if level.lower() not in levels:
        raise ConfigError(f"--log-level {level}: expected debug, info, warning or error")
    logging.basicConfig(
        level=levels[level.lower()], format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("websockets").setLevel(logging.WARNING)
