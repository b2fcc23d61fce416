"""`run_replay`: a recording through the same engine, executor and strategy, in virtual time.

`ReplaySession` composes what `runtime.node.TradingNode` composes, on a
`replay.clock.VirtualTimeLoop` instead of a websocket: the synchronous `Engine` (market
state, tracker, READY-TRADING, latch and risk monitor, gates, scheduler, flattener, the
strategy host), the `ExecutorLoop` (nonces, signing, batching, post bookkeeping) posting
to the `ReplayVenue`, the engine's tick task, and the node's start-up and periodic resync
(perpDexs and meta for the market's rules, orders of unknown fate, clearinghouseState,
frontendOpenOrders, userRateLimit). At the end of the recording it shuts down as the node
does (the strategy's `on_stop`, cancel-all when `risk.cancel_all_on_quit`, up to 5 s for
the answers) and builds the report (`replay.report`).

What the engine journals goes to an in-memory collector with the journal's row shapes
(nothing is written to disk); the report reads those rows exactly as `hip3term report`
reads a live session's journal. The replayed account is a key derived from the seed,
funded like the embedded simulator's (`runtime.credentials.SIM_FUNDING`).

Determinism: the clock is virtual, the venue answers in a fixed order and the frame drops
are seeded, so the same recording, settings, overrides and seed give the same fills
(`ReplayResult.fill_hash`), whatever the machine's speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Final

import orjson

from hip3term.config import Settings
from hip3term.core.events import OrderState
from hip3term.core.nonce import MemoryNonceStore, NonceManager
from hip3term.errors import ConfigError, NonceError
from hip3term.execution.executor import ExecutorLoop, Signer
from hip3term.feeds.posts import FeedError
from hip3term.feeds.subscriptions import market_subscriptions
from hip3term.keys import SecretKey
from hip3term.persistence.rows import RowSink
from hip3term.recording.reader import RecordingReader
from hip3term.replay.clock import Pacer, VirtualClock, VirtualTimeLoop, run_virtual
from hip3term.replay.exchange import RecordedBookExchange
from hip3term.replay.report import MarketSeries, Report, SessionRows, build_report
from hip3term.replay.ticker import ReplayTicker
from hip3term.replay.venue import Latency, ReplayVenue, recorded_start_ns
from hip3term.runtime import views
from hip3term.runtime.credentials import SIM_FUNDING
from hip3term.runtime.engine import Engine
from hip3term.runtime.snapshot import (
    CommandResult,
    FeedStatus,
    NodeSnapshot,
    OperatorCommand,
)
from hip3term.strategy.loader import load_strategy
from hip3term.venue.hyperliquid.markets import AssetDirectory

__all__ = [
    "ReplayConfig",
    "ReplayResult",
    "ReplaySession",
    "replay",
    "replay_key",
    "replay_settings",
    "run_replay",
]

RESYNC_EVERY_S: Final = 60.0
_NS_PER_MS: Final = 1_000_000
_log = logging.getLogger(__name__)
_QUIT_WAIT_S: Final = 5.0
_INFO_TIMEOUT_S: Final = 5.0


@dataclasses.dataclass(frozen=True, slots=True)
class ReplayConfig:
    """One replay: the recording, the settings (already overridden) and the stress knobs.

    Attributes:
        recording: the `.h3rec` file.
        settings: the settings (`replay_settings` applies the recording's market and the
            `--set` overrides).
        speed: virtual seconds per real second, None for as fast as possible.
        latency_ms: order-entry latency (a post reaches the exchange this much later).
        feed_latency_ms: frames from the exchange (market data on top of the recording's
            own latency, account frames, answers) reach the engine this much later.
        fees_bps: added to the taker and maker fee rates.
        slippage_bps: recorded levels move this far away from the mid before they trade.
        drop_frames: probability that a market frame is lost in transit (seeded).
        seed: the seed (frame drops, the replayed account's key).
    """

    recording: Path
    settings: Settings
    speed: float | None = None
    latency_ms: float = 0.5
    feed_latency_ms: float = 0.0
    fees_bps: float = 0.0
    slippage_bps: float = 0.0
    drop_frames: float = 0.0
    seed: int = 0

    def describe(self) -> dict[str, Any]:
        """The knobs, for the report's header."""
        return {"recording": str(self.recording), "latency_ms": self.latency_ms,
                "feed_latency_ms": self.feed_latency_ms, "added_fees_bps": self.fees_bps,
                "added_slippage_bps": self.slippage_bps, "drop_frames": self.drop_frames,
                "seed": self.seed,
                "params": dict(self.settings.strategy.params) or None}  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a replay produced.

    Attributes:
        report: the session report.
        fills: every fill as (time_ms, side, px, sz, fee, cloid), in order.
        fill_hash: sha256 of `fills` (equal for equal runs).
        frames: market frames read from the recording.
        wall_s: real seconds the replay took; `virtual_s` the virtual seconds it covered.
        rows: the session's journal rows (orders, fills, signals and their decisions, risk
            events), what the report was built from.
    """

    report: Report
    fills: tuple[tuple[int, str, str, str, str, str | None], ...]
    fill_hash: str
    frames: int
    wall_s: float
    virtual_s: float
    rows: SessionRows | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def frames_per_s(self) -> float:
        """Market frames replayed per real second."""
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0


def replay_settings(settings: Settings, recording: str | Path, *, strategy: str | None = None,
                    overrides: Mapping[str, Any] | None = None) -> Settings:  # fmt: skip
    """The settings of a replay: the recording's market, the simulated venue (orders are
    paper; `venue.observe` still withholds them), `strategy` if given, and the overrides (a
    `section.field` key overrides that setting, validated by its section; any other key is
    a strategy parameter, validated by the plugin's `Params`).

    Raises:
        ConfigError: an override names no setting or fails its section's validation.
        PluginError: the strategy is unknown or a parameter is refused.
        RecordingError: the recording cannot be read.
    """
    header = RecordingReader(recording).header
    market = settings.market.model_validate({"dex": header.dex, "coin": header.market})
    # the replay's exchange is simulated: orders are always paper (unless observing)
    venue = settings.venue.model_copy(update={"name": "sim", "ws_url": None, "live": False})
    updates: dict[str, Any] = {"market": market, "venue": venue}
    params = dict(settings.strategy.params)
    sections: dict[str, dict[str, Any]] = defaultdict(dict)
    for key, value in (overrides or {}).items():
        section, dot, name = key.partition(".")
        if dot and section in Settings.model_fields:
            sections[section][name] = value
        else:
            params[key] = value
    for section, values in sections.items():
        current = getattr(settings, section)
        try:
            updates[section] = type(current).model_validate({**current.model_dump(), **values})
        except ValueError as exc:
            raise ConfigError(f"--set {section}.…: {exc}") from None
    name = strategy or sections.get("strategy", {}).get("name") or settings.strategy.name
    load_strategy(name, params)  # validated here: a bad --set fails before anything runs
    strategy_section = updates.get("strategy", settings.strategy)
    updates["strategy"] = strategy_section.model_copy(update={"name": name, "params": params})
    return settings.model_copy(update=updates)


class _Rows(RowSink):
    # The engine's journal rows, kept in memory (the report reads them; nothing is written).
    def __init__(self, clock: VirtualClock) -> None:
        super().__init__("replay", clock=clock)
        self.tables: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def put(self, table: str, row: dict[str, Any]) -> bool:
        if table == "signals":
            row["features"] = None  # the report does not read them; a long replay would
        self.tables[table].append(row)
        return True

    def session_rows(self) -> SessionRows:
        t = self.tables
        return SessionRows(tuple(t["fills"]), tuple(t["orders"]), tuple(t["signals"]),
                           tuple(t["risk_events"]), tuple(t["operator_actions"]),
                           tuple(t["order_events"]))


def replay_key(seed: int) -> SecretKey:
    """The replayed account's signing key, derived from the seed (paper money only)."""
    return SecretKey.from_hex(hashlib.sha256(f"hip3term replay {seed}".encode()).hexdigest())


class ReplaySession:
    """The node of a replay (see the module docstring); build it on the virtual loop's
    thread, then `await run()` on that loop.

    Args:
        config: the replay.
        clock: the loop's virtual clock.
        pacer: the loop's pacer (shown in snapshots).
        reader: `config.recording` opened and not read yet, if the caller has it (its
            header read once per replay, not once per reader).
    """

    skip_idle_ticks: ClassVar[bool] = True
    """False: every tick runs in full (the engine's `skip_idle_ticks`); what skipping idle
    ticks must be indistinguishable from (tests, diagnosis)."""

    def __init__(self, config: ReplayConfig, clock: VirtualClock, pacer: Pacer | None = None,
                 *, reader: RecordingReader | None = None) -> None:  # fmt: skip
        settings = config.settings
        self.config, self.clock, self.pacer, self.settings = config, clock, pacer, settings
        self.reader = RecordingReader(config.recording) if reader is None else reader
        header = self.reader.header
        strategy = load_strategy(settings.strategy.name, settings.strategy.params)
        self.rows = _Rows(clock)
        self.observe = settings.observe_only
        self.engine = Engine(settings, clock=clock, strategy=strategy, observe=self.observe,
                             journal=self.rows)  # fmt: skip
        self.engine.skip_idle_ticks = self.skip_idle_ticks
        key = replay_key(config.seed)
        self.account = key.address
        own = header.extra.get("account")
        self.exchange = RecordedBookExchange(
            settings.market.name, clock=clock, account=self.account, funding=SIM_FUNDING,
            fees_bps=config.fees_bps, slippage_bps=config.slippage_bps,
            own_accounts=(own,) if isinstance(own, str) and own else ())  # fmt: skip
        self.series = MarketSeries()
        self.venue = ReplayVenue(
            self.reader, self.exchange, clock=clock,
            latency=Latency.from_ms(config.latency_ms, config.feed_latency_ms),
            on_event=self.engine.on_feed_event, on_market=self.series.observe,
            drop_rate=config.drop_frames, seed=config.seed)  # fmt: skip
        self.nonces = NonceManager(clock.now_ms, MemoryNonceStore())
        self.executor: ExecutorLoop | None = None
        if not self.observe:
            engine = self.engine
            self.executor = ExecutorLoop(
                gatekeeper=engine.gates, scheduler=engine.scheduler, tracker=engine.tracker,
                budget=engine.budget, monitor=engine.monitor, poster=self.venue,
                signer=Signer(key, is_mainnet=True), nonces=self.nonces, clock=clock,
                settings=settings.executor, user=self.account,
                on_event=engine.on_executor_event)  # fmt: skip
        self.phase = "starting"
        self.stop_reason = ""
        self.ticks: dict[str, int] = {}  # ticks the loop ran and skipped (idle), at the end
        self._stop = asyncio.Event()

    # ------------------------------------------------------------ NodeHandle

    def request_stop(self, reason: str = "operator quit") -> None:
        """End the replay now (as at the end of the recording)."""
        if not self._stop.is_set():
            self.stop_reason = reason
            self._stop.set()

    def command(self, command: OperatorCommand, *, who: str = "operator",
                reason: str = "") -> CommandResult:  # fmt: skip
        """An operator command, carried out on the replay's engine (journaled there)."""
        if command is OperatorCommand.STATUS:
            return CommandResult(True, "status")
        if command is OperatorCommand.QUIT:
            self.request_stop(f"quit by {who}")
            return CommandResult(True, "stopping")
        return self.engine.operator(command, who, reason)

    def snapshot(self) -> NodeSnapshot:
        """The replay's state now, as the TUI shows a live node's."""
        e, now_ms, now_ns = self.engine, self.clock.now_ms(), self.clock.ns
        executor = (views.executor_snapshot(self.executor.status()) if self.executor
                    else views.scheduler_snapshot(e))  # fmt: skip
        return NodeSnapshot(
            taken_ms=now_ms, session_id=self.reader.header.session_id, venue=self._venue_text(),
            market=e.market, mode="observe" if self.observe else "trading",
            phase="paused" if self.pacer is not None and self.pacer.paused else self.phase,
            account=self.account, feed=self._feed_status(), ready=e.ready.flags,
            latch=views.latch_status(e), market_state=views.market_snapshot(e, now_ns),
            positions=views.position_rows(e, now_ms), orders=views.order_rows(e, now_ms),
            pnl=views.pnl_summary(e), strategy=views.strategy_snapshot(e), executor=executor,
            would_be=e.host.would_be.rows(), events=tuple(e.log.recent)[-50:],
            dead_man="off (replay)", nonce_last=self.nonces.last if self.executor else None,
        )  # fmt: skip

    def _venue_text(self) -> str:
        speed = None if self.pacer is None else self.pacer.speed
        return f"replay {'max' if speed is None else f'{speed:g}x'}"

    def _feed_status(self) -> FeedStatus:
        c = self.venue.counters
        return FeedStatus(
            url=f"replay://{self.config.recording.name}", connected=True, ready=True,
            rtt_ms=(self.config.latency_ms + self.config.feed_latency_ms), connections=1,
            reconnects=0, pending_posts=0, malformed=c.malformed, duplicates=c.duplicates,
            gaps=c.dropped, last_disconnect=None, down_since_ms=None)  # fmt: skip

    # ------------------------------------------------------------ run

    async def run(self) -> None:
        """Replay the recording to its end (or `request_stop`), then shut down.

        Must run on a `VirtualTimeLoop`. Not cancel-safe beyond its tasks' own cleanup.
        """
        loop = asyncio.get_running_loop()
        if not isinstance(loop, VirtualTimeLoop):
            raise RuntimeError("a replay runs on a VirtualTimeLoop (see hip3term.replay.clock)")
        set_source = loop.set_source
        set_source(self.venue)
        self._connect()
        self.phase = "running"
        ticker = ReplayTicker(self.engine, self.executor, self.venue.counters)
        loop.set_ticker(self.settings.executor.tick_ms * _NS_PER_MS, ticker.tick,
                        ticker.idle_until, ticker.still_idle_until)  # fmt: skip
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(self._resyncer(), name="resync")]
            if self.executor is not None:
                tasks.append(group.create_task(self.executor.run(periodic=False),
                                               name="executor"))  # fmt: skip
            ended = (asyncio.ensure_future(self.venue.finished.wait()),
                     asyncio.ensure_future(self._stop.wait()))
            await asyncio.wait(ended, return_when=asyncio.FIRST_COMPLETED)
            for waiter in ended:
                waiter.cancel()
            await self._shutdown()
            for task in tasks:
                task.cancel()
        loop.set_ticker(0, None)
        self.ticks = {"run": loop.ticks_run, "skipped": loop.ticks_skipped}
        set_source(None)
        self.phase = "finished"

    def _connect(self) -> None:
        engine, user = self.engine, None if self.observe else self.account
        engine.on_connected()
        for sub in market_subscriptions(engine.market, user):
            engine.on_subscribed(sub)
        if user is not None:
            self.venue.send_account("userFills", {"isSnapshot": True, "user": user.lower(),
                                                  "fills": []})

    async def _resyncer(self) -> None:
        while True:
            with contextlib.suppress(FeedError, TimeoutError):
                await self._resync()
            await asyncio.sleep(RESYNC_EVERY_S)

    async def _resync(self) -> None:
        engine, venue, dex = self.engine, self.venue, self.settings.market.dex
        if engine.rules is None:
            dexs = await venue.post_info({"type": "perpDexs"}, timeout=_INFO_TIMEOUT_S)
            meta = await venue.post_info({"type": "meta", "dex": dex}, timeout=_INFO_TIMEOUT_S)
            if isinstance(dexs.data, list) and isinstance(meta.data, dict):
                directory = AssetDirectory.from_responses(dexs.data, {dex: meta.data})
                engine.attach_rules(directory.lookup(engine.market), directory)
        if self.observe:
            return
        assert self.executor is not None  # trading: built in __init__
        session = engine.session
        await self.executor.resolve_unknown()
        requested = self.clock.now_ms()
        state = await venue.post_info({"type": "clearinghouseState", "user": self.account,
                                       "dex": dex}, timeout=_INFO_TIMEOUT_S)  # fmt: skip
        data = state.data
        server_ms = data.get("time") if isinstance(data, dict) else None
        if isinstance(server_ms, int):
            with contextlib.suppress(NonceError):
                self.nonces.sync_with_server(server_ms)
        orders = await venue.post_info({"type": "frontendOpenOrders", "user": self.account,
                                        "dex": dex}, timeout=_INFO_TIMEOUT_S)  # fmt: skip
        await self.executor.refresh_rate_limit()
        engine.on_reconciled(state.data, orders.data, requested_ms=requested, session=session)

    async def _shutdown(self) -> None:
        engine = self.engine
        self.phase = "stopping"
        engine.log.line(self.clock.now_ms(), "info", "stopping",
                        self.stop_reason or "end of the recording")  # fmt: skip
        engine.stop_strategy()
        if self.executor is not None and self.settings.risk.cancel_all_on_quit:
            engine.cancel_all("replay end: cancel all")
            await self._wait_quiet(_QUIT_WAIT_S)
        engine.journal_positions(self.clock.now_ms())

    async def _wait_quiet(self, timeout_s: float) -> None:
        # Until no cancel waits, nothing is in flight and no resting order is left.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        scheduler, tracker = self.engine.scheduler, self.engine.tracker
        while loop.time() < deadline:
            status = scheduler.status()
            resting = [o for o in tracker.exchange_orders()
                       if o.tif != "Ioc" and o.state is not OrderState.QUEUED]  # fmt: skip
            if not status.cancels and not status.in_flight and not resting:
                return
            await asyncio.sleep(0.05)

    # ------------------------------------------------------------ result

    def result(self, wall_s: float) -> ReplayResult:
        """The result once `run` returned."""
        rows = self.rows.session_rows()
        fills = tuple((int(f["time_ms"]), str(f["side"]), str(f["price"]), str(f["size"]),
                       str(f["fee"]), f["cloid"]) for f in self.rows.tables["fills"])  # fmt: skip
        start = recorded_start_ns(self.reader.header)
        virtual_s = (self.clock.ns - start) / 1e9
        counters = self.venue.counters.as_dict()
        meta = {"source": "replay", "market": self.engine.market,
                "strategy": self.engine.strategy.name, **self.config.describe(),
                "recording_damage": self.reader.damage}
        trips = sorted(self.venue.recorded_round_trips_ns)
        extra = {"venue": counters, "resting_fills": self.exchange.resting_fills,
                 "recorded_round_trip_ms": trips[len(trips) // 2] / 1e6 if trips else None,
                 "metrics": self.engine.host.metrics.snapshot().as_dict(),
                 "latch": str(self.engine.latch.state), "ticks": self.ticks, "wall_s": wall_s,
                 "virtual_s": virtual_s,
                 "frames_per_s": counters["market_frames"] / wall_s if wall_s else None}
        report = build_report(rows, self.series, market=self.engine.market, meta=meta,
                              extra=extra)  # fmt: skip
        digest = hashlib.sha256(orjson.dumps(fills)).hexdigest()
        return ReplayResult(report, fills, digest, self.venue.counters.market_frames,
                            wall_s, virtual_s, rows)  # fmt: skip


def run_replay(recording: str | Path, settings: Settings, *, strategy: str | None = None,
               overrides: Mapping[str, Any] | None = None, speed: float | None = None,
               latency_ms: float = 0.5, feed_latency_ms: float = 0.0, fees_bps: float = 0.0,
               slippage_bps: float = 0.0, drop_frames: float = 0.0,
               seed: int = 0) -> ReplayResult:  # fmt: skip
    """Replay `recording` with `settings` (see `replay_settings` for `strategy` and
    `overrides`, `ReplayConfig` for the rest) in this thread; the result.

    Raises:
        ConfigError, PluginError: a bad override or strategy parameter.
        RecordingError: the recording cannot be read.
    """
    config = ReplayConfig(
        Path(recording), replay_settings(settings, recording, strategy=strategy,
                                         overrides=overrides),
        speed=speed, latency_ms=latency_ms, feed_latency_ms=feed_latency_ms,
        fees_bps=fees_bps, slippage_bps=slippage_bps, drop_frames=drop_frames, seed=seed)
    return replay(config)


def replay(config: ReplayConfig) -> ReplayResult:
    """Replay `config.recording` on a virtual-time loop in this thread; the result.

    The thread must not be running an event loop already (use `asyncio.to_thread`).

    Raises:
        RecordingError: the recording cannot be read.
        PluginError: the strategy cannot be loaded with its parameters.
        RuntimeError: called from a running event loop.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("a replay runs its own (virtual-time) event loop: call it from a "
                           "thread without one, e.g. with asyncio.to_thread")
    reader = RecordingReader(config.recording)
    clock = VirtualClock(recorded_start_ns(reader.header))
    pacer = Pacer(config.speed)
    started = time.perf_counter()

    async def main() -> ReplaySession:
        session = ReplaySession(config, clock, pacer, reader=reader)
        await session.run()
        return session

    session = run_virtual(main(), VirtualTimeLoop(clock, pacer))
    return session.result(time.perf_counter() - started)

