"""`hip3term record`: feeds only, every frame recorded, nothing traded."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from hip3term.cli.common import ConfigOption, DexOption, VenueOption, WsUrlOption
from hip3term.errors import ConfigError

_HELP = """\
Record a market's feeds to a session file without trading.

Connects one websocket to the venue (the embedded simulator by default, started as a
child process; or --venue testnet|mainnet; or any --ws-url), subscribes to l2Book, bbo,
trades and activeAssetCtx of the market, and appends every frame received (and every
message sent) to a .h3rec file under recordings/ with its local receive time and the
exchange's time. The file is flushed at least every 100 ms, so it survives a crash up to
the last flush. Reconnects are automatic; the session ends after --duration, on Ctrl-C
or on SIGTERM. Inspect the result with `hip3term recordings info FILE`.
"""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(text: str, *, flag: str = "--duration") -> float:
    """Seconds in a duration such as `90`, `90s`, `15m`, `1h`, `1.5h` or `500ms`."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(
            f"{flag} {text!r}: expected a positive duration such as 90s, 15m, 1h or 500ms "
            "(a bare number means seconds)"
        )
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def register(app: typer.Typer) -> None:
    """Add the `record` command to the root app."""

    @app.command(help=_HELP, short_help="Record a market's feeds to recordings/ (no trading).")
    def record(
        market: Annotated[
            str, typer.Option("--market", metavar="COIN", help="Coin on the dex (COIN means "
                              "xyz:COIN), a full name such as xyz:TSLA, or BTC with --dex ''.")
        ] = "COIN",
        dex: DexOption = None,
        venue: VenueOption = None,
        ws_url: WsUrlOption = None,
        config: ConfigOption = None,
        duration: Annotated[
            str | None, typer.Option("--duration", metavar="TIME", show_default=False,
                                     help="Stop after this long (90s, 15m, 1h); default: "
                                     "until Ctrl-C or SIGTERM.")
        ] = None,
        out: Annotated[
            Path | None, typer.Option("--out", metavar="PATH", show_default=False,
                                      help="A directory for the file (default "
                                      "paths.recordings_dir), or a file name ending in .h3rec.")
        ] = None,
    ) -> None:
        from hip3term.cli.common import settings_from_cli

        settings = settings_from_cli(config, venue=venue, ws_url=ws_url, dex=dex, market=market)
        seconds = parse_duration(duration) if duration is not None else None
        if out is not None and out.suffix == ".h3rec" and out.exists():
            raise ConfigError(f"--out {out}: the file exists; choose another name")
        import asyncio

        from hip3term.runtime.record import record_session

        summary = asyncio.run(record_session(settings, seconds=seconds, out=out,
                                             status=typer.echo))
        typer.echo(summary)
