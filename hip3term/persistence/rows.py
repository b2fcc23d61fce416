"""The journal's rows without the database: `RowSink`, the `record_*` helpers the engine,
the strategy host and the event log write through; `json_bytes`, the JSON the journal
stores; `JournalHealth`, the writer's counters as the TUI's snapshot carries them.

`persistence.writer.JournalWriter` is the sink of a live session (it queues the rows and
writes them to SQLite in batches); a replay keeps them in memory (`replay.runner`). This
module imports no SQLAlchemy, so neither does a replay: about a third of a second less to
start `hip3term replay` and each of a sweep's workers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from hip3term.core.clock import Clock, LiveClock

__all__ = ["JournalHealth", "Row", "RowSink", "json_bytes"]

Row = dict[str, Any]
"""One journal row: column name to value."""


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_bytes(value: object) -> bytes:
    """JSON of `value` as the journal stores it (Decimals as strings, sorted keys)."""
    return orjson.dumps(value, default=_json_default, option=orjson.OPT_SORT_KEYS)


@dataclass(frozen=True, slots=True)
class JournalHealth:
    """A snapshot of the writer's state.

    Attributes:
        queued: rows waiting in memory.
        capacity: the queue's bound.
        written: rows committed so far.
        batches: transactions committed.
        dropped: rows never written (queue full, or refused by the database), in total.
        unreported: of those, rows not yet counted in an `unwritten_rows` event.
        lagging: True from the first drop until the drop count has been journaled.
        errors: failed transactions.
        last_error: the last failure's text, None if none.
        closed: True once `aclose` began.
    """

    queued: int
    capacity: int
    written: int
    batches: int
    dropped: int
    unreported: int
    lagging: bool
    errors: int
    last_error: str | None
    closed: bool


class RowSink:
    """Where one session's journal rows go: each `record_*` helper builds one row dict
    (stamped with `session_id`) and hands it to `put`, which a subclass defines. They never
    await and never raise.

    Args:
        session_id: stamped on every row.
        clock: gives `time_ms` when a helper is not given one (the machine's clock if None).
    """

    def __init__(self, session_id: str, *, clock: Clock | None = None) -> None:
        self.session_id = session_id
        self._now_ms = (clock or LiveClock()).now_ms

    def put(self, table: str, row: Row) -> bool:
        """Take one row for `table` (a `persistence.models` table name); False when it was
        not kept. A subclass's `put` never raises; this one only says it is missing."""
        raise NotImplementedError(f"{type(self).__name__} keeps no rows: it must define put")

    def record_order(
        self, *, market: str, side: str, price: Decimal, size: Decimal, tif: str,
        reduce_only: bool = False, cloid: str | None = None, oid: int | None = None,
        strategy: str = "", reason: str | None = None, time_ms: int | None = None,
    ) -> bool:  # fmt: skip
        """Journal an order as it was decided and signed."""
        return self.put("orders", {
            "session_id": self.session_id, "time_ms": self._time(time_ms), "market": market,
            "side": side, "price": price, "size": size, "tif": tif, "reduce_only": reduce_only,
            "cloid": cloid, "oid": oid, "strategy": strategy, "reason": reason,
        })  # fmt: skip

    def record_order_event(
        self, *, event: str, cloid: str | None = None, oid: int | None = None,
        status: str | None = None, detail: str | None = None, time_ms: int | None = None,
    ) -> bool:  # fmt: skip
        """Journal what happened to an order (sent, resting, filled, canceled, rejected...)."""
        return self.put("order_events", {
            "session_id": self.session_id, "time_ms": self._time(time_ms), "event": event,
            "cloid": cloid, "oid": oid, "status": status, "detail": detail,
        })  # fmt: skip

    def record_fill(
        self, *, market: str, side: str, price: Decimal, size: Decimal, fee: Decimal,
        tid: int, oid: int, time_ms: int, cloid: str | None = None, fee_token: str = "USDC",
        closed_pnl: Decimal | None = None, crossed: bool = False,
    ) -> bool:  # fmt: skip
        """Journal a fill as the exchange reported it (`time_ms` is the exchange's)."""
        return self.put("fills", {
            "session_id": self.session_id, "time_ms": time_ms, "market": market, "side": side,
            "price": price, "size": size, "fee": fee, "fee_token": fee_token,
            "closed_pnl": closed_pnl, "tid": tid, "oid": oid, "cloid": cloid, "crossed": crossed,
        })  # fmt: skip

    def record_position(
        self, *, market: str, size: Decimal, entry_px: Decimal | None = None,
        unrealized_pnl: Decimal | None = None, realized_pnl: Decimal | None = None,
        time_ms: int | None = None,
    ) -> bool:  # fmt: skip
        """Journal a position snapshot (size signed: negative is short)."""
        return self.put("position_snapshots", {
            "session_id": self.session_id, "time_ms": self._time(time_ms), "market": market,
            "size": size, "entry_px": entry_px, "unrealized_pnl": unrealized_pnl,
            "realized_pnl": realized_pnl,
        })  # fmt: skip

    def record_signal(
        self, *, strategy: str, market: str, kind: str, decision: str, side: str | None = None,
        expected_edge_bps: Decimal | None = None, price: Decimal | None = None,
        size: Decimal | None = None, reason: str | None = None,
        features: Mapping[str, Any] | None = None, time_ms: int | None = None,
    ) -> bool:  # fmt: skip
        """Journal a signal and the decision on it (taken, denied, skipped, observed)."""
        return self.put("signals", {
            "session_id": self.session_id, "time_ms": self._time(time_ms),
            "strategy": strategy, "market": market, "kind": kind, "decision": decision,
            "side": side, "expected_edge_bps": expected_edge_bps, "price": price,
            "size": size, "reason": reason, "features": self._json(features),
        })  # fmt: skip

    def record_risk_event(
        self, *, kind: str, reason: str, severity: str = "warning",
        detail: Mapping[str, Any] | None = None, time_ms: int | None = None,
    ) -> bool:  # fmt: skip
        """Journal a risk or system event (latch trip, resume, stale feed...)."""
        return self.put("risk_events", {
            "session_id": self.session_id, "time_ms": self._time(time_ms), "kind": kind,
            "severity": severity, "reason": reason, "detail": self._json(detail),
        })  # fmt: skip

    def record_operator_action(
        self, *, who: str, action: str, reason: str, detail: Mapping[str, Any] | None = None,
        time_ms: int | None = None,
    ) -> bool:  # fmt: skip
        """Journal an operator action for the audit trail: who, what, when, why."""
        return self.put("operator_actions", {
            "session_id": self.session_id, "time_ms": self._time(time_ms), "who": who,
            "action": action, "reason": reason, "detail": self._json(detail),
        })  # fmt: skip

    def save_strategy_state(
        self, *, strategy: str, state: Mapping[str, Any], time_ms: int | None = None
    ) -> bool:
        """Journal a strategy's state (encoded now, so later mutation cannot change it)."""
        return self.put("strategy_state", {
            "session_id": self.session_id, "time_ms": self._time(time_ms),
            "strategy": strategy, "state": self._json(state),
        })  # fmt: skip

    def upsert_latest_top(
        self, *, market: str, bid_px: Decimal | None, bid_sz: Decimal | None,
        ask_px: Decimal | None, ask_sz: Decimal | None, time_ms: int | None = None,
    ) -> bool:  # fmt: skip
        """Replace the market's last top of book."""
        return self.put("latest_top", {
            "market": market, "session_id": self.session_id, "time_ms": self._time(time_ms),
            "bid_px": bid_px, "bid_sz": bid_sz, "ask_px": ask_px, "ask_sz": ask_sz,
        })  # fmt: skip

    def _time(self, time_ms: int | None) -> int:
        return self._now_ms() if time_ms is None else time_ms

    @staticmethod
    def _json(value: Mapping[str, Any] | None) -> bytes | None:
        if value is None:
            return None
        try:
            return json_bytes(value)
        except TypeError as exc:  # never fail the caller: keep a readable trace instead
            return json_bytes({"unencodable": repr(value)[:500], "error": str(exc)})
