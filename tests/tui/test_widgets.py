"""The panes' row builders and the PnL series, on small hand-made inputs checked by hand."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region

from hip3term.core.events import LatchState, OrderState, TripTrigger
from hip3term.persistence.writer import JournalHealth
from hip3term.recording.recorder import RecorderHealth
from hip3term.runtime.snapshot import (
    BookLevelRow,
    BookSnapshot,
    EventLine,
    LatchStatus,
    MarketSnapshot,
    NodeSnapshot,
    OrderRow,
)
from hip3term.tui import palette as pal
from hip3term.tui.widgets.book_ladder import ladder_rows, levels_for_height
from hip3term.tui.widgets.events_log import MAX_EVENT_ROWS, EventsLog, event_rows
from hip3term.tui.widgets.inflight import inflight_rows
from hip3term.tui.widgets.lines import LinePane
from hip3term.tui.widgets.pnl import PnlPane, PnlSeries, chart_rows
from hip3term.tui.widgets.positions import position_rows
from hip3term.tui.widgets.status_bar import banner_text, latch_reason, status_rows
from tests.tui.fakes import feed_status, make_snapshot

D = Decimal


def _market(oracle: str | None, mark: str | None = None) -> MarketSnapshot:
    book = BookSnapshot(
        bids=(BookLevelRow(D("100.00"), D("1"), 1), BookLevelRow(D("99.99"), D("2"), 2)),
        asks=(BookLevelRow(D("100.02"), D("4"), 1), BookLevelRow(D("100.03"), D("1"), 3)),
    )
    return MarketSnapshot("xyz:T", book=book, oracle_px=D(oracle) if oracle else None,
                          mark_px=D(mark) if mark else None)  # fmt: skip


def _own_bid(px: str, sz: str) -> OrderRow:
    return OrderRow(cloid=None, oid=1, market="xyz:T", side="B", px=D(px), sz=D(sz),
                    filled_sz=D(0), tif="Gtc", reduce_only=False, state=OrderState.RESTING,
                    status="resting", origin="test", age_s=1.0)  # fmt: skip


def test_ladder_orders_rows_far_ask_to_far_bid_with_the_spread_line_between() -> None:
    rows = [r.plain for r in ladder_rows(_market(None), (), 2, 60)]
    assert len(rows) == 2 + 2 + 1 + 2
    prices = [row.split()[0] for row in rows[2:4]] + [row.split()[0] for row in rows[5:]]
    assert prices == ["100.03", "100.02", "100.00", "99.99"]
    assert "mid 100.01" in rows[4] and "spread 0.02" in rows[4]


def test_ladder_header_gives_the_spread_in_bps_and_the_spread_line_in_price() -> None:
    # 100.02 - 100.00 over the mid 100.01: 1.9998 bps; the two must not read alike
    rows = [r.plain for r in ladder_rows(_market(None), (), 2, 60)]
    assert rows[0].startswith("spread 2.00bps  disloc")
    assert "spread 0.02 " in rows[4]


def test_ladder_places_oracle_in_the_spread_and_mark_on_its_level() -> None:
    rows = [r.plain for r in ladder_rows(_market("100.01", "100.03"), (), 2, 60)]
    assert rows[4].endswith("◀ oracle")
    assert rows[2].endswith("◀ mark") and "100.03" in rows[2]


@pytest.mark.parametrize(("oracle", "row", "arrow"), [("101", 2, "▲"), ("99", 6, "▼"),
                                                      ("100.00", 5, "◀")])
def test_ladder_tags_an_oracle_beyond_the_levels_on_the_outer_row(oracle: str, row: int,
                                                                  arrow: str) -> None:  # fmt: skip
    rows = [r.plain for r in ladder_rows(_market(oracle), (), 2, 60)]
    assert rows[row].endswith(f"{arrow} oracle")


def test_ladder_marks_own_size_and_scales_bars_to_the_biggest_level() -> None:
    rows = [r.plain for r in ladder_rows(_market(None), (_own_bid("99.99", "0.5"),), 2, 60)]
    assert rows[6].lstrip().startswith("◆0.5")
    bar_width = 60 - 8 - 9 - 8 - 4
    assert rows[3].count("█") == bar_width  # 100.02 x 4 is the biggest
    assert rows[5].count("█") == bar_width // 4  # 100.00 x 1


def test_ladder_pads_a_thin_side_away_from_the_spread() -> None:
    market = dataclasses.replace(_market(None), book=BookSnapshot(
        bids=(BookLevelRow(D("100.00"), D("1"), 1),),
        asks=(BookLevelRow(D("100.02"), D("1"), 1),)))  # fmt: skip
    rows = [r.plain for r in ladder_rows(market, (), 3, 60)]
    assert rows[2] == rows[3] == "" and "100.02" in rows[4]
    assert "mid" in rows[5]
    assert "100.00" in rows[6] and rows[7] == rows[8] == ""


@pytest.mark.parametrize(("height", "levels"), [(43, 20), (100, 20), (31, 14), (2, 1)])
def test_levels_for_height(height: int, levels: int) -> None:
    assert levels_for_height(height) == levels


def test_pnl_series_keeps_one_point_per_step_the_last_value_wins() -> None:
    series = PnlSeries(capacity=10, step_ms=1000)
    series.add(0, 1.0)
    series.add(500, 2.0)
    series.add(1000, 3.0)
    assert series.values == [2.0, 3.0]


def test_pnl_series_halves_when_full_and_keeps_the_latest() -> None:
    series = PnlSeries(capacity=4, step_ms=1000)
    for i in range(5):
        series.add(i * 1000, float(i))
    assert series.values == [0.0, 2.0, 4.0]
    assert series.step_ms == 2000
    series.add(5000, 5.0)  # within the doubled step of the last point: replaces it
    assert series.values == [0.0, 2.0, 5.0]


def test_pnl_series_columns_take_the_last_value_of_each_bucket() -> None:
    series = PnlSeries(capacity=100, step_ms=1)
    for i in range(10):
        series.add(i, float(i))
    assert series.columns(5) == [1.0, 3.0, 5.0, 7.0, 9.0]
    assert series.columns(20) == [float(i) for i in range(10)]


def test_chart_draws_gains_up_and_losses_down_from_zero() -> None:
    rows = chart_rows([1.0, -1.0], 2, 9 + 2)
    top, bottom = rows[0].plain, rows[1].plain
    assert top.startswith("   +1.00┤") and bottom.startswith("   -1.00┤")
    assert top[9:] == "█ " and bottom[9:] == " █"
    assert rows[0].spans[-2].style == pal.PROFIT
    assert rows[1].spans[-1].style == pal.LOSS


def test_positions_rows_show_countdown_and_flat_when_empty() -> None:
    snap = make_snapshot()
    rows = [r.plain for r in position_rows(snap, 20)]
    assert "LONG" in rows[1] and "17.6s" in rows[1] and "12.4s" in rows[1]
    assert rows[2] == "open orders 1"
    flat = [r.plain for r in position_rows(dataclasses.replace(snap, positions=(), orders=()),
                                           20)]  # fmt: skip
    assert flat[1] == "flat: no open position" and flat[2] == "open orders 0"


def test_inflight_rows_show_queues_load_posts_and_rejects() -> None:
    rows = [r.plain for r in inflight_rows(make_snapshot(), 12)]
    assert "cancel 0" in rows[0] and "reduce 1" in rows[0] and "new 2" in rows[0]
    assert rows[1].startswith("in flight 3/100")
    assert any(row.split()[:2] == ["812", "order"] for row in rows)
    assert any("order rejected" in row for row in rows)


def _latched(state: LatchState, trigger: TripTrigger | None, detail: str) -> NodeSnapshot:
    return make_snapshot(latch=LatchStatus(state, trigger, detail, 1_790_000_000_000))


def test_banner_hidden_while_active_red_when_tripped_amber_when_paused() -> None:
    assert banner_text(make_snapshot()) is None
    text, css = banner_text(_latched(LatchState.TRIPPED, TripTrigger.CONSECUTIVE_LOSSES,
                                     "6 losing trades in a row")) or (Text(), "")  # fmt: skip
    assert css == "-danger" and "press r to resume" in text.plain
    assert "consecutive_losses: 6 losing trades" in text.plain
    _, css = banner_text(_latched(LatchState.PAUSED, None, "paused")) or (Text(), "")
    assert css == "-paused"


def test_latch_reason_does_not_repeat_the_trigger() -> None:
    assert latch_reason(LatchStatus(LatchState.TRIPPED, TripTrigger.OPERATOR,
                                    "operator: halt key")) == "operator: halt key"  # fmt: skip
    assert latch_reason(LatchStatus(LatchState.TRIPPED, TripTrigger.WS_DOWN,
                                    "down 12 s")) == "ws_down: down 12 s"  # fmt: skip


@pytest.mark.parametrize(("value", "text"), [(D("-0.004"), "+0.00"), (D("1234.5"), "+1,234.50"),
                                             (D("-2.345"), "-2.35")])  # fmt: skip
def test_fmt_usd(value: Decimal, text: str) -> None:
    assert pal.fmt_usd(value) == text


@pytest.mark.parametrize(("seconds", "text"), [(0.44, "0.4s"), (65.0, "1m05s"),
                                               (7380.0, "2h03m"), (-3.0, "-3.0s")])  # fmt: skip
def test_fmt_age(seconds: float, text: str) -> None:
    assert pal.fmt_age(seconds) == text


class _Pane(LinePane):
    def show(self, snapshot: NodeSnapshot) -> None:
        raise NotImplementedError


class _Solo(App[None]):
    # an app showing one pane alone
    def __init__(self, pane: LinePane) -> None:
        super().__init__()
        self.pane = pane

    def compose(self) -> ComposeResult:
        yield self.pane


async def test_line_pane_repaints_only_the_rows_that_changed() -> None:
    app = _Solo(_Pane(id="pane"))
    async with app.run_test(size=(40, 10)) as pilot:
        pane = app.query_one(_Pane)
        pane.set_rows([Text(f"row {i}") for i in range(5)])
        await pilot.pause()
        regions: list[Region] = []
        original = pane.refresh

        def spy(*args: Region, **kwargs: bool) -> LinePane:
            regions.extend(args)
            return original(*args, **kwargs)

        pane.refresh = spy  # type: ignore[method-assign,assignment]
        pane.set_rows([Text("row 0"), Text("row 1"), Text("ROW 2"), Text("row 3")])
        assert regions == [Region(0, 2, 40, 1), Region(0, 4, 40, 1)]
        await pilot.pause()
        assert pane.render_line(2).text.startswith("ROW 2")
        assert pane.render_line(4).text.strip() == ""


_REASON = ("the exchange refused the dead-man switch (scheduleCancel): Cannot set scheduled "
           "cancel time until enough volume traded; open orders are canceled by the client")


def test_event_rows_wrap_a_long_text_under_its_own_column() -> None:
    line = EventLine(1_785_000_000_123, "warning", "dead_man_refused", _REASON)
    rows = [r.plain for r in event_rows(line, 80)]
    # time (12) + space, kind padded to 16 + space: the text starts at column 30
    assert rows[0].startswith("17:20:00.123 dead_man_refused the exchange refused")
    assert len(rows) == 4 and all(len(row) <= 80 for row in rows)
    assert all(row.startswith(" " * 30) and row[30] != " " for row in rows[1:])
    assert " ".join(row[30:] for row in rows) == _REASON  # nothing lost, nothing added


def test_event_rows_keep_a_short_text_on_one_row_and_cap_a_long_one() -> None:
    short = EventLine(0, "info", "ready", "READY-TRADING gained")
    assert [r.plain for r in event_rows(short, 80)] == [
        "00:00:00.000 ready            READY-TRADING gained"]
    long = EventLine(0, "alert", "latch_tripped", "word " * 200)
    rows = [r.plain for r in event_rows(long, 80)]
    assert len(rows) == MAX_EVENT_ROWS and rows[-1].endswith("…") and len(rows[-1]) <= 80
    assert len(event_rows(long, 80, max_rows=2)) == 2


def test_event_rows_in_a_narrow_pane_continue_under_the_kind() -> None:
    line = EventLine(1_785_000_000_123, "warning", "dead_man_refused", _REASON)
    rows = [r.plain for r in event_rows(line, 34, max_rows=20)]
    assert rows[0].startswith("17:20:00 dead_man_refused the")
    assert all(len(row) <= 34 for row in rows)
    assert all(row.startswith(" " * 9) and row[9] != " " for row in rows[1:])
    assert " ".join(row.split(" ", 2)[2] if i == 0 else row.strip()
                    for i, row in enumerate(rows)) == _REASON  # fmt: skip


def test_positions_leave_out_columns_in_a_narrow_pane_but_keep_pnl_and_countdown() -> None:
    snap = make_snapshot()
    wide = [r.plain for r in position_rows(snap, 20, 120)]
    assert wide[0].split() == ["market", "side", "size", "entry", "mark", "uPnL",
                               "realized", "age", "stop", "in"]  # fmt: skip
    narrow = [r.plain for r in position_rows(snap, 20, 34)]
    assert narrow[0].split() == ["side", "size", "uPnL", "stop", "in"]
    assert all(len(row) <= 34 for row in narrow[:2])
    assert narrow[1].split() == ["LONG", "0.250", "+0.02", "17.6s"]


async def test_events_log_shows_the_newest_event_whole_at_the_bottom() -> None:
    app = _Solo(EventsLog(id="events"))
    async with app.run_test(size=(80, 5)) as pilot:
        log = app.query_one(EventsLog)
        events = (EventLine(1000, "info", "ready", "READY-TRADING gained"),
                  EventLine(2000, "info", "signal", "buy edge 18.0 bps @ 190.93"),
                  EventLine(3000, "warning", "dead_man_refused", _REASON))  # fmt: skip
        log.draw(make_snapshot(events=events))
        await pilot.pause()
        lines = log.text_lines()
        # five rows: the refusal's four, under the signal; the oldest no longer fits
        assert len(lines) == 5
        assert lines[0].startswith("00:00:02.000 signal")
        assert lines[1].startswith("00:00:03.000 dead_man_refused")
        assert lines[-1].rstrip().endswith("by the client")


def _health(*, rec_errors: int = 0, journal_lagging: bool = False) -> dict[str, object]:
    recorder = RecorderHealth(
        path=Path("r.h3rec"), frames_in=10, sent=0, marks=0, records_appended=10,
        records_written=10, bytes_appended=100, bytes_written=100, flushes=1,
        last_flush_wall_ns=None, errors=rec_errors, last_error=None, dropped=0, closed=False)
    journal = JournalHealth(queued=0, capacity=10, written=5, batches=1,
                            dropped=1 if journal_lagging else 0, unreported=0,
                            lagging=journal_lagging, errors=0, last_error=None, closed=False)
    return {"recorder": recorder, "journal": journal}


def test_status_bar_fits_its_lines_by_dropping_the_least_important_parts() -> None:
    snap = make_snapshot(**_health(rec_errors=2, journal_lagging=True))
    wide = [row.plain for row in status_rows(snap, 200)]
    assert "rtt 0.4ms" in wide[1] and "ctx 2.4s bbo 0.1s" in wide[1]
    assert wide[1].endswith("rec ERR  journal LAG")
    narrow = [row.plain for row in status_rows(snap, 70)]
    assert all(len(row) <= 70 for row in narrow)
    # the recorder's and the journal's state stay; the round trip and the ages go first
    assert "rec ERR" in narrow[1] and "journal LAG" in narrow[1] and "rtt" not in narrow[1]
    # "running" is the normal phase: it goes before the READY flags would be cut
    assert "running" not in narrow[0]
    assert narrow[0].rstrip().endswith("READY ●data ●orders ●fills ●positions")


def test_status_bar_keeps_a_stale_channel_when_it_drops_the_fresh_ones() -> None:
    feed = feed_status()
    ctx = dataclasses.replace(feed.channels[0], last_frame_age_s=20.0)  # over its 15 s
    snap = make_snapshot(feed=dataclasses.replace(feed, channels=(ctx, *feed.channels[1:])),
                         **_health())  # fmt: skip
    line = status_rows(snap, 70)[1].plain
    assert "ctx 20.0s" in line and "bbo" not in line and "rec ok" in line


def test_flow_packs_whole_parts_on_as_few_lines_as_fit() -> None:
    parts = [Text("total +1.00"), Text("real +1.00"), Text("fees 0.10"), Text("a-very-long-name")]
    # 11 + 2 + 10 = 23 fits 24, "fees 0.10" does not fit after it, nor the last after it;
    # at 10, parts wider than the width ("total +1.00", the last) stand alone, uncut
    assert [t.plain for t in pal.flow(parts, 24)] == [
        "total +1.00  real +1.00", "fees 0.10", "a-very-long-name"]
    assert [t.plain for t in pal.flow(parts, 10)] == [
        "total +1.00", "real +1.00", "fees 0.10", "a-very-long-name"]
    assert [t.plain for t in pal.flow(parts, 80)] == [
        "total +1.00  real +1.00  fees 0.10  a-very-long-name"]
    assert pal.flow([], 10) == []


@pytest.mark.parametrize(("width", "height", "chart"), [(34, 6, False), (34, 14, True),
                                                      (60, 12, True)])
async def test_pnl_pane_never_cuts_a_figure_and_charts_only_with_room(
        width: int, height: int, chart: bool) -> None:
    snapshot = make_snapshot()
    labels = ["total", "real", "unreal", "fees", "trades", "won", "lost", "win", "loss run",
              snapshot.strategy.name, "signals", "traded", "filled", "edge exp", "slip",
              "flat in", "pnl/trade", "last"]
    app = _Solo(PnlPane(id="pnl"))
    async with app.run_test(size=(width, height)) as pilot:
        pane = app.query_one(PnlPane)
        pane.draw(snapshot)
        await pilot.pause()
        lines = [line.rstrip() for line in pane.text_lines()]
    figures = [line for line in lines if "┤" not in line and "│" not in line and line]
    charted = len(lines) - len(figures)
    assert all(len(line) <= width for line in lines)
    # every line is whole `label value` pairs: the labels on it, in the order shown
    shown = " ".join(figures)
    order = [label for label in labels if f"{label} " in f"{shown} "]
    assert order == labels[:len(order)] and len(order) >= 10  # the first ones kept
    assert figures[0].startswith("total ")
    assert (charted >= 3) if chart else charted == 0
    if width >= 60:  # wide enough: the usual lines, the chart between totals and strategy
        assert figures[0].split()[-2] == "fees" and figures[1].startswith("trades ")
        assert lines[2 + charted].startswith(snapshot.strategy.name)
