"""The shock rate knob of the synthetic market (sim.shocks_per_hour, --shocks-per-hour)."""

from __future__ import annotations

from hip3term.core.clock import SimClock
from hip3term.venue.sim.exchange import SimExchange


def _large_episodes(shocks_per_hour: float | None, minutes: int = 5) -> int:
    clock = SimClock(1_795_262_000_000)
    exchange = SimExchange.create(["COIN"], seed=3, clock=clock, shocks_per_hour=shocks_per_hour)
    driver = next(iter(exchange.drivers.values()))
    episodes, inside = 0, False
    for _ in range(minutes * 600):
        clock.advance(100)
        exchange.step(clock.now_ms())
        bid, ask = exchange.engine.bbo(driver.spec.asset)
        oracle = driver.oracle_px
        if bid is None or ask is None or oracle is None:
            continue
        through = max((oracle - ask.px) / oracle, (bid.px - oracle) / oracle) * 10_000
        if through > 17 and not inside:
            episodes += 1
        inside = through > 17
    return episodes


def test_more_shocks_give_more_large_dislocations() -> None:
    calibrated = _large_episodes(None)  # 20 an hour
    lively = _large_episodes(480)
    assert lively >= 5  # about 3 a minute at 480 an hour
    assert lively > 3 * calibrated


def test_no_shocks_means_no_large_dislocations() -> None:
    assert _large_episodes(0, minutes=2) == 0
