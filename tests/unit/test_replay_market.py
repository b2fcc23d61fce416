from __future__ import annotations

import copy
import json
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hip3term.core.clock import SimClock
from hip3term.errors import ConfigError, RecordingError
from hip3term.venue.sim.ledger import MarketSpec, hip3_fee_rates
from hip3term.venue.sim.market import OraclePush
from hip3term.venue.sim.matching import MatchingEngine
from hip3term.venue.sim.records import Filled, Level, Resting
from hip3term.venue.sim.replay_market import HOUSE_REPLAY, RecordedMarket

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
RECORDING = FIXTURES / "recordings" / "xyz_aapl_frames.jsonl"
D = Decimal
START_MS = 1_785_000_000_000
USER = "0x" + "a1" * 20


def _spec(name: str) -> MarketSpec:
    meta = json.loads((FIXTURES / "info_meta_xyz.json").read_text())
    for index, entry in enumerate(meta["universe"]):
        if entry["name"] == name:
            taker, maker = hip3_fee_rates(D(entry["deployerFeeScale"]), growth_mode=True)
            return MarketSpec(
                110_000 + index, name, entry["szDecimals"], entry["maxLeverage"], taker, maker
            )
    raise AssertionError(name)


AAPL = _spec("xyz:AAPL")
NATGAS = _spec("xyz:NATGAS")
LINES: list[dict[str, Any]] = [json.loads(line) for line in RECORDING.read_text().splitlines()]
T0_NS = LINES[0]["ts_ns"]


def _frame(channel: str, coin: str) -> dict[str, Any]:
    for line in LINES:
        frame = line["frame"]
        frame = json.loads(frame) if isinstance(frame, str) and frame.startswith("{") else frame
        if isinstance(frame, dict) and frame["channel"] == channel:
            data = frame["data"]
            if (data[0] if isinstance(data, list) else data)["coin"] == coin:
                return copy.deepcopy(frame)
    raise AssertionError((channel, coin))


BOOK = _frame("l2Book", "xyz:AAPL")
CTX = _frame("activeAssetCtx", "xyz:AAPL")
TRADES = _frame("trades", "xyz:NATGAS")


def _due_offset_ms(line: dict[str, Any]) -> int:
    return int(line["ts_ns"] - T0_NS) // 1_000_000


def _levels(side: list[dict[str, Any]]) -> list[Level]:
    return [Level(D(lv["px"]), D(lv["sz"]), lv["n"]) for lv in side]


def _setup(
    source: Any, spec: MarketSpec = AAPL, speed: float = 1.0
) -> tuple[MatchingEngine, RecordedMarket]:
    clock = SimClock(START_MS)
    engine = MatchingEngine([spec], clock)
    engine.ledger.open_account(USER, D(100_000))
    return engine, RecordedMarket(engine, spec, source, speed, clock)


def _finished(market: RecordedMarket) -> bool:
    return market.finished


def _write(tmp_path: Path, rows: list[tuple[int, Any] | str]) -> Path:
    """A recording: (ms after T0, frame) pairs, or raw text lines."""
    path = tmp_path / "recording.jsonl"
    lines = [
        row if isinstance(row, str) else json.dumps({"ts_ns": T0_NS + row[0] * 1_000_000,
                                                     "frame": row[1]})
        for row in rows
    ]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


def _with_prices(ctx_frame: dict[str, Any], oracle: str, mark: str) -> dict[str, Any]:
    frame = copy.deepcopy(ctx_frame)
    frame["data"]["ctx"]["oraclePx"] = oracle
    frame["data"]["ctx"]["markPx"] = mark
    return frame


# --- the book -----------------------------------------------------------------------------


def test_recorded_book_appears_in_the_engine_at_its_time() -> None:
    engine, market = _setup(RECORDING)
    book_due = START_MS + next(_due_offset_ms(x) for x in LINES if x["frame"] == BOOK)
    market.step(book_due - 1)
    assert engine.book_levels(AAPL.asset, 20) == ([], [])
    market.step(book_due)
    bids, asks = engine.book_levels(AAPL.asset, 20)
    assert bids == _levels(BOOK["data"]["levels"][0])
    assert asks == _levels(BOOK["data"]["levels"][1])
    assert len(bids) == len(asks) == 20
    assert market.counters["books"] == 1
    assert market.counters["levels_dropped"] == 0


def test_user_ioc_fills_at_the_recorded_prices() -> None:
    engine, market = _setup(RECORDING)
    market.step(START_MS + 5_000)
    asks = _levels(BOOK["data"]["levels"][1])
    size = D(20)
    limit = asks[2].px
    expected: list[tuple[Decimal, Decimal]] = []
    left = size
    for level in asks:
        if left == 0 or level.px > limit:
            break
        take = min(left, level.sz)
        expected.append((level.px, take))
        left -= take
    assert left == 0 and len(expected) == 3  # the order sweeps three recorded levels
    result = engine.place(USER, AAPL.asset, True, limit, size, "Ioc")
    assert isinstance(result.status, Filled)
    assert result.status.total_sz == size
    user_fills = [(f.px, f.sz) for f in result.fills if f.owner == USER]
    assert user_fills == expected
    assert {f.owner for f in result.fills if f.owner != USER} == {HOUSE_REPLAY}


def test_next_snapshot_restores_taken_levels_and_keeps_untouched_orders(tmp_path: Path) -> None:
    path = _write(tmp_path, [(0, BOOK), (1_000, BOOK)])
    engine, market = _setup(path)
    asks = _levels(BOOK["data"]["levels"][1])
    oids_before = {v.limit_px: v.oid for v in engine.open_orders(HOUSE_REPLAY)}
    engine.place(USER, AAPL.asset, True, asks[0].px, asks[0].sz, "Ioc")  # takes the best ask
    assert engine.book_levels(AAPL.asset, 20)[1] == asks[1:]
    market.step(START_MS + 1_000)
    assert engine.book_levels(AAPL.asset, 20)[1] == asks
    oids_after = {v.limit_px: v.oid for v in engine.open_orders(HOUSE_REPLAY)}
    assert oids_after[asks[0].px] != oids_before[asks[0].px]  # re-placed
    assert oids_after[asks[-1].px] == oids_before[asks[-1].px]  # kept its queue place
    assert market.counters["books"] == 2


def test_recorded_level_crossing_a_user_order_trades_with_it(tmp_path: Path) -> None:
    moved = copy.deepcopy(BOOK)
    bids, asks = moved["data"]["levels"]
    moved["data"]["levels"] = [bids[1:], [{"px": "297.78", "sz": "3.0", "n": 1}, *asks]]
    path = _write(tmp_path, [(0, BOOK), (1_000, moved)])
    engine, market = _setup(path)
    rest = engine.place(USER, AAPL.asset, True, D("297.8"), D("1.5"), "Gtc")
    assert isinstance(rest.status, Resting)
    result = market.step(START_MS + 1_000)
    assert [(f.px, f.sz, f.owner) for f in result.fills] == [(D("297.8"), D("1.5"), USER)]
    assert [e.status for e in result.events] == ["filled"]
    assert [(t.px, t.sz) for t in result.trades] == [(D("297.8"), D("1.5"))]
    # the rest of the recorded level rests as recorded
    assert engine.book_levels(AAPL.asset, 1)[1] == [Level(D("297.78"), D("1.5"), 1)]


def test_level_below_the_minimum_order_value_is_dropped_and_counted(tmp_path: Path) -> None:
    small = copy.deepcopy(BOOK)
    small["data"]["levels"][0][-1]["sz"] = "0.001"  # $0.30, under the $10 minimum
    engine, market = _setup(_write(tmp_path, [(0, small)]))
    bids = _levels(small["data"]["levels"][0])
    assert engine.book_levels(AAPL.asset, 20)[0] == bids[:-1]
    assert market.counters["levels_dropped"] == 1


# --- oracle, mark and context ---------------------------------------------------------------


def test_oracle_and_mark_follow_the_ctx_frames(tmp_path: Path) -> None:
    second = _with_prices(CTX, "313.4", "313.38")
    _, market = _setup(_write(tmp_path, [(0, CTX), (3_000, second)]))
    ctx = CTX["data"]["ctx"]
    assert (market.oracle_px, market.mark_px) == (D(ctx["oraclePx"]), D(ctx["markPx"]))
    assert market.asset_ctx() == ctx
    # what was due at the start (construction) is reported by the first step
    first = OraclePush(START_MS, D(ctx["oraclePx"]), D(ctx["markPx"]))
    assert market.step(START_MS + 2_999).oracle_pushes == (first,)
    assert market.step(START_MS + 2_999).oracle_pushes == ()
    result = market.step(START_MS + 3_000)
    assert result.oracle_pushes == (OraclePush(START_MS + 3_000, D("313.4"), D("313.38")),)
    assert (market.oracle_px, market.mark_px) == (D("313.4"), D("313.38"))
    assert market.asset_ctx() == second["data"]["ctx"]
    assert market.counters["ctxs"] == 2


def test_before_any_ctx_the_prices_fall_back_to_the_book_mid(tmp_path: Path) -> None:
    _, market = _setup(_write(tmp_path, [(0, BOOK), (1_000, CTX)]))
    best_bid, best_ask = (
        D(BOOK["data"]["levels"][0][0]["px"]),
        D(BOOK["data"]["levels"][1][0]["px"]),
    )
    assert market.mark_px == market.oracle_px == (best_bid + best_ask) / 2
    assert market.asset_ctx()["markPx"] == str((best_bid + best_ask) / 2)
    market.step(START_MS + 1_000)
    assert market.mark_px == D(CTX["data"]["ctx"]["markPx"])


# --- time ---------------------------------------------------------------------------------


@pytest.mark.parametrize("speed", [1, 10, 0.5, 2.5, 3])
def test_speed_compresses_recorded_time(tmp_path: Path, speed: float) -> None:
    offsets = [0, 1_000, 2_500, 7_001]
    rows: list[tuple[int, Any] | str] = [
        (ms, _with_prices(CTX, f"31{i}", f"31{i}")) for i, ms in enumerate(offsets)
    ]
    _, market = _setup(_write(tmp_path, rows), speed=speed)
    expected = [START_MS + math.floor(ms / speed) for ms in offsets]
    times = [push.time for push in market.step(START_MS).oracle_pushes]
    assert times == expected[:1]
    for due in expected[1:]:
        assert market.step(due - 1).oracle_pushes == ()
        times.extend(push.time for push in market.step(due).oracle_pushes)
    assert times == expected
    assert _finished(market)


def test_the_fixture_ends_cleanly_and_stepping_on_is_harmless() -> None:
    engine, market = _setup(RECORDING)
    assert not _finished(market)
    end = START_MS + _due_offset_ms(LINES[-1])
    market.step(end - 1)
    assert not _finished(market)
    market.step(end)
    assert _finished(market)
    later = market.step(end + 60_000)
    assert (later.trades, later.fills, later.oracle_pushes) == ((), (), ())
    assert engine.book_levels(AAPL.asset, 20)[0] == _levels(BOOK["data"]["levels"][0])
    assert market.counters["frames"] == len(LINES)
    assert market.counters["malformed"] == 0
    assert market.counters["skipped"] == 4  # greeting, NATGAS ctx and trades, pong


def test_step_backwards_is_refused() -> None:
    _, market = _setup(RECORDING)
    market.step(START_MS + 10)
    with pytest.raises(ValueError, match="before the previous step"):
        market.step(START_MS + 9)


# --- trades ------------------------------------------------------------------------------


def test_recorded_trades_are_surfaced_and_not_matched() -> None:
    engine, market = _setup(RECORDING, spec=NATGAS)
    line = next(x for x in LINES if x["frame"] == TRADES)
    result = market.step(START_MS + _due_offset_ms(line))
    wires = [trade.wire() for trade in result.trades]
    expected = copy.deepcopy(TRADES["data"])
    for trade in expected:
        trade["time"] = START_MS + _due_offset_ms(line)
    assert wires == expected
    assert market.counters["trades"] == 2
    assert engine.trade_totals(NATGAS.asset) == (None, D(0), D(0))
    assert engine.book_levels(NATGAS.asset, 20) == ([], [])
    # the NATGAS ctx, stored as raw JSON text in the recording, was applied too
    assert market.mark_px == D(_frame("activeAssetCtx", "xyz:NATGAS")["data"]["ctx"]["markPx"])


def test_other_coins_trades_are_skipped() -> None:
    _, market = _setup(RECORDING)
    result = market.step(START_MS + 60_000)
    assert result.trades == ()
    assert market.counters["trades"] == 0


# --- bad input ----------------------------------------------------------------------------


def test_malformed_lines_and_frames_are_counted_and_skipped(tmp_path: Path) -> None:
    bad_px = copy.deepcopy(BOOK)
    bad_px["data"]["levels"][0][0]["px"] = "abc"
    crossed = copy.deepcopy(BOOK)
    crossed["data"]["levels"][0][0]["px"] = "298.5"
    no_ctx = copy.deepcopy(CTX)
    del no_ctx["data"]["ctx"]
    bad_trade = copy.deepcopy(TRADES)
    bad_trade["data"][0]["side"] = "X"
    rows: list[tuple[int, Any] | str] = [
        (0, CTX),
        "not json at all",
        '{"ts_ns": "1", "frame": {}}',
        '{"frame": {"channel": "pong"}}',
        "[1, 2]",
        "",
        (100, bad_px),
        (200, crossed),
        (300, no_ctx),
        (400, BOOK),
        '{"ts_ns": 1778803272500000000, "frame": {"chan',
    ]
    engine, market = _setup(_write(tmp_path, rows))
    market.step(START_MS + 1_000)
    assert market.counters["malformed"] == 8
    assert _finished(market)
    assert engine.book_levels(AAPL.asset, 20)[0] == _levels(BOOK["data"]["levels"][0])
    assert market.counters["books"] == 1
    _, nat_market = _setup(_write(tmp_path, [(0, bad_trade)]), spec=NATGAS)
    assert nat_market.step(START_MS).trades == ()
    assert nat_market.counters["malformed"] == 1


def test_out_of_order_frames_are_applied_after_their_predecessor(tmp_path: Path) -> None:
    rows: list[tuple[int, Any] | str] = [
        (0, CTX),
        (2_000, _with_prices(CTX, "320", "320")),
        (1_000, _with_prices(CTX, "321", "321")),
    ]
    _, market = _setup(_write(tmp_path, rows))
    pushes = market.step(START_MS + 2_000).oracle_pushes
    assert [(p.time, p.oracle_px) for p in pushes] == [
        (START_MS, D(CTX["data"]["ctx"]["oraclePx"])),
        (START_MS + 2_000, D("320")),
        (START_MS + 2_000, D("321")),
    ]
    assert market.counters["out_of_order"] == 1


def test_frames_can_come_from_an_iterable_of_pairs() -> None:
    pairs = [
        (line["ts_ns"], json.dumps(line["frame"]).encode())
        if isinstance(line["frame"], dict)
        else (line["ts_ns"], line["frame"])
        for line in LINES
    ]
    engine, market = _setup(iter([*pairs, ("bad", b"{}")]))
    market.step(START_MS + 60_000)
    assert engine.book_levels(AAPL.asset, 20)[1] == _levels(BOOK["data"]["levels"][1])
    assert market.counters["malformed"] == 1
    assert _finished(market)


def test_missing_file_and_h3rec_are_recording_errors(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="does not exist"):
        _setup(tmp_path / "nope.jsonl")
    h3rec = tmp_path / "session.h3rec"
    h3rec.write_bytes(b"\x89H3R\r\n\x1a\n" + bytes(20))
    with pytest.raises(RecordingError, match="h3rec"):
        _setup(h3rec)


@pytest.mark.parametrize("speed", [0, -1.0, math.inf, math.nan])
def test_bad_speed_is_a_config_error(speed: float) -> None:
    with pytest.raises(ConfigError, match="speed"):
        _setup(RECORDING, speed=speed)


def test_close_stops_reading() -> None:
    engine, market = _setup(RECORDING)
    market.close()
    assert _finished(market)
    market.step(START_MS + 60_000)
    assert engine.book_levels(AAPL.asset, 20) == ([], [])
