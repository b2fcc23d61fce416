"""Printing a session report in the terminal with rich (the only replay module that
imports rich; `hip3term.replay.report` imports it when asked to render)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from hip3term.replay.report import HORIZONS_S, FillReport, Report, pnl_chart, resample
from hip3term.strategy.metrics import RoundTrip

if TYPE_CHECKING:
    from hip3term.replay.compare import Comparison

__all__ = ["comparison_table", "make_console", "print_report", "sweep_table"]

_FILE_WIDTH: Final = 160
"""Columns of a report written to a file or a pipe (rich's own default there is 80)."""


def make_console(width: int | None = None) -> Console:
    """A console `width` columns wide; by default the terminal's width, and for a file or
    a pipe (unless COLUMNS says otherwise) `_FILE_WIDTH`, so nothing is cut."""
    out = Console(width=width)
    if width is None and not out.is_terminal and not os.environ.get("COLUMNS"):
        out.width = _FILE_WIDTH
    return out


def _num(value: Any, digits: int = 2, suffix: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        value = float(value)
    text = f"{value:,.{digits}f}"
    if text.startswith("-") and not text.strip("-0.,"):
        text = text[1:]  # -0.0: rounded to zero is zero
    return text + suffix


def _clock(time_ms: int, *, ms: bool = True) -> str:
    text = datetime.fromtimestamp(time_ms / 1000, tz=UTC).strftime("%H:%M:%S.%f")
    return text[:-3] if ms else text[:8]


def _meta_value(key: str, value: Any) -> str:
    if key.endswith("_ms") and isinstance(value, int) and value > 10**12:  # a unix time
        return datetime.fromtimestamp(value / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value)


def _summary(report: Report) -> Table:
    s = report.summary
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_column(style="bold")
    table.add_column(justify="right")
    rate = s.get("fill_rate")
    rows = [
        ("realized PnL", _num(s["realized_pnl"], 4), "round trips",
         f"{s['round_trips']} ({s['wins']} won, {s['losses']} lost)"),
        ("final equity", _num(s["final_equity"], 4), "fills", str(s["fills"])),
        ("max drawdown", _num(s["max_drawdown"], 4), "fees", _num(s["fees"], 4)),
        ("expected edge", _num(s["expected_edge_bps"], 1, " bps"), "volume",
         _num(s["volume"], 2)),
        ("realized edge", _num(s["realized_edge_bps"], 1, " bps"), "fill rate",
         "-" if rate is None else f"{rate:.0%} of {s['orders_sent']} sent"),
        ("slippage", _num(s["slippage_bps"], 1, " bps"), "time to flat",
         f"{_num(s['mean_time_to_flat_s'], 1, ' s')} (max {_num(s['max_time_to_flat_s'], 1)})"),
        ("signals", str(s["signals"]), "halts", str(s["halts"])),
    ]  # fmt: skip
    for row in rows:
        table.add_row(*row)
    return table


def _markouts(report: Report) -> Table:
    table = Table(title="mean markouts (bps, + is good)", title_justify="left")
    table.add_column("against")
    for h in HORIZONS_S:
        table.add_column(f"{h} s", justify="right")
    for ref in ("mid", "oracle"):
        table.add_row(ref, *(_num(report.markouts.get(f"{ref}_{h}s"), 2) for h in HORIZONS_S))
    return table


def _fills_table(title: str, fills: Sequence[FillReport], out: Console,
                 limit: int = 20) -> Table:  # fmt: skip
    # too wide for the console: the oracle markouts are left out (never a cut price)
    table = _fitting(out, lambda full: _fills(title, fills[:limit], oracle=full))
    if len(fills) > limit:
        table.caption = f"... {len(fills) - limit} more in the CSV; {table.caption}"
    return table


def _fitting(out: Console, build: Callable[[bool], Table]) -> Table:
    # build(True), or build(False) (the compact form) when the full table, measured with
    # nothing shrunk, is wider than the console
    table = build(True)
    if out.measure(table, options=out.options.update_width(10_000)).maximum > out.width:
        return build(False)
    return table


def _fills(title: str, fills: Sequence[FillReport], *, oracle: bool) -> Table:
    marks = "m1s..o60s: markouts (bps, + good) against the mid (m) and the oracle (o)" \
        if oracle else "m1s..m60s: markouts (bps, + good) against the mid (against the " \
        "oracle: in the CSV, or in a wider terminal)"  # fmt: skip
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1),
                  caption_justify="left", collapse_padding=True,
                  caption=f"{marks}; slip: bps against the touch when decided (+ worse)")
    table.add_column("time (UTC)", no_wrap=True)
    for name in ("side", "tag"):
        table.add_column(name, no_wrap=True)
    names = ["size", "price", "slip", *(f"m{h}s" for h in HORIZONS_S)]
    if oracle:
        names += [f"o{h}s" for h in HORIZONS_S]
    for name in names:
        table.add_column(name, justify="right", no_wrap=True)
    for f in fills:
        cells = [_clock(f.time_ms), "buy" if f.side == "B" else "sell", f.tag[:8], str(f.sz),
                 str(f.px), _num(f.slippage_bps, 1), *(_num(m, 1) for m in f.mid_markouts)]
        if oracle:
            cells += [_num(m, 1) for m in f.oracle_markouts]
        table.add_row(*cells)
    return table


def _trips_table(report: Report, out: Console, limit: int = 10) -> Table:
    # too wide for the console: times to the second, the side as the size's sign
    return _fitting(out, lambda full: _trips(report.round_trips, limit, full=full))


def _trips(trips: Sequence[RoundTrip], limit: int, *, full: bool) -> Table:
    table = Table(title=f"round trips (last {min(limit, len(trips))} of {len(trips)})",
                  title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1),
                  collapse_padding=True, caption=None if full else "size: + long, - short",
                  caption_justify="left")  # fmt: skip
    table.add_column("opened (UTC)", no_wrap=True)
    if full:
        table.add_column("side")
    names = ("size", "entry", "exit", "PnL", *(("exp. edge", "real. edge") if full else
                                               ("exp. bps", "real bps")), "to flat")
    for name in names:
        table.add_column(name, justify="right", no_wrap=True)
    for t in trips[-limit:]:
        side = ["long" if t.is_long else "short"] if full else []
        size = str(t.size) if full else f"{'+' if t.is_long else '-'}{t.size}"
        table.add_row(_clock(t.opened_ms, ms=full), *side, size,
                      f"{t.entry_px:.6g}", f"{t.exit_px:.6g}", _num(t.pnl, 4),
                      _num(t.expected_edge_bps, 1), _num(t.realized_edge_bps, 1),
                      _num(t.time_to_flat_s, 1, " s"))  # fmt: skip
    return table


def _chart(report: Report, width: int) -> Text:
    if not report.pnl_curve:
        return Text("PnL curve: no fills")
    columns = max(20, width - 14)
    values = resample(report.pnl_curve, columns)  # over time: a column per time slice
    lines = pnl_chart(values, width=columns, height=6)
    hi, lo = max(values), min(values)
    text = Text("PnL curve (equity, fees included, over time)\n", style="bold")
    for i, line in enumerate(lines):
        label = f"{hi:>+10.4f} " if i == 0 else f"{lo:>+10.4f} " if i == len(lines) - 1 \
            else " " * 11  # fmt: skip
        text.append(label, style="dim")
        text.append(line + "\n", style="green" if values[-1] >= 0 else "red")
    return text


def print_report(report: Report, *, width: int | None = None,
                 console: Console | None = None) -> None:  # fmt: skip
    """Print `report` (summary, markouts, PnL chart, halts, round trips, worst fills,
    fills)."""
    out = console or make_console(width)
    width = out.width
    meta = report.meta
    title = (f"{meta.get('source', 'session')} {meta.get('market', '')} "
             f"{meta.get('strategy', '')}").strip()  # fmt: skip
    lines = [f"{k}: {_meta_value(k, v)}" for k, v in meta.items()
             if k != "source" and v not in (None, "")]
    out.print(Panel(Group(Text("\n".join(lines), style="dim"), _summary(report)), title=title,
                    expand=False))
    out.print(_markouts(report))
    out.print(_chart(report, width))
    if report.halts:
        halts = Table(title="halts", title_justify="left")
        halts.add_column("time")
        halts.add_column("kind")
        halts.add_column("reason")
        for t, kind, reason in report.halts:
            halts.add_row(_clock(t), kind, reason)
        out.print(halts)
    if report.round_trips:
        out.print(_trips_table(report, out))
    if report.worst:
        out.print(_fills_table("worst fills (10 s markout against the mid)", report.worst,
                               out))
    out.print(_fills_table("fills", report.fills, out))


def sweep_table(rows: Sequence[dict[str, Any]], keys: Sequence[str],
                console: Console | None = None) -> None:
    """Print one line per sweep run: its values, PnL, trades, edge, drawdown."""
    out = console or make_console()
    table = Table(title="sweep", title_justify="left")
    for key in keys:
        table.add_column(key)
    for name in ("PnL", "trades", "fills", "exp. edge", "real. edge", "drawdown", "halts"):
        table.add_column(name, justify="right")
    for row in rows:
        s = row["summary"]
        table.add_row(*(str(row["values"][k]) for k in keys), _num(s["realized_pnl"], 4),
                      str(s["round_trips"]), str(s["fills"]),
                      _num(s["expected_edge_bps"], 1), _num(s["realized_edge_bps"], 1),
                      _num(s["max_drawdown"], 4), str(s["halts"]))  # fmt: skip
    out.print(table)


def comparison_table(comparison: Comparison, console: Console | None = None) -> None:
    """Print a comparison: what ran, one column per run (and the change with one
    variant), the verdicts (green when the variant trades fewer signals with a higher
    edge, yellow when not), notes and fill hashes."""
    from hip3term.replay.compare import describe, footer, headers, table_rows

    out = console or make_console()
    first, *runs = describe(comparison)
    out.print(Text(first, style="bold"))
    for line in runs:
        out.print(Text(line, style="dim"))
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1))
    for i, name in enumerate(headers(comparison)):
        table.add_column(name, justify="left" if i == 0 else "right", no_wrap=True)
    for row in table_rows(comparison):
        table.add_row(*row)
    out.print(table)
    verdicts = set(comparison.verdicts)
    for line in footer(comparison):
        if line in verdicts:
            style = "bold yellow" if " NOT " in line else "bold green"
        else:
            style = "yellow" if line.startswith("note: ") else "dim"
        out.print(Text(line, style=style))
