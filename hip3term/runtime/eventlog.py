"""Where the engine's events go: the journal, the recent-events log and the process log.

`EventLog.record(event, now_ms)` takes any event of the pure engine (`core.events`) or of
the executor (any frozen dataclass with a `ts_ms`), writes the journal rows it stands for
(order events, fills, position snapshots, risk events), keeps a line for the status
view (`recent`) and logs it at a level fitting its weight: DEBUG for the order lifecycle,
INFO for fills and positions, WARNING for alerts, trips and corrections.

Fills are journaled from `FillApplied` with the extra wire fields (fee token, closed PnL,
taker flag) the feed handed in beforehand (`remember_fill`). A fill `reflected` at the
first sync (already inside the exchange state loaded at start) is journaled only when it
is newer than `reflected_after_ms`, the last fill time a previous session saved: those
are fills a crashed session may have missed journaling; older ones are in the journal.
A fill is journaled once per session (by tid). `recover_fills` journals fills the
exchange lists that never arrived as frames (a frame lost in transit): the node reads
them with `userFillsByTime` after every resync and whenever a fill revealed a gap.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Protocol

from hip3term.core.events import (
    AlertRaised,
    CancelDenied,
    CancelQueued,
    FillApplied,
    FlattenCompleted,
    FlattenFailed,
    FlattenStarted,
    LatchEngaged,
    LatchResumed,
    LatchTripped,
    OpenOrderDiscovered,
    OpenOrderVanished,
    OrderDenied,
    OrderFailed,
    OrderQueued,
    OrderStateChanged,
    PositionClosed,
    PositionCorrected,
    PositionOpened,
    PositionsSynced,
    TradingReadyChanged,
)
from hip3term.persistence.rows import RowSink
from hip3term.runtime.snapshot import EventLine

__all__ = ["EventLog", "FillExtras", "RecoveredFill"]

_log = logging.getLogger("hip3term.engine")
_MAX_LINES = 200
_MAX_FILL_EXTRAS = 10_000


class RecoveredFill(Protocol):
    """A fill read back from the exchange (`wire.Fill`)."""

    @property
    def coin(self) -> str: ...
    @property
    def side(self) -> str: ...
    @property
    def px(self) -> Decimal: ...
    @property
    def sz(self) -> Decimal: ...
    @property
    def fee(self) -> Decimal: ...
    @property
    def tid(self) -> int: ...
    @property
    def oid(self) -> int: ...
    @property
    def time_ms(self) -> int: ...
    @property
    def cloid(self) -> str | None: ...
    @property
    def fee_token(self) -> str: ...
    @property
    def closed_pnl(self) -> Decimal: ...
    @property
    def crossed(self) -> bool: ...


class FillExtras(Protocol):
    """The wire fields of a fill the engine's `FillApplied` does not carry."""

    @property
    def tid(self) -> int: ...
    @property
    def fee_token(self) -> str: ...
    @property
    def closed_pnl(self) -> Decimal: ...
    @property
    def crossed(self) -> bool: ...


def _side(is_buy: bool) -> str:
    return "B" if is_buy else "A"


class EventLog:
    """Journals, shows and logs engine events (see the module docstring).

    Args:
        journal: the session's journal writer; None journals nothing (tests, replay).
        reflected_after_ms: journal reflected fills newer than this (None: none of them).
    """

    def __init__(self, journal: RowSink | None, *,
                 reflected_after_ms: int | None = None) -> None:  # fmt: skip
        self.journal = journal
        self.reflected_after_ms = reflected_after_ms
        self.recent: deque[EventLine] = deque(maxlen=_MAX_LINES)
        self.fills_journaled = 0
        self.last_fill_ms: int | None = None
        self._journaled: dict[int, None] = {}  # tids journaled this session, oldest first
        self._extras: dict[int, FillExtras] = {}

    def _journaled_fill(self, tid: int, time_ms: int) -> None:
        self.fills_journaled += 1
        self.last_fill_ms = max(self.last_fill_ms or 0, time_ms)
        self._journaled[tid] = None
        if len(self._journaled) > _MAX_FILL_EXTRAS:
            del self._journaled[next(iter(self._journaled))]

    def is_journaled(self, tid: int) -> bool:
        """Whether this session journaled the fill `tid` (the newest 10 000 are known)."""
        return tid in self._journaled

    def recover_fills(self, fills: Iterable[RecoveredFill], now_ms: int) -> int:
        """Journal fills the exchange lists that never reached us (their frame was lost);
        the positions already adopted the exchange's state. Returns how many."""
        count = 0
        for fill in fills:
            if fill.tid in self._journaled or (self.reflected_after_ms is not None
                                               and fill.time_ms <= self.reflected_after_ms):
                continue
            if self.journal is not None:
                self.journal.record_fill(
                    market=fill.coin, side=fill.side, price=fill.px, size=fill.sz,
                    fee=fill.fee, tid=fill.tid, oid=fill.oid, time_ms=fill.time_ms,
                    cloid=fill.cloid, fee_token=fill.fee_token, closed_pnl=fill.closed_pnl,
                    crossed=fill.crossed,
                )  # fmt: skip
            self._journaled_fill(fill.tid, fill.time_ms)
            count += 1
        if count:
            self.risk(now_ms, "fills_recovered", f"{count} fills whose frame never arrived "
                      "were read from the exchange (userFillsByTime) and journaled",
                      severity="warning")  # fmt: skip
        return count

    def remember_fill(self, fill: FillExtras) -> None:
        """Keep the wire fields of a fill until its `FillApplied` is recorded."""
        if len(self._extras) >= _MAX_FILL_EXTRAS:
            self._extras.clear()  # only ever reached if fills are never applied
        self._extras[fill.tid] = fill

    def line(self, time_ms: int, severity: str, kind: str, text: str) -> None:
        """Add a line to the recent-events log and the process log."""
        self.recent.append(EventLine(time_ms, severity, kind, text))
        level = {"alert": logging.WARNING, "warning": logging.WARNING}.get(severity, logging.INFO)
        _log.log(level, "%s: %s", kind, text)

    def risk(self, time_ms: int, kind: str, reason: str, *, severity: str = "info",
             detail: dict[str, Any] | None = None) -> None:  # fmt: skip
        """Journal a risk or system event and show it."""
        if self.journal is not None:
            self.journal.record_risk_event(kind=kind, reason=reason, severity=severity,
                                           detail=detail, time_ms=time_ms)  # fmt: skip
        self.line(time_ms, "alert" if severity == "critical" else severity, kind, reason)

    def record_all(self, events: Iterable[object]) -> None:
        """`record` each event."""
        for event in events:
            self.record(event)

    def record(self, event: object) -> None:
        """Journal, show and log one event."""
        if isinstance(event, FillApplied):
            self._fill(event)
        elif isinstance(event, OrderStateChanged):
            self._order(event.ts_ms, str(event.state), event.cloid, event.oid, event.status,
                        f"{event.market} filled {event.filled_sz}")  # fmt: skip
        elif isinstance(event, OrderQueued):
            what = "reduce-only" if event.reduce_only else "degraded" if event.degraded else ""
            self._order(event.ts_ms, "queued", event.cloid, None, None, what)
        elif isinstance(event, OrderDenied):
            self._order(event.ts_ms, "denied", event.cloid, None, str(event.gate),
                        f"{event.denial}: {event.detail}")  # fmt: skip
            self.line(event.ts_ms, "info", "order denied",
                      f"{event.market} {event.gate} ({event.denial}): {event.detail}")
        elif isinstance(event, OrderFailed):
            self._order(event.ts_ms, "failed", event.cloid, None, None, event.reason)
            self.line(event.ts_ms, "warning", "order failed", f"{event.cloid}: {event.reason}")
        elif isinstance(event, CancelQueued | CancelDenied):
            name = "cancel_queued" if isinstance(event, CancelQueued) else "cancel_denied"
            why = event.detail if isinstance(event, CancelDenied) else None
            self._order(event.ts_ms, name, event.cloid, event.oid, None, why)
        elif isinstance(event, OpenOrderDiscovered | OpenOrderVanished):
            self._order_news(event)
        else:
            self._other(event)

    # -- orders and fills ----------------------------------------------------------------

    def _order(self, time_ms: int, name: str, cloid: str | None, oid: int | None,
               status: str | None, detail: str | None) -> None:  # fmt: skip
        if self.journal is not None:
            self.journal.record_order_event(event=name, cloid=cloid, oid=oid, status=status,
                                            detail=detail, time_ms=time_ms)  # fmt: skip
        _log.debug("order %s %s %s %s", name, cloid or oid, status or "", detail or "")

    def _order_news(self, event: OpenOrderDiscovered | OpenOrderVanished) -> None:
        if isinstance(event, OpenOrderDiscovered):
            self._order(event.ts_ms, "discovered", event.cloid, event.oid, "open",
                        f"{event.market}: open on the exchange, adopted")  # fmt: skip
            self.line(event.ts_ms, "warning", "open order adopted",
                      f"{event.market} oid {event.oid}")
        else:
            self._order(event.ts_ms, "vanished", event.cloid, event.oid, str(event.previous),
                        f"{event.market}: not open on the exchange any more")  # fmt: skip

    def _fill(self, event: FillApplied) -> None:
        extras = self._extras.pop(event.tid, None)
        newer = self.reflected_after_ms is not None and event.time_ms > self.reflected_after_ms
        if (event.reflected and not newer) or event.tid in self._journaled:
            return
        if self.journal is not None:
            self.journal.record_fill(
                market=event.market, side=_side(event.is_buy), price=event.px, size=event.sz,
                fee=event.fee, tid=event.tid, oid=event.oid, time_ms=event.time_ms,
                cloid=event.cloid, fee_token=extras.fee_token if extras else "USDC",
                closed_pnl=extras.closed_pnl if extras else None,
                crossed=extras.crossed if extras else False,
            )  # fmt: skip
        self._journaled_fill(event.tid, event.time_ms)
        if not event.reflected:
            self.line(event.ts_ms, "info", "fill",
                      f"{event.market} {'buy' if event.is_buy else 'sell'} {event.sz} @ "
                      f"{event.px} fee {event.fee} -> position {event.position_after}")

    def _position(self, time_ms: int, market: str, size: Decimal,
                  entry: Decimal | None, realized: Decimal | None = None) -> None:  # fmt: skip
        if self.journal is not None:
            self.journal.record_position(market=market, size=size, entry_px=entry,
                                         realized_pnl=realized, time_ms=time_ms)  # fmt: skip

    # -- everything else -------------------------------------------------------------------

    def _other(self, event: object) -> None:
        if isinstance(event, PositionOpened):
            self._position(event.ts_ms, event.market, event.size, event.entry_px)
            self.line(event.ts_ms, "info", "position opened",
                      f"{event.market} {event.size} @ {event.entry_px}")
        elif isinstance(event, PositionClosed):
            self._position(event.ts_ms, event.market, Decimal(0), None, event.pnl)
            self.line(event.ts_ms, "info", "position closed",
                      f"{event.market} round trip PnL {event.pnl:.4f}")
        elif isinstance(event, PositionCorrected):
            self._position(event.ts_ms, event.market, event.exchange_size, event.exchange_entry)
            self.risk(event.ts_ms, "position_corrected",
                      f"{event.market}: believed {event.believed_size}, exchange "
                      f"{event.exchange_size} @ {event.exchange_entry} ({event.source})",
                      severity="warning")  # fmt: skip
        elif isinstance(event, PositionsSynced):
            self.risk(event.ts_ms, "positions_synced",
                      f"positions synced with the exchange as of {event.as_of_ms} "
                      f"({event.corrections} corrections)")  # fmt: skip
        elif isinstance(event, TradingReadyChanged):
            kind = "ready" if event.ready else "not_ready"
            self.risk(event.ts_ms, kind, f"READY-TRADING {'gained' if event.ready else 'lost'}:"
                      f" {event.reason}", severity="info" if event.ready else "warning")
        elif isinstance(event, LatchTripped | LatchEngaged | LatchResumed):
            self._latch(event)
        elif isinstance(event, AlertRaised):
            self.risk(event.ts_ms, f"alert:{event.code}", event.message, severity="critical",
                      detail={"market": event.market} if event.market else None)
        elif isinstance(event, FlattenStarted | FlattenFailed | FlattenCompleted):
            self._flatten(event)
        else:
            self._unknown(event)

    def _latch(self, event: LatchTripped | LatchEngaged | LatchResumed) -> None:
        if isinstance(event, LatchTripped):
            self.risk(event.ts_ms, "latch_tripped", f"{event.trigger}: {event.detail}",
                      severity="critical", detail={"trigger": str(event.trigger),
                      "cancels_all": event.cancels_all, "flattens": event.flattens})
        elif isinstance(event, LatchEngaged):
            self.risk(event.ts_ms, "latch_engaged", f"{event.state} by {event.operator}: "
                      f"{event.reason}", severity="warning")  # fmt: skip
        else:
            trip = f" (trip: {event.trip_trigger}: {event.trip_detail})" if (
                event.trip_trigger) else ""
            self.risk(event.ts_ms, "latch_resumed", f"resumed from {event.previous} by "
                      f"{event.operator}: {event.reason}{trip}", severity="warning")

    def _flatten(self, event: FlattenStarted | FlattenFailed | FlattenCompleted) -> None:
        if isinstance(event, FlattenStarted):
            self.risk(event.ts_ms, "flatten_started",
                      f"{event.market} {event.size}: {event.reason}")
        elif isinstance(event, FlattenFailed):
            self.risk(event.ts_ms, "flatten_failed", f"{event.market} {event.cloid}: "
                      f"{event.detail} (failure {event.failures})", severity="warning")
        else:
            self.risk(event.ts_ms, "flatten_completed", f"{event.market} flat")

    def action(self, time_ms: int, kind: str, nonce: int, detail: str) -> None:
        """Journal a signed action written to the exchange (its nonce is used up)."""
        self._order(time_ms, "action_posted", None, None, kind, f"nonce={nonce} {detail}")

    def _executor(self, name: str, event: Any) -> bool:
        # The executor's events (`core.events`), read by name and attributes.
        t = event.ts_ms
        if name == "ActionPosted":
            self.action(t, str(event.kind), event.nonce,
                        f"post={event.post_id} batch={event.batch_id} items={event.items}")
        elif name == "ActionPostFailed":
            self._order(t, "action_post_failed", None, None, str(event.outcome),
                        f"nonce={event.nonce} post={event.post_id} sent={event.sent}: "
                        f"{event.detail}")  # fmt: skip
        elif name == "OrderAcknowledged":
            self._order(t, "acknowledged", event.cloid, event.oid, event.status,
                        f"filled {event.filled_sz} avg {event.avg_px}")  # fmt: skip
        elif name == "OrderRejected":
            self._order(t, "rejected", event.cloid, None, "rejected", event.reason)
            self.line(t, "warning", "order rejected", f"{event.market}: {event.reason}")
        elif name == "OrderResolved":
            self._order(t, "resolved", event.cloid, event.oid, event.status or "unknownOid",
                        "fate read by cloid")  # fmt: skip
        elif name in ("CancelCompleted", "CancelFailed"):
            failed = name == "CancelFailed"
            self._order(t, "cancel_failed" if failed else "canceled", event.cloid, event.oid,
                        None, event.reason if failed else event.status)  # fmt: skip
            if failed:
                self.line(t, "warning", "cancel failed", f"{event.market}: {event.reason}")
        elif name in ("ActionRejected", "NonceRejected"):
            self.risk(t, _snake(name), f"nonce {event.nonce}: {event.text}",
                      severity="critical" if name == "NonceRejected" else "warning")
        else:
            return False
        return True

    def _unknown(self, event: object) -> None:
        # Events of other components: the executor's by name, others generically.
        name = type(event).__name__
        if isinstance(getattr(event, "ts_ms", None), int) and self._executor(name, event):
            return
        time_ms = getattr(event, "ts_ms", None)
        if not isinstance(time_ms, int):
            _log.debug("event without ts_ms: %r", event)
            return
        detail: dict[str, Any] = {}
        if dataclasses.is_dataclass(event) and not isinstance(event, type):
            detail = {f.name: _plain(getattr(event, f.name)) for f in dataclasses.fields(event)
                      if f.name != "ts_ms"}  # fmt: skip
        text = ", ".join(f"{key}={value}" for key, value in detail.items())
        if self.journal is not None:
            self.journal.record_risk_event(kind=_snake(name), reason=text[:500], severity="info",
                                           detail=detail, time_ms=time_ms)  # fmt: skip
        _log.debug("%s: %s", name, text)


def _plain(value: object) -> object:
    if isinstance(value, str | int | float | bool | Decimal) or value is None:
        return value
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value][:50]
    return str(value)


def _snake(name: str) -> str:
    out = [f"_{c.lower()}" if c.isupper() else c for c in name]
    return "".join(out).lstrip("_")
