"""TradingNode: the one-process runtime, every long-lived task in one TaskGroup.

`TradingNode(settings, strategy=..., credentials=..., ws_url=...)` builds everything that
needs no I/O (the synchronous `Engine`, the `FeedClient`, and unless in observe mode the
nonce manager on `paths.state_dir` and the `ExecutorLoop`); `await node.run()` then
opens the journal (`paths.journal`) and the session recording (`paths.recordings_dir`),
restores the previous session's state, and runs these named tasks in one TaskGroup:

- "feed": the websocket (market data, orderUpdates/userFills of the account, posts);
  every frame in and every message out goes to the recorder;
- "executor": the 100 ms tick that signs and posts the scheduler's batches;
- "journal writer": the journal's single writer;
- "engine tick": the engine's timer (time stops, risk monitor, strategy timer);
- "resync": after every (re)connection, once the subscriptions are acknowledged: the
  asset directory (perpDexs, meta of the dex; the strategy starts when it is known),
  orders of unknown fate resolved by cloid, then clearinghouseState(dex),
  frontendOpenOrders(dex) and userRateLimit, after which READY-TRADING can return;
  the nonce clock is synced with the exchange's time. A connected node also reconciles
  every `RESYNC_EVERY_S` (the tracker adopts the exchange's truth, so a fill frame lost
  in transit cannot leave the belief wrong for long);
- "dead-man switch": `scheduleCancel` armed and refreshed when READY (see `deadman`);
- "state saver": the runtime and strategy state saved to the journal every 2 s when it
  changed (latch, last fill time, strategy status, metrics), restored at the next start;
- "fill audit": after every resync the account's recent fills are read back
  (`userFillsByTime`) and those whose frame was lost are journaled, so every fill ends up
  in the journal; when the engine notices a missed fill (`fillgap`) it asks for a resync
  at once, which also sets the positions right;
- "shutdown": waits for `request_stop`, then shuts down gracefully (below);
- any `extra_tasks` of the front end (headless status line, stdin commands).

Graceful shutdown (shielded: it finishes even if the node is cancelled): the strategy's
`on_stop`; if `risk.cancel_all_on_quit`, cancel every open order and wait (up to 5 s)
until the exchange confirms; clear an armed dead-man switch; journal the positions and
the state; stop the tasks; then close the journal and the recorder with everything
flushed. Signals are the front end's business: it calls `request_stop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from hip3term import __version__
from hip3term.config import Settings
from hip3term.core.clock import Clock, LiveClock
from hip3term.core.events import OrderState
from hip3term.core.nonce import FileNonceStore, NonceManager
from hip3term.errors import Hip3Error, MarketError, NonceError
from hip3term.execution.executor import ExecutorLoop, Signer
from hip3term.feeds import FeedClient
from hip3term.feeds.health import (
    FeedConnected,
    FeedDisconnected,
    FeedReconnecting,
    FeedServerError,
    FeedStale,
    FeedSubscribed,
    HealthEvent,
)
from hip3term.feeds.posts import FeedError
from hip3term.feeds.settings import FeedClientSettings
from hip3term.persistence.db import Journal, open_journal
from hip3term.persistence.writer import JournalWriter
from hip3term.recording.format import RecordingHeader
from hip3term.recording.recorder import Recorder
from hip3term.runtime import views
from hip3term.runtime.audit import FillAudit
from hip3term.runtime.credentials import Credentials
from hip3term.runtime.deadman import DeadManSwitch
from hip3term.runtime.engine import Engine
from hip3term.runtime.record import config_hash
from hip3term.runtime.snapshot import (
    CommandResult,
    FeedStatus,
    NodeSnapshot,
    OperatorCommand,
)
from hip3term.runtime.state import restore_state, runtime_state
from hip3term.strategy.base import Strategy
from hip3term.venue.hyperliquid.markets import AssetDirectory

__all__ = ["TradingNode"]

_log = logging.getLogger("hip3term.node")
_SAVE_EVERY_S = 2.0
_QUIT_WAIT_S = 5.0
_RESYNC_RETRY_S = 1.0
_MARKET_TRIES = 3
RESYNC_EVERY_S = 60.0
"""A connected node also reconciles this often (a fill frame lost in transit is found)."""

ExtraTask = tuple[str, Callable[[], Awaitable[None]]]


class TradingNode:
    """The workstation's runtime for one market (see the module docstring).

    Args:
        settings: the loaded settings.
        strategy: the strategy, built with its parameters.
        credentials: the signing key and account (`credentials.resolve_credentials`).
        ws_url: the websocket URL (the venue's, a `--ws-url`, or the child simulator's).
        clock: the clock (a `LiveClock` by default).
        observe: withhold every order (default: `settings.observe_only`).
        record: record the session under `paths.recordings_dir`.

    Raises:
        ValueError: trading was asked for without a signing key or an account.
        NonceError: the nonce store of the signer is unreadable.
    """

    def __init__(self, settings: Settings, *, strategy: Strategy[Any], credentials: Credentials,
                 ws_url: str, clock: Clock | None = None, observe: bool | None = None,
                 record: bool = True) -> None:  # fmt: skip
        self.settings, self.credentials, self.ws_url = settings, credentials, ws_url
        self.clock = clock or LiveClock()
        self.observe = settings.observe_only if observe is None else observe
        self.account = credentials.account
        self.session_id = uuid.uuid4().hex
        self.phase = "starting"
        self.stop_reason = ""
        self.engine = Engine(settings, clock=self.clock, strategy=strategy, observe=self.observe)
        self.feed = FeedClient(
            ws_url, settings.market.name, user=self.account,
            settings=FeedClientSettings.from_settings(settings.feeds), clock=self.clock,
            on_event=self.engine.on_feed_event, on_health=self._on_health,
            on_raw=self._on_raw, on_post_sent=self._on_sent, on_control_sent=self._on_control,
        )  # fmt: skip
        self.nonces: NonceManager | None = None
        self.executor: ExecutorLoop | None = None
        self.dead_man: DeadManSwitch | None = None
        if not self.observe:
            self._build_executor()
        self.audit = FillAudit(self.feed, self.engine, self.clock, self.account,
                               settings.feeds.info_timeout_s)
        self.recorder: Recorder | None = None
        self.journal: Journal | None = None
        self.writer: JournalWriter | None = None
        self._record = record
        self._stop = asyncio.Event()
        self._resync_wanted = asyncio.Event()
        self._market_failures = 0
        self.engine.on_fill_gap = self._resync_wanted.set  # the resync audits the fills
        self._tasks: list[asyncio.Task[Any]] = []
        self._last_saved: dict[str, Any] | None = None
        self._was_connected = False

    def _build_executor(self) -> None:
        key, account, settings = self.credentials.key, self.account, self.settings
        if key is None or account is None:
            raise ValueError("trading needs a signing key and an account address")
        state_dir = settings.paths.state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self.nonces = NonceManager(self.clock.now_ms,  # the disk off the executor's loop
                                   FileNonceStore.for_signer(state_dir, key.address),
                                   prefetch=True)  # fmt: skip
        signer = Signer(key, is_mainnet=settings.venue.name != "testnet")
        engine = self.engine
        self.executor = ExecutorLoop(
            gatekeeper=engine.gates, scheduler=engine.scheduler, tracker=engine.tracker,
            budget=engine.budget, monitor=engine.monitor, poster=self.feed, signer=signer,
            nonces=self.nonces, clock=self.clock, settings=settings.executor, user=account,
            on_event=engine.on_executor_event,
        )  # fmt: skip
        self.feed.yield_to = self.executor.has_urgent_work  # orders before more frames
        self.dead_man = DeadManSwitch(self.feed, signer, self.nonces, engine, self.clock,
                                      settings.risk.dead_man_switch_s,
                                      settings.executor.post_timeout_s)  # fmt: skip

    # ------------------------------------------------------------ handle

    def request_stop(self, reason: str = "operator quit") -> None:
        """Ask for a graceful shutdown (cancel-all first when configured)."""
        if not self._stop.is_set():
            self.stop_reason = reason
            self._stop.set()

    def command(self, command: OperatorCommand, *, who: str = "operator",
                reason: str = "") -> CommandResult:  # fmt: skip
        """Carry out an operator command now (journaled as an operator action)."""
        if command is OperatorCommand.STATUS:
            return CommandResult(True, "status")
        if command is OperatorCommand.QUIT:
            if self.writer is not None:
                self.writer.record_operator_action(who=who, action="quit",
                                                   reason=reason or "operator quit")
            self.request_stop(f"quit by {who}" + (f": {reason}" if reason else ""))
            return CommandResult(True, "stopping")
        return self.engine.operator(command, who, reason)

    def snapshot(self) -> NodeSnapshot:
        """The node's state now (immutable)."""
        e, now_ms, now_ns = self.engine, self.clock.now_ms(), self.clock.monotonic_ns()
        executor = (views.executor_snapshot(self.executor.status()) if self.executor
                    else views.scheduler_snapshot(e))  # fmt: skip
        return NodeSnapshot(
            taken_ms=now_ms, session_id=self.session_id, venue=self.settings.venue.name,
            market=e.market, mode="observe" if self.observe else "trading", phase=self.phase,
            account=self.account,
            feed=FeedStatus.from_health(self.feed.health(), e.ws_down_since_ms),
            ready=e.ready.flags, latch=views.latch_status(e),
            market_state=views.market_snapshot(e, now_ns),
            positions=views.position_rows(e, now_ms), orders=views.order_rows(e, now_ms),
            pnl=views.pnl_summary(e), strategy=views.strategy_snapshot(e), executor=executor,
            would_be=e.host.would_be.rows(), events=tuple(e.log.recent)[-50:],
            dead_man="observe" if self.dead_man is None else self.dead_man.status,
            nonce_last=None if self.nonces is None else self.nonces.last,
            recorder=None if self.recorder is None else self.recorder.health(),
            journal=None if self.writer is None else self.writer.health(),
        )  # fmt: skip

    # ------------------------------------------------------------ run

    async def run(self, *, extra_tasks: Sequence[ExtraTask] = ()) -> None:
        """Run until `request_stop`, then shut down gracefully (module docstring).

        Not cancel-safe beyond the shielded shutdown and close: cancelling it skips the
        graceful steps that have not started.

        Raises:
            Hip3Error: a fatal problem (journal unusable, market unknown, bad URL), raised
                as itself rather than inside an exception group.
        """
        try:
            await self._open()
            async with asyncio.TaskGroup() as group:
                self._start_tasks(group, extra_tasks)
                group.create_task(self._supervise(), name="shutdown")
        except BaseExceptionGroup as group_error:
            errors = [e for e in group_error.exceptions if isinstance(e, Hip3Error)]
            if len(group_error.exceptions) == 1 and errors:
                raise errors[0] from None
            raise
        finally:
            await asyncio.shield(self._close())

    def _start_tasks(self, group: asyncio.TaskGroup, extra: Sequence[ExtraTask]) -> None:
        assert self.writer is not None  # opened by _open
        jobs: list[tuple[str, Awaitable[None]]] = [
            ("feed", self.feed.run()), ("journal writer", self.writer.run()),
            ("engine tick", self._ticker()), ("resync", self._resyncer()),
            ("state saver", self._state_saver()), ("fill audit", self.audit.run()),
        ]
        if self.executor is not None and self.dead_man is not None:
            jobs += [("executor", self.executor.run()), ("dead-man switch", self.dead_man.run())]
        jobs += [(name, factory()) for name, factory in extra]
        self._tasks = [group.create_task(job, name=name) for name, job in jobs]  # type: ignore[arg-type]  # reason: coroutines typed as Awaitable
        self.phase = "running"

    async def _open(self) -> None:
        settings, engine = self.settings, self.engine
        self.journal = await open_journal(settings.paths.journal, self.clock)
        previous = await self.journal.latest_strategy_state(engine.strategy.name)
        recording: str | None = None
        if self._record:
            header = RecordingHeader(
                market=engine.market, dex=settings.market.dex, venue=settings.venue.name,
                ws_url=self.ws_url, config_hash=config_hash(settings),
                session_id=self.session_id, extra={"command": "run", "mode": (
                    "observe" if self.observe else "trading"),
                    "strategy": engine.strategy.name, "account": self.account or ""},
            )  # fmt: skip
            self.recorder = Recorder.open(settings.paths.recordings_dir, header,
                                          clock=self.clock)  # fmt: skip
            recording = str(self.recorder.path)
        await self.journal.start_session(
            self.session_id, mode="observe" if self.observe else "live",
            venue=settings.venue.name, market=engine.market, config_hash=config_hash(settings),
            hip3term_version=__version__, started_ms=self.clock.now_ms(), recording=recording,
        )  # fmt: skip
        self.writer = JournalWriter(self.journal, self.session_id, clock=self.clock)
        engine.attach_journal(self.writer)
        restore_state(engine, previous)

    async def _close(self) -> None:
        with contextlib.suppress(Exception):
            await self.feed.aclose()
        if self.writer is not None:
            self._save_state(force=True)
            await self.writer.aclose()
        if self.journal is not None:
            with contextlib.suppress(Exception):
                await self.journal.end_session(self.session_id, self.clock.now_ms())
            await self.journal.aclose()
        if self.recorder is not None:
            await self.recorder.aclose()
        self.phase = "stopped"

    async def _supervise(self) -> None:
        await self._stop.wait()
        await asyncio.shield(self._shutdown())
        for task in self._tasks:
            task.cancel()

    async def _shutdown(self) -> None:
        engine = self.engine
        self.phase = "stopping"
        engine.log.line(self.clock.now_ms(), "info", "stopping", self.stop_reason or "stop")
        engine.stop_strategy()
        if self.executor is not None and self.settings.risk.cancel_all_on_quit:
            engine.cancel_all("quit: cancel all on exit")
            await self._wait_quiet(_QUIT_WAIT_S)
        if self.dead_man is not None:
            await self.dead_man.clear()
        engine.journal_positions(self.clock.now_ms())
        self._save_state(force=True)
        with contextlib.suppress(Exception):
            await self.feed.aclose()

    async def _wait_quiet(self, timeout_s: float) -> None:
        # Until no cancel waits, nothing is in flight and no resting order is left (a
        # reconnect meanwhile is waited for: the queued cancels go out after it).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        scheduler, tracker = self.engine.scheduler, self.engine.tracker
        while loop.time() < deadline:
            status = scheduler.status()
            resting = [o for o in tracker.exchange_orders() if o.tif != "Ioc"
                       and o.state is not OrderState.QUEUED]  # fmt: skip
            if not status.cancels and not status.in_flight and not resting:
                return
            await asyncio.sleep(0.05)
        left = len(self.engine.tracker.exchange_orders())
        if left:
            self.engine.log.risk(self.clock.now_ms(), "quit_orders_left",
                                 f"{left} orders may still be open at exit",
                                 severity="warning")  # fmt: skip

    # ------------------------------------------------------------ tasks

    async def _ticker(self) -> None:
        tick_s = self.settings.executor.tick_ms / 1000
        while True:
            await asyncio.sleep(tick_s)
            try:
                self.engine.on_tick()
            except Exception:  # a bug must not end the node: log it, tick again
                _log.exception("engine tick failed")

    async def _state_saver(self) -> None:
        while True:
            await asyncio.sleep(_SAVE_EVERY_S)
            self._save_state()

    def _save_state(self, *, force: bool = False) -> None:
        if self.writer is None:
            return
        state = runtime_state(self.engine, self.session_id,
                              None if self.nonces is None else self.nonces.last)
        if force or state != self._last_saved:
            self.writer.save_strategy_state(strategy=self.engine.strategy.name, state=state)
            self._last_saved = state

    async def _resyncer(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RESYNC_EVERY_S):
                    await self._resync_wanted.wait()
            self._resync_wanted.clear()
            if not self.feed.connected:
                continue  # the next connection asks for its own resync
            session = self.engine.session
            try:
                await self._resync(session)
            except (FeedError, TimeoutError, MarketError) as exc:
                if isinstance(exc, MarketError) and self._market_failures >= _MARKET_TRIES:
                    raise  # the market really is unknown (or the answers keep breaking)
                if session == self.engine.session and self.feed.connected:
                    why = str(exc) or type(exc).__name__
                    self.engine.log.line(self.clock.now_ms(), "warning", "resync",
                                         f"resync failed ({why}); retrying")
                    await asyncio.sleep(_RESYNC_RETRY_S)
                    if session == self.engine.session:
                        self._resync_wanted.set()

    async def _resync(self, session: int) -> None:
        timeout, engine = self.settings.feeds.info_timeout_s, self.engine
        await self.feed.wait_ready(timeout)
        if engine.rules is None:
            await self._load_market(timeout)
        account, dex = self.account, self.settings.market.dex
        if account is None or session != engine.session:
            return
        if self.executor is not None:
            await self.executor.resolve_unknown()
        requested = self.clock.now_ms()
        state = await self.feed.post_info(
            {"type": "clearinghouseState", "user": account, "dex": dex}, timeout=timeout)
        self._sync_nonces(state.data)  # its `time` is the exchange's clock right now
        orders = await self.feed.post_info(
            {"type": "frontendOpenOrders", "user": account, "dex": dex}, timeout=timeout)
        if self.executor is not None:
            await self.executor.refresh_rate_limit()
        engine.on_reconciled(state.data, orders.data, requested_ms=requested, session=session)
        self.audit.wanted.set()

    async def _load_market(self, timeout: float) -> None:  # noqa: ASYNC109  # reason: info timeout
        dex = self.settings.market.dex
        dexs = await self.feed.post_info({"type": "perpDexs"}, timeout=timeout)
        meta = await self.feed.post_info({"type": "meta", "dex": dex}, timeout=timeout)
        if not isinstance(dexs.data, list) or not isinstance(meta.data, dict):
            raise FeedError("perpDexs or meta answered with an unexpected shape")
        self._market_failures += 1  # reset below; a garbled answer is retried a few times
        directory = AssetDirectory.from_responses(dexs.data, {dex: meta.data})
        info = directory.lookup(self.engine.market)
        self._market_failures = 0
        self.engine.attach_rules(info, directory)
        self.engine.log.line(self.clock.now_ms(), "info", "market",
                             f"{info.name}: asset {info.asset_id}, size decimals "
                             f"{info.sz_decimals}; strategy {self.engine.strategy.name} "
                             "started")  # fmt: skip

    def _sync_nonces(self, clearinghouse: object) -> None:
        server_ms = clearinghouse.get("time") if isinstance(clearinghouse, dict) else None
        if self.nonces is None or not isinstance(server_ms, int):
            return
        try:
            self.nonces.sync_with_server(server_ms)
        except NonceError as exc:
            self.engine.log.risk(self.clock.now_ms(), "nonce_clock", str(exc),
                                 severity="critical")  # fmt: skip

    # ------------------------------------------------------------ feed callbacks

    def _on_health(self, event: HealthEvent) -> None:
        engine, now = self.engine, self.clock.now_ms()
        if self.recorder is not None:
            self.recorder.mark(type(event).__name__, {"event": str(event)})
        if isinstance(event, FeedConnected):
            self._was_connected = True
            session = engine.on_connected()
            engine.log.line(now, "info", "connected", f"{event.url} (session {session})")
            self._resync_wanted.set()
        elif isinstance(event, FeedSubscribed):
            engine.on_subscribed(event.subscription)
        elif isinstance(event, FeedDisconnected):
            if self.executor is not None:
                self.executor.on_connection_lost()
            engine.on_disconnected(event.reason, release_posts=self.executor is None)
            if self._was_connected:
                self._was_connected = False
                engine.log.line(now, "warning", "disconnected", event.reason)
        elif isinstance(event, FeedReconnecting):
            engine.log.line(now, "info", "reconnecting",
                            f"attempt {event.attempt} in {event.delay_s:.2f} s")
        elif isinstance(event, FeedStale | FeedServerError):
            engine.log.line(now, "warning", "feed", str(event))

    def _on_raw(self, raw: bytes, channel: str | None, exch_ms: int | None) -> None:
        if self.recorder is not None:
            self.recorder.frame_in(raw, channel, exch_ms)

    def _on_sent(self, raw: bytes) -> None:
        if self.recorder is not None:
            self.recorder.post_out(raw)

    def _on_control(self, raw: bytes, method: str) -> None:
        if self.recorder is not None:
            self.recorder.post_out(raw, method)
