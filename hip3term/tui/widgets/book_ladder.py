"""The book ladder: asks above, bids below, size bars, own orders, oracle and mark in place.

Layout (top to bottom): two header lines (spread and dislocations; oracle, mark and their
distance), then the asks (farthest first), the spread line, the bids (best first). The
number of levels a side is as many as fit, up to 20; a thin book is padded away from the
spread so the spread line never moves. The oracle and the mark are tagged on the row of
the level nearest to their price (on the spread line when they sit inside the spread, on
the outermost row with an arrow when beyond the levels shown), so the ladder never
changes shape when they move.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from rich.style import Style
from rich.text import Text

from hip3term.runtime.snapshot import BookLevelRow, MarketSnapshot, NodeSnapshot, OrderRow
from hip3term.tui import palette as pal
from hip3term.tui.widgets.lines import LinePane

__all__ = ["MAX_LEVELS", "BookLadder", "ladder_rows"]

MAX_LEVELS = 20
HEADER_ROWS = 2
_EIGHTHS = " ▏▎▍▌▋▊▉"
_OWN_W = 7
_COUNT_W = 3


def _own_sizes(orders: Sequence[OrderRow], market: str) -> tuple[dict[Decimal, Decimal], ...]:
    bids: dict[Decimal, Decimal] = {}
    asks: dict[Decimal, Decimal] = {}
    for order in orders:
        if order.market != market or order.state.terminal:
            continue
        side = bids if order.side.lower() in ("b", "buy") else asks
        side[order.px] = side.get(order.px, Decimal(0)) + order.sz - order.filled_sz
    return bids, asks


def _bar(size: Decimal, biggest: Decimal, width: int) -> str:
    if width <= 0 or biggest <= 0:
        return ""
    eighths = int(size / biggest * width * 8)
    full, part = divmod(max(eighths, 1 if size > 0 else 0), 8)
    return ("█" * full + (_EIGHTHS[part] if part else "")).ljust(width)[:width]


def _dislocations(market: MarketSnapshot) -> tuple[float | None, float | None]:
    buy, sell = market.feature("buy_dislocation_bps"), market.feature("sell_dislocation_bps")
    if buy is not None and sell is not None:
        return (None if buy.value is None else float(buy.value),
                None if sell.value is None else float(sell.value))  # fmt: skip
    book, oracle = market.book, market.oracle_px
    if oracle is None or oracle <= 0 or book.best_bid is None or book.best_ask is None:
        return None, None
    return (float((oracle - book.best_ask.px) / oracle * 10_000),
            float((book.best_bid.px - oracle) / oracle * 10_000))  # fmt: skip


def _disloc_text(label: str, bps: float | None, style: Style) -> Text:
    shown = style if bps is not None and bps > 0 else pal.DIM
    return pal.pair(label, pal.fmt_bps(bps), shown)


def _px(px: Decimal | None, decimals: int) -> str:
    # a price with the book's decimals (the wire's "191.1" reads as "191.10" beside it)
    if px is None:
        return pal.fmt_num(None)
    exponent = px.as_tuple().exponent
    shown = max(decimals, -exponent if isinstance(exponent, int) else 0)
    return f"{px:.{shown}f}"


def _header(market: MarketSnapshot, px_d: int) -> list[Text]:
    book = market.book
    buy, sell = _dislocations(market)
    line0 = pal.join([
        # in bps, as the mark's distance below (the ladder's mid line gives it in price)
        pal.pair("spread", pal.fmt_bps(book.spread_bps, digits=2).lstrip("+"))
        + Text("bps", pal.LABEL),
        Text("disloc", pal.LABEL) + Text(" ") + _disloc_text("buy", buy, pal.BUY) + Text(" ")
        + _disloc_text("sell", sell, pal.SELL) + Text(" bps", pal.LABEL),
    ])  # fmt: skip
    mark_oracle = None
    if market.mark_px is not None and market.oracle_px:
        mark_oracle = float((market.mark_px - market.oracle_px) / market.oracle_px * 10_000)
    line1 = pal.join([
        pal.pair("oracle", _px(market.oracle_px, px_d), pal.ORACLE),
        Text(pal.fmt_age(market.oracle_age_s), pal.DIM),
        pal.pair("mark", _px(market.mark_px, px_d), pal.MARK),
        Text(f"{pal.fmt_bps(mark_oracle)}bps", pal.LABEL),
    ], " ")  # fmt: skip
    return [line0, line1]


def _tag_row(px: Decimal, bids: Sequence[BookLevelRow], asks: Sequence[BookLevelRow],
             levels: int) -> tuple[int, str]:  # fmt: skip
    """The display row for a price (levels: rows a side) and an arrow when beyond."""
    spread_row = levels
    if asks and px >= asks[0].px:
        k = min(range(len(asks)), key=lambda i: (abs(asks[i].px - px), i))
        return spread_row - 1 - k, "▲" if px > asks[-1].px else "◀"
    if bids and px <= bids[0].px:
        k = min(range(len(bids)), key=lambda i: (abs(bids[i].px - px), i))
        return spread_row + 1 + k, "▼" if px < bids[-1].px else "◀"
    return spread_row, "◀"


def _tags(market: MarketSnapshot, bids: Sequence[BookLevelRow],
          asks: Sequence[BookLevelRow], levels: int) -> dict[int, Text]:  # fmt: skip
    tags: dict[int, Text] = {}
    for name, px, style in (("oracle", market.oracle_px, pal.ORACLE),
                            ("mark", market.mark_px, pal.MARK)):  # fmt: skip
        if px is None:
            continue
        row, arrow = _tag_row(px, bids, asks, levels)
        if row in tags:
            tags[row].append("·" + name, style)
        else:
            tags[row] = Text(f"{arrow} {name}", style)
    return tags


def _decimals(values: Sequence[Decimal]) -> int:
    exponents = [v.as_tuple().exponent for v in values]
    return max([0, *(-e for e in exponents if isinstance(e, int))])


def _level_row(level: BookLevelRow | None, own: Decimal | None, is_bid: bool,
               widths: tuple[int, int, int, int, int], biggest: Decimal) -> Text:  # fmt: skip
    px_w, sz_w, bar_w, px_d, sz_d = widths
    if level is None:
        return Text("")
    side_style = pal.BUY if is_bid else pal.SELL
    own_text = f"◆{pal.fmt_num(own)}"[:_OWN_W] if own else ""
    return Text.assemble(
        (f"{own_text:>{_OWN_W}} ", pal.OWN),
        (f"{level.px:>{px_w}.{px_d}f} ", side_style),
        (f"{level.sz:>{sz_w}.{sz_d}f} ", pal.VALUE),
        (f"{level.n:>{_COUNT_W}} ", pal.DIM),
        (_bar(level.sz, biggest, bar_w), pal.BUY_BAR if is_bid else pal.SELL_BAR),
    )


def _spread_row(market: MarketSnapshot, width: int) -> Text:
    book = market.book
    mid = book.mid
    spread = None if mid is None else book.asks[0].px - book.bids[0].px
    label = (f" mid {pal.fmt_num(mid.normalize() if mid is not None else None)}"
             f"  spread {pal.fmt_num(spread)} ")  # fmt: skip
    left = max(_OWN_W + 1, 2)
    return Text.assemble(("─" * left, pal.DIM), (label, pal.LABEL),
                         ("─" * max(width - left - len(label), 0), pal.DIM))  # fmt: skip


def _with_tag(row: Text, tag: Text | None, width: int) -> Text:
    if tag is None:
        return row
    room = width - tag.cell_len
    if room <= 0:
        return tag
    clipped = row.copy()
    clipped.truncate(room, pad=True)
    return clipped + tag


def ladder_rows(market: MarketSnapshot, orders: Sequence[OrderRow], levels: int,
                width: int) -> list[Text]:  # fmt: skip
    """The ladder's rows for `levels` levels a side in `width` cells (see the module doc)."""
    book = market.book
    bids, asks = book.bids[:levels], book.asks[:levels]
    own_bids, own_asks = _own_sizes(orders, market.market)
    shown = [*bids, *asks]
    px_d = _decimals([lv.px for lv in shown])
    sz_d = _decimals([lv.sz for lv in shown])
    px_w = max([8, *(len(f"{lv.px:.{px_d}f}") for lv in shown)])
    sz_w = max([7, *(len(f"{lv.sz:.{sz_d}f}") for lv in shown)])
    bar_w = max(width - (_OWN_W + 1) - (px_w + 1) - (sz_w + 1) - (_COUNT_W + 1), 0)
    biggest = max((lv.sz for lv in shown), default=Decimal(0))
    widths = (px_w, sz_w, bar_w, px_d, sz_d)
    rows: list[Text] = []
    for k in reversed(range(levels)):
        level = asks[k] if k < len(asks) else None
        rows.append(_level_row(level, own_asks.get(level.px) if level else None, False,
                               widths, biggest))  # fmt: skip
    rows.append(_spread_row(market, width))
    for k in range(levels):
        level = bids[k] if k < len(bids) else None
        rows.append(_level_row(level, own_bids.get(level.px) if level else None, True,
                               widths, biggest))  # fmt: skip
    tags = _tags(market, bids, asks, levels)
    rows = [_with_tag(row, tags.get(y), width) for y, row in enumerate(rows)]
    return _header(market, px_d) + rows


def levels_for_height(height: int) -> int:
    """Levels a side that fit `height` rows (two headers and the spread line), 1 to 20."""
    return max(1, min(MAX_LEVELS, (height - HEADER_ROWS - 1) // 2))


class BookLadder(LinePane):
    """The traded market's ladder (see the module docstring)."""

    def show(self, snapshot: NodeSnapshot) -> None:
        """Redraw when the book, oracle, mark, own orders or the size changed."""
        market = snapshot.market_state
        own = tuple(o for o in snapshot.orders if o.market == market.market)
        disloc = tuple(None if v is None else round(v, 1) for v in _dislocations(market))
        key = (market.book.bids, market.book.asks, market.oracle_px, market.mark_px,
               round(market.oracle_age_s or 0.0, 1), disloc, own, self.size)  # fmt: skip
        if not self.changed(key):
            return
        self.border_title = f"book {market.market}"
        levels = levels_for_height(self.size.height)
        self.set_rows(ladder_rows(market, own, levels, self.size.width))
