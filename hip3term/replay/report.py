"""Session reports: fills with markouts, edge, slippage, fill rate, PnL, drawdown, halts.

The same report is made for a replay (rows collected from its engine) and for a live
session (rows read from its journal), from the journal's row shapes (`SessionRows`) and
the recorded market (`MarketSeries`: best bid, best ask and oracle over time, from the
recording's l2Book, bbo and activeAssetCtx frames at their receive times).

Definitions (bps = 1e-4 of the fill price; positive is good for us):

- *markout* of a fill at horizon h (1 s, 10 s, 60 s): `side * (ref(t + h) - px) / px`,
  `side` +1 for a buy and -1 for a sell, `ref` the mid (or the oracle) last seen at or
  before `t + h`; none when `t + h` is past the end of the recording;
- *slippage*: fill price against the touch (the ask for a buy, the bid for a sell) when
  the order was decided (the last top seen in the order's millisecond), positive =
  worse, averaged weighted by size;
- *expected edge*: the mean `expected_edge_bps` of the traded signals; *realized edge*:
  per round trip (open to flat, `strategy.metrics.RoundTripBuilder`), net PnL over the
  opening notional, averaged;
- *fill rate*: orders with at least one fill over orders sent (past the gates: an order
  event "queued"); orders the gates denied count as decided, not sent;
- *PnL curve*: equity = cash + position * mid (fees included), at every fill (with the
  mid at the end of its millisecond: the frame that led to it may have come in that
  millisecond) and at every change of the recorded mid while a position is open (a mid
  with one side of the book missing is skipped); *maximum drawdown*: the largest fall of
  that curve from a peak, so every recorded swing counts, wherever the fills fell in time;
- *halts*: the latch's trips, engagements and resumes with their reasons.

`render(report)` prints it with rich (imported there only); `save(report, stem)`
writes `<stem>.json` (everything) and `<stem>.fills.csv` (one row per fill).
"""

from __future__ import annotations

import bisect
import csv
import math
import struct
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import orjson

from hip3term.book.features import price_float
from hip3term.recording.format import RecordKind
from hip3term.recording.reader import RecordingReader
from hip3term.strategy.metrics import RoundTrip, RoundTripBuilder
from hip3term.venue.hyperliquid import wire
from hip3term.venue.hyperliquid.parse import parse_frame

__all__ = [
    "HALT_KINDS",
    "HORIZONS_S",
    "FillReport",
    "MarketSeries",
    "Report",
    "SessionRows",
    "build_report",
    "markout_bps",
    "max_drawdown",
    "pnl_chart",
    "render",
    "resample",
    "save",
    "series_from_recording",
]

HORIZONS_S: Final = (1, 10, 60)
"""Markout horizons in seconds."""
HALT_KINDS: Final = frozenset({"latch_tripped", "latch_engaged", "latch_resumed"})
"""Journal risk-event kinds that are halts (and resumes)."""
_NS_PER_MS: Final = 1_000_000
_NS_PER_S: Final = 1_000_000_000
_WORST: Final = 5
_SERIES_CHANNELS: Final = frozenset({"l2Book", "bbo", "activeAssetCtx"})
# Final: compiled, a module's Final names are C statics, its other globals dict lookups
_BBO: Final = wire.Bbo
_BOOK: Final = wire.L2Book
_CTX: Final = wire.AssetCtx


# ---------------------------------------------------------------- the market over time


class MarketSeries:
    """Best bid, best ask and oracle over time (floats: analytics only, never the wire).

    Feed it with `observe(t_ns, event)` in time order; read with `mid_at`, `touch_at`,
    `oracle_at` (the last value at or before `t_ns`; None before the first or past
    `end_ns`).

    Args:
        chunk: tops and oracles are kept in lists of up to this many before they join the
            arrays (a replay observes every frame: `array.append` is a method call).
    """

    def __init__(self, chunk: int = 4096) -> None:
        # arrays, not lists: 8 bytes a value (a 48-hour recording holds millions of tops);
        # what came since the last flush waits in short lists (`_flush`), read through
        # the properties below
        self._top_ns = array("q")
        self._bids = array("d")
        self._asks = array("d")
        self._oracle_ns = array("q")
        self._oracles = array("d")
        self._new_top_ns: list[int] = []
        self._new_bids: list[float] = []
        self._new_asks: list[float] = []
        self._new_oracle_ns: list[int] = []
        self._new_oracles: list[float] = []
        self._chunk = max(1, chunk)
        self.start_ns: int | None = None
        self.end_ns = 0
        # The Decimal prices behind the last floats seen: equal prices give equal floats,
        # so an unchanged top or oracle (or side) is recognized without converting it
        # again. `_tops`, `_has_oracle`: a top, an oracle was kept (the arrays or the
        # lists hold one).
        self._bid_px: Decimal | None = None
        self._ask_px: Decimal | None = None
        self._seen_top = False
        self._bid = math.nan
        self._ask = math.nan
        self._tops = False
        self._kept_bid = math.nan  # the last top kept
        self._kept_ask = math.nan
        self._last_oracle: Decimal | None = None
        self._oracle = 0.0
        self._has_oracle = False
        self.damage: str | None = None
        """The recording's damage, in words (`series_from_recording`; None: none)."""

    def observe(self, t_ns: int, event: wire.Event) -> None:
        """Take one market event received at `t_ns`."""
        if self.start_ns is None:
            self.start_ns = t_ns
        if t_ns > self.end_ns:
            self.end_ns = t_ns
        if isinstance(event, _BBO):
            self._top(t_ns, event.bid, event.ask)
        elif isinstance(event, _BOOK):
            self._top(t_ns, event.bids.best, event.asks.best)
        elif isinstance(event, _CTX):
            oracle_px = event.oracle_px
            last = self._last_oracle
            if self._has_oracle and (oracle_px is last or oracle_px == last):
                return
            self._last_oracle = oracle_px
            oracle = price_float(oracle_px)
            if not self._has_oracle or self._oracle != oracle:
                self._has_oracle, self._oracle = True, oracle
                self._new_oracle_ns.append(t_ns)
                self._new_oracles.append(oracle)
                if len(self._new_oracles) >= self._chunk:
                    self._flush()

    def _top(self, t_ns: int, bid: wire.Level | None, ask: wire.Level | None) -> None:
        bid_px = None if bid is None else bid.px
        ask_px = None if ask is None else ask.px
        # (the parser gives a price text seen lately the same Decimal: `is` first)
        last_bid, last_ask = self._bid_px, self._ask_px
        same_bid = bid_px is last_bid or bid_px == last_bid
        same_ask = ask_px is last_ask or ask_px == last_ask
        if self._seen_top and same_bid and same_ask:
            return
        self._seen_top = True
        # the float of a side whose price is unchanged is the one made from it before,
        # except a zero's (equal Decimals give equal floats but for the sign of zero)
        if not (same_bid and self._bid != 0.0):
            self._bid = math.nan if bid_px is None else price_float(bid_px)
        if not (same_ask and self._ask != 0.0):
            self._ask = math.nan if ask_px is None else price_float(ask_px)
        self._bid_px, self._ask_px = bid_px, ask_px
        b, a = self._bid, self._ask
        if self._tops and _same(self._kept_bid, b) and _same(self._kept_ask, a):
            return
        self._tops, self._kept_bid, self._kept_ask = True, b, a
        self._new_top_ns.append(t_ns)
        self._new_bids.append(b)
        self._new_asks.append(a)
        if len(self._new_top_ns) >= self._chunk:
            self._flush()

    def _flush(self) -> None:
        # What waits in the lists joins the arrays.
        if self._new_top_ns:
            _extend(self._top_ns, self._new_top_ns)
            _extend(self._bids, self._new_bids)
            _extend(self._asks, self._new_asks)
            self._new_top_ns, self._new_bids, self._new_asks = [], [], []
        if self._new_oracle_ns:
            _extend(self._oracle_ns, self._new_oracle_ns)
            _extend(self._oracles, self._new_oracles)
            self._new_oracle_ns, self._new_oracles = [], []

    @property
    def top_ns(self) -> array[int]:
        """Times of the tops (ns), each a change of the best bid or ask."""
        self._flush()
        return self._top_ns

    @property
    def bids(self) -> array[float]:
        """The best bid of each top (NaN: none)."""
        self._flush()
        return self._bids

    @property
    def asks(self) -> array[float]:
        """The best ask of each top (NaN: none)."""
        self._flush()
        return self._asks

    @property
    def oracle_ns(self) -> array[int]:
        """Times of the oracle prices (ns), each a change."""
        self._flush()
        return self._oracle_ns

    @property
    def oracles(self) -> array[float]:
        """The oracle prices."""
        self._flush()
        return self._oracles

    def _index(self, times: array[int], t_ns: int) -> int | None:
        if t_ns > self.end_ns:
            return None
        i = bisect.bisect_right(times, t_ns) - 1
        return i if i >= 0 else None

    def mid_at(self, t_ns: int) -> float | None:
        """The mid at `t_ns` (None without both sides)."""
        i = self._index(self.top_ns, t_ns)
        if i is None:
            return None
        mid = (self._bids[i] + self._asks[i]) / 2
        return None if math.isnan(mid) else mid

    def touch_at(self, t_ns: int, is_buy: bool) -> float | None:
        """The price a taker would meet at `t_ns`: the ask for a buy, the bid for a sell."""
        i = self._index(self.top_ns, t_ns)
        if i is None:
            return None
        px = self._asks[i] if is_buy else self._bids[i]
        return None if math.isnan(px) else px

    def oracle_at(self, t_ns: int) -> float | None:
        """The oracle price at `t_ns`."""
        i = self._index(self.oracle_ns, t_ns)
        return None if i is None else self._oracles[i]

    def marks(self, position: float, cash: float, after_ns: int,
              before_ns: int) -> list[tuple[int, float]]:
        """(ms, cash + position * mid) at every change of the mid strictly after
        `after_ns` and before `before_ns` (none where one side of the book is missing)."""
        times, bids, asks = self.top_ns, self._bids, self._asks
        start = bisect.bisect_right(times, after_ns)
        stop = bisect.bisect_left(times, before_ns, lo=start)
        out = []
        for i in range(start, stop):
            mid = (bids[i] + asks[i]) / 2
            if not math.isnan(mid):
                out.append((times[i] // _NS_PER_MS, cash + position * mid))
        return out


def _extend(values: array[Any], items: list[Any]) -> None:
    # `array.extend` of a list converts and stores item by item (as slowly as `append`);
    # struct writes the same machine longs and doubles (NaN and -0.0 as they are) at once
    values.frombytes(struct.pack(f"@{len(items)}{values.typecode}", *items))


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def series_from_recording(path: str | Path) -> MarketSeries:
    """The market series of a recording (its l2Book, bbo and activeAssetCtx frames, at
    their receive times mapped as replay maps them).

    Raises:
        RecordingError: the file is missing or not a recording.
    """
    reader = RecordingReader(path)
    header, series = reader.header, MarketSeries()
    offset = (header.started_wall_ns or 0) - (header.started_mono_ns or 0)
    for record in reader:
        if record.kind is not RecordKind.FRAME_IN or (
                record.channel is not None and record.channel not in _SERIES_CHANNELS):
            continue
        event = parse_frame(record.raw)
        if not isinstance(event, wire.ParseError):
            series.observe(record.mono_ns + offset, event)
    series.damage = reader.damage
    return series


def markout_bps(is_buy: bool, px: float, ref: float | None) -> float | None:
    """`side * (ref - px) / px` in bps (None without a reference price)."""
    if ref is None or px <= 0:
        return None
    return (ref - px) / px * 1e4 * (1 if is_buy else -1)


# ---------------------------------------------------------------- session rows


def _get(row: object, name: str) -> Any:
    return row.get(name) if isinstance(row, Mapping) else getattr(row, name, None)


@dataclass(frozen=True, slots=True)
class SessionRows:
    """A session's journal rows (mappings or journal model objects) that reports read."""

    fills: tuple[object, ...] = ()
    orders: tuple[object, ...] = ()
    signals: tuple[object, ...] = ()
    risk_events: tuple[object, ...] = ()
    operator_actions: tuple[object, ...] = ()
    order_events: tuple[object, ...] = ()


# ---------------------------------------------------------------- the report


@dataclass(frozen=True, slots=True)
class FillReport:
    """One fill and its markouts (bps; None past the end of the recording)."""

    time_ms: int
    side: str
    px: Decimal
    sz: Decimal
    fee: Decimal
    tid: int
    cloid: str | None
    crossed: bool
    tag: str
    slippage_bps: float | None
    mid_markouts: tuple[float | None, ...]
    oracle_markouts: tuple[float | None, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly (Decimals as exact strings)."""
        out: dict[str, Any] = {
            "time_ms": self.time_ms, "side": self.side, "px": str(self.px),
            "sz": str(self.sz), "fee": str(self.fee), "tid": self.tid, "cloid": self.cloid,
            "crossed": self.crossed, "tag": self.tag, "slippage_bps": self.slippage_bps,
        }  # fmt: skip
        for h, mid, oracle in zip(HORIZONS_S, self.mid_markouts, self.oracle_markouts,
                                  strict=True):  # fmt: skip
            out[f"markout_mid_{h}s_bps"] = mid
            out[f"markout_oracle_{h}s_bps"] = oracle
        return out


@dataclass(frozen=True, slots=True)
class Report:
    """A session's report (see the module docstring); `meta` says what was run."""

    meta: Mapping[str, Any]
    summary: Mapping[str, Any]
    markouts: Mapping[str, float | None]
    fills: tuple[FillReport, ...]
    round_trips: tuple[RoundTrip, ...]
    pnl_curve: tuple[tuple[int, float], ...]
    halts: tuple[tuple[int, str, str], ...]
    worst: tuple[FillReport, ...]
    extra: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Everything, JSON-friendly."""
        return {
            "meta": dict(self.meta), "summary": dict(self.summary),
            "markouts": dict(self.markouts), "fills": [f.as_dict() for f in self.fills],
            "round_trips": [_trip_dict(t) for t in self.round_trips],
            "pnl_curve": [list(p) for p in self.pnl_curve],
            "halts": [{"time_ms": t, "kind": k, "reason": r} for t, k, r in self.halts],
            "worst_fills": [f.tid for f in self.worst], "extra": dict(self.extra),
        }  # fmt: skip


def _trip_dict(trip: RoundTrip) -> dict[str, Any]:
    return {"market": trip.market, "side": "long" if trip.is_long else "short",
            "size": str(trip.size), "entry_px": str(trip.entry_px),
            "exit_px": str(trip.exit_px), "opened_ms": trip.opened_ms,
            "closed_ms": trip.closed_ms, "pnl": str(trip.pnl), "fees": str(trip.fees),
            "expected_edge_bps": trip.expected_edge_bps,
            "realized_edge_bps": trip.realized_edge_bps, "time_to_flat_s": trip.time_to_flat_s}


def build_report(rows: SessionRows, series: MarketSeries, *, market: str,
                 meta: Mapping[str, Any] | None = None,
                 extra: Mapping[str, Any] | None = None) -> Report:  # fmt: skip
    """The report of one session in `market` (see the module docstring)."""
    orders = {str(_get(o, "cloid")): o for o in rows.orders if _get(o, "cloid")}
    edges = _order_edges(rows.orders, rows.signals)
    fills = sorted((f for f in rows.fills if _get(f, "market") == market),
                   key=lambda f: (int(_get(f, "time_ms")), int(_get(f, "tid"))))
    reports = tuple(_fill_report(f, orders, series) for f in fills)
    trips = _round_trips(fills, edges, market)
    curve = _pnl_curve(fills, series)
    halts = tuple((int(_get(r, "time_ms")), str(_get(r, "kind")), str(_get(r, "reason")))
                  for r in rows.risk_events if _get(r, "kind") in HALT_KINDS)
    traded = [float(_get(s, "expected_edge_bps")) for s in rows.signals
              if _get(s, "decision") == "traded" and _get(s, "expected_edge_bps") is not None]
    summary = _summary(reports, trips, curve, rows, orders, traded)
    summary["signals"] = len(rows.signals)
    worst = sorted((f for f in reports if f.mid_markouts[1] is not None),
                   key=lambda f: f.mid_markouts[1] or 0.0)[:_WORST]
    return Report(meta=dict(meta or {}), summary=summary, markouts=_mean_markouts(reports),
                  fills=reports, round_trips=tuple(trips), pnl_curve=curve, halts=halts,
                  worst=tuple(worst), extra=dict(extra or {}))  # fmt: skip


def _order_edges(orders: Iterable[object], signals: Iterable[object]) -> dict[str, float]:
    # The expected edge of each order: the traded signal of the same side, price and size
    # decided at (about) the same time.
    wanted: dict[tuple[str, str, str], list[tuple[int, float]]] = {}
    for s in signals:
        edge = _get(s, "expected_edge_bps")
        if _get(s, "decision") == "traded" and edge is not None and _get(s, "price"):
            key = (str(_get(s, "side")), str(_get(s, "price")), str(_get(s, "size")))
            wanted.setdefault(key, []).append((int(_get(s, "time_ms")), float(edge)))
    edges: dict[str, float] = {}
    for o in orders:
        key = (str(_get(o, "side")), str(_get(o, "price")), str(_get(o, "size")))
        near = [(abs(t - int(_get(o, "time_ms"))), e) for t, e in wanted.get(key, ())]
        if near and _get(o, "cloid"):
            gap, edge = min(near)
            if gap <= 1000:
                edges[str(_get(o, "cloid"))] = edge
    return edges


def _fill_report(fill: object, orders: Mapping[str, object],
                 series: MarketSeries) -> FillReport:  # fmt: skip
    t_ns = int(_get(fill, "time_ms")) * _NS_PER_MS
    is_buy = _get(fill, "side") == "B"
    px = Decimal(_get(fill, "price"))
    cloid = _get(fill, "cloid")
    order = orders.get(str(cloid)) if cloid else None
    slip = None
    if order is not None:
        # the end of the order's millisecond: the frame it was decided on is in it
        decided_ns = (int(_get(order, "time_ms")) + 1) * _NS_PER_MS - 1
        touch = series.touch_at(decided_ns, is_buy)
        if touch:
            slip = (float(px) - touch) / touch * 1e4 * (1 if is_buy else -1)
    tag = str(_get(order, "reason") or _get(order, "strategy") or "") if order else "external"
    return FillReport(
        time_ms=int(_get(fill, "time_ms")), side="B" if is_buy else "A", px=px,
        sz=Decimal(_get(fill, "size")), fee=Decimal(_get(fill, "fee")),
        tid=int(_get(fill, "tid")), cloid=cloid, crossed=bool(_get(fill, "crossed")),
        tag=tag, slippage_bps=slip,
        mid_markouts=tuple(markout_bps(is_buy, float(px), series.mid_at(t_ns + h * _NS_PER_S))
                           for h in HORIZONS_S),
        oracle_markouts=tuple(markout_bps(is_buy, float(px),
                                          series.oracle_at(t_ns + h * _NS_PER_S))
                              for h in HORIZONS_S),
    )  # fmt: skip


def _round_trips(fills: Sequence[object], edges: Mapping[str, float],
                 market: str) -> list[RoundTrip]:  # fmt: skip
    builder, trips = RoundTripBuilder(), []
    for f in fills:
        cloid = _get(f, "cloid")
        trip = builder.add(market, is_buy=_get(f, "side") == "B", px=Decimal(_get(f, "price")),
                           sz=Decimal(_get(f, "size")), fee=Decimal(_get(f, "fee")),
                           time_ms=int(_get(f, "time_ms")),
                           expected_edge_bps=edges.get(str(cloid)) if cloid else None)
        if trip is not None:
            trips.append(trip)
    return trips


def _pnl_curve(fills: Sequence[object], series: MarketSeries) -> tuple[tuple[int, float], ...]:
    # Equity = cash + position * mid, at each fill and at every change of the mid while
    # positioned (so the drawdown sees every recorded swing, whenever the fills happened).
    # A fill's time is a millisecond: it is marked with the mid at the end of it, as the
    # frame that led to it may have come in that same millisecond; changes up to then are
    # marked with the position before the fill.
    cash = position = 0.0
    last_px = 0.0
    points: list[tuple[int, float]] = []
    for i, f in enumerate(fills):
        t_ms = int(_get(f, "time_ms"))
        sz, px = float(_get(f, "size")), float(_get(f, "price"))
        sign = 1.0 if _get(f, "side") == "B" else -1.0
        cash -= sign * sz * px + float(_get(f, "fee"))
        position += sign * sz
        last_px = px
        position = 0.0 if abs(position) < 1e-12 else position
        at_ns = (t_ms + 1) * _NS_PER_MS - 1
        points.append((t_ms, _equity(cash, position, series, at_ns, last_px)))
        if not position:
            continue
        last, end_ns = i + 1 == len(fills), series.end_ns
        until_ns = (end_ns + 1 if last
                    else (int(_get(fills[i + 1], "time_ms")) + 1) * _NS_PER_MS - 1)  # fmt: skip
        points += series.marks(position, cash, at_ns, until_ns)
        if last and end_ns > at_ns and points[-1][0] != end_ns // _NS_PER_MS:
            points.append((end_ns // _NS_PER_MS, points[-1][1]))  # on to the recording's end
    return tuple(points)


def _equity(cash: float, position: float, series: MarketSeries, t_ns: int,
            fallback: float) -> float:  # fmt: skip
    if not position:
        return cash
    mid = series.mid_at(t_ns)
    return cash + position * (mid if mid is not None else fallback)


def max_drawdown(curve: Iterable[tuple[int, float]]) -> float:
    """The largest fall of the curve from a previous peak (0 for none); starts at 0."""
    peak, worst = 0.0, 0.0
    for _, value in curve:
        peak = max(peak, value)
        worst = max(worst, peak - value)
    return worst


def _summary(fills: Sequence[FillReport], trips: Sequence[RoundTrip],
             curve: Sequence[tuple[int, float]], rows: SessionRows,
             orders: Mapping[str, object], traded_edges: Sequence[float]) -> dict[str, Any]:
    filled = {f.cloid for f in fills if f.cloid} & set(orders)
    # sent = passed the gates (an order event "queued"); without events, every order
    sent = {str(_get(e, "cloid")) for e in rows.order_events
            if _get(e, "event") == "queued"} & set(orders) if rows.order_events else set(orders)
    slips = [(f.slippage_bps, float(f.sz)) for f in fills if f.slippage_bps is not None]
    pnls = [t.pnl for t in trips]
    times = [t.time_to_flat_s for t in trips]
    return {
        "fills": len(fills), "round_trips": len(trips),
        "wins": sum(1 for p in pnls if p > 0), "losses": sum(1 for p in pnls if p < 0),
        "realized_pnl": str(sum(pnls, Decimal(0))),
        "fees": str(sum((f.fee for f in fills), Decimal(0))),
        "volume": str(sum((f.px * f.sz for f in fills), Decimal(0))),
        "final_equity": curve[-1][1] if curve else 0.0,
        "max_drawdown": max_drawdown(curve),
        "orders": len(orders), "orders_sent": len(sent), "orders_filled": len(filled),
        "fill_rate": len(filled & sent) / len(sent) if sent else None,
        "expected_edge_bps": _mean(traded_edges),
        "realized_edge_bps": _mean([t.realized_edge_bps for t in trips]),
        "slippage_bps": (sum((s * w for s, w in slips), 0.0) / sum((w for _, w in slips), 0.0)
                         if slips else None),
        "mean_time_to_flat_s": _mean(times), "max_time_to_flat_s": max(times, default=None),
        "halts": sum(1 for r in rows.risk_events if _get(r, "kind") in HALT_KINDS
                     and _get(r, "kind") != "latch_resumed"),
    }  # fmt: skip


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _mean_markouts(fills: Sequence[FillReport]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for i, h in enumerate(HORIZONS_S):
        out[f"mid_{h}s"] = _mean([m for f in fills if (m := f.mid_markouts[i]) is not None])
        out[f"oracle_{h}s"] = _mean([m for f in fills
                                     if (m := f.oracle_markouts[i]) is not None])
    return out


# ---------------------------------------------------------------- output


def save(report: Report, stem: Path) -> tuple[Path, Path]:
    """Write `<stem>.json` and `<stem>.fills.csv`; returns both paths."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    json_path = stem.with_name(stem.name + ".json")
    csv_path = stem.with_name(stem.name + ".fills.csv")
    json_path.write_bytes(orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2,
                                       default=str))  # fmt: skip
    rows = [f.as_dict() for f in report.fills]
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        columns = list(rows[0]) if rows else list(_EMPTY_FILL.as_dict())
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return json_path, csv_path


_EMPTY_FILL = FillReport(0, "B", Decimal(0), Decimal(0), Decimal(0), 0, None, False, "", None,
                         (None,) * len(HORIZONS_S), (None,) * len(HORIZONS_S))


def resample(curve: Sequence[tuple[int, float]], width: int) -> list[float]:
    """The curve's value at the end of each of `width` equal slices of its time span (the
    last point at or before that time), so a chart's x axis is time, not points. A curve
    without a time span is returned as it is."""
    if not curve or curve[-1][0] <= curve[0][0]:
        return [v for _, v in curve]
    start, span = curve[0][0], curve[-1][0] - curve[0][0]
    out, i = [], 0
    for c in range(1, width + 1):
        t = start + span * c // width
        while i + 1 < len(curve) and curve[i + 1][0] <= t:
            i += 1
        out.append(curve[i][1])
    return out


def pnl_chart(values: Sequence[float], width: int = 60, height: int = 8) -> list[str]:
    """An area chart of `values` in `height` text rows of `width` columns (block
    characters, eighths of a row), oldest at the left; each column shows the last value
    of its slice. Empty for no values."""
    if not values:
        return []
    n = len(values)
    cols = [values[min(n - 1, (c + 1) * n // width - 1 if n >= width else c * n // width)]
            for c in range(min(width, n))]
    lo, hi = min(cols), max(cols)
    span = hi - lo or 1.0
    levels = [round((v - lo) / span * (height * 8 - 1)) + 1 for v in cols]
    blocks = " ▁▂▃▄▅▆▇█"
    lines = []
    for row in range(height - 1, -1, -1):
        base = row * 8
        lines.append("".join(blocks[max(0, min(8, lv - base))] for lv in levels))
    return lines


def render(report: Report, *, width: int | None = None) -> None:
    """Print the report to the terminal with rich."""
    from hip3term.replay.render import print_report

    print_report(report, width=width)
