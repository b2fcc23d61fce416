"""Positions, open orders and (in observe mode) would-be orders.

One row per position: market, side, size, entry, mark, unrealized and realized PnL, age
and the time-stop countdown ("due" once it is reached, FLATTENING while an exit runs). In a
narrow pane the age, realized PnL, entry, mark and market columns are left out, in that
order, so that side, size, uPnL and the countdown stay.
Below, the live orders (side, size at price, tif, reduce-only, state, age), and in observe
mode the orders the strategy would have sent, with their expected edge.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

from hip3term.runtime.snapshot import NodeSnapshot, OrderRow, PositionRow, WouldBeOrder
from hip3term.tui import palette as pal
from hip3term.tui.widgets.lines import LinePane

__all__ = ["PositionsPane", "position_rows"]

_COLUMNS = (("market", 8, "<"), ("side", 5, "<"), ("size", 8, ">"), ("entry", 8, ">"),
            ("mark", 8, ">"), ("uPnL", 7, ">"), ("realized", 8, ">"), ("age", 6, ">"),
            ("stop in", 7, ">"))  # fmt: skip
_DROP_ORDER = ("age", "realized", "entry", "mark", "market")  # left out first to last


def _cell(text: str, width: int, align: str) -> str:
    text = text[:width]
    return f"{text:>{width}}" if align == ">" else f"{text:<{width}}"


def _shown(width: int) -> tuple[int, ...]:
    # the indices of the columns that fit `width` cells
    shown = list(range(len(_COLUMNS)))
    for name in _DROP_ORDER:
        if sum(_COLUMNS[i][1] + 1 for i in shown) - 1 <= width:
            break
        shown.remove(next(i for i in shown if _COLUMNS[i][0] == name))
    return tuple(shown)


def _header(shown: tuple[int, ...]) -> Text:
    return Text(" ".join(_cell(*_COLUMNS[i]) for i in shown), pal.HEADER)


def _stop(row: PositionRow) -> tuple[str, Style]:
    if row.flattening:
        return "FLATTEN", pal.BAD
    if row.time_stop_in_s is None:
        return "—", pal.DIM
    if row.time_stop_in_s <= 0:
        return "due", pal.WARN
    return pal.fmt_age(row.time_stop_in_s), pal.WARN if row.time_stop_in_s < 5 else pal.VALUE


def _position(row: PositionRow, shown: tuple[int, ...]) -> Text:
    long = row.size > 0
    stop, stop_style = _stop(row)
    cells = (
        (row.market, pal.VALUE), ("LONG" if long else "SHORT", pal.BUY if long else pal.SELL),
        (pal.fmt_num(abs(row.size)), pal.VALUE), (pal.fmt_num(row.entry_px), pal.VALUE),
        (pal.fmt_num(row.mark_px), pal.MARK), (pal.fmt_usd(row.unrealized_pnl),
                                           pal.signed_style(row.unrealized_pnl)),
        (pal.fmt_usd(row.realized_pnl), pal.signed_style(row.realized_pnl)),
        (pal.fmt_age(row.age_s), pal.VALUE), (stop, stop_style),
    )  # fmt: skip
    text = Text()
    for n, i in enumerate(shown):
        (value, style), (_, width, align) = cells[i], _COLUMNS[i]
        text.append(("" if n == 0 else " ") + _cell(value, width, align), style)
    return text


def _order(row: OrderRow) -> Text:
    side = "BUY " if row.side.lower() in ("b", "buy") else "SELL"
    left = row.sz - row.filled_sz
    flags = " ro" if row.reduce_only else ""
    return Text.assemble(
        (f"  {side} ", pal.side_style(row.side)),
        (f"{pal.fmt_num(left)} @ {pal.fmt_num(row.px)}", pal.VALUE),
        (f"  {row.tif}{flags}  ", pal.DIM),
        (f"{row.state}", pal.WARN if row.state.value == "unknown" else pal.LABEL),
        (f"  {pal.fmt_age(row.age_s)}  {row.origin}", pal.DIM),
    )


def _would_be(row: WouldBeOrder) -> Text:
    side = "BUY " if row.side.lower() in ("b", "buy") else "SELL"
    return Text.assemble(
        (f"  {pal.fmt_clock(row.time_ms)} {side} ", pal.side_style(row.side)),
        (f"{pal.fmt_num(row.sz)} @ {pal.fmt_num(row.px)} {row.tif}", pal.VALUE),
        ("  edge ", pal.LABEL), (f"{pal.fmt_bps(row.expected_edge_bps)}bps", pal.VALUE),
        (f"  {row.state} {row.tag}", pal.DIM),
    )


def position_rows(snapshot: NodeSnapshot, height: int, width: int = 1_000) -> list[Text]:
    """Positions, then orders, then would-be orders, cut to `height` rows; the position
    columns that fit `width` cells."""
    shown = _shown(width)
    rows = [_header(shown)]
    if snapshot.positions:
        rows += [_position(row, shown) for row in snapshot.positions]
    else:
        rows.append(Text("flat: no open position", pal.DIM))
    live = [o for o in snapshot.orders if not o.state.terminal]
    rows.append(Text.assemble(("open orders ", pal.HEADER), (str(len(live)), pal.VALUE)))
    rows += [_order(row) for row in live]
    if snapshot.observe:
        rows.append(Text.assemble(("would-be orders (observe: nothing is sent) ", pal.HEADER),
                                  (str(len(snapshot.would_be)), pal.VALUE)))  # fmt: skip
        rows += [_would_be(row) for row in reversed(snapshot.would_be)]
    return rows[:max(height, 1)]


class PositionsPane(LinePane):
    """Positions and open orders (see the module docstring)."""

    def show(self, snapshot: NodeSnapshot) -> None:
        """Redraw when a position, an order or a would-be order changed."""
        key = (tuple((p.market, p.size, p.entry_px, p.mark_px, p.unrealized_pnl,
                      p.realized_pnl, round(p.age_s, 1),
                      None if p.time_stop_in_s is None else round(p.time_stop_in_s, 1),
                      p.flattening) for p in snapshot.positions),
               tuple((o.cloid, o.oid, o.px, o.sz, o.filled_sz, o.state, round(o.age_s, 1))
                     for o in snapshot.orders),
               snapshot.would_be if snapshot.observe else (), self.size)  # fmt: skip
        if self.changed(key):
            self.set_rows(position_rows(snapshot, self.size.height, self.size.width))
