"""Helpers of the runtime's integration tests: a live-clock simulator, settings, a running
node, polling, and small test strategies.

The node runs on real time (its ticks, timeouts and staleness are real), so the simulator
it trades on runs on a live clock too (`SimServer` on 127.0.0.1:0, stepped by its own
ticker); tests wait for conditions with `eventually` instead of sleeping fixed times.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from hip3term.config import Settings, load_settings
from hip3term.core.clock import LiveClock
from hip3term.errors import MarketError
from hip3term.keys import SecretKey
from hip3term.persistence.db import Journal, open_journal
from hip3term.runtime.credentials import Credentials
from hip3term.runtime.node import TradingNode
from hip3term.strategy import OrderUpdateLike, Strategy, StrategyContext, StrategyParams
from hip3term.venue.sim.exchange import SimExchange
from hip3term.venue.sim.faults import FaultSpec
from hip3term.venue.sim.server import ServerConfig, SimServer

ACCOUNT = SecretKey.from_hex("0x" + "44" * 32)  # a throwaway test key, used nowhere real
FUNDING = Decimal(10_000)
MARKET = "xyz:COIN"


@contextlib.asynccontextmanager
async def live_sim(*, faults: str = "", seed: int = 5, port: int = 0,
                   exchange: SimExchange | None = None) -> AsyncIterator[SimServer]:
    """A simulator on a live clock, funding `ACCOUNT`; stopped on exit."""
    exchange = exchange or SimExchange.create(("COIN",), seed=seed, clock=LiveClock(),
                                              fund={ACCOUNT.address: FUNDING})
    server = SimServer(exchange, ServerConfig(port=port, faults=FaultSpec.parse(faults),
                                              seed=seed))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def settings_for(tmp_path: Path, url: str, **overrides: Any) -> Settings:
    """Settings for a node on `url` with its files under `tmp_path` (dotted overrides)."""
    values: dict[str, Any] = {
        "venue.ws_url": url,
        "paths.state_dir": str(tmp_path / "state"),
        "paths.journal": str(tmp_path / "state" / "journal.sqlite"),
        "paths.recordings_dir": str(tmp_path / "recordings"),
        "feeds.backoff_initial_s": 0.1,
        "feeds.backoff_max_s": 0.5,
    }
    values.update(overrides)
    return load_settings(overrides=values, env={})


def credentials(key: SecretKey = ACCOUNT) -> Credentials:
    """Trading credentials for the funded test account."""
    return Credentials(key, key.address, source="test")


@contextlib.asynccontextmanager
async def running(node: TradingNode) -> AsyncIterator[TradingNode]:
    """Run `node` in a task; on exit ask it to stop and wait for its shutdown."""
    task = asyncio.create_task(node.run(), name="node under test")
    try:
        yield node
    finally:
        node.request_stop("test finished")
        await asyncio.wait_for(task, 30)


async def eventually(predicate: Callable[[], bool], what: str,
                     timeout: float = 15.0) -> None:  # noqa: ASYNC109  # reason: a polling helper
    """Wait until `predicate()` holds (polled every 20 ms); fail with `what` after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for: {what}")
        await asyncio.sleep(0.02)


def sim_position(exchange: SimExchange, user: str = ACCOUNT.address) -> Decimal:
    """The account's position in xyz:COIN on the simulator (0 when flat)."""
    data = exchange.info_response({"type": "clearinghouseState", "user": user, "dex": "xyz"})
    for item in data["payload"]["data"]["assetPositions"]:
        if item["position"]["coin"] == MARKET:
            return Decimal(item["position"]["szi"])
    return Decimal(0)


def sim_open_orders(exchange: SimExchange, user: str = ACCOUNT.address) -> list[Any]:
    """The account's open orders on the simulator."""
    data = exchange.info_response({"type": "frontendOpenOrders", "user": user, "dex": "xyz"})
    orders: list[Any] = data["payload"]["data"]
    return orders


async def read_journal(path: Path) -> Journal:
    """Open a journal for reading (close it with `aclose`)."""
    return await open_journal(path)


# ---------------------------------------------------------------- hip3term run subprocesses


LINE_TIMEOUT_S = 20.0


def node_config(tmp_path: Path, *, ws_url: str | None = None, params: str = "",
                risk: str = "") -> Path:
    """A TOML config with the node's files under `tmp_path` (sections as TOML text)."""
    venue = f'ws_url = "{ws_url}"\n' if ws_url else ""
    text = (f"[venue]\n{venue}[paths]\nstate_dir = \"{tmp_path / 'state'}\"\n"
            f"journal = \"{tmp_path / 'state' / 'journal.sqlite'}\"\n"
            f"recordings_dir = \"{tmp_path / 'recordings'}\"\n"
            f"[risk]\n{risk}[strategy.params]\n{params}")
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def env_without_keys(key: bool = False) -> dict[str, str]:
    """This environment without HIP3TERM_ variables; with `key`, the test key to sign."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIP3TERM_")}
    if key:
        env["HIP3TERM_AGENT_KEY"] = ACCOUNT.secret_bytes().hex()
    return env


class Headless:
    """A `hip3term run --headless` child with line-based stdin/stdout helpers."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []

    @classmethod
    async def start(cls, tmp_path: Path, config: Path, *args: str, key: bool = False
                    ) -> Headless:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hip3term", "run", "--headless", "--config", str(config),
            "--status-every", "0.5", *args, cwd=tmp_path, env=env_without_keys(key),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL)
        return cls(proc)

    async def line_with(self, *parts: str) -> str:
        """The next line that contains every one of `parts`."""
        return await self._next_line(lambda line: all(part in line for part in parts),
                                     f"no line with {parts}")

    async def line_matching(self, pattern: str) -> str:
        """The next line in which the regular expression `pattern` is found."""
        compiled = re.compile(pattern)
        return await self._next_line(lambda line: compiled.search(line) is not None,
                                     f"no line matching {pattern!r}")

    async def _next_line(self, accept: Callable[[str], bool], failure: str) -> str:
        assert self.proc.stdout is not None
        try:
            async with asyncio.timeout(LINE_TIMEOUT_S):
                while True:
                    raw = await self.proc.stdout.readline()
                    assert raw, f"the process ended; last lines: {self.lines[-5:]}"
                    line = raw.decode()
                    self.lines.append(line)
                    if accept(line):
                        return line
        except TimeoutError:
            raise AssertionError(f"{failure}; last lines: {self.lines[-3:]}") from None

    async def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")
        await self.proc.stdin.drain()

    async def finish(self) -> int:
        assert self.proc.stdout is not None
        async with asyncio.timeout(LINE_TIMEOUT_S):
            rest = await self.proc.stdout.read()
            self.lines += rest.decode().splitlines(keepends=True)
            return await self.proc.wait()

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()



# ---------------------------------------------------------------- test strategies


def _ioc_price(ctx: StrategyContext[Any], is_buy: bool) -> Decimal | None:
    touch = ctx.book.best_ask if is_buy else ctx.book.best_bid
    if touch is None:
        return None
    factor = Decimal("1.003") if is_buy else Decimal("0.997")
    return ctx.rules.round_price(touch.px * factor, is_buy=is_buy, aggressive=True)


def _size(ctx: StrategyContext[Any], px: Decimal, usd: Decimal) -> Decimal:
    return ctx.rules.round_size(usd / px, reduce_only=False)


class _Base(Strategy[StrategyParams]):
    Params = StrategyParams
    timer_interval_s = 0.1

    def __init__(self, params: StrategyParams | None = None) -> None:
        super().__init__(params or StrategyParams())
        self.updates: list[tuple[str | None, str]] = []
        self.pending: str | None = None
        self.placed = 0

    def on_order_update(self, ctx: StrategyContext[Any], update: OrderUpdateLike) -> None:
        self.updates.append((update.cloid, update.status))
        if update.cloid == self.pending and update.status not in ("queued", "sent", "resting",
                                                                 "unknown"):
            self.pending = None

    def _ioc(self, ctx: StrategyContext[Any], is_buy: bool, usd: Decimal,
             reduce_only: bool = False) -> None:
        px = _ioc_price(ctx, is_buy)
        if px is None:
            return
        pos = ctx.position()
        try:
            sz = (ctx.rules.round_size(abs(pos.size), reduce_only=True)
                  if reduce_only and pos is not None else _size(ctx, px, usd))
        except MarketError:
            return
        self.pending = ctx.place(is_buy=is_buy, px=px, sz=sz, tif="Ioc", reduce_only=reduce_only,
                                 expected_edge_bps=1.5, tag="exit" if reduce_only else "entry")
        self.placed += 1


class TakeOnce(_Base):
    """Buys about $15 once with an IOC through the ask (retried while denied)."""

    name = "take_once"
    description = "test: one taker entry"

    def on_timer(self, ctx: StrategyContext[Any]) -> None:
        if self.pending is None and ctx.position() is None and not self.filled(ctx):
            self._ioc(ctx, True, Decimal(15))

    def filled(self, ctx: StrategyContext[Any]) -> bool:
        return any(status == "filled" for _, status in self.updates)


class Churn(_Base):
    """Buys about $15 with an IOC, sells it back reduce-only, again and again (each round
    trip pays the spread and two taker fees: a loser)."""

    name = "churn"
    description = "test: losing round trips"

    def on_timer(self, ctx: StrategyContext[Any]) -> None:
        if self.pending is not None:
            return
        pos = ctx.position()
        if pos is None:
            self._ioc(ctx, True, Decimal(15))
        elif pos.size > 0:
            self._ioc(ctx, False, Decimal(15), reduce_only=True)


class TakeAndRest(_Base):
    """Two-sided: buys about $15 with an IOC, then rests a GTC bid 5 % under the touch, and
    does both again whenever they are gone (e.g. after a halt)."""

    name = "take_and_rest"
    description = "test: a position and a resting order"
    two_sided = True

    def __init__(self, params: StrategyParams | None = None) -> None:
        super().__init__(params)
        self.resting: str | None = None

    def on_order_update(self, ctx: StrategyContext[Any], update: OrderUpdateLike) -> None:
        super().on_order_update(ctx, update)
        if update.cloid == self.resting and update.status not in ("queued", "sent", "resting",
                                                                 "unknown"):
            self.resting = None

    def on_timer(self, ctx: StrategyContext[Any]) -> None:
        if self.pending is not None:
            return
        if ctx.position() is None:
            self._ioc(ctx, True, Decimal(15))
            return
        bid = ctx.book.best_bid
        if self.resting is None and bid is not None:
            px = ctx.rules.round_price(bid.px * Decimal("0.95"), is_buy=True, aggressive=False)
            self.resting = ctx.place(
                is_buy=True, px=px, sz=_size(ctx, px, Decimal(12)), tif="Gtc", tag="rest")


def journal_kinds(rows: Any) -> list[str]:
    """The `kind` of each risk event row."""
    return [row.kind for row in rows]


def by_kind(rows: Any, kind: str) -> list[Any]:
    """The risk event rows of one kind."""
    return [row for row in rows if row.kind == kind]


def mapping(value: object) -> Mapping[str, Any]:
    """A JSON detail as a mapping (empty when it is not one)."""
    return value if isinstance(value, dict) else {}
