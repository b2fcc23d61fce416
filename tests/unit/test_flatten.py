"""TimeStop and Flattener under a SimClock: the 30 s time stop to the millisecond, the
aggressive valid price, partial-fill retries, fills in transit, failures, the 60 s alert,
explicit flattens, and (hypothesis) a flatten size never above the position. Market rules
are the real xyz:COIN ones (tests/fixtures/info_perpDexs.json + info_meta_xyz.json)."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from hip3term.config import RiskSettings
from hip3term.core.clock import SimClock
from hip3term.core.events import AlertRaised, FlattenCompleted, FlattenFailed, FlattenStarted
from hip3term.core.events import OrderState as S
from hip3term.execution.flatten import DEFAULT_SLIPPAGE_BPS, Flattener, FlattenStep, Quote
from hip3term.execution.orders import CloidSequence, OrderRequest
from hip3term.positions import PositionTracker
from hip3term.venue.hyperliquid.markets import AssetDirectory, MarketInfo
from hip3term.venue.hyperliquid.wire import Fill

D = Decimal
COIN = "xyz:COIN"
T0 = 1_700_000_000_000
RISK = RiskSettings()
STOP_MS = round(RISK.time_stop_s * 1000)
ALERT_MS = round(RISK.flatten_alert_s * 1000)
FIXTURES = Path(__file__).parent.parent / "fixtures"
DIRECTORY = AssetDirectory.from_responses(
    json.loads((FIXTURES / "info_perpDexs.json").read_text()),
    {"xyz": json.loads((FIXTURES / "info_meta_xyz.json").read_text())},
)
XYZ_COIN = DIRECTORY.lookup(COIN)


TOUCH = Quote(D("190.13"), D("190.15"), D("190.14"))


class Rig:
    def __init__(self, quote: Quote | None = TOUCH, market: MarketInfo = XYZ_COIN) -> None:
        self.clock = SimClock(T0)
        self.tracker = PositionTracker()
        self.tracker.on_user_fills([], is_snapshot=True, now_ms=T0)
        self.tracker.reconcile({"assetPositions": [], "time": T0}, [], T0)
        self.quotes = {market.name: quote}
        self.markets = {market.name: market}
        self.flattener = Flattener(RISK, self.tracker, self.markets.get,
                                   lambda m: self.quotes.get(m), CloidSequence(T0))
        self.tid = 0

    @property
    def now(self) -> int:
        return self.clock.now_ms()

    def fill(self, side: str, sz: str, px: str = "190", *, oid: int = 1,
             cloid: str | None = None, market: str = COIN) -> None:  # fmt: skip
        self.tid += 1
        position = self.tracker.position(market)
        start = position.size if position else D(0)
        f = Fill(market, D(px), D(sz), "B" if side == "B" else "A", self.now, start, "", D(0),
                 "0x0", oid, True, D(0), "USDC", self.tid, cloid, None, None, None)
        self.tracker.on_user_fills([f], is_snapshot=False, now_ms=self.now)

    def tick(self) -> FlattenStep:
        return self.flattener.on_tick(self.now)

    def accept(self, request: OrderRequest) -> None:
        # What the GateKeeper and executor would do: track, send, get an oid.
        self.tracker.mark_pending(request, self.now)
        self.tracker.orders.set_state(request.cloid, S.SENT, self.now, "sent")


def test_time_stop_fires_at_exactly_30_s() -> None:
    rig = Rig()
    rig.clock.advance(1)
    rig.fill("B", "0.5")  # entry time = this fill's time
    entry = rig.now
    rig.clock.set(entry + STOP_MS - 1)
    assert rig.tick() == FlattenStep()
    rig.clock.advance(1)
    step = rig.tick()
    (started,) = step.events
    assert isinstance(started, FlattenStarted) and started.reason == "time_stop"
    (request,) = step.requests
    assert (request.is_buy, request.sz, request.tif, request.reduce_only) == (
        False, D("0.5"), "Ioc", True,
    )  # fmt: skip
    # 190.13 * (1 - 0.005) = 189.17935 -> 5 significant figures, rounded through: 189.17.
    assert DEFAULT_SLIPPAGE_BPS == 50 and request.px == D("189.17")
    assert XYZ_COIN.is_valid_price(request.px) and request.asset == XYZ_COIN.asset_id


def test_flatten_buys_back_a_short_through_the_ask() -> None:
    rig = Rig()
    rig.clock.advance(1)
    rig.fill("A", "0.25")
    (request,) = rig.flattener.flatten(COIN, rig.now, "operator").requests
    # 190.15 * 1.005 = 191.10075 -> rounded up (aggressive buy): 191.11.
    assert (request.is_buy, request.sz, request.px) == (True, D("0.25"), D("191.11"))


def test_flatten_falls_back_to_mark_and_alerts_once_without_any_price() -> None:
    rig = Rig(quote=Quote(None, None, D("190.14")))
    rig.clock.advance(1)
    rig.fill("B", "1")
    (request,) = rig.flattener.flatten(COIN, rig.now).requests
    assert request.px == D("189.18")  # 190.14 * 0.995 = 189.1893 -> 189.18
    rig2 = Rig(quote=None)
    rig2.clock.advance(1)
    rig2.fill("B", "1")
    step = rig2.flattener.flatten(COIN, rig2.now)
    assert step.requests == () and [type(e) for e in step.events] == [FlattenStarted,
                                                                      AlertRaised]
    rig2.clock.advance(5_000)
    assert not any(isinstance(e, AlertRaised) for e in rig2.tick().events)


def test_partial_fill_retries_with_the_rest_on_a_later_tick() -> None:
    rig = Rig()
    rig.clock.advance(1)
    rig.fill("B", "1")
    (first,) = rig.flattener.flatten(COIN, rig.now).requests
    rig.accept(first)
    rig.clock.advance(100)
    assert rig.tick().requests == ()  # still in flight
    rig.fill("A", "0.4", oid=11, cloid=first.cloid)
    rig.tracker.orders.on_filled(first.cloid, 11, D("0.4"), rig.now)  # IOC rest canceled
    rig.clock.advance(100)
    (second,) = rig.tick().requests
    assert second.sz == D("0.6") and second.cloid != first.cloid
    assert rig.flattener.failures == 0


def test_fills_in_transit_are_waited_for() -> None:
    rig = Rig()
    rig.clock.advance(1)
    rig.fill("B", "1")
    (first,) = rig.flattener.flatten(COIN, rig.now).requests
    rig.accept(first)
    rig.tracker.orders.on_filled(first.cloid, 11, D("0.4"), rig.now)  # fill not here yet
    rig.clock.advance(100)
    assert rig.tick().requests == ()  # would overstate the position
    rig.fill("A", "0.4", oid=11, cloid=first.cloid)
    (second,) = rig.tick().requests
    assert second.sz == D("0.6")


def test_no_fill_counts_a_failure_and_waits_before_retrying() -> None:
    rig = Rig()
    rig.clock.advance(1)
    rig.fill("B", "1")
    (first,) = rig.flattener.flatten(COIN, rig.now).requests
    rig.accept(first)
    rig.tracker.orders.on_error(first.cloid, "Order could not immediately match against any "
                                "resting orders.", rig.now)  # fmt: skip
    rig.clock.advance(100)
    step = rig.tick()
    (failed,) = step.events
    assert isinstance(failed, FlattenFailed) and failed.failures == 1 == rig.flattener.failures
    assert step.requests == ()
    rig.clock.advance(800)
    assert rig.tick().requests == ()  # retry wait is 1 s after the attempt
    rig.clock.advance(100)
    assert len(rig.tick().requests) == 1


def test_denied_flatten_retries_without_counting_a_failure() -> None:
    rig = Rig()
    rig.clock.advance(1)
    rig.fill("B", "1")
    (first,) = rig.flattener.flatten(COIN, rig.now).requests  # never tracked (denied)
    rig.clock.advance(999)
    assert rig.tick().requests == ()
    rig.clock.advance(1)
    (again,) = rig.tick().requests
    assert again.cloid != first.cloid and rig.flattener.failures == 0


def test_still_open_after_60_s_alerts_once_and_keeps_trying() -> None:
    rig = Rig()
    rig.clock.advance(1)
    rig.fill("B", "1")
    entry = rig.now
    alerts = []
    sent = 0
    while rig.now < entry + ALERT_MS + 5_000:
        rig.clock.advance(100)
        step = rig.tick()
        alerts += [(rig.now, e) for e in step.events if isinstance(e, AlertRaised)]
        for request in step.requests:
            sent += 1
            rig.accept(request)
            rig.tracker.orders.on_error(request.cloid, "no liquidity", rig.now)
    ((when, alert),) = alerts
    assert alert.code == "flatten_overdue" and when == entry + ALERT_MS
    assert sent > 30 and rig.flattener.failures == sent - 1  # the last one just went
    assert rig.flattener.flattening == {COIN}


def test_flatten_completes_when_flat() -> None:
    rig = Rig()
    rig.clock.advance(1)
    rig.fill("B", "1")
    (request,) = rig.flattener.flatten(COIN, rig.now).requests
    rig.accept(request)
    rig.fill("A", "1", oid=5, cloid=request.cloid)
    rig.tracker.orders.on_filled(request.cloid, 5, D(1), rig.now)
    step = rig.tick()
    assert [type(e) for e in step.events] == [FlattenCompleted]
    assert rig.flattener.flattening == frozenset()
    assert rig.flattener.flatten(COIN, rig.now) == FlattenStep()  # flat: nothing


def test_flatten_all_covers_every_position_and_time_stop_can_be_off() -> None:
    rig = Rig()
    other = replace(XYZ_COIN, name="xyz:OTHER", asset_id=110999)
    rig.markets[other.name] = other
    rig.quotes[other.name] = Quote(D("10.5"), D("10.6"), None)
    rig.clock.advance(1)
    rig.fill("B", "1")
    rig.fill("A", "3", px="10.5", market=other.name)
    requests = rig.flattener.flatten_all(rig.now, "latch").requests
    assert {(r.market, r.is_buy, r.sz) for r in requests} == {
        (COIN, False, D(1)), (other.name, True, D(3)),
    }  # fmt: skip
    quiet = Flattener(RISK, rig.tracker, rig.markets.get, lambda m: rig.quotes.get(m),
                      CloidSequence(1), time_stop=False)  # fmt: skip
    rig.clock.advance(10 * STOP_MS)
    assert quiet.on_tick(rig.now) == FlattenStep()


@settings(max_examples=300, deadline=None)
@given(
    sz_decimals=st.integers(0, 5),
    size=st.decimals(min_value=D("0.000001"), max_value=D("100000"), places=6),
    short=st.booleans(),
    bid=st.decimals(min_value=D("0.01"), max_value=D("90000"), places=4),
)
def test_flatten_size_never_exceeds_the_position(
    sz_decimals: int, size: Decimal, short: bool, bid: Decimal
) -> None:
    market = replace(XYZ_COIN, sz_decimals=sz_decimals)
    rig = Rig(quote=Quote(bid, bid * D("1.001"), None), market=market)
    signed = -size if short else size
    rig.tracker.reconcile({"assetPositions": [{"position": {
        "coin": COIN, "szi": str(signed), "entryPx": str(bid)}}], "time": T0}, [], T0)
    step = rig.flattener.flatten(COIN, T0)
    lot = market.size_step
    if size < lot:
        assert step.requests == ()  # under one lot: cannot be expressed, alert instead
        assert any(isinstance(e, AlertRaised) for e in step.events)
        return
    (request,) = step.requests
    assert 0 < request.sz <= size and request.sz % lot == 0 and size - request.sz < lot
    assert request.is_buy == short and market.is_valid_price(request.px)


def test_sell_below_the_smallest_valid_price_uses_that_price() -> None:
    # szDecimals 5 leaves 1 price decimal: 0.1 is the lowest price there is.
    market = replace(XYZ_COIN, sz_decimals=5)
    rig = Rig(quote=Quote(D("0.05"), D("0.06"), None), market=market)
    rig.clock.advance(1)
    rig.fill("B", "300", px="0.05")
    (request,) = rig.flattener.flatten(COIN, rig.now).requests
    assert (request.is_buy, request.px, request.sz) == (False, D("0.1"), D(300))
