"""Pure helpers that shape the simulator's data the way the exchange sends it.

- `aggregate_levels`: the `nSigFigs` / `mantissa` book aggregation of `l2Book`
  (PROTOCOL.md section 2.4): prices are bucketed to `nSigFigs` significant figures (with
  nSigFigs 5, the last figure to a multiple of `mantissa`), bids rounded down and asks
  rounded up, and the sizes and order counts of a bucket are summed.
- `aggregate_fills`: `aggregateByTime` for user fills: fills of the same order, side and
  time (one taker order crossing several levels) become one fill at the volume-weighted
  price with summed size, fee and closed PnL.
- `zero_wire`: the exchange's way of writing a zero amount (`"0.0"`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal
from typing import Any

from hip3term.core.numeric import to_wire
from hip3term.venue.sim.records import FillRecord, Level

_CTX = Context(prec=34)


def zero_wire(value: Decimal) -> str:
    """`to_wire(value)`, except that zero is written `"0.0"` as the exchange writes it."""
    return "0.0" if value.is_zero() else to_wire(value)


def aggregate_levels(
    levels: Sequence[Level], *, bids: bool, n_sig_figs: int, mantissa: int | None
) -> list[Level]:
    """Merge book levels into price buckets of `n_sig_figs` significant figures.

    Args:
        levels: One side of the book, best first, at full precision.
        bids: True for the bid side (rounded down), False for asks (rounded up).
        n_sig_figs: 2 to 5 significant figures.
        mantissa: With `n_sig_figs` 5, the last figure is a multiple of 1, 2 or 5.
    """
    out: list[Level] = []
    current: Decimal | None = None
    size, count = Decimal(0), 0
    for level in levels:
        bucket = _bucket(level.px, bids, n_sig_figs, mantissa)
        if bucket == current:
            size += level.sz
            count += level.n
            continue
        if current is not None:
            out.append(Level(current, size, count))
        current, size, count = bucket, level.sz, level.n
    if current is not None:
        out.append(Level(current, size, count))
    return out


_BUCKETS: dict[tuple[Decimal, bool, int, int | None], Decimal] = {}
_BUCKETS_MAX = 100_000


def _bucket(px: Decimal, bids: bool, n_sig_figs: int, mantissa: int | None) -> Decimal:
    # Book prices repeat from one push to the next: remember each price's bucket.
    key = (px, bids, n_sig_figs, mantissa)
    bucket = _BUCKETS.get(key)
    if bucket is None:
        step = Decimal((0, (1,), px.adjusted() - n_sig_figs + 1))
        if n_sig_figs == 5 and mantissa in (2, 5):
            step *= mantissa
        rounding = ROUND_FLOOR if bids else ROUND_CEILING
        bucket = (px / step).to_integral_value(rounding, _CTX) * step
        if len(_BUCKETS) >= _BUCKETS_MAX:
            _BUCKETS.clear()
        _BUCKETS[key] = bucket
    return bucket


def aggregate_fills(fills: Sequence[FillRecord]) -> list[FillRecord]:
    """Merge consecutive fills of one order at one time (see the module docstring)."""
    out: list[FillRecord] = []
    for fill in fills:
        last = out[-1] if out else None
        if last is not None and (last.oid, last.time, last.is_buy) == (
            fill.oid,
            fill.time,
            fill.is_buy,
        ):
            size = last.sz + fill.sz
            px = ((last.px * last.sz + fill.px * fill.sz) / size).quantize(
                Decimal("1e-8"), ROUND_HALF_EVEN, _CTX
            )
            out[-1] = _merged(last, px.normalize(_CTX), size, fill)
        else:
            out.append(fill)
    return out


def _merged(first: FillRecord, px: Decimal, size: Decimal, second: FillRecord) -> FillRecord:
    return replace(
        first,
        px=px,
        sz=size,
        fee=first.fee + second.fee,
        closed_pnl=first.closed_pnl + second.closed_pnl,
    )


def level_wire(level: Level | None) -> dict[str, Any] | None:
    """`{"px","sz","n"}` of a level, or None (an empty side of a `bbo`)."""
    return None if level is None else level.wire()
