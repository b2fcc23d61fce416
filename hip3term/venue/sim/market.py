"""A seeded synthetic HIP-3 equity perp that trades in the matching engine (pure).

`SyntheticMarket` drives one market of a `MatchingEngine` as its clock is stepped
(`step(now_ms)`), deterministically for a seed and a sequence of calls. It owns two house
accounts: a maker that keeps 20 real resting orders a side, and a taker that sends IOC
orders. User orders live in the same book: a user IOC trades with the house maker, a
user's resting order can be hit by the house taker, and re-quoting only ever cancels or
places house orders (house quotes are post-only, so they never trade with a user).

The model (defaults calibrated on `xyz:COIN`, DESIGN.md section 4; see `SyntheticParams`):

- a *fair price* on a geometric random walk, 1.5 bps per square-root second (about 84 %
  a year on a 24/7 clock, a busy day for a single stock), plus the jumps below;
- an *oracle* that the deployer pushes every 2.5 s + Exp(mean 0.5 s) (mean 3.0 s, never
  under 2.5 s), equal to the fair price rounded to a valid price;
- a *mark* set at each push to the mean of the oracle and the local mark
  `median(best bid, best ask, last trade)`, moved at most 1 % from the previous mark;
- the *book centre* = fair price x (1 + dislocation), where the dislocation (in bps) is a
  fast noise (OU, sd 3 bps, 4 s), a slow premium (OU, sd 3 bps, 5 min) and shocks. Shocks
  arrive 20 times an hour with Pareto sizes (at least 10 bps, tail 1.3, at most 120 bps)
  and are of three kinds: the book *overshoots* and decays back (55 %); the fair price
  jumps, the oracle follows at its next push and the book *lags*, catching up only after
  that push (30 %); the book *leads* and the oracle follows (15 %, the kind that does not
  revert). Reverting shocks decay with a time constant of 1-4 s. With the oracle up to
  3 s stale this gives the shape of the real 48-hour study: the touch is a few bps through
  the oracle most of the time, and a few times an hour 25 bps or more, mostly gone within
  seconds (measured: tests/unit/test_sim_market.py prints the figures);
- the maker's *ladder*, re-centred at Poisson times (2 a second) and refilled at once when
  a level is taken: best bid = the centre rounded down to a tick, best ask one tick above,
  then levels 1-3 ticks apart; sizes log-normal around 2.5 units at the touch, growing
  10 % a level (an impact spread of about 8 bps at $6000; the real xyz:COIN: 7 bps);
- *takers*: Poisson arrivals, 0.1 a second, log-normal sizes around 1.5 units, IOC limit
  0.1 % through the book centre (so a lone far-away order is never swept).

Internally the latent prices are floats (a model, not money); every price that reaches the
engine or the wire is a Decimal obeying the tick rules. A 100 ms step costs about 50 us
on average (engine calls only for the levels that changed).
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from hip3term.core.clock import Clock
from hip3term.core.numeric import (
    RoundMode,
    round_price,
    to_wire,
)
from hip3term.venue.sim.ladder import HouseLadder, LadderShape, lot_size
from hip3term.venue.sim.ledger import FundingPayment, MarketSpec
from hip3term.venue.sim.matching import MatchingEngine
from hip3term.venue.sim.records import (
    FillRecord,
    Level,
    OrderEvent,
    PlaceResult,
    Trade,
)

__all__ = [
    "HOUSE_MAKER",
    "HOUSE_TAKER",
    "OraclePush",
    "StepResult",
    "SyntheticMarket",
    "SyntheticParams",
]

HOUSE_MAKER = "0x000000000000000000000000000000000000a11a"
HOUSE_TAKER = "0x000000000000000000000000000000000000b22b"
_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS
_BPS = 1e-4
_TEN_DECIMALS = Decimal("1e-10")


@dataclass(frozen=True, slots=True)
class SyntheticParams:
    """The knobs of the synthetic market (defaults: `xyz:COIN`-like, see the module doc).

    Attributes:
        sigma_bps: Fair-price volatility per square-root second, in bps.
        oracle_min_interval_ms: Shortest time between two oracle pushes.
        oracle_extra_mean_ms: Mean of the exponential time added to that minimum.
        mark_clamp: Largest relative mark move per push.
        noise_sd_bps: Stationary sd of the fast book-vs-fair noise (OU process).
        noise_tau_s: Its time constant.
        basis_sd_bps: Stationary sd of the slow premium (OU process).
        basis_tau_s: Its time constant.
        shocks_per_hour: Poisson rate of dislocation shocks.
        shock_min_bps: Smallest shock (Pareto scale).
        shock_tail: Pareto tail index of shock sizes.
        shock_max_bps: Largest shock.
        shock_tau_s: Range of the decay time constants of reverting shocks.
        p_overshoot: Share of shocks where the book overshoots and decays back.
        p_lag: Share where the oracle jumps and the book catches up after the push; the
            rest are shocks where the book leads and the oracle follows.
        ladder: The house maker's book (levels, gaps, sizes).
        refreshes_per_s: Poisson rate at which the maker re-centres its ladder (a level
            taken is refilled at the end of the step anyway).
        takers_per_s: Poisson rate of house taker orders.
        taker_size: Median taker size in coin units (log-normal).
        taker_size_sigma: Log-normal spread of taker sizes.
        taker_reach: How far through the book centre a taker IOC may go (0.001 = 0.1 %).
        impact_notional: USDC notional of the impact prices (and so of the premium).
        open_interest_base: Open interest added to the positions held in the engine.
    """

    sigma_bps: float = 1.5
    oracle_min_interval_ms: int = 2500
    oracle_extra_mean_ms: float = 500.0
    mark_clamp: Decimal = Decimal("0.01")
    noise_sd_bps: float = 3.0
    noise_tau_s: float = 4.0
    basis_sd_bps: float = 3.0
    basis_tau_s: float = 300.0
    shocks_per_hour: float = 20.0
    shock_min_bps: float = 10.0
    shock_tail: float = 1.3
    shock_max_bps: float = 120.0
    shock_tau_s: tuple[float, float] = (1.0, 4.0)
    p_overshoot: float = 0.55
    p_lag: float = 0.3
    ladder: LadderShape = field(default_factory=LadderShape)
    refreshes_per_s: float = 2.0
    takers_per_s: float = 0.1
    taker_size: float = 1.5
    taker_size_sigma: float = 0.9
    taker_reach: float = 0.001
    impact_notional: Decimal = Decimal(6000)
    open_interest_base: Decimal = Decimal(30000)


@dataclass(frozen=True, slots=True)
class OraclePush:
    """One deployer update: its time and the new oracle and mark prices."""

    time: int
    oracle_px: Decimal
    mark_px: Decimal


@dataclass(frozen=True, slots=True)
class StepResult:
    """What one `step` produced, for the server to publish.

    Attributes:
        trades: Every public trade of the house taker (with whoever it hit).
        fills: Fills of non-house accounts (user orders hit by the house taker).
        events: Order events of non-house accounts.
        fundings: Funding payments of non-house accounts (once an hour).
        oracle_pushes: Oracle/mark updates, in time order.
    """

    trades: tuple[Trade, ...] = ()
    fills: tuple[FillRecord, ...] = ()
    events: tuple[OrderEvent, ...] = ()
    fundings: tuple[FundingPayment, ...] = ()
    oracle_pushes: tuple[OraclePush, ...] = ()


@dataclass(slots=True)
class _Out:
    trades: list[Trade] = field(default_factory=list)
    fills: list[FillRecord] = field(default_factory=list)
    events: list[OrderEvent] = field(default_factory=list)
    fundings: list[FundingPayment] = field(default_factory=list)
    pushes: list[OraclePush] = field(default_factory=list)

    def result(self) -> StepResult:
        return StepResult(
            tuple(self.trades), tuple(self.fills), tuple(self.events),
            tuple(self.fundings), tuple(self.pushes),
        )  # fmt: skip


@dataclass(slots=True)
class _Shock:
    bps: float
    tau_s: float
    hold_until_ms: int  # a lagging book starts to catch up only after the oracle moved


class SyntheticMarket:
    """One synthetic market quoted and traded by house accounts in `engine`.

    Args:
        engine: The matching engine (it must list `spec`).
        spec: The market to drive.
        seed: Seed of every random choice.
        clock: The clock of the start time (and of `step()` without an argument).
        start_px: Initial fair, oracle and mark price.
        params: Model parameters.
        maker: Address of the house maker account.
        taker: Address of the house taker account.
    """

    def __init__(
        self,
        engine: MatchingEngine,
        spec: MarketSpec,
        seed: int,
        *,
        clock: Clock,
        start_px: Decimal = Decimal(190),
        params: SyntheticParams | None = None,
        maker: str = HOUSE_MAKER,
        taker: str = HOUSE_TAKER,
    ) -> None:
        self._engine, self._spec, self._clock = engine, spec, clock
        self._p = params if params is not None else SyntheticParams()
        self._maker, self._taker = maker.lower(), taker.lower()
        engine.ledger.open_account(self._maker, house=True)
        engine.ledger.open_account(self._taker, house=True)
        self._rng = {
            name: random.Random(f"{seed}:{name}")
            for name in ("fair", "dislocation", "oracle", "taker", "maker")
        }
        self._ladder = HouseLadder(
            engine, spec, self._maker, self._p.ladder, random.Random(f"{seed}:ladder")
        )
        self._t = clock.now_ms()
        self._log_fair = math.log(float(start_px))
        self._noise = self._basis = 0.0
        self._shocks: list[_Shock] = []
        self._oracle = self._mark = self._prev_day_px = round_price(
            start_px, spec.sz_decimals, RoundMode.NEAREST
        )
        self._premiums: deque[tuple[int, Decimal]] = deque()
        self._premium_sum = Decimal(0)
        self._volume: deque[tuple[int, Decimal, Decimal]] = deque([(self._t, *self._totals())])
        self._day_start = self._t
        self._next_oracle = self._t + self._oracle_interval()
        self._next_taker = self._t + self._exp_ms("taker", self._p.takers_per_s)
        self._next_shock = self._t + self._exp_ms("dislocation", self._p.shocks_per_hour / 3600)
        self._next_funding = (self._t // _HOUR_MS + 1) * _HOUR_MS
        self._next_refresh = self._t + self._exp_ms("maker", self._p.refreshes_per_s)
        self._ladder.requote(self._center(), force=True)

    # --- what the server streams -------------------------------------------------------------

    @property
    def spec(self) -> MarketSpec:
        """The market driven."""
        return self._spec

    @property
    def oracle_px(self) -> Decimal:
        """The last oracle price pushed."""
        return self._oracle

    @property
    def mark_px(self) -> Decimal:
        """The current mark price."""
        return self._mark

    @property
    def fair_px(self) -> float:
        """The latent fair price (a model quantity, for tests and reports only)."""
        return math.exp(self._log_fair)

    @property
    def funding(self) -> Decimal:
        """Hourly funding rate: the last hour's mean premium / 8, capped at 4 %."""
        if not self._premiums:
            return Decimal(0)
        rate = self._premium_sum / len(self._premiums) / 8
        rate = min(max(rate, Decimal("-0.04")), Decimal("0.04"))
        return rate.quantize(_TEN_DECIMALS, ROUND_HALF_EVEN)

    @property
    def open_interest(self) -> Decimal:
        """Base open interest plus the longs held in the engine, in coin units."""
        return self._p.open_interest_base + self._engine.ledger.open_interest(self._spec.asset)

    @property
    def mid(self) -> Decimal | None:
        """Book mid price, or None when a side is empty."""
        return self._engine.mid(self._spec.asset)

    def impact_pxs(self) -> tuple[Decimal, Decimal] | None:
        """Average prices of selling and of buying `impact_notional` USDC into the book."""
        bids, asks = self._engine.book_levels(self._spec.asset, self._p.ladder.levels)
        bid, ask = self._impact(bids), self._impact(asks)
        return (bid, ask) if bid is not None and ask is not None else None

    def premium(self) -> Decimal | None:
        """HIP-3 premium `(impact bid + impact ask) / 2 / oracle - 1` (None without depth)."""
        impact = self.impact_pxs()
        if impact is None:
            return None
        value = (impact[0] + impact[1]) / 2 / self._oracle - 1
        return value.quantize(_TEN_DECIMALS, ROUND_HALF_EVEN)

    def asset_ctx(self) -> dict[str, Any]:
        """The perp `ctx` of `activeAssetCtx` / `metaAndAssetCtxs`, numbers as strings."""
        impact, premium, mid = self.impact_pxs(), self.premium(), self.mid
        day_ntl, day_base = self._day_volume()
        return {
            "funding": to_wire(self.funding),
            "openInterest": to_wire(self.open_interest),
            "prevDayPx": to_wire(self._prev_day_px),
            "dayNtlVlm": to_wire(day_ntl),
            "premium": to_wire(premium) if premium is not None else None,
            "oraclePx": to_wire(self._oracle),
            "markPx": to_wire(self._mark),
            "midPx": to_wire(mid) if mid is not None else None,
            "impactPxs": [to_wire(px) for px in impact] if impact is not None else None,
            "dayBaseVlm": to_wire(day_base),
        }

    # --- stepping --------------------------------------------------------------------------------

    def step(self, now_ms: int | None = None) -> StepResult:
        """Advance the market to `now_ms` (default: the clock's time) and re-quote.

        Shocks, oracle pushes, taker trades and hourly funding that fall due are handled
        in time order at their own times; the latent prices move between them.

        Raises:
            ValueError: `now_ms` is earlier than the previous step.
        """
        now = self._clock.now_ms() if now_ms is None else now_ms
        if now < self._t:
            raise ValueError(f"step({now}) is before the previous step ({self._t})")
        out = _Out()
        while True:
            due = min(
                self._next_shock, self._next_oracle, self._next_taker, self._next_funding,
                self._next_refresh,
            )  # fmt: skip
            if due > now:
                break
            self._advance_to(due)
            if due == self._next_shock:
                self._shock()
            elif due == self._next_oracle:
                self._push_oracle(out)
            elif due == self._next_funding:
                self._apply_funding(out)
            elif due == self._next_refresh:
                self._ladder.requote(self._center(), force=True)
                self._next_refresh = due + self._exp_ms("maker", self._p.refreshes_per_s)
            else:
                self._take(out)
        self._advance_to(now)
        self._ladder.requote(self._center(), force=False)
        self._roll_day(now)
        return out.result()

    def _advance_to(self, t: int) -> None:
        dt = (t - self._t) / 1000
        if dt <= 0:
            return
        p, fair, disl = self._p, self._rng["fair"], self._rng["dislocation"]
        self._log_fair += p.sigma_bps * _BPS * math.sqrt(dt) * fair.gauss(0.0, 1.0)
        self._noise = _ou(self._noise, dt, p.noise_tau_s, p.noise_sd_bps, disl)
        self._basis = _ou(self._basis, dt, p.basis_tau_s, p.basis_sd_bps, disl)
        kept = []
        for shock in self._shocks:
            decaying_s = (t - max(self._t, shock.hold_until_ms)) / 1000
            if decaying_s > 0:
                shock.bps *= math.exp(-decaying_s / shock.tau_s)
            if abs(shock.bps) >= 0.01:
                kept.append(shock)
        self._shocks = kept
        self._t = t

    def _center(self) -> float:
        dislocation = self._noise + self._basis + sum(s.bps for s in self._shocks)
        return math.exp(self._log_fair) * (1 + dislocation * _BPS)

    def _shock(self) -> None:
        p, rng = self._p, self._rng["dislocation"]
        size = min(p.shock_min_bps * (1 - rng.random()) ** (-1 / p.shock_tail), p.shock_max_bps)
        size = size if rng.random() < 0.5 else -size
        tau = rng.uniform(*p.shock_tau_s)
        kind = rng.random()
        if kind < p.p_overshoot:
            self._shocks.append(_Shock(size, tau, self._t))
        else:
            self._log_fair += math.log1p(size * _BPS)
            if kind < p.p_overshoot + p.p_lag:  # the book stays until the oracle has moved
                self._shocks.append(_Shock(-size, tau, self._next_oracle))
        self._next_shock = self._t + self._exp_ms("dislocation", p.shocks_per_hour / 3600)

    def _push_oracle(self, out: _Out) -> None:
        szd = self._spec.sz_decimals
        self._oracle = round_price(Decimal(f"{self.fair_px:.8f}"), szd, RoundMode.NEAREST)
        bid, ask = self._engine.best_prices(self._spec.asset)
        last = self._engine.trade_totals(self._spec.asset)[0]
        local = sorted(px for px in (bid, ask, last) if px is not None)
        target = self._oracle if not local else (self._oracle + _median(local)) / 2
        upper = self._mark * (1 + self._p.mark_clamp)
        lower = self._mark * (1 - self._p.mark_clamp)
        if target > upper:
            self._mark = round_price(upper, szd, RoundMode.DOWN)
        elif target < lower:
            self._mark = round_price(lower, szd, RoundMode.UP)
        else:
            self._mark = round_price(target, szd, RoundMode.NEAREST)
        self._sample_premium()
        out.pushes.append(OraclePush(self._t, self._oracle, self._mark))
        self._next_oracle = self._t + self._oracle_interval()

    def _sample_premium(self) -> None:
        premium = self.premium()
        if premium is not None:
            self._premiums.append((self._t, premium))
            self._premium_sum += premium
        while self._premiums and self._premiums[0][0] <= self._t - _HOUR_MS:
            self._premium_sum -= self._premiums.popleft()[1]

    def _apply_funding(self, out: _Out) -> None:
        payments = self._engine.apply_funding(self._spec.asset, self.funding, self._mark)
        out.fundings.extend(p for p in payments if not self._engine.ledger.is_house(p.owner))
        self._next_funding += _HOUR_MS

    def _take(self, out: _Out) -> None:
        p, rng = self._p, self._rng["taker"]
        self._next_taker = self._t + self._exp_ms("taker", p.takers_per_s)
        is_buy = rng.random() < 0.5
        size = p.taker_size * math.exp(p.taker_size_sigma * rng.gauss(0.0, 1.0))
        # At most `taker_reach` through the book centre: a lone far-away order is no touch.
        reach = 1 + p.taker_reach if is_buy else 1 - p.taker_reach
        mode = RoundMode.DOWN if is_buy else RoundMode.UP
        limit = round_price(Decimal(f"{self._center() * reach:.8f}"), self._spec.sz_decimals, mode)
        sz = lot_size(size, limit, self._spec)
        self._collect(self._engine.place(self._taker, self._spec.asset, is_buy, limit, sz, "Ioc"),
                      out)  # fmt: skip

    def _collect(self, result: PlaceResult, out: _Out) -> None:
        is_house = self._engine.ledger.is_house
        out.trades.extend(result.trades)
        out.fills.extend(f for f in result.fills if not is_house(f.owner))
        out.events.extend(e for e in result.events if not is_house(e.owner))

    # --- helpers ---------------------------------------------------------------------------------

    def _oracle_interval(self) -> int:
        extra = self._rng["oracle"].expovariate(1 / self._p.oracle_extra_mean_ms)
        return self._p.oracle_min_interval_ms + int(extra)

    def _exp_ms(self, stream: str, rate_per_s: float) -> int:
        if rate_per_s <= 0:
            return 2**62  # never
        return max(1, int(self._rng[stream].expovariate(rate_per_s) * 1000))

    def _impact(self, levels: list[Level]) -> Decimal | None:
        need, notional, size = self._p.impact_notional, Decimal(0), Decimal(0)
        for level in levels:
            take = min(level.sz, (need - notional) / level.px)
            notional += take * level.px
            size += take
            if notional >= need:
                decimals = Decimal(10) ** -max(6 - self._spec.sz_decimals, 0)
                return (notional / size).quantize(decimals, ROUND_HALF_EVEN)
        return None

    def _totals(self) -> tuple[Decimal, Decimal]:
        _, notional, base = self._engine.trade_totals(self._spec.asset)
        return notional, base

    def _day_volume(self) -> tuple[Decimal, Decimal]:
        notional, base = self._totals()
        _, start_ntl, start_base = self._volume[0]
        return notional - start_ntl, base - start_base

    def _roll_day(self, now: int) -> None:
        # One volume sample a minute; the oldest one kept is at most 24 h old.
        if now - self._volume[-1][0] >= 60_000:
            self._volume.append((now, *self._totals()))
        while len(self._volume) > 1 and self._volume[1][0] <= now - _DAY_MS:
            self._volume.popleft()
        if now - self._day_start >= _DAY_MS:
            self._prev_day_px = self._mark
            self._day_start += _DAY_MS


def _ou(x: float, dt: float, tau: float, sd: float, rng: random.Random) -> float:
    decay = math.exp(-dt / tau)
    return x * decay + sd * math.sqrt(1 - decay * decay) * rng.gauss(0.0, 1.0)


def _median(values: list[Decimal]) -> Decimal:
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
