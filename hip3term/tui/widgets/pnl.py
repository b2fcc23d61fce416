"""Session PnL: a block chart of realized + unrealized, the totals and the strategy metrics.

The chart's series is kept here, from successive snapshots, in bounded memory: one point
per `step_ms` (the last value seen in that step); when `capacity` points are held, every
other point is dropped and the step doubles, so the whole session always fits. Columns
above zero are green, below red; the left axis gives the range.

The figures come first, the totals, then the strategy's: each block on its usual lines
when they fit the pane's width, else flowed onto as many lines as it needs, a figure never
cut in two. The chart takes the rows left over when there are at least `_MIN_CHART_ROWS`
of them (a one-row chart says nothing); a pane too short for all the figures shows those
that come first.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.style import Style
from rich.text import Text

from hip3term.runtime.snapshot import NodeSnapshot
from hip3term.tui import palette as pal
from hip3term.tui.widgets.lines import LinePane

__all__ = ["PnlPane", "PnlSeries", "chart_rows"]

_UP = " ▁▂▃▄▅▆▇█"
_AXIS_W = 9
_MIN_CHART_ROWS = 3


class PnlSeries:
    """A bounded time series of session PnL (see the module docstring)."""

    def __init__(self, *, capacity: int = 512, step_ms: int = 1000) -> None:
        if capacity < 2 or step_ms <= 0:
            raise ValueError("capacity must be >= 2 and step_ms > 0")
        self.capacity = capacity
        self.step_ms = step_ms
        self._times: list[int] = []
        self._values: list[float] = []

    def __len__(self) -> int:
        return len(self._values)

    @property
    def values(self) -> list[float]:
        """The points, oldest first."""
        return list(self._values)

    def add(self, time_ms: int, value: float) -> None:
        """Record `value` at `time_ms`: a new point once a step has passed, else the last."""
        if self._times and time_ms < self._times[-1] + self.step_ms:
            self._values[-1] = value
            return
        self._times.append(time_ms)
        self._values.append(value)
        if len(self._values) > self.capacity:
            keep = range(len(self._values) - 1, -1, -2)[::-1]  # every other, the last kept
            self._times = [self._times[i] for i in keep]
            self._values = [self._values[i] for i in keep]
            self.step_ms *= 2

    def columns(self, width: int) -> list[float]:
        """At most `width` values covering the whole series (the last value of each bucket)."""
        values = self._values
        if width <= 0:
            return []
        if len(values) <= width:
            return list(values)
        return [values[min(len(values) - 1, (i + 1) * len(values) // width - 1)]
                for i in range(width)]  # fmt: skip


def _column_cell(value: float, row_from_bottom: int, zero_row: int,
                 hi: float, lo: float, height: int) -> str:  # fmt: skip
    if value > 0 and row_from_bottom >= zero_row and hi > 0:
        eighths = round(value / hi * (height - zero_row) * 8)
        return _UP[max(0, min(8, eighths - (row_from_bottom - zero_row) * 8))]
    if value < 0 and row_from_bottom < zero_row and lo < 0:
        eighths = round(value / lo * zero_row * 8)
        n = max(0, min(8, eighths - (zero_row - 1 - row_from_bottom) * 8))
        return "█" if n == 8 else "▀" if n >= 4 else "▔" if n >= 1 else " "
    return " "


def chart_rows(values: Sequence[float], height: int, width: int) -> list[Text]:
    """`height` rows of a block chart of `values` (one column each) with a left axis."""
    if height <= 0:
        return []
    lo = min(0.0, *values) if values else 0.0
    hi = max(0.0, *values) if values else 0.0
    if hi == lo:
        hi = lo + 1.0
    zero_row = round(-lo / (hi - lo) * height)
    cols = list(values)[-max(width - _AXIS_W, 0):]
    rows: list[Text] = []
    for r in range(height):
        from_bottom = height - 1 - r
        label = f"{hi:+.2f}" if r == 0 else f"{lo:+.2f}" if r == height - 1 else ""
        axis = "┤" if label else ("┼" if from_bottom == zero_row and zero_row else "│")
        text = Text(f"{label:>{_AXIS_W - 1}}{axis}", pal.DIM)
        for value in cols:
            cell = _column_cell(value, from_bottom, zero_row, hi, lo, height)
            text.append(cell, pal.PROFIT if value > 0 else pal.LOSS)
        rows.append(text)
    return rows


def _totals(snapshot: NodeSnapshot) -> list[list[Text]]:
    pnl = snapshot.pnl
    line0 = [
        pal.pair("total", pal.fmt_usd(pnl.total), pal.signed_style(pnl.total) + Style(bold=True)),
        pal.pair("real", pal.fmt_usd(pnl.realized), pal.signed_style(pnl.realized)),
        pal.pair("unreal", pal.fmt_usd(pnl.unrealized), pal.signed_style(pnl.unrealized)),
        pal.pair("fees", pal.fmt_usd(pnl.fees, sign=False)),
    ]  # fmt: skip
    line1 = [
        pal.pair("trades", str(pnl.trades)), pal.pair("won", str(pnl.wins), pal.PROFIT),
        pal.pair("lost", str(pnl.losses), pal.LOSS), pal.pair("win", pal.fmt_pct(pnl.win_rate)),
        pal.pair("loss run", str(pnl.consecutive_losses),
                 pal.WARN if pnl.consecutive_losses else pal.VALUE),
    ]  # fmt: skip
    return [line0, line1]


def _strategy(snapshot: NodeSnapshot) -> list[list[Text]]:
    strat = snapshot.strategy
    m = strat.metrics
    name = Text(strat.name + (" [observe]" if strat.observe else ""), pal.HEADER)
    if m is None:
        return [[name, Text("no metrics yet", pal.DIM)]]
    line0 = [
        name, pal.pair("signals", str(m.signals)), pal.pair("traded", str(m.signals_traded)),
    ]  # fmt: skip
    line1 = [
        pal.pair("filled", pal.fmt_pct(m.fill_rate)),
        pal.pair("edge exp", pal.fmt_bps(m.mean_expected_edge_bps)),
        pal.pair("real", pal.fmt_bps(m.mean_realized_edge_bps)),
        pal.pair("slip", pal.fmt_bps(m.mean_slippage_bps)),
    ]  # fmt: skip
    line2 = [
        pal.pair("flat in", f"{pal.fmt_age(m.mean_time_to_flat_s)}"
                            f"/{pal.fmt_age(m.max_time_to_flat_s)}"),
        pal.pair("pnl/trade", pal.fmt_usd(m.pnl_per_trade), pal.signed_style(m.pnl_per_trade)),
        pal.pair("last", pal.fmt_usd(m.last_trade_pnl), pal.signed_style(m.last_trade_pnl)),
    ]  # fmt: skip
    return [line0, line1, line2]


def _fit(lines: list[list[Text]], width: int) -> list[Text]:
    # The lines as they are when each fits the width, else all their figures flowed.
    joined = [pal.join(parts) for parts in lines]
    if all(line.cell_len <= width for line in joined):
        return joined
    return pal.flow([part for parts in lines for part in parts], width)


class PnlPane(LinePane):
    """Session PnL chart and figures (see the module docstring)."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.series = PnlSeries()

    def show(self, snapshot: NodeSnapshot) -> None:
        """Add the snapshot's total to the series; redraw when anything shown changed."""
        self.series.add(snapshot.taken_ms, float(snapshot.pnl.total))
        width, height = self.size
        columns = tuple(self.series.columns(max(width - _AXIS_W, 1)))
        key = (snapshot.pnl, snapshot.strategy.metrics, snapshot.strategy.last_signal,
               snapshot.strategy.observe, columns, width, height)  # fmt: skip
        if not self.changed(key):
            return
        top, bottom = _fit(_totals(snapshot), width), _fit(_strategy(snapshot), width)
        room = height - len(top) - len(bottom)
        chart = chart_rows(columns, room, width) if room >= _MIN_CHART_ROWS else []
        self.set_rows([*top, *chart, *bottom][:max(height, 1)])
