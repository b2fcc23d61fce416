"""Report arithmetic on a tiny hand-made recording: markouts against the mid and the
oracle at 1 s / 10 s / 60 s, slippage, fill rate, edge, round trips, the PnL curve and its
drawdown. Every expected number below was worked out by hand from the frames."""

from __future__ import annotations

import math
from array import array
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hip3term.core.clock import SimClock
from hip3term.recording.format import RecordingHeader
from hip3term.recording.recorder import Recorder
from hip3term.replay.report import (
    MarketSeries,
    SessionRows,
    build_report,
    markout_bps,
    max_drawdown,
    pnl_chart,
    resample,
    save,
    series_from_recording,
)
from hip3term.venue.hyperliquid import wire
from hip3term.venue.hyperliquid.parse import parse_frame

COIN = "xyz:COIN"
START_MS = 1_785_000_000_000
HEADER = RecordingHeader(market=COIN, dex="xyz", venue="sim", ws_url="sim://test",
                         config_hash="test")


def bbo(t_ms: int, bid: str, ask: str) -> bytes:
    return orjson.dumps({"channel": "bbo", "data": {"coin": COIN, "time": t_ms, "bbo": [
        {"px": bid, "sz": "5", "n": 1}, {"px": ask, "sz": "5", "n": 1}]}})


def ctx(oracle: str) -> bytes:
    return orjson.dumps({"channel": "activeAssetCtx", "data": {"coin": COIN, "ctx": {
        "funding": "0.0", "openInterest": "10.0", "prevDayPx": "100.0", "dayNtlVlm": "0.0",
        "premium": "0.0", "oraclePx": oracle, "markPx": oracle, "midPx": None,
        "impactPxs": None, "dayBaseVlm": "0.0"}}})


# (seconds after the start, frame): mids 100 / 101 / 100 / 98 / 97, oracle 100 / 102 / 99
FRAMES = [
    (0.0, bbo(START_MS, "99.9", "100.1")), (0.0, ctx("100.0")),
    (1.0, bbo(START_MS + 1000, "100.9", "101.1")), (5.0, ctx("102.0")),
    (10.0, bbo(START_MS + 10_000, "99.9", "100.1")), (30.0, ctx("99.0")),
    (60.0, bbo(START_MS + 60_000, "97.9", "98.1")), (80.0, bbo(START_MS + 80_000, "96.9", "97.1")),
]


def record(directory: Path, frames: list[tuple[float, bytes]]) -> Path:
    """A recording of `frames`, each received `at_s` seconds after START_MS."""
    with Recorder.open(directory, HEADER, clock=SimClock(START_MS)) as recorder:
        for at_s, raw in frames:
            ns = START_MS * 1_000_000 + round(at_s * 1e9)
            recorder.frame_in(raw, None, None, wall_ns=ns, mono_ns=ns)
        return recorder.path


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    return record(tmp_path, FRAMES)


def fill(t_s: float, side: str, px: str, sz: str, fee: str, tid: int,
         cloid: str | None) -> dict[str, Any]:
    return {"time_ms": START_MS + round(t_s * 1000), "market": COIN, "side": side,
            "price": Decimal(px), "size": Decimal(sz), "fee": Decimal(fee), "tid": tid,
            "oid": tid, "cloid": cloid, "crossed": True}


def order(t_s: float, side: str, px: str, sz: str, cloid: str, tag: str) -> dict[str, Any]:
    return {"time_ms": START_MS + round(t_s * 1000), "market": COIN, "side": side,
            "price": Decimal(px), "size": Decimal(sz), "cloid": cloid, "strategy": "s",
            "reason": tag}


def signal(t_s: float, side: str, px: str, sz: str, edge: str) -> dict[str, Any]:
    return {"time_ms": START_MS + round(t_s * 1000), "decision": "traded", "side": side,
            "price": Decimal(px), "size": Decimal(sz), "expected_edge_bps": Decimal(edge)}


ROWS = SessionRows(
    fills=(fill(0, "B", "100", "2", "0.01", 1, "0xa"), fill(1, "A", "101", "2", "0.01", 2, "0xb"),
           fill(50, "B", "98", "1", "0", 3, None)),
    orders=(order(0, "B", "100.5", "2", "0xa", "entry"), order(1, "A", "100.5", "2", "0xb", "exit"),
            order(20, "B", "90", "1", "0xd", "entry")),
    signals=(signal(0, "B", "100.5", "2", "12"), signal(1, "A", "100.5", "2", "8"),
             {"time_ms": START_MS, "decision": "skipped", "expected_edge_bps": Decimal(50)}),
    risk_events=({"time_ms": START_MS + 40_000, "kind": "latch_tripped",
                  "reason": "operator: test halt"},
                 {"time_ms": START_MS + 40_000, "kind": "ready", "reason": "not a halt"}),
    order_events=tuple({"event": "queued", "cloid": c} for c in ("0xa", "0xb", "0xd")),
)


def test_series_reads_the_last_value_at_or_before_a_time(recording: Path) -> None:
    series = series_from_recording(recording)
    at = START_MS * 1_000_000
    assert series.mid_at(at - 1) is None  # before the first frame
    assert series.mid_at(at) == pytest.approx(100.0)
    assert series.mid_at(at + 999_999_999) == pytest.approx(100.0)
    assert series.mid_at(at + 1_000_000_000) == pytest.approx(101.0)  # changes exactly there
    assert series.touch_at(at, True) == pytest.approx(100.1)
    assert series.touch_at(at, False) == pytest.approx(99.9)
    assert series.oracle_at(at + 4_999_999_999) == pytest.approx(100.0)
    assert series.oracle_at(at + 5_000_000_000) == pytest.approx(102.0)
    assert series.mid_at(at + 80_000_000_000) == pytest.approx(97.0)
    assert series.mid_at(at + 80_000_000_001) is None  # past the end of the recording


@pytest.mark.parametrize(("is_buy", "px", "ref", "expected"), [
    (True, 100.0, 101.0, 100.0), (False, 100.0, 101.0, -100.0), (True, 200.0, 199.0, -50.0),
    (False, 101.0, 100.0, 99.00990099), (True, 100.0, None, None),
])
def test_markout_sign_and_scale(is_buy: bool, px: float, ref: float | None,
                                expected: float | None) -> None:
    assert markout_bps(is_buy, px, ref) == pytest.approx(expected)


def test_fill_markouts_against_mid_and_oracle(recording: Path) -> None:
    report = build_report(ROWS, series_from_recording(recording), market=COIN)
    a, b, c = report.fills
    assert a.mid_markouts == pytest.approx((100.0, 0.0, -200.0))
    assert a.oracle_markouts == pytest.approx((0.0, 200.0, -100.0))
    assert b.mid_markouts == pytest.approx((0.0, 99.00990099, 297.02970297))
    assert b.oracle_markouts == pytest.approx((99.00990099, -99.00990099, 198.01980198))
    assert c.mid_markouts[:2] == pytest.approx((204.08163265, 0.0))
    assert c.mid_markouts[2] is None and c.oracle_markouts[2] is None  # 110 s > 80 s end
    assert report.markouts["mid_1s"] == pytest.approx((100.0 + 0.0 + 204.08163265) / 3)
    assert report.markouts["oracle_60s"] == pytest.approx((-100.0 + 198.01980198) / 2)
    assert [f.tid for f in report.worst] == [1, 3, 2]  # by 10 s mid markout, worst first


def test_summary_edges_slippage_fill_rate_and_round_trips(recording: Path) -> None:
    report = build_report(ROWS, series_from_recording(recording), market=COIN)
    s = report.summary
    (trip,) = report.round_trips
    assert trip.pnl == Decimal("1.98") and trip.expected_edge_bps == 12.0
    assert s["realized_pnl"] == "1.98" and s["round_trips"] == 1 and s["wins"] == 1
    assert s["realized_edge_bps"] == pytest.approx(99.0)  # 1.98 on 200 of entry notional
    assert s["expected_edge_bps"] == pytest.approx(10.0)  # traded signals 12 and 8
    # buy 100 against the ask 100.1, sell 101 against the bid 100.9: both better (-)
    assert report.fills[0].slippage_bps == pytest.approx(-9.99000999)
    assert report.fills[1].slippage_bps == pytest.approx(-9.91080278)
    assert s["slippage_bps"] == pytest.approx((-9.99000999 - 9.91080278) / 2)
    assert report.fills[2].slippage_bps is None and report.fills[2].tag == "external"
    assert (s["orders"], s["orders_sent"], s["orders_filled"]) == (3, 3, 2)
    assert s["fill_rate"] == pytest.approx(2 / 3)
    assert s["mean_time_to_flat_s"] == pytest.approx(1.0)
    assert s["halts"] == 1 and report.halts == ((START_MS + 40_000, "latch_tripped",
                                                 "operator: test halt"),)


def test_pnl_curve_and_drawdown(recording: Path) -> None:
    report = build_report(ROWS, series_from_recording(recording), market=COIN)
    curve = dict(report.pnl_curve)
    assert curve[START_MS] == pytest.approx(-0.01)  # long 2 at 100 paid 0.01, mid 100
    assert curve[START_MS + 1000] == pytest.approx(1.98)  # flat after the round trip
    assert curve[START_MS + 50_000] == pytest.approx(3.98)  # long 1 at 98, mid 100
    assert curve[START_MS + 60_000] == pytest.approx(1.98)  # mid 98
    end_ms, end_equity = report.pnl_curve[-1]
    assert end_ms == START_MS + 80_000 and end_equity == pytest.approx(0.98)  # end, mid 97
    assert report.summary["max_drawdown"] == pytest.approx(3.0)  # 3.98 down to 0.98


def test_the_curve_marks_every_change_of_the_mid_while_positioned(tmp_path: Path) -> None:
    # long 1 at 100 from 0 s to 2 s; the mid dips to 95 for 300 ms in between (a curve
    # sampled once a second after the fill would not see it); flat, nothing is marked
    frames = [(0.0, bbo(START_MS, "99.9", "100.1")), (0.3, bbo(START_MS + 300, "94.9", "95.1")),
              (0.6, bbo(START_MS + 600, "99.9", "100.1")), (3.0, bbo(START_MS, "89.9", "90.1"))]
    rows = SessionRows(fills=(fill(0, "B", "100", "1", "0", 1, None),
                              fill(2, "A", "100", "1", "0", 2, None)))
    report = build_report(rows, series_from_recording(record(tmp_path, frames)),
                          market=COIN)
    times, values = zip(*report.pnl_curve, strict=True)
    assert times == (START_MS, START_MS + 300, START_MS + 600, START_MS + 2000)
    assert values == pytest.approx((0.0, -5.0, 0.0, 0.0))
    assert report.summary["max_drawdown"] == pytest.approx(5.0)


def test_a_fill_is_marked_after_the_frame_of_its_own_millisecond(tmp_path: Path) -> None:
    # the bid jumps to 104.9 half a millisecond into 10.000 s and a sell takes it in that
    # same millisecond: the short is marked at the new mid (105), not at the 100 before
    # the frame (which would show a 4.9 gain that never existed, then a 5.0 drawdown)
    frames = [(0.0, bbo(START_MS, "99.9", "100.1")),
              (10.0005, bbo(START_MS + 10_000, "104.9", "105.1")),
              (11.0, bbo(START_MS + 11_000, "99.9", "100.1"))]  # fmt: skip
    rows = SessionRows(fills=(fill(10, "A", "104.9", "1", "0", 1, None),
                              fill(12, "B", "100.1", "1", "0", 2, None)))
    report = build_report(rows, series_from_recording(record(tmp_path, frames)),
                          market=COIN)
    times, values = zip(*report.pnl_curve, strict=True)
    assert times == (START_MS + 10_000, START_MS + 11_000, START_MS + 12_000)
    assert values == pytest.approx((-0.1, 4.9, 4.8))
    assert report.summary["max_drawdown"] == pytest.approx(0.1)


def test_max_drawdown_from_the_highest_peak() -> None:
    assert max_drawdown([(0, 0.0), (1, 5.0), (2, 2.0), (3, 6.0), (4, 1.0), (5, 4.0)]) == 5.0
    assert max_drawdown([(0, 1.0), (1, 2.0)]) == 0.0
    assert max_drawdown([(0, -3.0)]) == 3.0  # below the starting 0


def test_pnl_chart_rows_in_eighths() -> None:
    assert pnl_chart([0.0, 1.0, 2.0, 3.0], width=4, height=2) == ["  ▃█", "▁▆██"]
    assert pnl_chart([]) == []
    assert len(pnl_chart([float(i) for i in range(1000)], width=50, height=3)[0]) == 50


def test_report_saves_json_and_csv(recording: Path, tmp_path: Path) -> None:
    report = build_report(ROWS, series_from_recording(recording), market=COIN,
                          meta={"source": "test"})
    json_path, csv_path = save(report, tmp_path / "out" / "session.report")
    data = orjson.loads(json_path.read_bytes())
    assert data["summary"]["realized_pnl"] == "1.98" and len(data["fills"]) == 3
    assert data["fills"][0]["markout_mid_1s_bps"] == pytest.approx(100.0)
    lines = csv_path.read_text().splitlines()
    assert len(lines) == 4 and "markout_oracle_60s_bps" in lines[0]


def test_no_market_data_means_no_markouts() -> None:
    report = build_report(ROWS, MarketSeries(), market=COIN)
    assert all(m is None for f in report.fills for m in f.mid_markouts + f.oracle_markouts)
    assert report.summary["realized_pnl"] == "1.98"


# -- the series against the floats converted on every frame ----------------------------

_PRICES = ["100", "100.0", "100.00", "100.1", "100.10000000000000000001", "99.9", None]


def _eager_series(events: list[tuple[int, Any]]) -> tuple[list[Any], ...]:
    # every top and oracle converted to floats, appended when the floats changed
    tops: list[tuple[int, float, float]] = []
    oracles: list[tuple[int, float]] = []
    for t_ns, event in events:
        if isinstance(event, wire.AssetCtx):
            oracle = float(event.oracle_px)
            if not oracles or oracles[-1][1] != oracle:
                oracles.append((t_ns, oracle))
            continue
        bid, ask = (event.bid, event.ask) if isinstance(event, wire.Bbo) else (
            event.best_bid, event.best_ask)
        b = math.nan if bid is None else float(bid.px)
        a = math.nan if ask is None else float(ask.px)
        if tops and _same_float(tops[-1][1], b) and _same_float(tops[-1][2], a):
            continue
        tops.append((t_ns, b, a))
    return tops, oracles


def _same_float(x: float, y: float) -> bool:
    return x == y or (math.isnan(x) and math.isnan(y))


def _series_event(kind: str, bid: str | None, ask: str | None, t_ms: int) -> Any:
    def level(px: str | None) -> dict[str, Any] | None:
        return None if px is None else {"px": px, "sz": "1", "n": 1}

    if kind == "ctx":
        frame = ctx(bid or "100")
    elif kind == "bbo":
        frame = orjson.dumps({"channel": "bbo", "data": {"coin": COIN, "time": t_ms,
                                                         "bbo": [level(bid), level(ask)]}})
    else:
        sides = [[level(bid)] if bid else [], [level(ask)] if ask else []]
        frame = orjson.dumps({"channel": "l2Book", "data": {"coin": COIN, "time": t_ms,
                                                            "levels": sides}})
    event = parse_frame(frame)
    assert not isinstance(event, wire.ParseError), event
    return event


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["bbo", "l2Book", "ctx"]), st.sampled_from(_PRICES),
                          st.sampled_from(_PRICES)), min_size=1, max_size=40))
@example([("bbo", "100.1", "99.9"), ("l2Book", "100.10000000000000000001", "99.9"),
          ("ctx", "100.1", None), ("ctx", "100.10000000000000000001", None),
          ("bbo", None, "100.0"), ("bbo", None, "100")])
def test_series_equals_the_floats_converted_on_every_frame(
        frames: list[tuple[str, str | None, str | None]]) -> None:
    events = [(START_MS * 1_000_000 + i * 1_000, _series_event(kind, bid, ask, START_MS + i))
              for i, (kind, bid, ask) in enumerate(frames)]
    series = MarketSeries()
    for t_ns, event in events:
        series.observe(t_ns, event)
    tops, oracles = _eager_series(events)
    assert list(series.top_ns) == [t for t, _, _ in tops]
    assert all(_same_float(x, b) for x, (_, b, _) in zip(series.bids, tops, strict=True))
    assert all(_same_float(x, a) for x, (_, _, a) in zip(series.asks, tops, strict=True))
    assert list(zip(series.oracle_ns, series.oracles, strict=True)) == oracles
    assert series.start_ns == events[0][0] and series.end_ns == events[-1][0]


class _EagerSeries:
    # MarketSeries as it was before its tops waited in lists (every top converted and
    # appended to the arrays as it came): what the series must read exactly like.
    def __init__(self) -> None:
        self.top_ns, self.bids, self.asks = array("q"), array("d"), array("d")
        self.oracle_ns, self.oracles = array("q"), array("d")
        self.start_ns: int | None = None
        self.end_ns = 0
        self._last_top: tuple[Decimal | None, Decimal | None] | None = None
        self._last_oracle: Decimal | None = None

    def observe(self, t_ns: int, event: Any) -> None:
        if self.start_ns is None:
            self.start_ns = t_ns
        self.end_ns = max(self.end_ns, t_ns)
        if isinstance(event, wire.Bbo):
            self._top(t_ns, event.bid, event.ask)
        elif isinstance(event, wire.L2Book):
            self._top(t_ns, event.bids.best, event.asks.best)
        elif isinstance(event, wire.AssetCtx):
            if event.oracle_px == self._last_oracle and self.oracles:
                return
            self._last_oracle = event.oracle_px
            oracle = float(event.oracle_px)
            if not self.oracles or self.oracles[-1] != oracle:
                self.oracle_ns.append(t_ns)
                self.oracles.append(oracle)

    def _top(self, t_ns: int, bid: Any, ask: Any) -> None:
        bid_px = None if bid is None else bid.px
        ask_px = None if ask is None else ask.px
        last = self._last_top
        if last is not None and last[0] == bid_px and last[1] == ask_px:
            return
        self._last_top = (bid_px, ask_px)
        b = math.nan if bid_px is None else float(bid_px)
        a = math.nan if ask_px is None else float(ask_px)
        if self.bids and _same_float(self.bids[-1], b) and _same_float(self.asks[-1], a):
            return
        self.top_ns.append(t_ns)
        self.bids.append(b)
        self.asks.append(a)

    def reads(self, t_ns: int) -> tuple[Any, ...]:
        # MarketSeries' readers, as they were, over these arrays
        series = MarketSeries()
        series._top_ns, series._bids, series._asks = self.top_ns, self.bids, self.asks
        series._oracle_ns, series._oracles = self.oracle_ns, self.oracles
        series.end_ns = self.end_ns
        return _reads(series, t_ns)


def _reads(series: Any, t_ns: int) -> tuple[Any, ...]:
    return (series.mid_at(t_ns), series.touch_at(t_ns, True), series.touch_at(t_ns, False),
            series.oracle_at(t_ns), series.marks(2.0, -3.0, t_ns - 5_000, t_ns + 9_000))


def _floats_repr(values: Any) -> list[str]:
    return [repr(v) for v in values]  # NaN equal to NaN, -0.0 apart from 0.0


_SIDE_PRICES = ["100", "100.0", "100.1", "100.10000000000000000001", "99.9", "0", "-0", None]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["bbo", "l2Book", "ctx", "trades"]),
                          st.sampled_from(_SIDE_PRICES), st.sampled_from(_SIDE_PRICES),
                          st.booleans()), min_size=1, max_size=60),
       st.sampled_from([1, 2, 3, 4096]))
def test_series_reads_exactly_as_the_eager_series(
        frames: list[tuple[str, str | None, str | None, bool]], chunk: int) -> None:
    # Random tops (equal prices written apart, prices with the same float, empty sides,
    # signed zeros), oracles and trades; reads between frames and at the end, with the
    # lists flushed every few tops or never before a read.
    series, eager = MarketSeries(chunk=chunk), _EagerSeries()
    for i, (kind, bid, ask, read) in enumerate(frames):
        t_ns = START_MS * 1_000_000 + i * 1_000
        if kind == "trades":
            event: Any = wire.Trades(())
        elif kind == "ctx":
            event = _series_event("ctx", (bid or "100").lstrip("-") or "100", None, t_ns)
        else:  # built here: the parser refuses "-0"
            levels = [None if px is None else wire.Level(Decimal(px), Decimal(1), 1)
                      for px in (bid, ask)]
            event = (wire.Bbo(COIN, START_MS + i, levels[0], levels[1]) if kind == "bbo" else
                     wire.L2Book(COIN, START_MS + i, *(wire.Ladder([lv] if lv else [])
                                                       for lv in levels)))
        series.observe(t_ns, event)
        eager.observe(t_ns, event)
        if read:
            for at in (t_ns - 1_500, t_ns, t_ns + 1):
                assert repr(_reads(series, at)) == repr(eager.reads(at))
    assert list(series.top_ns) == list(eager.top_ns)
    assert _floats_repr(series.bids) == _floats_repr(eager.bids)
    assert _floats_repr(series.asks) == _floats_repr(eager.asks)
    assert list(series.oracle_ns) == list(eager.oracle_ns)
    assert _floats_repr(series.oracles) == _floats_repr(eager.oracles)
    assert (series.start_ns, series.end_ns) == (eager.start_ns, eager.end_ns)
    end = START_MS * 1_000_000 + len(frames) * 1_000
    for at in range(START_MS * 1_000_000 - 1_000, end + 1_000, 500):
        assert repr(_reads(series, at)) == repr(eager.reads(at))


def test_resample_gives_a_column_per_time_slice() -> None:
    # ten points in the first second, then one at 9 s: by time, the first second is one
    # column of ten, and the last value holds from 1 s to 9 s
    curve = [(i * 100, float(i)) for i in range(10)] + [(9000, -1.0)]
    assert resample(curve, 10) == [9.0] * 9 + [-1.0]
    assert resample(curve[-3:], 4) == [9.0, 9.0, 9.0, -1.0]  # 800, 900, 9000 ms: by time
    assert resample([(5, 1.0), (5, 2.0), (5, 3.0)], 2) == [1.0, 2.0, 3.0]  # no time span
