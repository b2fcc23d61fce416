"""The engine's tick asks the risk monitor again whenever one of its inputs moved: a new
asset context, a reject, data going stale; between them a quiet tick trips nothing.
The engine is the real one (market state, tracker, latch, gates) on a simulated clock."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from hip3term.config import load_settings
from hip3term.core.clock import SimClock
from hip3term.core.events import LatchState, TripTrigger
from hip3term.runtime.engine import Engine
from hip3term.strategy.loader import load_strategy
from hip3term.venue.hyperliquid import wire
from hip3term.venue.hyperliquid.markets import AssetDirectory
from hip3term.venue.hyperliquid.parse import parse_frame
from hip3term.venue.sim.exchange import DEX, load_package_json

COIN = "xyz:COIN"
T0 = 1_785_000_000_000


def event(channel: str, data: Any) -> wire.Event:
    parsed = parse_frame(orjson.dumps({"channel": channel, "data": data}))
    assert not isinstance(parsed, wire.ParseError), parsed
    return parsed


def book(clock: SimClock) -> wire.Event:
    levels = [[{"px": "189.99", "sz": "5", "n": 1}], [{"px": "190.01", "sz": "5", "n": 1}]]
    return event("l2Book", {"coin": COIN, "time": clock.now_ms(), "levels": levels})


def ctx(oracle: str, mark: str) -> wire.Event:
    return event("activeAssetCtx", {"coin": COIN, "ctx": {
        "funding": "0.00001", "openInterest": "100", "prevDayPx": "190", "dayNtlVlm": "1",
        "premium": "0", "oraclePx": oracle, "markPx": mark, "midPx": "190",
        "impactPxs": ["189.9", "190.1"], "dayBaseVlm": "1"}})  # fmt: skip


def engine() -> tuple[Engine, SimClock]:
    clock = SimClock(T0)
    settings = load_settings(env={}, overrides={"market.coin": "COIN"})
    eng = Engine(settings, clock=clock, strategy=load_strategy("oracle_dislocation"),
                 observe=False)  # fmt: skip
    directory = AssetDirectory.from_responses(load_package_json("perp_dexs.json"),
                                              {DEX: load_package_json("meta_xyz.json")})
    eng.attach_rules(directory.lookup(COIN), directory)  # the strategy starts: its timer
    eng.on_connected()
    eng.on_feed_event(book(clock))
    eng.on_feed_event(ctx("190", "190.02"))
    return eng, clock


def ticks(eng: Engine, clock: SimClock, n: int = 5) -> None:
    for _ in range(n):
        clock.advance(100)
        eng.on_tick()


def test_a_new_context_past_the_divergence_limit_trips_at_the_next_tick() -> None:
    eng, clock = engine()
    ticks(eng, clock)
    assert eng.latch.state is LatchState.ACTIVE
    limit = eng.settings.risk.max_oracle_mark_divergence_bps
    wide = Decimal(190) * (1 + (limit + 1) / 10_000)
    eng.on_feed_event(ctx("190", f"{wide:.2f}"))
    eng.on_feed_event(book(clock))
    ticks(eng, clock, 1)
    assert eng.latch.trip_trigger is TripTrigger.ORACLE_MARK_DIVERGENCE


def test_rejects_recorded_between_ticks_trip_the_storm_trigger() -> None:
    eng, clock = engine()
    ticks(eng, clock)
    for i in range(eng.settings.risk.reject_storm_count):
        eng.monitor.rejects.record(clock.now_ms(), f"0x{i:032x}")
    ticks(eng, clock, 1)
    assert eng.latch.trip_trigger is TripTrigger.REJECT_STORM


def test_data_going_stale_trips_without_any_other_change() -> None:
    eng, clock = engine()
    stale_ms = round(eng.settings.risk.market_data_stale_s * 1000)
    ticks(eng, clock, stale_ms // 100 - 1)  # just under the limit: quiet ticks
    assert eng.latch.state is LatchState.ACTIVE
    ticks(eng, clock, 2)
    assert eng.latch.trip_trigger is TripTrigger.MARKET_DATA_STALE


def test_idle_ticks_are_skipped_without_changing_anything_a_full_tick_would_do() -> None:
    # The same feed, ticked by an engine that skips idle ticks and by one that never
    # does: the same event log, latch, readiness and strategy timer calls, throughout.
    def run(skip: bool) -> list[object]:
        eng, clock = engine()
        eng.skip_idle_ticks = skip
        timers: list[int] = []
        on_timer = eng.strategy.on_timer

        def timer(ctx: Any) -> None:
            timers.append(clock.now_ms())
            on_timer(ctx)

        eng.strategy.on_timer = timer  # type: ignore[method-assign]
        seen: list[object] = []
        plan = [(30, None), (1, ctx("190", "190.03")), (170, None), (1, book(clock)),
                (40, ctx("190", "195")), (5, None), (200, None)]  # fmt: skip
        for steps, frame in plan:
            ticks(eng, clock, steps)
            if frame is not None:
                eng.on_feed_event(frame)
            seen.append((clock.now_ms(), eng.latch.state, eng.ready.flags,
                         list(eng.log.recent)))  # fmt: skip
        return [*seen, timers]

    skipping, full = run(skip=True), run(skip=False)
    assert skipping == full
    assert len(skipping[-1]) >= 3  # type: ignore[arg-type]  # the timer fired meanwhile


def test_a_book_leaves_the_ticks_idle_and_a_new_asset_context_does_not() -> None:
    eng, clock = engine()
    ticks(eng, clock, 3)
    until = eng.idle_until_ns
    assert until > clock.monotonic_ns()  # quiet ticks ahead (the data is fresh)
    assert eng.still_idle_until_ns() == until
    clock.advance(30)
    eng.on_feed_event(book(clock))  # fresher data, nothing a tick reads besides its age
    assert eng.still_idle_until_ns() == until
    eng.on_feed_event(ctx("190", "190.05"))  # the risk monitor must see it
    assert eng.still_idle_until_ns() == 0
    ticks(eng, clock, 1)
    assert eng.still_idle_until_ns() == eng.idle_until_ns > 0


def test_the_gates_tick_is_asked_only_when_the_flattener_is_not_idle() -> None:
    # The engine's tick skips the gates' (interpreted) tick while the flattener is idle:
    # exact, as the gates' tick is the flattener's, which then gives nothing.
    eng, clock = engine()
    asked: list[int] = []
    gates_tick = eng.gates.on_tick

    def spy(now_ms: int) -> list[Any]:
        asked.append(now_ms)
        return gates_tick(now_ms)

    eng.gates.on_tick = spy  # type: ignore[method-assign]
    assert eng.gates.flattener is eng.flattener and eng.flattener.idle
    for _ in range(5):
        clock.advance(100)
        assert gates_tick(clock.now_ms()) == []
        eng.on_tick()
    assert asked == []
