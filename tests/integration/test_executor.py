"""ExecutorLoop against the real simulator on 127.0.0.1:0: signed actions from a funded
account, posted over the real FeedClient, with the real scheduler, gates, tracker and
risk monitor.

Faults come from the simulator itself (`unanswered`, `drop`) where it has them. Where a
failure must hit one precise point the simulator cannot aim at, `FaultyPoster` wraps the
real FeedClient and, for chosen action posts only: raises `NotConnected` (nothing
written), times out before the write, "loses" the request after reporting it written
(never actually written: the exchange never sees it), loses the answer of a request it
really wrote (the exchange executed it), or holds answers back to release them later,
in any order. Everything else passes through untouched.

The simulator runs on a `SimClock` (the market stands still), the executor on real time
with a 20 ms tick. Every test checks, on every event and every millisecond, that posts
marked sent minus posts completed equals the scheduler's in-flight count.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

import pytest

from hip3term.config import ExecutorSettings, RiskSettings
from hip3term.core.clock import SimClock
from hip3term.core.events import (
    ActionPosted,
    ActionPostFailed,
    ActionRejected,
    AlertRaised,
    CancelCompleted,
    NonceRejected,
    OrderAcknowledged,
    OrderFailed,
    OrderQueued,
    OrderRejected,
    OrderResolved,
    OrderState,
)
from hip3term.core.nonce import NonceManager
from hip3term.execution.executor import ExecutorLoop, Signer
from hip3term.execution.orders import CancelRequest, CloidSequence, OrderRequest, Tif
from hip3term.execution.scheduler import BatchScheduler, EnqueueOutcome, InflightLevel
from hip3term.feeds import (
    FeedClient,
    FeedClientSettings,
    FeedDisconnected,
    HealthEvent,
    NotConnected,
    PostTimeout,
)
from hip3term.keys import SecretKey
from hip3term.positions import PositionTracker
from hip3term.risk.gates import ActionBudget, GateKeeper
from hip3term.risk.latch import HardStopLatch, RiskMonitor
from hip3term.risk.ready import TradingReadyChecker
from hip3term.venue.hyperliquid.actions import noop_action
from hip3term.venue.hyperliquid.signing import signed_body
from hip3term.venue.hyperliquid.wire import PostAction, PostError, PostInfo
from hip3term.venue.sim.exchange import SimExchange
from hip3term.venue.sim.faults import FaultSpec
from hip3term.venue.sim.server import ServerConfig, SimServer
from tests.integration.conftest import ACCOUNT_KEY, COIN, COIN_ASSET, START_MS, STRANGER_KEY

pytestmark = pytest.mark.timeout(30)

USER = ACCOUNT_KEY.address
RISK = RiskSettings()
FAST = FeedClientSettings(ping_interval_s=0.2, pong_timeout_s=2.0, backoff_initial_s=0.05,
                          backoff_max_s=0.2, ack_timeout_s=0.5, open_timeout_s=5.0,
                          close_timeout_s=1.0)
WAIT_S = 10.0
E = TypeVar("E")
Answer = PostInfo | PostAction | PostError


async def until(condition: Callable[[], bool], what: str, wait_s: float = WAIT_S) -> None:
    """Poll `condition` every few ms; fail the test if it does not hold in time."""
    async with asyncio.timeout(wait_s):
        while not condition():  # noqa: ASYNC110  # reason: engine objects have no events to await
            await asyncio.sleep(0.005)
    assert condition(), what


class FaultyPoster:
    """The real FeedClient, with one injected failure per planned action post (see the
    module docstring); info posts always pass through."""

    def __init__(self, feed: FeedClient) -> None:
        self.feed = feed
        self.plans: deque[tuple[str, Callable[[], None] | None]] = deque()
        self.hold = False
        self.held: list[asyncio.Future[None]] = []
        self._ids = itertools.count(1_000_000)

    async def post(self, request: Mapping[str, Any], *, timeout: float,  # noqa: ASYNC109
                   on_sent: Callable[[int], None] | None = None) -> Answer:
        fault = None
        if request.get("type") == "action" and self.plans:
            fault, before = self.plans.popleft()
            if before is not None:
                before()
        if fault == "not_connected":
            raise NotConnected("injected: no connection")
        if fault == "timeout_unsent":  # the write itself never completed
            await asyncio.sleep(timeout)
            raise PostTimeout(next(self._ids), timeout, False)
        if fault == "lost":  # reported written, never reached the exchange
            post_id = next(self._ids)
            if on_sent is not None:
                on_sent(post_id)
            await asyncio.sleep(timeout)
            raise PostTimeout(post_id, timeout, True)
        answer = await self.feed.post(request, timeout=timeout, on_sent=on_sent)
        if fault == "answer_lost":  # the exchange executed it; its answer never came
            await asyncio.sleep(timeout)
            raise PostTimeout(answer.id, timeout, True)
        if self.hold and request.get("type") == "action":
            gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.held.append(gate)
            await gate
        return answer

    async def post_info(self, payload: Mapping[str, Any], *,
                        timeout: float) -> PostInfo:  # noqa: ASYNC109
        return await self.feed.post_info(payload, timeout=timeout)

    async def release(self, *, reverse: bool = False) -> None:
        """Let the held answers through one at a time (each processed before the next)."""
        gates, self.held, self.hold = self.held, [], False
        for gate in reversed(gates) if reverse else gates:
            gate.set_result(None)
            for _ in range(5):
                await asyncio.sleep(0)


class Rig:
    """Simulator, feed, engine and executor, wired as the runtime wires them."""

    def __init__(self, server: SimServer, clock: SimClock, settings: ExecutorSettings,
                 key: SecretKey) -> None:
        self.server, self.clock, self.settings = server, clock, settings
        self.events: list[object] = []
        self.raw_posts: list[bytes] = []
        self.violations: list[str] = []
        self.checks = 0
        self.after_disconnect: list[tuple[int, int, int]] = []
        self.health: list[HealthEvent] = []
        self.cloids = CloidSequence(START_MS)
        self.feed = FeedClient(server.url, COIN, settings=FAST, on_health=self._on_health,
                               on_post_sent=self.raw_posts.append)
        self.poster = FaultyPoster(self.feed)
        self.latch = HardStopLatch(RISK)
        self.monitor = RiskMonitor(RISK, self.latch)
        self.ready = TradingReadyChecker()
        self.ready.on_connected(START_MS)
        self.ready.set_market_data(True, START_MS)
        self.ready.on_order_updates_ack(START_MS)
        self.ready.on_fills_snapshot(START_MS)
        self.ready.on_positions_synced(START_MS)
        self.tracker = PositionTracker()
        self.tracker.on_user_fills([], is_snapshot=True, now_ms=START_MS)
        self.tracker.reconcile({"assetPositions": [], "time": START_MS}, [], START_MS)
        self.budget = ActionBudget()
        self.scheduler = BatchScheduler(settings)
        self.gates = GateKeeper(RISK, latch=self.latch, ready=self.ready, tracker=self.tracker,
                                budget=self.budget, scheduler=self.scheduler,
                                marks=lambda market: None, assets={COIN: COIN_ASSET}.get)
        self.nonces = NonceManager(clock.now_ms)
        self.executor = ExecutorLoop(
            gatekeeper=self.gates, scheduler=self.scheduler, tracker=self.tracker,
            budget=self.budget, monitor=self.monitor, poster=self.poster,
            signer=Signer(key, is_mainnet=True), nonces=self.nonces, clock=clock,
            settings=settings, user=USER, on_event=self._on_event)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.feed.start()
        await self.feed.wait_ready(WAIT_S)
        self.run_task = asyncio.create_task(self.executor.run(), name="executor")
        self._tasks += [self.run_task, asyncio.create_task(self._probe(), name="probe")]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.feed.aclose()
        await self.server.stop()

    # -- the invariant, on every event and every millisecond --------------------------

    def check(self, where: str) -> None:
        self.checks += 1
        ours, theirs = self.executor.posts.in_flight, self.scheduler.inflight.in_flight
        if ours != theirs or theirs > self.scheduler.inflight.limit:
            self.violations.append(f"{where}: sent-completed={ours}, in flight={theirs}")

    async def _probe(self) -> None:
        while True:
            self.check("probe")
            await asyncio.sleep(0.001)

    def _on_event(self, event: object) -> None:
        self.events.append(event)
        self.check(type(event).__name__)

    def _on_health(self, event: HealthEvent) -> None:
        self.health.append(event)
        if isinstance(event, FeedDisconnected):
            self.executor.on_connection_lost()
            self.after_disconnect.append((self.executor.posts.in_flight,
                                          self.scheduler.inflight.in_flight,
                                          len(self.executor.posts.pending())))
            self.check("disconnect")

    # -- orders ---------------------------------------------------------------------

    def order(self, *, px: str = "185", sz: str = "0.1", buy: bool = True, tif: Tif = "Gtc",
              ro: bool = False) -> OrderRequest:
        return OrderRequest(self.cloids(), COIN, COIN_ASSET, buy, Decimal(px), Decimal(sz),
                            tif, ro, self.clock.now_ms(), origin="test")

    def enqueue(self, *orders: OrderRequest) -> None:
        """What the gatekeeper does once every gate passed (the gates are not under test)."""
        for order in orders:
            self.tracker.mark_pending(order, self.clock.now_ms())
            assert self.scheduler.enqueue_order(order).accepted

    async def take_position(self, sz: str = "0.1") -> None:
        take = self.order(px="195", sz=sz, tif="Ioc")
        self.enqueue(take)
        await until(lambda: self.state(take) is OrderState.FILLED, "the taker order filled")
        assert self.sim_position() == Decimal(sz)

    def state(self, order: OrderRequest) -> OrderState | None:
        tracked = self.tracker.order(cloid=order.cloid)
        return None if tracked is None else tracked.state

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]

    def failures(self, outcome: str) -> list[ActionPostFailed]:
        return [e for e in self.of(ActionPostFailed) if e.outcome == outcome]

    def resolved(self, order: OrderRequest) -> OrderResolved | None:
        return next((e for e in self.of(OrderResolved) if e.cloid == order.cloid), None)

    def action_posts_with(self, order: OrderRequest) -> list[bytes]:
        return [raw for raw in self.raw_posts
                if b'"type":"action"' in raw and order.cloid.encode() in raw]

    # -- what the exchange says ---------------------------------------------------------

    def _info(self, payload: dict[str, Any]) -> Any:
        return self.server.exchange.info_response(payload)["payload"]["data"]

    def sim_status(self, order: OrderRequest) -> tuple[str, int] | None:
        data = self._info({"type": "orderStatus", "user": USER, "oid": order.cloid})
        if data["status"] == "unknownOid":
            return None
        return data["order"]["status"], data["order"]["order"]["oid"]

    def sim_open_with(self, order: OrderRequest) -> int:
        listed = self._info({"type": "frontendOpenOrders", "user": USER, "dex": "xyz"})
        return sum(1 for o in listed if o.get("cloid") == order.cloid)

    def sim_position(self) -> Decimal:
        state = self._info({"type": "clearinghouseState", "user": USER, "dex": "xyz"})
        sizes = [Decimal(p["position"]["szi"]) for p in state["assetPositions"]
                 if p["position"]["coin"] == COIN]
        return sizes[0] if sizes else Decimal(0)

    def assert_clean(self) -> None:
        assert self.violations == []
        # the invariant was checked at every event and by the probe (a fast test with
        # prompt dispatch may be over in a few milliseconds: at least one probe turn)
        assert self.checks > len(self.events) >= 1


RigFactory = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def rigs() -> AsyncIterator[RigFactory]:
    made: list[Rig] = []

    async def factory(*, faults: str = "", seed: int = 7, tick_s: float = 0.1,
                      key: SecretKey = ACCOUNT_KEY, **executor: Any) -> Rig:
        clock = SimClock(START_MS)
        exchange = SimExchange.create(("COIN",), seed=seed, clock=clock,
                                      fund={USER: Decimal(10_000)})
        server = SimServer(exchange, ServerConfig(faults=FaultSpec.parse(faults), seed=seed,
                                                  tick_s=tick_s))
        await server.start()
        settings = ExecutorSettings(**{"tick_ms": 20, "post_timeout_s": 2.0, **executor})
        rig = Rig(server, clock, settings, key)
        made.append(rig)
        await rig.start()
        return rig

    yield factory
    for rig in made:
        await rig.close()


# ---------------------------------------------------------------- normal flow


async def test_executor_normal_flow_fills_rests_and_cancels(rigs: RigFactory) -> None:
    rig = await rigs()
    now = rig.clock.now_ms()
    take = rig.order(px="195", tif="Ioc")
    assert isinstance(rig.gates.submit(take, now)[-1], OrderQueued)  # through every gate
    await until(lambda: rig.state(take) is OrderState.FILLED, "taker filled")
    rest = rig.order(px="185")
    assert isinstance(rig.gates.submit(rest, now)[-1], OrderQueued)
    await until(lambda: rig.state(rest) is OrderState.RESTING, "maker resting")

    tracked = rig.tracker.order(cloid=rest.cloid)
    assert tracked is not None and rig.sim_status(rest) == ("open", tracked.oid)
    filled = rig.tracker.order(cloid=take.cloid)
    assert filled is not None and filled.filled_sz == Decimal("0.1")
    assert rig.sim_position() == Decimal("0.1")
    acks = {a.cloid: a for a in rig.of(OrderAcknowledged)}
    assert acks[take.cloid].status == "filled" and acks[take.cloid].filled_sz == Decimal("0.1")
    assert acks[rest.cloid].status == "resting" and acks[rest.cloid].oid == tracked.oid

    assert tracked.oid is not None
    rig.gates.submit_cancel(CancelRequest(COIN, COIN_ASSET, oid=tracked.oid), now)
    await until(lambda: bool(rig.of(CancelCompleted)), "cancel answered")
    assert [(c.oid, c.status) for c in rig.of(CancelCompleted)] == [(tracked.oid, "success")]
    assert rig.sim_status(rest) == ("canceled", tracked.oid)

    posted = rig.of(ActionPosted)
    assert [p.kind for p in posted] == ["order", "order", "cancel"]
    nonces = [p.nonce for p in posted]
    assert nonces == sorted(set(nonces)) and len({p.post_id for p in posted}) == 3
    status = rig.executor.status()
    assert (status.in_flight, status.pending, status.counters.posts_sent) == (0, (), 3)
    assert status.counters.answered == 3 and len(status.recent) == 3
    rig.assert_clean()


async def test_queued_work_goes_out_at_once_in_one_action_without_waiting_for_the_tick(
    rigs: RigFactory,
) -> None:
    rig = await rigs(tick_ms=60_000)  # the periodic tick is a minute away
    now = rig.clock.now_ms()
    first, second = rig.order(px="185"), rig.order(px="184")
    await asyncio.sleep(0)  # the executor's task starts (and waits a minute for its tick)
    rig.gates.submit(first, now)
    rig.scheduler.enqueue_order(second)  # queued in the same callback: the same action
    rig.tracker.mark_pending(second, now)
    assert rig.executor.has_urgent_work()  # a prompt tick is due: the feed yields to it
    await asyncio.sleep(0)  # the prompt tick: signed, its post task spawned, not yet run
    assert rig.executor.has_urgent_work() and rig.of(ActionPosted) == []
    await until(lambda: rig.state(first) is OrderState.RESTING
                and rig.state(second) is OrderState.RESTING, "both orders resting")  # fmt: skip
    assert not rig.executor.has_urgent_work()
    posted = rig.of(ActionPosted)
    assert len(posted) == 1 and posted[0].kind == "order"
    status = rig.executor.status()
    assert status.counters.prompt_ticks >= 1
    assert status.counters.ticks == status.counters.prompt_ticks  # no periodic tick ran


async def test_without_prompt_dispatch_queued_work_waits_for_the_tick(rigs: RigFactory) -> None:
    rig = await rigs(tick_ms=60_000, prompt_dispatch=False)
    await asyncio.sleep(0)  # the executor's task starts
    order = rig.order(px="185")
    rig.gates.submit(order, rig.clock.now_ms())
    await asyncio.sleep(0.3)  # many loop turns; the next periodic tick is a minute away
    assert rig.of(ActionPosted) == [] and rig.state(order) is OrderState.QUEUED
    assert rig.executor.tick() == 1  # what the periodic tick would do
    await until(lambda: rig.state(order) is OrderState.RESTING, "the order resting")
    assert rig.executor.status().counters.prompt_ticks == 0


async def test_a_loop_that_does_not_tick_by_itself_posts_when_its_owner_ticks(
        rigs: RigFactory) -> None:
    # periodic=False: the replay's virtual-time ticker calls safe_tick instead
    rig = await rigs(tick_ms=10, prompt_dispatch=False)
    rig.run_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await rig.run_task
    rig.run_task = asyncio.create_task(rig.executor.run(periodic=False), name="executor")
    rig._tasks.append(rig.run_task)
    await asyncio.sleep(0)
    ticks = rig.executor.status().counters.ticks
    assert rig.executor.idle  # nothing queued: the replay's loop may skip its ticks
    order = rig.order(px="185")
    rig.gates.submit(order, rig.clock.now_ms())
    await asyncio.sleep(0.3)  # thirty periods of 10 ms
    assert rig.of(ActionPosted) == [] and rig.state(order) is OrderState.QUEUED
    assert rig.executor.status().counters.ticks == ticks
    assert not rig.executor.idle  # queued: the next tick must run
    rig.executor.safe_tick()
    await until(lambda: rig.state(order) is OrderState.RESTING, "the order resting")
    assert rig.executor.status().counters.ticks == ticks + 1
    assert rig.executor.idle
    rig.executor.on_connection_lost()  # orders may be unknown: resolution runs on ticks
    assert not rig.executor.idle


# ---------------------------------------------------------------- send failures


async def test_executor_send_failure_requeues_reduce_only_in_front_and_fails_new(
        rigs: RigFactory) -> None:
    rig = await rigs()
    await rig.take_position("0.1")
    ro1 = rig.order(px="185", sz="0.05", buy=False, tif="Ioc", ro=True)
    ro2 = rig.order(px="185", sz="0.05", buy=False, tif="Ioc", ro=True)
    new = rig.order(px="185")
    # ro2 joins the queue while the batch is at the socket; the failed ro1 goes before it.
    rig.poster.plans.append(("not_connected", lambda: rig.enqueue(ro2)))
    rig.enqueue(ro1, new)
    await until(lambda: rig.state(ro1) is rig.state(ro2) is OrderState.FILLED, "both reduced")

    (failed,) = rig.failures("send_failed")
    assert not failed.sent and failed.kind == "order"
    assert [(f.cloid, f.reason) for f in rig.of(OrderFailed)] == [(new.cloid, "not sent")]
    assert rig.state(new) is OrderState.FAILED and rig.sim_status(new) is None
    (resent,) = rig.action_posts_with(ro1)
    assert resent.index(ro1.cloid.encode()) < resent.index(ro2.cloid.encode())
    assert rig.action_posts_with(new) == []
    assert rig.sim_position() == 0
    counters = rig.executor.status().counters
    assert (counters.send_failures, counters.timeouts, counters.info_posts) == (1, 0, 0)
    rig.assert_clean()


async def test_executor_timeout_before_the_write_is_a_send_failure(rigs: RigFactory) -> None:
    rig = await rigs(post_timeout_s=0.3)
    await rig.take_position("0.1")
    ro = rig.order(px="185", sz="0.1", buy=False, tif="Ioc", ro=True)
    new = rig.order(px="185")
    rig.poster.plans.append(("timeout_unsent", None))
    rig.enqueue(ro, new)
    await until(lambda: rig.state(ro) is OrderState.FILLED, "reduce-only resent and filled")

    (failed,) = rig.failures("send_failed")
    assert not failed.sent
    assert [f.cloid for f in rig.of(OrderFailed)] == [new.cloid]
    assert rig.state(new) is OrderState.FAILED
    assert len(rig.action_posts_with(ro)) == 1 and rig.action_posts_with(new) == []
    counters = rig.executor.status().counters
    # never written: nothing to resolve, nothing held
    assert (counters.timeouts, counters.info_posts, counters.resolved) == (0, 0, 0)
    assert rig.sim_position() == 0
    rig.assert_clean()


# ---------------------------------------------------------------- ambiguous failures


async def test_executor_timeout_after_send_adopts_what_the_simulator_executed(
        rigs: RigFactory) -> None:
    # The simulator executes every post but leaves half of them unanswered (seeded).
    rig = await rigs(faults="unanswered=0.5", post_timeout_s=0.4)
    timed_out: OrderRequest | None = None
    for k in range(30):
        order = rig.order(px=str(Decimal("184") + Decimal(k) / 100))
        rig.enqueue(order)
        await until(lambda o=order: rig.state(o) is not OrderState.QUEUED
                    and not rig.executor.posts.pending(), "post completed")  # type: ignore[misc]
        if rig.state(order) is OrderState.UNKNOWN:
            timed_out = order
            break
        assert rig.state(order) is OrderState.RESTING
    assert timed_out is not None, "the simulator answered every post"
    assert rig.server.fault_counters()["unanswered"] >= 1
    x = timed_out
    assert [f.cloid for f in rig.of(OrderFailed)] == [x.cloid]  # reported, not resent
    await until(lambda: rig.resolved(x) is not None, "resolved by cloid")

    resolved = rig.resolved(x)
    status = rig.sim_status(x)
    assert resolved is not None and status is not None
    assert (resolved.status, resolved.oid) == status == ("open", status[1])
    tracked = rig.tracker.order(cloid=x.cloid)
    assert tracked is not None and (tracked.state, tracked.oid) == (OrderState.RESTING,
                                                                   status[1])
    assert len(rig.action_posts_with(x)) == 1 and rig.sim_open_with(x) == 1
    assert [p for p in rig.raw_posts if b"orderStatus" in p and x.cloid.encode() in p]
    rig.assert_clean()


async def test_executor_lost_answer_holds_reduce_only_until_found_filled(
        rigs: RigFactory) -> None:
    rig = await rigs(post_timeout_s=0.3)
    await rig.take_position("0.1")
    ro = rig.order(px="185", sz="0.1", buy=False, tif="Ioc", ro=True)
    new = rig.order(px="185")
    rig.poster.plans.append(("answer_lost", None))  # executed by the simulator
    rig.enqueue(ro, new)
    await until(lambda: rig.scheduler.held == {ro.cloid}, "reduce-only held")
    assert rig.state(ro) is OrderState.UNKNOWN
    await until(lambda: rig.resolved(ro) is not None and rig.resolved(new) is not None,
                "both resolved by cloid")

    assert (rig.state(ro), rig.state(new)) == (OrderState.FILLED, OrderState.RESTING)
    resolved = rig.resolved(ro)
    assert resolved is not None and resolved.status == "filled"
    assert rig.scheduler.held == frozenset() and rig.scheduler.queued()[1] == ()
    assert len(rig.action_posts_with(ro)) == 1 and len(rig.action_posts_with(new)) == 1
    assert rig.sim_position() == 0 and rig.sim_open_with(new) == 1
    (timeout,) = rig.failures("timeout")
    assert timeout.sent
    rig.assert_clean()


async def test_executor_lost_request_resolves_unknown_then_resends_reduce_only_once(
        rigs: RigFactory) -> None:
    rig = await rigs(post_timeout_s=0.3)
    await rig.take_position("0.1")
    ro = rig.order(px="185", sz="0.1", buy=False, tif="Ioc", ro=True)
    new = rig.order(px="185")
    rig.poster.plans.append(("lost", None))  # reported written, never reached the exchange
    rig.enqueue(ro, new)
    await until(lambda: rig.state(ro) is OrderState.FILLED, "reduce-only resent and filled")

    resolved_ro, resolved_new = rig.resolved(ro), rig.resolved(new)
    assert resolved_ro is not None and resolved_ro.status is None  # unknownOid
    assert resolved_new is not None and resolved_new.status is None
    assert rig.state(new) is OrderState.FAILED and rig.sim_status(new) is None
    (sent_ro,) = rig.action_posts_with(ro)  # the lost one never hit the socket
    assert rig.action_posts_with(new) == []
    asked = next(i for i, p in enumerate(rig.raw_posts)
                 if b"orderStatus" in p and ro.cloid.encode() in p)
    assert asked < rig.raw_posts.index(sent_ro)  # resolved before it was resent
    assert rig.sim_position() == 0
    rig.assert_clean()


async def test_executor_disconnect_with_pending_posts_completes_them_and_resolves(
        rigs: RigFactory) -> None:
    # Seeded: the seed only decides which posts the simulator leaves unanswered (this one
    # answers the orderStatus queries after the reconnect early, which keeps the test short).
    rig = await rigs(faults="unanswered=0.5,drop=1s", tick_s=1.0, post_timeout_s=0.8, seed=3)
    pending: list[OrderRequest] = []
    for k in range(40):
        unanswered = rig.server.fault_counters().get("unanswered", 0)
        order = rig.order(px=str(Decimal("184") + Decimal(k) / 100))
        rig.enqueue(order)
        await until(lambda o=order, u=unanswered: rig.state(o) is OrderState.RESTING  # type: ignore[misc]
                    or rig.server.fault_counters().get("unanswered", 0) > u, "answer or none")
        if rig.state(order) is not OrderState.RESTING:
            pending.append(order)
            if len(pending) == 2:
                break
    assert len(pending) == 2, "the simulator answered every post"
    assert rig.executor.posts.in_flight == 2

    await rig.server.advance(1000)  # the simulator drops the connection
    await until(lambda: bool(rig.after_disconnect), "disconnect seen")
    assert rig.after_disconnect[0] == (0, 0, 0)  # every post completed, nothing in flight
    cut = rig.failures("disconnected")
    assert len(cut) == 2 and all(f.sent for f in cut)
    assert {f.cloid for f in rig.of(OrderFailed)} == {o.cloid for o in pending}
    # half of the orderStatus queries go unanswered too: they are asked again
    await until(lambda: all(rig.resolved(o) is not None for o in pending), "resolved",
                wait_s=20.0)

    for order in pending:
        resolved, status = rig.resolved(order), rig.sim_status(order)
        assert resolved is not None and status is not None and status[0] == "open"
        assert (resolved.status, resolved.oid) == status
        assert rig.state(order) is OrderState.RESTING
        assert len(rig.action_posts_with(order)) == 1 and rig.sim_open_with(order) == 1
    rig.assert_clean()


# ---------------------------------------------------------------- refusals


async def test_executor_rejected_status_counts_a_reject(rigs: RigFactory) -> None:
    rig = await rigs()
    miss = rig.order(px="180", tif="Ioc")  # far below the ask: nothing to match
    rig.enqueue(miss)
    await until(lambda: rig.state(miss) is OrderState.REJECTED, "rejected")
    (rejected,) = rig.of(OrderRejected)
    assert rejected.cloid == miss.cloid
    assert rejected.reason == "Order could not immediately match against any resting orders."
    assert rig.monitor.rejects.count(rig.clock.now_ms()) == 1
    assert rig.executor.status().counters.rejects == 1
    assert isinstance(rig.executor.status().recent[-1], OrderRejected)
    rig.assert_clean()


async def test_executor_unknown_signer_refusal_rejects_the_whole_action(
        rigs: RigFactory) -> None:
    rig = await rigs(key=STRANGER_KEY)
    a, b = rig.order(px="185"), rig.order(px="184")
    rig.enqueue(a, b)
    await until(lambda: rig.state(a) is rig.state(b) is OrderState.REJECTED, "refused")
    (refused,) = rig.of(ActionRejected)
    assert refused.text == f"User or API Wallet {STRANGER_KEY.address} does not exist."
    assert not refused.transient
    assert {r.cloid for r in rig.of(OrderRejected)} == {a.cloid, b.cloid}
    assert rig.monitor.rejects.count(rig.clock.now_ms()) == 2
    rig.assert_clean()


async def test_executor_duplicate_nonce_is_loud_and_the_cancel_goes_again(
        rigs: RigFactory) -> None:
    rig = await rigs()
    rest = rig.order(px="185")
    rig.enqueue(rest)
    await until(lambda: rig.state(rest) is OrderState.RESTING, "resting")
    # Another signer process with the same key takes the nonce the executor uses next.
    stolen = rig.nonces.peek()
    body = signed_body(ACCOUNT_KEY, noop_action(), stolen, None, None, True)
    answer = await rig.feed.post({"type": "action", "payload": body}, timeout=2.0)
    assert isinstance(answer, PostAction) and answer.status == "ok"
    rig.gates.submit_cancel(CancelRequest(COIN, COIN_ASSET, cloid=rest.cloid),
                            rig.clock.now_ms())
    await until(lambda: bool(rig.of(CancelCompleted)), "cancel resent and done")

    (refused,) = rig.of(NonceRejected)
    assert refused.nonce == stolen and "duplicate nonce" in refused.text
    assert any(a.code == "nonce_rejected" for a in rig.of(AlertRaised))
    assert [r.transient for r in rig.of(ActionRejected)] == [True]
    nonces = [p.nonce for p in rig.of(ActionPosted)]
    assert nonces.count(stolen) == 1 and len(set(nonces)) == len(nonces)
    status = rig.sim_status(rest)
    assert status is not None and status[0] == "canceled"
    rig.assert_clean()


# ---------------------------------------------------------------- correlation and limits


async def test_executor_answers_out_of_order_map_to_their_batches(rigs: RigFactory) -> None:
    rig = await rigs()
    first = rig.order(px="183")
    rig.enqueue(first)
    await until(lambda: rig.state(first) is OrderState.RESTING, "resting")
    tracked = rig.tracker.order(cloid=first.cloid)
    assert tracked is not None and tracked.oid is not None
    rig.poster.hold = True
    orders = [rig.order(px=str(Decimal("184") + Decimal(k) / 10)) for k in range(5)]
    for k, order in enumerate(orders):
        held = len(rig.poster.held) + 1
        rig.enqueue(order)
        if k == 2:  # a cancel action in the same tick as an order action
            rig.gates.submit_cancel(CancelRequest(COIN, COIN_ASSET, oid=tracked.oid),
                                    rig.clock.now_ms())
            held += 1
        await until(lambda n=held: len(rig.poster.held) >= n, "answers held")  # type: ignore[misc]
    assert rig.executor.posts.in_flight == 6
    await rig.poster.release(reverse=True)
    await until(lambda: all(rig.state(o) is OrderState.RESTING for o in orders), "all rest")

    acks = [a for a in rig.of(OrderAcknowledged) if a.cloid != first.cloid]
    assert [a.cloid for a in acks] == [o.cloid for o in reversed(orders)]
    for order in orders:
        found = rig.tracker.order(cloid=order.cloid)
        status = rig.sim_status(order)
        assert found is not None and status == ("open", found.oid)
    assert [(c.oid, c.status) for c in rig.of(CancelCompleted)] == [(tracked.oid, "success")]
    rig.assert_clean()


async def test_executor_at_the_inflight_limit_sends_nothing_and_cancels_wait(
        rigs: RigFactory) -> None:
    rig = await rigs(inflight_limit=2, inflight_high_water=1)
    z1, z2 = rig.order(px="183"), rig.order(px="182")
    rig.enqueue(z1, z2)
    await until(lambda: rig.state(z1) is rig.state(z2) is OrderState.RESTING, "resting")
    rig.poster.hold = True
    rig.enqueue(rig.order(px="184"))
    await until(lambda: len(rig.poster.held) == 1, "order held in flight")
    rig.gates.submit_cancel(CancelRequest(COIN, COIN_ASSET, cloid=z1.cloid), rig.clock.now_ms())
    await until(lambda: len(rig.poster.held) == 2, "cancel held in flight")
    assert rig.scheduler.inflight.level is InflightLevel.FULL

    posts_before = len(rig.raw_posts)
    rig.gates.submit_cancel(CancelRequest(COIN, COIN_ASSET, cloid=z2.cloid), rig.clock.now_ms())
    assert rig.scheduler.enqueue_order(rig.order(px="181")) is EnqueueOutcome.INFLIGHT_FULL
    ticks = rig.executor.status().counters.ticks
    await until(lambda: rig.executor.status().counters.ticks >= ticks + 10, "ten ticks")
    status = rig.executor.status()
    assert len(rig.raw_posts) == posts_before  # nothing was sent, not even the cancel
    assert (status.queued_cancels, status.in_flight, status.level) == (1, 2,
                                                                       InflightLevel.FULL)

    await rig.poster.release()
    await until(lambda: len(rig.of(CancelCompleted)) == 2, "both cancels done")
    assert rig.sim_status(z2) is not None and rig.sim_status(z2)[0] == "canceled"  # type: ignore[index]
    assert rig.executor.status().in_flight == 0
    rig.assert_clean()


async def test_executor_stopping_cancels_its_post_tasks(rigs: RigFactory) -> None:
    rig = await rigs()
    rig.poster.hold = True
    order = rig.order(px="185")
    rig.enqueue(order)
    await until(lambda: len(rig.poster.held) == 1, "held")
    rig.run_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await rig.run_task
    names = [t.get_name() for t in asyncio.all_tasks() if not t.done()]
    assert not [n for n in names if n.startswith(("post ", "resolve "))]
    (stopped,) = rig.failures("disconnected")
    assert stopped.detail == "executor stopped" and stopped.sent
    assert rig.state(order) is OrderState.UNKNOWN  # resolved by the next start's reconcile
    assert rig.executor.posts.in_flight == rig.scheduler.inflight.in_flight == 0
    rig.assert_clean()


async def test_executor_without_a_connection_waits_instead_of_spinning(rigs: RigFactory) -> None:
    rig = await rigs()
    rest = rig.order(px="185")
    rig.enqueue(rest)
    await until(lambda: rig.state(rest) is OrderState.RESTING, "resting")
    await rig.feed.aclose()  # gone for good: every post raises NotConnected
    rig.gates.submit_cancel(CancelRequest(COIN, COIN_ASSET, cloid=rest.cloid), rig.clock.now_ms())
    ticks = rig.executor.status().counters.ticks
    await until(lambda: rig.executor.status().counters.ticks >= ticks + 40, "forty ticks")
    # a tick may hold the cancel between taking it and the send failing: wait until the
    # failure has put it back in its queue
    await until(lambda: rig.executor.status().queued_cancels == 1, "the cancel requeued")

    status = rig.executor.status()
    attempts = status.counters.send_failures
    assert 1 <= attempts <= (status.counters.ticks - ticks) // 4  # paused after each failure
    assert status.queued_cancels == 1 and status.in_flight == 0  # the cancel is kept
    assert all(not f.sent for f in rig.failures("send_failed"))
    rig.assert_clean()
