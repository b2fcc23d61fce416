"""TimeStop and Flattener: close positions with reduce-only IOC orders, and keep trying.

The flattener never sends anything: it returns `OrderRequest`s (reduce-only, IOC) for
the scheduler's reduce-only queue, to be submitted through the gates
(`risk.gates.GateKeeper.submit`), and events for the journal.

A flatten *episode* starts for a market when its position is older than the time stop
(`risk.time_stop_s`, 30 s, measured from the position's entry time: exchange time of the
opening fill), or on `flatten(market)` / `flatten_all()` (operator, latch). Then, on
every `on_tick(now_ms)`:

- while the last flatten order is live (queued, sent, resting, unknown) nothing new goes;
- when it has ended, its outcome is judged once. If the exchange reported more filled
  than the fills received so far, the judgement waits (up to `fill_wait_ms`) so the
  position is not overestimated. No fill at all (rejected, IOC canceled, failed) counts
  a flatten failure (`failures`, read by the risk monitor: more than 3 trip the latch)
  and the next attempt waits `retry_ms`; a partial fill retries on the next tick;
- an order that never got tracked (denied by a gate, e.g. not READY) is retried after
  `retry_ms` without counting a failure;
- the order: side against the position, size = |position| truncated to the lot
  (`round_size(..., reduce_only=True)`, so never above the position), price = the touch
  on the far side (best ask to buy back a short, best bid to sell a long; the mark if
  that side is empty) moved by `slippage_bps` through the market and rounded aggressively
  to a valid price (`round_price(..., aggressive=True)`: 5 significant figures, tick);
- still open `risk.flatten_alert_s` (60 s) after the position's entry (time stop) or
  after the command (explicit flatten): one `AlertRaised`, and it keeps trying;
- flat: `FlattenCompleted`, the episode ends.

The slippage, retry and fill-wait figures are constructor arguments (the config has no
fields for them yet).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Protocol

from hip3term.config import RiskSettings
from hip3term.core.events import (
    AlertRaised,
    EngineEvent,
    FlattenCompleted,
    FlattenFailed,
    FlattenStarted,
)
from hip3term.errors import MarketError
from hip3term.execution.orders import OrderRequest
from hip3term.positions.tracker import Position, PositionTracker

__all__ = [
    "DEFAULT_SLIPPAGE_BPS",
    "FlattenStep",
    "Flattener",
    "MarketRules",
    "Quote",
]

DEFAULT_SLIPPAGE_BPS = Decimal(50)
"""How far through the touch a flatten IOC is priced (0.5%)."""
DEFAULT_RETRY_MS = 1_000
DEFAULT_FILL_WAIT_MS = 2_000
_BPS = Decimal(10_000)


class MarketRules(Protocol):
    """What the flattener needs of a market (`venue.hyperliquid.markets.MarketInfo`)."""

    @property
    def name(self) -> str: ...
    @property
    def asset_id(self) -> int: ...
    def round_price(self, px: Decimal | int, *, is_buy: bool, aggressive: bool) -> Decimal: ...
    def round_size(self, sz: Decimal | int, *, reduce_only: bool) -> Decimal: ...


@dataclass(frozen=True, slots=True)
class Quote:
    """Reference prices of a market: best bid, best ask, mark (None when unknown)."""

    bid: Decimal | None
    ask: Decimal | None
    mark: Decimal | None


@dataclass(frozen=True, slots=True, init=False)  # a hot record: see _native
class FlattenStep:
    """Orders to submit (reduce-only IOC) and events to journal."""

    requests: tuple[OrderRequest, ...] = ()
    events: tuple[EngineEvent, ...] = ()

    def __init__(self, requests: tuple[OrderRequest, ...] = (),
                 events: tuple[EngineEvent, ...] = ()) -> None:  # fmt: skip
        object.__setattr__(self, "requests", requests)
        object.__setattr__(self, "events", events)

    def __add__(self, other: FlattenStep) -> FlattenStep:
        return FlattenStep(self.requests + other.requests, self.events + other.events)


_NOTHING: Final = FlattenStep()


@dataclass(slots=True)
class _Episode:
    market: str
    reason: str
    started_ms: int
    alert_base_ms: int
    alerted: bool = False
    complained: bool = False
    cloid: str | None = None
    judged: bool = True
    retry_at_ms: int = 0


class Flattener:
    """Time stop and flatten episodes (see the module docstring)."""

    def __init__(
        self,
        settings: RiskSettings,
        tracker: PositionTracker,
        rules: Callable[[str], MarketRules | None],
        quotes: Callable[[str], Quote | None],
        new_cloid: Callable[[], str],
        *,
        time_stop: bool = True,
        slippage_bps: Decimal = DEFAULT_SLIPPAGE_BPS,
        retry_ms: int = DEFAULT_RETRY_MS,
        fill_wait_ms: int = DEFAULT_FILL_WAIT_MS,
    ) -> None:
        """Wire the flattener to the tracker, market rules, prices and a cloid source.

        Args:
            settings: `time_stop_s` and `flatten_alert_s` come from here.
            tracker: positions and the fate of flatten orders.
            rules: market name -> its rules (None if unknown: no flatten possible).
            quotes: market name -> reference prices now.
            new_cloid: a fresh client order id per call (`CloidSequence`).
            time_stop: False disables the time stop (explicit flattens still work).
            slippage_bps: how far through the touch the IOC is priced.
            retry_ms: wait after an attempt that filled nothing or was not accepted.
            fill_wait_ms: how long to wait for fills the exchange already reported.
        """
        if slippage_bps < 0:
            raise ValueError("slippage_bps must not be negative")
        self._tracker, self._rules, self._quotes, self._new_cloid = (
            tracker, rules, quotes, new_cloid,
        )  # fmt: skip
        self._time_stop_ms = None if not time_stop else round(settings.time_stop_s * 1000)
        self._alert_ms = round(settings.flatten_alert_s * 1000)
        self._slippage = slippage_bps / _BPS
        self._retry_ms, self._fill_wait_ms = retry_ms, fill_wait_ms
        self._episodes: dict[str, _Episode] = {}
        self.failures = 0

    @property
    def idle(self) -> bool:
        """Flat with no episode: a tick has nothing to do (until a fill or a flatten)."""
        return not self._episodes and not self._tracker.has_open_positions()

    @property
    def flattening(self) -> frozenset[str]:
        """Markets with a flatten episode in progress."""
        return frozenset(self._episodes)

    def flatten(self, market: str, now_ms: int, reason: str = "operator") -> FlattenStep:
        """Flatten `market` now (nothing if it is flat)."""
        started = self._start(market, now_ms, reason, alert_base_ms=now_ms)
        if started is None:
            return FlattenStep()
        return started + self._step(self._episodes[market], now_ms)

    def flatten_all(self, now_ms: int, reason: str = "operator") -> FlattenStep:
        """Flatten every open position now."""
        step = FlattenStep()
        for position in self._tracker.positions():
            step += self.flatten(position.market, now_ms, reason)
        return step

    def on_tick(self, now_ms: int) -> FlattenStep:
        """Start time stops that are due, and advance every episode."""
        if self.idle:
            return _NOTHING  # flat and no episode: the common tick
        step = FlattenStep()
        if self._time_stop_ms is not None:
            for position in self._tracker.positions():
                if now_ms - position.entry_ms < self._time_stop_ms:
                    continue
                started = self._start(position.market, now_ms, "time_stop",
                                      alert_base_ms=position.entry_ms)  # fmt: skip
                step += started or FlattenStep()
        for episode in list(self._episodes.values()):
            step += self._step(episode, now_ms)
        return step

    def _start(self, market: str, now_ms: int, reason: str, *,
               alert_base_ms: int) -> FlattenStep | None:  # fmt: skip
        # None: flat, nothing to do; an empty step: the episode was already running.
        position = self._tracker.position(market)
        if position is None:
            return None
        if market in self._episodes:
            return FlattenStep()
        self._episodes[market] = _Episode(market, reason, now_ms, alert_base_ms)
        return FlattenStep(events=(FlattenStarted(now_ms, market, position.size, reason),))

    def _step(self, episode: _Episode, now_ms: int) -> FlattenStep:
        events: list[EngineEvent] = []
        if episode.cloid is not None and not episode.judged:
            order = self._tracker.order(cloid=episode.cloid)
            if order is not None:
                in_transit = order.filled_sz > order.applied_sz
                waiting = in_transit and now_ms - order.updated_ms < self._fill_wait_ms
                if not order.state.terminal or waiting:
                    return FlattenStep(events=tuple(self._overdue(episode, now_ms)))
                episode.judged = True
                if order.filled_sz == 0:
                    self.failures += 1
                    events.append(FlattenFailed(now_ms, episode.market, episode.cloid,
                                                order.status, self.failures))  # fmt: skip
                else:
                    episode.retry_at_ms = now_ms  # progress: go again at once
        position = self._tracker.position(episode.market)
        if position is None:
            del self._episodes[episode.market]
            events.append(FlattenCompleted(now_ms, episode.market, episode.started_ms))
            return FlattenStep(events=tuple(events))
        events += self._overdue(episode, now_ms)
        if now_ms < episode.retry_at_ms:
            return FlattenStep(events=tuple(events))
        request, problem = self._order_for(position, now_ms)
        episode.retry_at_ms = now_ms + self._retry_ms  # if it never gets tracked
        if request is None:
            if not episode.complained:
                episode.complained = True
                events.append(AlertRaised(now_ms, "flatten_impossible", problem, episode.market))
            return FlattenStep(events=tuple(events))
        episode.cloid, episode.judged = request.cloid, False
        return FlattenStep((request,), tuple(events))

    def _overdue(self, episode: _Episode, now_ms: int) -> list[EngineEvent]:
        if episode.alerted or now_ms - episode.alert_base_ms < self._alert_ms:
            return []
        episode.alerted = True
        seconds = (now_ms - episode.alert_base_ms) / 1000
        return [AlertRaised(
            now_ms, "flatten_overdue",
            f"{episode.market} still not flat {seconds:.1f} s after "
            f"{'entry' if episode.reason == 'time_stop' else 'the flatten command'} "
            f"({episode.reason}); still trying",
            episode.market,
        )]  # fmt: skip

    def _order_for(self, position: Position, now_ms: int) -> tuple[OrderRequest | None, str]:
        market = position.market
        rules, quote = self._rules(market), self._quotes(market)
        is_buy = position.size < 0
        touch = None if quote is None else (quote.ask if is_buy else quote.bid)
        reference = touch if touch is not None else (quote.mark if quote else None)
        if rules is None or reference is None:
            return None, f"cannot flatten {market}: no market rules or no reference price"
        factor = 1 + self._slippage if is_buy else 1 - self._slippage
        try:
            try:
                px = rules.round_price(reference * factor, is_buy=is_buy, aggressive=True)
            except MarketError:
                # A sell below the smallest valid price: that price is the most aggressive.
                px = rules.round_price(reference * factor, is_buy=is_buy, aggressive=False)
            sz = min(rules.round_size(abs(position.size), reduce_only=True), abs(position.size))
        except MarketError as exc:
            return None, f"cannot flatten {market}: {exc}"
        request = OrderRequest(
            cloid=self._new_cloid(), market=market, asset=rules.asset_id, is_buy=is_buy,
            px=px, sz=sz, tif="Ioc", reduce_only=True, created_ms=now_ms, origin="flatten",
        )  # fmt: skip
        return request, ""
