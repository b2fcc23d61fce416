"""The simulated exchange's state machine (synchronous, no I/O): what `SimServer` serves.

`SimExchange` ties together the matching engine (books, orders, isolated margin), one
market driver per simulated coin (`SyntheticMarket`, or `RecordedMarket` for a
recording), the funded accounts and their agents (`Accounts`), the per-signer nonce
sets (`NonceBook`) and the real `perpDexs` / `meta(xyz)` responses shipped as package
data (so asset ids are mainnet's: `xyz:COIN` = 110007). It answers three kinds of
question, all synchronously:

- `info_response(payload)`: an info `post` (see `hip3term.venue.sim.info`);
- `action_response(payload)`: a signed action `post` (see `hip3term.venue.sim.actions`),
  with the event frames it caused;
- `step(now_ms)` and the snapshot builders (`l2_book`, `bbo_levels`, `active_asset_ctx`,
  `all_mids`, `recent_trades`, `user_fills`): what the server pushes on its channels.

Network: actions are verified as mainnet actions (phantom-agent source "a",
`hyperliquidChain` "Mainnet") unless the exchange is created with `is_mainnet=False`.

Markets: every coin of the real `xyz` meta is listed by `meta`, `metaAndAssetCtxs` and
accepted in `l2Book` requests, but only the simulated ones (`markets=` / `--market`) have
a book and trade; the others answer an empty book, their real May-2026 asset context
(or a book-less one), and refuse orders with `Trading xyz:NAME is not simulated here
(asset N); start the simulator with --market NAME.`.
"""

from __future__ import annotations

import functools
import json
import os
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from importlib import resources
from typing import Any, NamedTuple, Protocol

from hip3term.core.clock import Clock, LiveClock, SimClock
from hip3term.core.numeric import to_wire
from hip3term.errors import ConfigError, MarketError
from hip3term.venue.hyperliquid.markets import AssetDirectory, MarketInfo, resolve_market_name
from hip3term.venue.sim import actions, info
from hip3term.venue.sim.accounts import Accounts
from hip3term.venue.sim.ledger import FundingPayment, MarketSpec
from hip3term.venue.sim.market import StepResult, SyntheticMarket, SyntheticParams
from hip3term.venue.sim.matching import MatchingEngine
from hip3term.venue.sim.nonces import NonceBook
from hip3term.venue.sim.payloads import aggregate_fills, aggregate_levels, level_wire
from hip3term.venue.sim.pushes import (
    Push,
    order_updates_push,
    trades_push,
    user_events_fills_push,
    user_fills_push,
)
from hip3term.venue.sim.records import FillRecord, Level, OrderEvent, Trade
from hip3term.venue.sim.replay_market import FrameSource, RecordedMarket

__all__ = ["DEX", "DexPackage", "MarketDriver", "SimExchange", "dex_package", "load_package_json"]

DEX = "xyz"
RECENT_TRADES = 30
_BOOK_DEPTH_FULL = 1000


class MarketDriver(Protocol):
    """What the exchange needs from a market driver (`SyntheticMarket`, `RecordedMarket`)."""

    @property
    def spec(self) -> MarketSpec:
        """The market driven."""
        ...

    @property
    def mark_px(self) -> Decimal:
        """The current mark price."""
        ...

    def asset_ctx(self) -> dict[str, Any]:
        """The perp asset context, numbers as strings."""
        ...

    def step(self, now_ms: int | None = None) -> StepResult:
        """Advance to `now_ms` and report what happened."""
        ...


def load_package_json(name: str) -> Any:
    """A JSON file of `hip3term/venue/sim/data/` (see its README.md for the origins)."""
    text = resources.files("hip3term.venue.sim").joinpath("data", name).read_text("utf-8")
    return json.loads(text)


class DexPackage(NamedTuple):
    """The simulated `xyz` dex as shipped: the real responses and what is read from them."""

    meta: dict[str, Any]
    """The `meta(xyz)` response."""
    perp_dexs: list[Any]
    """The `perpDexs` response."""
    static_ctxs: list[dict[str, Any]]
    """Real asset contexts, index-aligned with `meta["universe"]`."""
    directory: AssetDirectory
    """The markets of both responses."""


@functools.cache
def dex_package() -> DexPackage:
    """The shipped `xyz` dex, read and parsed once per process (a few milliseconds saved
    on every simulator and replay built after the first). Shared: read-only."""
    meta = load_package_json("meta_xyz.json")
    perp_dexs = load_package_json("perp_dexs.json")
    return DexPackage(meta, perp_dexs, load_package_json("xyz_asset_ctxs_2026-05.json"),
                      AssetDirectory.from_responses(perp_dexs, {DEX: meta}))


class SimExchange:
    """The simulated exchange: markets, accounts, nonces; answers info, actions and steps.

    Build one with `SimExchange.create`; the constructor takes ready parts.

    Args:
        clock: Source of every timestamp (a `SimClock` makes the server step on demand).
        engine: The matching engine holding the simulated markets.
        drivers: One driver per simulated market.
        directory: Every market of the loaded metas (asset ids, tick rules).
        meta: The raw `meta(xyz)` response.
        perp_dexs: The raw `perpDexs` response.
        static_ctxs: Real asset contexts, index-aligned with `meta["universe"]`.
        is_mainnet: Verify signatures as mainnet (source "a") or testnet ("b").
    """

    def __init__(
        self,
        *,
        clock: Clock,
        engine: MatchingEngine,
        drivers: Sequence[MarketDriver],
        directory: AssetDirectory,
        meta: dict[str, Any],
        perp_dexs: list[Any],
        static_ctxs: Sequence[dict[str, Any]] = (),
        is_mainnet: bool = True,
    ) -> None:
        self.clock = clock
        self.engine = engine
        self.directory = directory
        self.meta = meta
        self.perp_dexs = perp_dexs
        self.static_ctxs = list(static_ctxs)
        self.is_mainnet = is_mainnet
        self.accounts = Accounts()
        self.nonces = NonceBook()
        self.drivers = {driver.spec.name: driver for driver in drivers}
        self.scheduled_cancels: dict[str, int] = {}
        self.schedule_triggers: dict[tuple[str, int], int] = {}
        self._recent: dict[str, deque[dict[str, Any]]] = {
            name: deque(maxlen=RECENT_TRADES) for name in self.drivers
        }

    @classmethod
    def create(
        cls,
        markets: Sequence[str] = ("COIN",),
        *,
        seed: int = 0,
        clock: Clock | None = None,
        fund: Mapping[str, Decimal] | None = None,
        is_mainnet: bool = True,
        recording: str | os.PathLike[str] | Callable[[], FrameSource] | None = None,
        speed: float = 1.0,
        shocks_per_hour: float | None = None,
    ) -> SimExchange:
        """A simulator of synthetic (or recorded) `xyz` markets.

        Args:
            markets: Coins of the `xyz` dex (`COIN` or `xyz:COIN`); default `COIN`.
            seed: Seed of the synthetic markets (each market derives its own from it).
            clock: A `SimClock` for deterministic runs; the wall clock by default.
            fund: USDC to deposit per account address.
            is_mainnet: Verify signatures as mainnet (default) or testnet.
            recording: Replay this JSON-lines recording (`{"ts_ns", "frame"}` per line),
                or the frames a factory yields as `(ts_ns, raw)` pairs (one fresh
                iterator per market: this is how `.h3rec` session files are replayed),
                instead of synthetic markets: each market follows the recorded frames
                of its coin (`RecordedMarket`).
            speed: Replay speed factor for `recording` (1 = real time).
            shocks_per_hour: Rate of dislocation shocks of the synthetic markets (None:
                the calibrated default of `SyntheticParams`, 20 an hour).

        Raises:
            ConfigError: a market is not a coin of the `xyz` meta, or is delisted, or
                `speed` is not a positive number.
            RecordingError: the recording cannot be read.
        """
        clock = clock if clock is not None else LiveClock()
        meta, perp_dexs, static_ctxs, directory = dex_package()
        infos = _resolve_markets(directory, markets)
        specs = [market_spec(item) for item in infos]
        engine = MatchingEngine(specs, clock)
        drivers: list[MarketDriver] = []
        params = (SyntheticParams() if shocks_per_hour is None
                  else SyntheticParams(shocks_per_hour=shocks_per_hour))
        for item, spec in zip(infos, specs, strict=True):
            start_px = _start_px(static_ctxs, item.index)
            if recording is not None:
                source = recording() if callable(recording) else recording
                drivers.append(RecordedMarket(engine, spec, source, speed, clock,
                                              start_px=start_px))  # fmt: skip
            else:
                drivers.append(SyntheticMarket(engine, spec, seed=_market_seed(seed, spec.name),
                                               clock=clock, start_px=start_px,
                                               params=params))  # fmt: skip
        exchange = cls(
            clock=clock, engine=engine, drivers=drivers, directory=directory, meta=meta,
            perp_dexs=perp_dexs, static_ctxs=static_ctxs, is_mainnet=is_mainnet,
        )  # fmt: skip
        for address, usdc in (fund or {}).items():
            exchange.fund(address, usdc)
        return exchange

    # --- accounts and time ----------------------------------------------------------------

    def fund(self, address: str, usdc: Decimal) -> None:
        """Create (or top up) a funded account with `usdc` USDC."""
        self.accounts.add_account(address)
        self.engine.ledger.open_account(address.lower(), usdc)

    @property
    def simulated_clock(self) -> bool:
        """True when time moves only by `advance_clock` (a `SimClock`)."""
        return isinstance(self.clock, SimClock)

    def now_ms(self) -> int:
        """The exchange time in ms."""
        return self.clock.now_ms()

    def advance_clock(self, ms: int) -> None:
        """Move a simulated clock forward.

        Raises:
            RuntimeError: the clock is not a `SimClock`.
        """
        if not isinstance(self.clock, SimClock):
            raise RuntimeError("only a SimClock can be advanced")
        self.clock.advance(ms)

    @property
    def coins(self) -> list[str]:
        """The simulated coins (`xyz:COIN`, …)."""
        return list(self.drivers)

    # --- requests ---------------------------------------------------------------------------

    def info_response(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The `response` object of an info post: `{"type":"info",…}` or an error."""
        return info.respond(self, payload)

    def action_response(
        self, payload: dict[str, Any], *, reject_storm: Callable[[], bool] | None = None
    ) -> tuple[dict[str, Any], list[Push]]:
        """The `response` object of an action post, and the frames the action caused.

        Args:
            payload: The `/exchange` body.
            reject_storm: An optional callable; when it returns True for an order, that
                order gets the reject-storm error instead of being placed.
        """
        return actions.respond(self, payload, reject_storm)

    # --- stepping ---------------------------------------------------------------------------

    def step(self, now_ms: int) -> list[Push]:
        """Advance every market and the scheduled cancels to `now_ms`; the frames caused."""
        pushes: list[Push] = []
        for coin in sorted(self.drivers):
            result = self.drivers[coin].step(now_ms)
            pushes.extend(self.result_pushes(result.fills, result.events, result.trades))
            pushes.extend(self._funding_pushes(result.fundings))
        pushes.extend(actions.run_scheduled_cancels(self, now_ms))
        return pushes

    def result_pushes(
        self,
        fills: Iterable[FillRecord],
        events: Iterable[OrderEvent],
        trades: Iterable[Trade],
    ) -> list[Push]:
        """The frames for what one order or one step did (house accounts left out)."""
        pushes: list[Push] = []
        is_house = self.engine.ledger.is_house
        for owner, owner_events in _by_owner(e for e in events if not is_house(e.owner)):
            pushes.append(order_updates_push(owner, [e.wire() for e in owner_events]))
        for owner, owner_fills in _by_owner(f for f in fills if not is_house(f.owner)):
            for fill in owner_fills:
                self.accounts.add_volume(owner, fill.px * fill.sz)
            wires = [fill.wire() for fill in owner_fills]
            pushes.append(user_fills_push(owner, wires))
            pushes.append(user_events_fills_push(owner, wires))
        by_coin: dict[str, list[dict[str, Any]]] = {}
        for trade in trades:
            wire = trade.wire()
            by_coin.setdefault(trade.coin, []).append(wire)
            if trade.coin in self._recent:
                self._recent[trade.coin].append(wire)
        pushes.extend(trades_push(coin, wires) for coin, wires in by_coin.items())
        return pushes

    @staticmethod
    def _funding_pushes(payments: Iterable[FundingPayment]) -> list[Push]:
        return [
            Push(("userEvents", p.owner), "user", {"funding": p.wire()}) for p in payments
        ]

    # --- snapshots --------------------------------------------------------------------------

    def market_info(self, coin: str) -> MarketInfo | None:
        """The market named `coin` in the loaded metas, or None."""
        try:
            return self.directory.lookup(coin)
        except MarketError:
            return None

    def book_sides(self, coin: str) -> tuple[list[Level], list[Level]] | None:
        """Every bid and ask level of a simulated coin at full precision, else None."""
        driver = self.drivers.get(coin)
        if driver is None:
            return None
        return self.engine.book_levels(driver.spec.asset, _BOOK_DEPTH_FULL)

    def l2_book(
        self,
        coin: str,
        n_sig_figs: int | None,
        mantissa: int | None,
        depth: int,
        sides: tuple[list[Level], list[Level]] | None = None,
    ) -> dict[str, Any] | None:
        """`{coin, time, levels}` at most `depth` a side; None for a coin no dex lists.

        `sides` may pass `book_sides(coin)` when several variants of one book are built.
        """
        if sides is None:
            sides = self.book_sides(coin)
        if sides is None:
            if self.market_info(coin) is None:
                return None
            return {"coin": coin, "time": self.now_ms(), "levels": [[], []]}
        bids, asks = sides
        if n_sig_figs is not None:
            bids = aggregate_levels(bids, bids=True, n_sig_figs=n_sig_figs, mantissa=mantissa)
            asks = aggregate_levels(asks, bids=False, n_sig_figs=n_sig_figs, mantissa=mantissa)
        levels = [_wires(bids[:depth]), _wires(asks[:depth])]
        return {"coin": coin, "time": self.now_ms(), "levels": levels}

    def bbo_levels(self, coin: str) -> list[dict[str, Any] | None] | None:
        """`[bid, ask]` (a side None when empty) of a simulated coin, else None."""
        driver = self.drivers.get(coin)
        if driver is None:
            return None
        bid, ask = self.engine.bbo(driver.spec.asset)
        return [level_wire(bid), level_wire(ask)]

    def active_asset_ctx(self, coin: str) -> dict[str, Any] | None:
        """`{coin, ctx}` of a simulated coin, else None."""
        driver = self.drivers.get(coin)
        return None if driver is None else {"coin": coin, "ctx": driver.asset_ctx()}

    def asset_ctxs(self) -> list[dict[str, Any]]:
        """One ctx per `meta(xyz)` asset: live when simulated, else the real static one."""
        out: list[dict[str, Any]] = []
        for index, entry in enumerate(self.meta["universe"]):
            driver = self.drivers.get(entry["name"])
            if driver is not None:
                out.append(driver.asset_ctx())
            elif index < len(self.static_ctxs):
                out.append(dict(self.static_ctxs[index]))
            else:
                out.append(_bookless_ctx())
        return out

    def all_mids(self, dex: str | None) -> dict[str, str]:
        """Mid prices of the simulated coins of `dex` (mark when a side is empty)."""
        if dex != DEX:
            return {}
        mids: dict[str, str] = {}
        for coin in sorted(self.drivers):
            driver = self.drivers[coin]
            mid = self.engine.mid(driver.spec.asset)
            mids[coin] = to_wire(mid if mid is not None else driver.mark_px)
        return mids

    def marks(self) -> dict[int, Decimal]:
        """Mark price by asset id of every simulated market."""
        return {d.spec.asset: d.mark_px for d in self.drivers.values()}

    def recent_trades(self, coin: str) -> list[dict[str, Any]]:
        """The last trades of `coin` (at most 30), oldest first."""
        return list(self._recent.get(coin, ()))

    def user_fills(self, user: str, aggregate: bool = False, limit: int = 2000) -> list[Any]:
        """The most recent fills of `user`, newest first, as `WsFill` objects."""
        fills = self.engine.user_fills(user)
        if aggregate:
            fills = aggregate_fills(fills)
        return [fill.wire() for fill in reversed(fills[-limit:])]


def market_spec(item: MarketInfo) -> MarketSpec:
    """The matching engine's view of a meta market, with its tier-0 fees (`item.fee_rates`)."""
    taker, maker = item.fee_rates()
    return MarketSpec(
        asset=item.asset_id, name=item.name, sz_decimals=item.sz_decimals,
        max_leverage=item.max_leverage, taker_fee_rate=taker, maker_fee_rate=maker,
        only_isolated=item.only_isolated,
    )  # fmt: skip


def _resolve_markets(directory: AssetDirectory, markets: Sequence[str]) -> list[MarketInfo]:
    found: list[MarketInfo] = []
    for market in markets or ("COIN",):
        try:
            item = directory.lookup(resolve_market_name(market, DEX))
        except MarketError as exc:
            raise ConfigError(f"--market {market}: {exc.message}") from None
        if item.dex != DEX:
            raise ConfigError(f"--market {market}: the simulator runs markets of dex {DEX!r}")
        if item.is_delisted:
            raise ConfigError(f"--market {market}: {item.name} is delisted")
        if item not in found:
            found.append(item)
    return found


def _market_seed(seed: int, name: str) -> int:
    # A stable per-market seed (str hashes are salted per process, so no hash()).
    return seed * 1_000_003 + sum((i + 1) * ord(c) for i, c in enumerate(name))


def _start_px(static_ctxs: Sequence[dict[str, Any]], index: int) -> Decimal:
    if index < len(static_ctxs):
        return Decimal(static_ctxs[index]["oraclePx"])
    return Decimal(100)


def _by_owner(items: Iterable[Any]) -> list[tuple[str, list[Any]]]:
    grouped: dict[str, list[Any]] = {}
    for item in items:
        grouped.setdefault(item.owner, []).append(item)
    return list(grouped.items())


_LEVEL_WIRES: dict[Level, dict[str, Any]] = {}
_LEVEL_WIRES_MAX = 50_000


def _wires(levels: Sequence[Level]) -> list[dict[str, Any]]:
    # Most levels are unchanged from one push to the next: remember their wire form
    # (decimal-to-string conversion is the main cost of a book frame).
    out: list[dict[str, Any]] = []
    for level in levels:
        wire = _LEVEL_WIRES.get(level)
        if wire is None:
            if len(_LEVEL_WIRES) >= _LEVEL_WIRES_MAX:
                _LEVEL_WIRES.clear()
            wire = _LEVEL_WIRES[level] = level.wire()
        out.append(wire)
    return out


def _bookless_ctx() -> dict[str, Any]:
    return {
        "funding": "0.0", "openInterest": "0.0", "prevDayPx": "0.0", "dayNtlVlm": "0.0",
        "premium": None, "oraclePx": "0.0", "markPx": "0.0", "midPx": None,
        "impactPxs": None, "dayBaseVlm": "0.0",
    }  # fmt: skip
