"""PostRequestManager (sent/completed bookkeeping next to the real InflightTracker),
status matching (pre-validated single errors, cloids out of place), the action built for
a batch, orderStatus answers, error-text classes, and AnswerReader on the real pure
engine (tracker, scheduler, gatekeeper, risk monitor)."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hip3term.config import ExecutorSettings, RiskSettings
from hip3term.core.events import (
    ActionRejected,
    CancelCompleted,
    CancelFailed,
    NonceRejected,
    OrderAcknowledged,
    OrderFailed,
    OrderRejected,
    OrderState,
)
from hip3term.execution.orders import CancelRequest, OrderRequest
from hip3term.execution.posts import (
    CANCEL_MOOT,
    AnswerReader,
    PendingPost,
    PostKind,
    PostOutcome,
    PostRequestManager,
    build_action,
    is_cancel_moot,
    is_nonce_error,
    is_transient,
    match_statuses,
    order_status_of,
)
from hip3term.execution.scheduler import Batch, BatchScheduler, InflightTracker
from hip3term.positions import PositionTracker
from hip3term.risk.gates import ActionBudget, GateKeeper
from hip3term.risk.latch import HardStopLatch, RiskMonitor
from hip3term.risk.ready import TradingReadyChecker
from hip3term.venue.hyperliquid.wire import (
    Filled,
    OrderStatus,
    PostAction,
    PostError,
    Resting,
    StatusError,
    StatusWord,
)

D = Decimal
T0 = 1_700_000_000_000
COIN, ASSET = "xyz:COIN", 110007
RISK = RiskSettings()


def cloid(n: int) -> str:
    return f"0x{n:032x}"


def order(n: int, *, ro: bool = False, tif: Any = "Gtc") -> OrderRequest:
    return OrderRequest(cloid(n), COIN, ASSET, True, D("185.5"), D("0.1"), tif, ro, T0)


class Clock:
    def __init__(self) -> None:
        self.ns = 0

    def __call__(self) -> int:
        return self.ns


# ---------------------------------------------------------------- the manager


class Pair:
    """The manager next to a real InflightTracker, driven the way the executor drives them."""

    def __init__(self, limit: int = 100) -> None:
        self.clock = Clock()
        self.posts = PostRequestManager(self.clock)
        self.inflight = InflightTracker(limit, limit - 1)

    def register(self, kind: PostKind = PostKind.ORDER, batch: int | None = None) -> PendingPost:
        assert self.inflight.reserve()
        return self.posts.register(kind, batch_id=batch, nonce=None, items=1)

    def sent(self, post: PendingPost, post_id: int) -> None:
        if self.posts.mark_sent(post, post_id):
            self.inflight.mark_sent(post.key)

    def complete(self, post: PendingPost, outcome: PostOutcome) -> None:
        was_sent = post.sent
        if self.posts.complete(post, outcome):
            if was_sent:
                assert self.inflight.complete(post.key)
            else:
                self.inflight.release_reservation()

    def check(self) -> None:
        assert self.posts.sent - self.posts.completed == self.posts.in_flight
        assert self.posts.in_flight == self.inflight.in_flight
        assert self.posts.in_flight == sum(p.sent for p in self.posts.pending())
        assert self.posts.registered == (len(self.posts) + self.posts.completed
                                         + self.posts.completed_unsent)


def test_post_manager_register_send_answer_counts_in_flight() -> None:
    pair = Pair()
    post = pair.register(PostKind.ORDER, batch=7)
    pair.check()
    assert (post.sent, pair.posts.in_flight) == (False, 0)
    pair.clock.ns = 3_000_000
    pair.sent(post, 41)
    pair.check()
    assert (post.sent, post.post_id, pair.posts.in_flight) == (True, 41, 1)
    assert pair.posts.by_post_id(41) is post
    pair.clock.ns = 5_500_000
    (view,) = pair.posts.views()
    assert (view.post_id, view.kind, view.batch_id, view.sent, view.age_ms) == (
        41, PostKind.ORDER, 7, True, 5.5)
    pair.complete(post, PostOutcome.ANSWERED)
    pair.check()
    assert pair.posts.in_flight == 0 and post.outcome is PostOutcome.ANSWERED
    assert pair.posts.by_post_id(41) is None and pair.posts.views() == ()


def test_post_manager_completes_once_and_never_marks_a_completed_post_sent() -> None:
    pair = Pair()
    post = pair.register()
    pair.complete(post, PostOutcome.SEND_FAILED)
    pair.check()
    assert pair.posts.completed_unsent == 1 and pair.posts.completed == 0
    assert not pair.posts.complete(post, PostOutcome.TIMEOUT)  # second completion ignored
    assert not pair.posts.mark_sent(post, 5)  # written after it was given up: refused
    pair.check()
    other = pair.register()
    pair.sent(other, 6)
    assert not pair.posts.mark_sent(other, 6)  # marked once
    pair.check()
    assert pair.posts.outcomes == {PostOutcome.SEND_FAILED: 1}


def test_post_manager_disconnect_completes_every_pending_post() -> None:
    pair = Pair()
    posts = [pair.register(batch=i) for i in range(5)]
    for i, post in enumerate(posts[:3]):
        pair.sent(post, 100 + i)
    pair.check()
    assert pair.posts.in_flight == 3
    inflight = pair.inflight
    cut = pair.posts.complete_all(PostOutcome.DISCONNECTED)
    for post in cut:  # the executor releases the tracker's side the same way
        if post.sent:
            inflight.complete(post.key)
        else:
            inflight.release_reservation()
    pair.check()
    assert [p.batch_id for p in cut] == [0, 1, 2, 3, 4]
    assert pair.posts.in_flight == 0 and inflight.load == 0
    assert pair.posts.completed == 3 and pair.posts.completed_unsent == 2


def test_post_manager_answers_out_of_order_find_their_batches() -> None:
    pair = Pair()
    posts = {batch: pair.register(batch=batch) for batch in range(20)}
    for batch, post in posts.items():
        pair.sent(post, 1000 + batch)
    order_of_answers = list(range(20))
    random.Random(3).shuffle(order_of_answers)
    for batch in order_of_answers:
        found = pair.posts.by_post_id(1000 + batch)
        assert found is not None and found.batch_id == batch
        pair.complete(found, PostOutcome.ANSWERED)
        pair.check()
    assert pair.posts.in_flight == 0


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["register", "send", "answer", "timeout",
                                           "fail", "disconnect"]),
                          st.integers(0, 50)), max_size=80))
def test_post_manager_invariant_holds_after_every_step(steps: list[tuple[str, int]]) -> None:
    pair = Pair(limit=30)
    next_id = 1
    for action, pick in steps:
        pending = pair.posts.pending()
        unsent = [p for p in pending if not p.sent]
        sent = [p for p in pending if p.sent]
        if action == "register" and pair.inflight.load < pair.inflight.limit:
            pair.register(batch=pick)
        elif action == "send" and unsent:
            pair.sent(unsent[pick % len(unsent)], next_id)
            next_id += 1
        elif action in ("answer", "timeout") and sent:
            outcome = PostOutcome.ANSWERED if action == "answer" else PostOutcome.TIMEOUT
            pair.complete(sent[pick % len(sent)], outcome)
        elif action == "fail" and unsent:
            pair.complete(unsent[pick % len(unsent)], PostOutcome.SEND_FAILED)
        elif action == "disconnect":
            for post in list(pending):
                pair.complete(post, PostOutcome.DISCONNECTED)
        pair.check()


# ---------------------------------------------------------------- statuses


def test_match_statuses_one_per_order_by_position() -> None:
    statuses: list[OrderStatus] = [Resting(11, None), Filled(D("0.1"), D("190"), 12, None),
                                   StatusError("Order must have minimum value of $10.")]
    match = match_statuses([cloid(1), cloid(2), cloid(3)], statuses)
    assert match.whole_error is None and match.unmatched == ()
    assert match.matched == tuple(enumerate(statuses))


def test_match_statuses_single_error_for_a_batch_refuses_all_of_it() -> None:
    # PROTOCOL 4.3: pre-validated payload errors come back once for the whole batch.
    match = match_statuses([cloid(1), cloid(2), cloid(3)], [StatusError("Invalid TP/SL price.")])
    assert match.whole_error == "Invalid TP/SL price."
    assert match.matched == () and match.unmatched == ()


def test_match_statuses_single_error_for_one_order_is_its_own() -> None:
    match = match_statuses([cloid(1)], [StatusError("Price must be divisible by tick size.")])
    assert match.whole_error is None
    assert match.matched == ((0, StatusError("Price must be divisible by tick size.")),)


def test_match_statuses_cloids_out_of_place_are_matched_by_cloid() -> None:
    swapped: list[OrderStatus] = [Resting(21, cloid(2)), Resting(20, cloid(1))]
    match = match_statuses([cloid(1), cloid(2)], swapped)
    assert match.matched == ((0, swapped[1]), (1, swapped[0])) and match.unmatched == ()


def test_match_statuses_wrong_count_leaves_the_rest_unmatched() -> None:
    statuses: list[OrderStatus] = [Resting(31, cloid(2)), StatusWord("waitingForFill")]
    match = match_statuses([cloid(1), cloid(2), cloid(3)], statuses)
    assert match.matched == ((1, statuses[0]),) and match.unmatched == (0, 2)


def test_match_statuses_cancels_without_cloids() -> None:
    statuses: list[OrderStatus] = [StatusWord("success"), StatusError(CANCEL_MOOT)]
    assert match_statuses([None, None], statuses).matched == tuple(enumerate(statuses))
    assert match_statuses([None, None, None], statuses).unmatched == (0, 1, 2)


# ---------------------------------------------------------------- actions and answers


def _batch(orders: tuple[OrderRequest, ...] = (), cancels: tuple[CancelRequest, ...] = ()
           ) -> Batch:
    scheduler = BatchScheduler()
    for o in orders:
        scheduler.enqueue_order(o)
    for c in cancels:
        scheduler.enqueue_cancel(c)
    batches = scheduler.tick()
    return batches[-1] if orders else batches[0]


def test_build_action_orders_with_cloids_in_the_exchange_key_order() -> None:
    ioc = OrderRequest(cloid(9), COIN, ASSET, False, D("190.10"), D("0.250"), "Ioc", True, T0)
    action = build_action(_batch(orders=(order(1), ioc)))
    assert action == {  # the scheduler puts reduce-only orders first
        "type": "order",
        "orders": [
            {"a": 110007, "b": False, "p": "190.1", "s": "0.25", "r": True,
             "t": {"limit": {"tif": "Ioc"}}, "c": cloid(9)},
            {"a": 110007, "b": True, "p": "185.5", "s": "0.1", "r": False,
             "t": {"limit": {"tif": "Gtc"}}, "c": cloid(1)},
        ],
        "grouping": "na",
    }
    assert list(action) == ["type", "orders", "grouping"]
    assert [list(o) for o in action["orders"]] == [["a", "b", "p", "s", "r", "t", "c"]] * 2  # type: ignore[attr-defined]


def test_build_action_cancels_by_oid_and_by_cloid() -> None:
    by_oid = build_action(_batch(cancels=(CancelRequest(COIN, ASSET, oid=77),)))
    assert by_oid == {"type": "cancel", "cancels": [{"a": 110007, "o": 77}]}
    by_cloid = build_action(_batch(cancels=(CancelRequest(COIN, ASSET, cloid=cloid(4)),)))
    assert by_cloid == {"type": "cancelByCloid",
                        "cancels": [{"asset": 110007, "cloid": cloid(4)}]}


def test_order_status_of_reads_both_answers() -> None:
    assert order_status_of({"status": "unknownOid"}) == (None, None)
    found = {"status": "order", "order": {"order": {"coin": COIN, "oid": 91, "cloid": cloid(1)},
                                          "status": "open", "statusTimestamp": T0}}
    assert order_status_of(found) == ("open", 91)
    bads: list[object] = [None, [], {"status": "order"},
                          {"status": "order", "order": {"status": 3}}]
    for bad in bads:
        with pytest.raises(ValueError, match="orderStatus"):
            order_status_of(bad)


@pytest.mark.parametrize(("text", "transient", "nonce"), [
    ("Invalid nonce: duplicate nonce 1741107452532", True, True),
    ("Too many cumulative requests sent (15401 > 14642) for cumulative volume traded $4643. "
     "Place taker orders to free up 1 request per USDC traded.", True, False),
    ("L1 error: User or API Wallet 0x0000000000000000000000000000000000000001 does not exist.",
     False, False),
    ("Must deposit before performing actions. User: 0x01", False, False),
])
def test_refusal_texts_are_classified(text: str, transient: bool, nonce: bool) -> None:
    assert is_transient(text) is transient and is_nonce_error(text) is nonce


def test_cancel_moot_text_means_done() -> None:
    assert is_cancel_moot("Order was never placed, already canceled, or filled.")
    assert not is_cancel_moot("Insufficient margin to place order.")


# ---------------------------------------------------------------- AnswerReader on the engine


class Engine:
    def __init__(self) -> None:
        self.latch = HardStopLatch(RISK)
        self.monitor = RiskMonitor(RISK, self.latch)
        self.ready = TradingReadyChecker()
        self.ready.on_connected(T0)
        self.ready.set_market_data(True, T0)
        self.ready.on_order_updates_ack(T0)
        self.ready.on_fills_snapshot(T0)
        self.ready.on_positions_synced(T0)
        self.tracker = PositionTracker()
        self.tracker.on_user_fills([], is_snapshot=True, now_ms=T0)
        self.tracker.reconcile({"assetPositions": [], "time": T0}, [], T0)
        self.scheduler = BatchScheduler(ExecutorSettings())
        self.gates = GateKeeper(RISK, latch=self.latch, ready=self.ready, tracker=self.tracker,
                                budget=ActionBudget(), scheduler=self.scheduler,
                                marks=lambda market: None, assets={COIN: ASSET}.get)
        self.reader = AnswerReader(gatekeeper=self.gates, scheduler=self.scheduler,
                                   tracker=self.tracker, monitor=self.monitor)
        self.posts = PostRequestManager(lambda: 0)

    def enqueue(self, *orders: OrderRequest) -> None:
        for o in orders:
            self.tracker.mark_pending(o, T0)
            self.scheduler.enqueue_order(o)

    def answer(self, answer: object) -> list[object]:
        # One batch, sent, answered: what the executor does around the reader.
        (batch,) = self.scheduler.tick()
        post = self.posts.register(PostKind(batch.kind.value), batch_id=batch.batch_id,
                                   nonce=T0, items=len(batch))
        self.gates.on_batch_sent(batch, T0)
        self.posts.mark_sent(post, batch.batch_id)
        self.posts.complete(post, PostOutcome.ANSWERED)
        assert self.scheduler.on_response(batch)
        return self.reader.answered(batch, post, answer, T0 + 5)

    def state(self, n: int) -> OrderState | None:
        found = self.tracker.order(cloid=cloid(n))
        return None if found is None else found.state


def _ok(kind: str, *statuses: OrderStatus) -> PostAction:
    return PostAction(1, "ok", kind, tuple(statuses), None)


def test_reader_maps_each_order_status_to_the_tracker_and_counts_rejects() -> None:
    eng = Engine()
    eng.enqueue(order(1), order(2, tif="Ioc"), order(3))
    text = "Order must have minimum value of $10."
    events = eng.answer(_ok("order", Resting(501, cloid(1)),
                            Filled(D("0.1"), D("190.2"), 502, cloid(2)), StatusError(text)))
    assert (eng.state(1), eng.state(2), eng.state(3)) == (
        OrderState.RESTING, OrderState.FILLED, OrderState.REJECTED)
    acks = [e for e in events if isinstance(e, OrderAcknowledged)]
    assert [(a.cloid, a.oid, a.status) for a in acks] == [(cloid(1), 501, "resting"),
                                                          (cloid(2), 502, "filled")]
    rejected = [e for e in events if isinstance(e, OrderRejected)]
    assert [(r.cloid, r.reason) for r in rejected] == [(cloid(3), text)]
    assert eng.monitor.rejects.count(T0 + 5) == 1


def test_reader_single_pre_validation_error_rejects_every_order_of_the_batch() -> None:
    eng = Engine()
    eng.enqueue(order(1), order(2), order(3))
    events = eng.answer(_ok("order", StatusError("Invalid TP/SL price.")))
    assert [eng.state(n) for n in (1, 2, 3)] == [OrderState.REJECTED] * 3
    assert len([e for e in events if isinstance(e, OrderRejected)]) == 3
    assert eng.monitor.rejects.count(T0 + 5) == 3
    assert not eng.reader.needs_resolution


def test_reader_orders_without_a_trustworthy_status_go_unknown_for_resolution() -> None:
    eng = Engine()
    eng.enqueue(order(1), order(2), order(3))
    eng.answer(_ok("order", Resting(602, cloid(2))))
    assert [eng.state(n) for n in (1, 2, 3)] == [OrderState.UNKNOWN, OrderState.RESTING,
                                                 OrderState.UNKNOWN]
    assert eng.reader.needs_resolution


def test_reader_cancel_statuses_success_moot_and_failed() -> None:
    eng = Engine()
    for oid in (1, 2, 3):
        eng.scheduler.enqueue_cancel(CancelRequest(COIN, ASSET, oid=oid))
    events = eng.answer(_ok("cancel", StatusWord("success"), StatusError(CANCEL_MOOT),
                            StatusError("Insufficient margin to place order.")))
    done = [(e.oid, e.status) for e in events if isinstance(e, CancelCompleted)]
    assert done == [(1, "success"), (2, CANCEL_MOOT)]
    assert [(e.oid, e.reason) for e in events if isinstance(e, CancelFailed)] == [
        (3, "Insufficient margin to place order.")]


def test_reader_transient_refusal_requeues_cancels_and_reduce_only_and_rejects_new() -> None:
    eng = Engine()
    eng.enqueue(order(1, ro=True), order(2))
    text = "Invalid nonce: duplicate nonce 1700000000000"
    events = eng.answer(PostAction(1, "err", None, (), text))
    (refused,) = [e for e in events if isinstance(e, ActionRejected)]
    assert refused.transient and refused.text == text
    assert [e.nonce for e in events if isinstance(e, NonceRejected)] == [T0]
    _, reduce_only, new = eng.scheduler.queued()
    assert [o.cloid for o in reduce_only] == [cloid(1)] and new == ()
    assert (eng.state(1), eng.state(2)) == (OrderState.QUEUED, OrderState.REJECTED)


def test_reader_transient_refusal_gives_up_after_the_retry_limit() -> None:
    eng = Engine()
    eng.scheduler.enqueue_cancel(CancelRequest(COIN, ASSET, oid=9))
    refusal = PostAction(1, "err", None, (), "Too many cumulative requests sent (1 > 0)")
    for _ in range(3):
        assert not [e for e in eng.answer(refusal) if isinstance(e, CancelFailed)]
    assert [e.oid for e in eng.answer(refusal) if isinstance(e, CancelFailed)] == [9]
    assert eng.scheduler.queued()[0] == ()


def test_reader_error_answer_rejects_and_fails_cancels() -> None:
    eng = Engine()
    eng.enqueue(order(1))
    events = eng.answer(PostError(1, "Failed to deserialize the JSON body"))
    assert eng.state(1) is OrderState.REJECTED
    assert [e.transient for e in events if isinstance(e, ActionRejected)] == [False]


def test_reader_unexecuted_batch_requeues_reduce_only_and_fails_new() -> None:
    eng = Engine()
    eng.enqueue(order(1, ro=True), order(2))
    eng.scheduler.enqueue_cancel(CancelRequest(COIN, ASSET, oid=5))
    for batch in eng.scheduler.tick():
        eng.gates.on_batch_sent(batch, T0)
        eng.scheduler.on_response(batch)
        events = eng.reader.unexecuted(batch, T0)
        if batch.orders:
            assert [e.cloid for e in events if isinstance(e, OrderFailed)] == [cloid(2)]
    cancels, reduce_only, _ = eng.scheduler.queued()
    assert [c.oid for c in cancels] == [5] and [o.cloid for o in reduce_only] == [cloid(1)]
    assert (eng.state(1), eng.state(2)) == (OrderState.QUEUED, OrderState.FAILED)
