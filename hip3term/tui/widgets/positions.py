"""Positions, open orders and (in observe mode) would-be orders.

One row per position: market, side, size, entry, mark, unrealized and realized PnL, age
and the time-stop countdown ("due" once it is reached, FLATTENING while an exit runs).
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


def _cell(text: str, width: int, align: str) -> str:
    text = text[:width]
    return f"{text:>{width}}" if align == ">" else f"{text:<{width}}"


def _header() -> Text:
    return Text(" ".join(_cell(name, w, a) for name, w, a in _COLUMNS), pal.HEADER)


def _stop(row: PositionRow) -> tuple[str, Style]:
    if row.flattening:
        return "FLATTEN", pal.BAD
    if row.time_stop_in_s is None:
        return "—", pal.DIM
    if row.time_stop_in_s <= 0:
        return "due", pal.WARN
    return pal.fmt_age(row.time_stop_in_s), pal.WARN if row.time_stop_in_s < 5 else pal.VALUE


def _position(row: PositionRow) -> Text:
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
    for i, ((value, style), (_, width, align)) in enumerate(zip(cells, _COLUMNS, strict=True)):
        text.append(("" if i == 0 else " ") + _cell(value, width, align), style)
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


def position_rows(snapshot: NodeSnapshot, height: int) -> list[Text]:
    """Positions, then orders, then would-be orders, cut to `height` rows."""
    rows = [_header()]
    if snapshot.positions:
        rows += [_position(row) for row in snapshot.positions]
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
               snapshot.would_be if snapshot.observe else (), self.size.height)  # fmt: skip
        if self.changed(key):
            self.set_rows(position_rows(snapshot, self.size.height))
