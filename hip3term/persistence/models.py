"""The journal's schema: SQLAlchemy 2 typed models (`Mapped[...]`), one class per table.

The models declare the schema and serve the read side (reports, restore on restart).
The write side does not use the ORM: `writer.JournalWriter` inserts plain row dicts with
Core `insert(...)` executemany, which is several times faster than unit-of-work.

Conventions: prices, sizes and amounts are `Decimal` stored as exact plain decimal TEXT
(`DecimalText`, never a float); times are integer unix milliseconds (`time_ms`); sides are
"B" (buy/bid) and "A" (sell/ask); free-form details are JSON TEXT (`JsonText`). Every row
but `latest_top` names its session. Bump `SCHEMA_VERSION` with every change to this file.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

import orjson
from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from hip3term.persistence.rows import json_bytes

__all__ = [
    "SCHEMA_VERSION",
    "Base",
    "DecimalText",
    "Fill",
    "JsonText",
    "LatestTop",
    "OperatorAction",
    "Order",
    "OrderEvent",
    "PositionSnapshot",
    "RiskEvent",
    "SchemaVersion",
    "Session",
    "Signal",
    "StrategyState",
    "decimal_text",
    "json_bytes",
]

SCHEMA_VERSION: Final = 1
"""The journal schema this code reads and writes."""


def decimal_text(value: Decimal | int | None) -> str | None:
    """How an amount is stored: exact plain decimal text; None stays NULL.

    Raises:
        TypeError: for a float, NaN, infinity or any non-number.
    """
    if type(value) is Decimal and value.is_finite():
        return format(value, "f")
    if value is None:
        return None
    if type(value) is int:
        return str(value)
    raise TypeError(f"journal amounts must be finite Decimal or int, not {value!r}")


def _text_decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


class DecimalText(TypeDecorator[Decimal]):
    """A `Decimal` stored as exact plain decimal text ("190.25", never "1.9025E+2").

    Ints are accepted on the way in; floats are refused, so no binary rounding can ever
    reach the journal. The processors are plain functions (no per-value wrapper): the
    writer converts four or more amounts per fill.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Decimal | int | None, dialect: Dialect) -> str | None:
        """Decimal or int -> text; None stays NULL."""
        return decimal_text(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        """Text -> Decimal; NULL -> None."""
        return _text_decimal(value)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], str | None]:
        """The bind conversion as one function call per value."""
        return decimal_text

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[Any], Decimal | None]:
        """The result conversion as one function call per value."""
        return _text_decimal


class JsonText(TypeDecorator[Any]):
    """A JSON value stored as text. `bytes` are taken as JSON already encoded."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        """Python value (or pre-encoded JSON bytes) -> JSON text; None stays NULL."""
        if value is None:
            return None
        if isinstance(value, bytes):
            return value.decode()
        return json_bytes(value).decode()

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        """JSON text -> Python value; NULL -> None."""
        return None if value is None else orjson.loads(value)


class Base(DeclarativeBase):
    """Declarative base of every journal table."""


class SchemaVersion(Base):
    """The one row naming the schema version of this journal file."""

    __tablename__ = "schema_version"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class Session(Base):
    """One run of hip3term (live, observe, replay or sim)."""

    __tablename__ = "sessions"

    session_id: Mapped[str] = mapped_column(String, primary_key=True)
    started_ms: Mapped[int] = mapped_column(BigInteger)
    ended_ms: Mapped[int | None] = mapped_column(BigInteger, default=None)
    mode: Mapped[str] = mapped_column(String)
    venue: Mapped[str] = mapped_column(String)
    market: Mapped[str] = mapped_column(String)
    config_hash: Mapped[str] = mapped_column(String)
    hip3term_version: Mapped[str] = mapped_column(String)
    recording: Mapped[str | None] = mapped_column(Text, default=None)


class Order(Base):
    """An order hip3term decided to send (the intent as signed)."""

    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_session_cloid", "session_id", "cloid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(String)
    time_ms: Mapped[int] = mapped_column(BigInteger)
    strategy: Mapped[str] = mapped_column(String)
    market: Mapped[str] = mapped_column(String)
    side: Mapped[str] = mapped_column(String(1))
    price: Mapped[Decimal] = mapped_column(DecimalText)
    size: Mapped[Decimal] = mapped_column(DecimalText)
    tif: Mapped[str] = mapped_column(String)
    reduce_only: Mapped[bool] = mapped_column(Boolean)
    cloid: Mapped[str | None] = mapped_column(String)
    oid: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(Text)


class OrderEvent(Base):
    """Something that happened to an order: sent, resting, filled, canceled, rejected..."""

    __tablename__ = "order_events"
    __table_args__ = (Index("ix_order_events_session_cloid", "session_id", "cloid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(String)
    time_ms: Mapped[int] = mapped_column(BigInteger)
    event: Mapped[str] = mapped_column(String)
    cloid: Mapped[str | None] = mapped_column(String)
    oid: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str | None] = mapped_column(String)
    detail: Mapped[str | None] = mapped_column(Text)


class Fill(Base):
    """A fill of one of our orders, as the exchange reported it (`userFills`)."""

    __tablename__ = "fills"
    __table_args__ = (Index("ix_fills_session_tid", "session_id", "tid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(String)
    time_ms: Mapped[int] = mapped_column(BigInteger)
    market: Mapped[str] = mapped_column(String)
    side: Mapped[str] = mapped_column(String(1))
    price: Mapped[Decimal] = mapped_column(DecimalText)
    size: Mapped[Decimal] = mapped_column(DecimalText)
    fee: Mapped[Decimal] = mapped_column(DecimalText)
    fee_token: Mapped[str] = mapped_column(String)
    closed_pnl: Mapped[Decimal | None] = mapped_column(DecimalText)
    tid: Mapped[int] = mapped_column(BigInteger)
    oid: Mapped[int] = mapped_column(BigInteger)
    cloid: Mapped[str | None] = mapped_column(String)
    crossed: Mapped[bool] = mapped_column(Boolean)


class PositionSnapshot(Base):
    """A market's position at one moment (size signed: negative is short)."""

    __tablename__ = "position_snapshots"
    __table_args__ = (Index("ix_positions_session_market", "session_id", "market"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(String)
    time_ms: Mapped[int] = mapped_column(BigInteger)
    market: Mapped[str] = mapped_column(String)
    size: Mapped[Decimal] = mapped_column(DecimalText)
    entry_px: Mapped[Decimal | None] = mapped_column(DecimalText)
    unrealized_pnl: Mapped[Decimal | None] = mapped_column(DecimalText)
    realized_pnl: Mapped[Decimal | None] = mapped_column(DecimalText)


class Signal(Base):
    """A strategy's signal and what was decided about it (taken, denied, observed...)."""

    __tablename__ = "signals"
    __table_args__ = (Index("ix_signals_session_strategy", "session_id", "strategy"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(String)
    time_ms: Mapped[int] = mapped_column(BigInteger)
    strategy: Mapped[str] = mapped_column(String)
    market: Mapped[str] = mapped_column(String)
    kind: Mapped[str] = mapped_column(String)
    decision: Mapped[str] = mapped_column(String)
    side: Mapped[str | None] = mapped_column(String(1))
    expected_edge_bps: Mapped[Decimal | None] = mapped_column(DecimalText)
    price: Mapped[Decimal | None] = mapped_column(DecimalText)
    size: Mapped[Decimal | None] = mapped_column(DecimalText)
    reason: Mapped[str | None] = mapped_column(Text)
    features: Mapped[dict[str, Any] | None] = mapped_column(JsonText)


class RiskEvent(Base):
    """A risk or system event: latch trips and resumes, stale feeds, unwritten rows..."""

    __tablename__ = "risk_events"
    __table_args__ = (Index("ix_risk_events_session_kind", "session_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(String)
    time_ms: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String)
    severity: Mapped[str] = mapped_column(String)
    reason: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JsonText)


class OperatorAction(Base):
    """The audit trail: who did what, when and why (halt, flatten, resume...)."""

    __tablename__ = "operator_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(String, index=True)
    time_ms: Mapped[int] = mapped_column(BigInteger)
    who: Mapped[str] = mapped_column(String)
    action: Mapped[str] = mapped_column(String)
    reason: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JsonText)


class StrategyState(Base):
    """A strategy's saved state; the newest row per strategy is restored on restart."""

    __tablename__ = "strategy_state"
    __table_args__ = (Index("ix_strategy_state_strategy", "strategy", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(String)
    time_ms: Mapped[int] = mapped_column(BigInteger)
    strategy: Mapped[str] = mapped_column(String)
    state: Mapped[dict[str, Any]] = mapped_column(JsonText)


class LatestTop(Base):
    """The last top of book seen per market (one row per market, overwritten)."""

    __tablename__ = "latest_top"

    market: Mapped[str] = mapped_column(String, primary_key=True)
    session_id: Mapped[str] = mapped_column(String)
    time_ms: Mapped[int] = mapped_column(BigInteger)
    bid_px: Mapped[Decimal | None] = mapped_column(DecimalText)
    bid_sz: Mapped[Decimal | None] = mapped_column(DecimalText)
    ask_px: Mapped[Decimal | None] = mapped_column(DecimalText)
    ask_sz: Mapped[Decimal | None] = mapped_column(DecimalText)
