"""HardStopLatch, RiskMonitor and RejectCounter: the sticky hard stop and its triggers.

**The latch** has four states of increasing severity (`core.events.LatchState`): ACTIVE,
PAUSED (soft halt: no new orders), HALTED (hard halt: no new orders, cancel all) and
TRIPPED (hard stop). Every command only ever raises the state; nothing but an explicit
`resume(operator, reason)` lowers it (to ACTIVE), and every trip, level and resume is an
event with its time and reason for the journal.

- `trip(trigger, detail)` (the risk monitor, or the operator's `halt`): TRIPPED; then,
  per config, cancel all (`risk.halt_cancels_all`) and flatten all (`risk.halt_flattens`)
  through the attached `HaltHandler` (the `GateKeeper`), and an `AlertRaised`. A second
  trip while tripped does nothing (the first reason stays on show).
- operator levels: `pause` -> PAUSED; `cancel_all` -> HALTED and cancel all; `flatten`
  -> HALTED, cancel all and flatten (all, or one market): resting orders are canceled so
  they cannot reopen what is being closed. The actions run even when the state is
  already higher (pressing flatten again flattens again).

New orders are refused by the gates in every state but ACTIVE; cancels and reduce-only
orders always pass, so a tripped latch can still cancel and flatten.

**The risk monitor** is pure: `check(now_ms, inputs)` evaluates the triggers on a
snapshot (`RiskInputs`) in this order and trips the latch on the first that holds:

1. cumulative loss over `max_cumulative_loss` ($20): realized PnL (net of fees, rebates
   added) + unrealized PnL at mark (net of the open part's fees) fell by more than $20;
2. more than `max_consecutive_losses` (5) losing round trips in a row (a round trip
   with PnL >= 0 resets the streak);
3. more than `max_flatten_failures` (3) flatten failures;
4. a market's data older than `market_data_stale_s`;
5. |mark - oracle| / oracle over `max_oracle_mark_divergence_bps`;
6. the websocket down for more than `ws_down_s`;
7. a reject storm: `reject_storm_count` rejects within `reject_storm_window_s`
   (`monitor.rejects`, fed by the executor with each reject, de-duplicated by order).

A resume rebases the cumulative figures: after it, the loss, the losing streak and the
flatten failures count from the resume, and the reject window restarts; the condition
triggers (4-6) trip again at once if they still hold. Prefer `monitor.resume(...,
inputs)`, which rebases on the figures of that moment; a resume made on the latch itself
is noticed at the next check and rebased on the last inputs checked before it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from hip3term.config import RiskSettings
from hip3term.core.events import (
    AlertRaised,
    EngineEvent,
    LatchEngaged,
    LatchResumed,
    LatchState,
    LatchTripped,
    TripTrigger,
)
from hip3term.positions.tracker import PositionTracker

__all__ = [
    "HaltHandler",
    "HardStopLatch",
    "MarketHealth",
    "RejectCounter",
    "RiskInputs",
    "RiskMonitor",
]

ZERO = Decimal(0)
_BPS = Decimal(10_000)


class HaltHandler(Protocol):
    """Who carries out the latch's cancels and flattens (`risk.gates.GateKeeper`)."""

    def cancel_all(self, now_ms: int, reason: str) -> list[EngineEvent]: ...
    def flatten_all(self, now_ms: int, reason: str) -> list[EngineEvent]: ...
    def flatten(self, market: str, now_ms: int, reason: str) -> list[EngineEvent]: ...


class HardStopLatch:
    """The sticky latch (module docstring). Attach the handler before trading starts."""

    def __init__(self, settings: RiskSettings, handler: HaltHandler | None = None) -> None:
        """Start ACTIVE; without a handler the latch only reports (no cancels/flattens)."""
        self.settings = settings
        self._handler = handler
        self.state = LatchState.ACTIVE
        self.trip_trigger: TripTrigger | None = None
        self.trip_detail = ""
        self.tripped_ms: int | None = None
        self.resumes = 0

    def attach(self, handler: HaltHandler) -> None:
        """Set the handler (the GateKeeper needs the latch first, hence two steps)."""
        self._handler = handler

    @property
    def tripped(self) -> bool:
        """True while TRIPPED."""
        return self.state is LatchState.TRIPPED

    def trip(self, trigger: TripTrigger, detail: str, now_ms: int) -> list[EngineEvent]:
        """Trip the hard stop: stop new orders, cancel all, flatten all, alert, hold."""
        if self.tripped:
            return []
        self.state, self.trip_trigger, self.trip_detail = LatchState.TRIPPED, trigger, detail
        self.tripped_ms = now_ms
        cancels, flattens = self.settings.halt_cancels_all, self.settings.halt_flattens
        events: list[EngineEvent] = [LatchTripped(now_ms, trigger, detail, cancels, flattens)]
        reason = f"latch tripped: {trigger}"
        if self._handler is not None:
            if cancels:
                events += self._handler.cancel_all(now_ms, reason)
            if flattens:
                events += self._handler.flatten_all(now_ms, reason)
        events.append(AlertRaised(now_ms, "latch_tripped",
                                  f"HARD STOP ({trigger}): {detail}; resume needs an operator"))
        return events

    def halt(self, operator: str, reason: str, now_ms: int) -> list[EngineEvent]:
        """The operator's halt key: trip the hard stop."""
        return self.trip(TripTrigger.OPERATOR, f"{_who(operator)}: {reason}", now_ms)

    def pause(self, operator: str, reason: str, now_ms: int) -> list[EngineEvent]:
        """Soft halt: no new orders; resting orders stay."""
        return self._raise(LatchState.PAUSED, operator, reason, now_ms)

    def cancel_all(self, operator: str, reason: str, now_ms: int) -> list[EngineEvent]:
        """Hard halt: no new orders, cancel every open order."""
        events = self._raise(LatchState.HALTED, operator, reason, now_ms)
        if self._handler is not None:
            events += self._handler.cancel_all(now_ms, f"operator {_who(operator)}: {reason}")
        return events

    def flatten(self, operator: str, reason: str, now_ms: int,
                market: str | None = None) -> list[EngineEvent]:  # fmt: skip
        """Hard halt, cancel all, and flatten every position (or one market)."""
        events = self.cancel_all(operator, reason, now_ms)
        why = f"operator {_who(operator)}: {reason}"
        if self._handler is not None:
            events += (self._handler.flatten_all(now_ms, why) if market is None
                       else self._handler.flatten(market, now_ms, why))  # fmt: skip
        return events

    def resume(self, operator: str, reason: str, now_ms: int) -> list[EngineEvent]:
        """The only way back to ACTIVE; nothing happens when already ACTIVE.

        Raises:
            ValueError: `operator` or `reason` is empty (a resume must say who and why).
        """
        if not operator.strip() or not reason.strip():
            raise ValueError("a resume needs the operator's name and a reason")
        if self.state is LatchState.ACTIVE:
            return []
        event = LatchResumed(now_ms, operator, reason, self.state, self.trip_trigger,
                             self.trip_detail)  # fmt: skip
        self.state, self.trip_trigger, self.trip_detail = LatchState.ACTIVE, None, ""
        self.tripped_ms = None
        self.resumes += 1
        return [event]

    def _raise(self, level: LatchState, operator: str, reason: str,
               now_ms: int) -> list[EngineEvent]:  # fmt: skip
        if self.state.severity >= level.severity:
            return []
        self.state = level
        return [LatchEngaged(now_ms, level, _who(operator), reason)]


def _who(operator: str) -> str:
    return operator.strip() or "operator"


@dataclass(frozen=True, slots=True, init=False)  # a hot record: see _native
class MarketHealth:
    """Feed health of one market: data age (None before any data), oracle and mark."""

    market: str
    data_age_s: float | None
    oracle_px: Decimal | None = None
    mark_px: Decimal | None = None

    def __init__(self, market: str, data_age_s: float | None, oracle_px: Decimal | None = None,
                 mark_px: Decimal | None = None) -> None:  # fmt: skip
        object.__setattr__(self, "market", market)
        object.__setattr__(self, "data_age_s", data_age_s)
        object.__setattr__(self, "oracle_px", oracle_px)
        object.__setattr__(self, "mark_px", mark_px)


@dataclass(frozen=True, slots=True, init=False)  # a hot record: see _native
class RiskInputs:
    """A snapshot of everything the triggers read (build it with `collect`)."""

    realized_pnl: Decimal = ZERO
    unrealized_pnl: Decimal = ZERO
    closed_trades: int = 0
    consecutive_losses: int = 0
    flatten_failures: int = 0
    markets: tuple[MarketHealth, ...] = ()
    ws_down_since_ms: int | None = None

    def __init__(self, realized_pnl: Decimal = ZERO, unrealized_pnl: Decimal = ZERO,
                 closed_trades: int = 0, consecutive_losses: int = 0,
                 flatten_failures: int = 0, markets: tuple[MarketHealth, ...] = (),
                 ws_down_since_ms: int | None = None) -> None:  # fmt: skip
        object.__setattr__(self, "realized_pnl", realized_pnl)
        object.__setattr__(self, "unrealized_pnl", unrealized_pnl)
        object.__setattr__(self, "closed_trades", closed_trades)
        object.__setattr__(self, "consecutive_losses", consecutive_losses)
        object.__setattr__(self, "flatten_failures", flatten_failures)
        object.__setattr__(self, "markets", markets)
        object.__setattr__(self, "ws_down_since_ms", ws_down_since_ms)

    @classmethod
    def collect(
        cls,
        tracker: PositionTracker,
        mark_of: Callable[[str], Decimal | None],
        *,
        flatten_failures: int,
        markets: Sequence[MarketHealth] = (),
        ws_down_since_ms: int | None = None,
    ) -> RiskInputs:
        """Read the tracker's PnL and outcomes; the feed figures are passed in."""
        return RiskInputs(  # not cls(...): the compiled constructor, called directly
            tracker.realized_pnl, tracker.unrealized_pnl(mark_of), tracker.closed_trades,
            tracker.consecutive_losses, flatten_failures, tuple(markets), ws_down_since_ms,
        )  # fmt: skip


class RejectCounter:
    """Rejects within a sliding window, each order counted once."""

    def __init__(self, window_s: float) -> None:
        """Count over the last `window_s` seconds."""
        self._window_ms = round(window_s * 1000)
        self._times: deque[tuple[int, str | None]] = deque()
        self.recorded = 0
        """Rejects counted since the start (only grows; the window's count can fall)."""

    def record(self, now_ms: int, key: str | None = None) -> int:
        """Count a reject (`key`: the order's cloid or oid, counted once); the count now."""
        self._prune(now_ms)
        if key is None or all(k != key for _, k in self._times):
            self._times.append((now_ms, key))
            self.recorded += 1
        return len(self._times)

    def count(self, now_ms: int) -> int:
        """Rejects in the window ending at `now_ms`."""
        self._prune(now_ms)
        return len(self._times)

    def clear(self) -> None:
        """Forget every reject."""
        self._times.clear()

    def _prune(self, now_ms: int) -> None:
        while self._times and self._times[0][0] <= now_ms - self._window_ms:
            self._times.popleft()


class RiskMonitor:
    """Evaluates the triggers and trips the latch (module docstring)."""

    def __init__(self, settings: RiskSettings, latch: HardStopLatch) -> None:
        """Watch for `latch`, with the limits of `settings`."""
        self.settings, self.latch = settings, latch
        self.rejects = RejectCounter(settings.reject_storm_window_s)
        # the limits read on every check (the settings are frozen; compiled, each read of
        # a pydantic attribute is a generic lookup)
        self._max_loss = settings.max_cumulative_loss
        self._max_losses = settings.max_consecutive_losses
        self._max_failures = settings.max_flatten_failures
        self._stale_s = settings.market_data_stale_s
        self._max_divergence_bps = settings.max_oracle_mark_divergence_bps
        self._ws_down_ms = settings.ws_down_s * 1000
        self._storm_count = settings.reject_storm_count
        self._seen_resumes = latch.resumes
        self._pnl_base = ZERO
        self._trades_base = 0
        self._failures_base = 0
        self._last: RiskInputs | None = None
        # (oracle, mark, divergence in bps) of the last check: the same Decimal objects
        # (the same asset context) give the same figure, ten ticks a second
        self._divergence: tuple[Decimal, Decimal, Decimal] | None = None

    def check(self, now_ms: int, inputs: RiskInputs) -> list[EngineEvent]:
        """Trip the latch if a trigger holds; the latch's events, or nothing.

        A resume made on the latch directly is noticed here and rebased on the inputs of
        the last check before it (so what happened since the resume still counts).
        """
        if self.latch.resumes != self._seen_resumes:
            self._rebase(self._last or inputs)
        self._last = inputs
        if self.latch.tripped:
            return []
        found = self.first_trigger(now_ms, inputs)
        return [] if found is None else self.latch.trip(found[0], found[1], now_ms)

    def resume(self, operator: str, reason: str, now_ms: int,
               inputs: RiskInputs) -> list[EngineEvent]:  # fmt: skip
        """Resume the latch and rebase on `inputs` (the figures at the resume)."""
        events = self.latch.resume(operator, reason, now_ms)
        if events:
            self._rebase(inputs)
        return events

    def _rebase(self, inputs: RiskInputs) -> None:
        self._seen_resumes = self.latch.resumes
        self._pnl_base = inputs.realized_pnl + inputs.unrealized_pnl
        self._trades_base = inputs.closed_trades
        self._failures_base = inputs.flatten_failures
        self.rejects.clear()

    def first_trigger(self, now_ms: int, inputs: RiskInputs) -> tuple[TripTrigger, str] | None:
        """The first trigger that holds, with its detail; None if none does."""
        pnl = inputs.realized_pnl + inputs.unrealized_pnl - self._pnl_base
        if -pnl > self._max_loss:
            return TripTrigger.CUMULATIVE_LOSS, f"PnL {pnl:.2f} < -{self._max_loss}"
        streak = min(inputs.consecutive_losses, inputs.closed_trades - self._trades_base)
        if streak > self._max_losses:
            return TripTrigger.CONSECUTIVE_LOSSES, f"{streak} losing trades in a row"
        failures = inputs.flatten_failures - self._failures_base
        if failures > self._max_failures:
            return TripTrigger.FLATTEN_FAILURES, f"{failures} flatten failures"
        return self._feed_trigger(now_ms, inputs)

    def _feed_trigger(self, now_ms: int, inputs: RiskInputs) -> tuple[TripTrigger, str] | None:
        for health in inputs.markets:
            if health.data_age_s is not None and health.data_age_s > self._stale_s:
                return (TripTrigger.MARKET_DATA_STALE,
                        f"{health.market} data {health.data_age_s:.1f} s old")  # fmt: skip
        for health in inputs.markets:
            oracle, mark = health.oracle_px, health.mark_px
            if oracle and mark is not None:
                bps = self._divergence_bps(oracle, mark)
                if bps > self._max_divergence_bps:
                    return (TripTrigger.ORACLE_MARK_DIVERGENCE,
                            f"{health.market} mark {mark} vs oracle {oracle}: {bps:.1f} bps")
        since = inputs.ws_down_since_ms
        if since is not None and now_ms - since > self._ws_down_ms:
            return TripTrigger.WS_DOWN, f"websocket down for {(now_ms - since) / 1000:.1f} s"
        rejects = self.rejects.count(now_ms)
        if rejects >= self._storm_count:
            return (TripTrigger.REJECT_STORM,
                    f"{rejects} rejects in {self.settings.reject_storm_window_s:g} s")  # fmt: skip
        return None

    def _divergence_bps(self, oracle: Decimal, mark: Decimal) -> Decimal:
        last = self._divergence
        if last is not None and last[0] is oracle and last[1] is mark:
            return last[2]
        bps = abs(mark - oracle) / oracle * _BPS
        self._divergence = (oracle, mark, bps)
        return bps
