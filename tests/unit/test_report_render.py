"""Printing a report: what an operator reads must never be cut. Narrow terminals leave
whole columns out (and say where they are) rather than eliding a price; a report written to
a file or a pipe is printed wide."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from rich.console import Console

from hip3term.replay.render import make_console, print_report
from hip3term.replay.report import HORIZONS_S, FillReport, Report
from hip3term.strategy.metrics import RoundTrip

START_MS = 1_785_000_000_000


def _fill(i: int, side: str, px: str, sz: str) -> FillReport:
    return FillReport(START_MS + i * 61_234, side, Decimal(px), Decimal(sz), Decimal("0.0042"),
                      i, f"0x{i:032x}", True, "entry" if i % 2 else "exit", -0.04,
                      (-3.45, -43.51, -16.62), (-0.51, -39.52, -14.24))


FILLS = tuple(_fill(i, "B" if i % 2 else "A", f"{190 + i / 100:.2f}", f"0.1{i:02d}")
              for i in range(1, 7))
TRIPS = (RoundTrip("xyz:COIN", True, Decimal("0.174"), Decimal("190.89"), Decimal("190.99"),
                   START_MS, START_MS + 2000, Decimal("0.0174"), Decimal("0.0066"), 33.4),
         RoundTrip("xyz:COIN", False, Decimal("0.228"), Decimal("188.96"), Decimal("189.48"),
                   START_MS + 9000, START_MS + 19_000, Decimal("-0.1186"), Decimal("0.008"),
                   28.3))  # fmt: skip
REPORT = Report(meta={"source": "replay", "market": "xyz:COIN"},
                summary={"realized_pnl": "-0.1158", "round_trips": 2, "wins": 1, "losses": 1,
                         "final_equity": -0.1158, "fills": 6, "max_drawdown": 0.1332,
                         "fees": "0.0146", "expected_edge_bps": 30.9,
                         "realized_edge_bps": -12.3, "volume": "190", "fill_rate": 1.0,
                         "orders_sent": 6, "slippage_bps": 0.0, "mean_time_to_flat_s": 6.0,
                         "max_time_to_flat_s": 10.0, "signals": 9, "halts": 0},
                markouts={f"{r}_{h}s": 1.0 for r in ("mid", "oracle") for h in HORIZONS_S},
                fills=FILLS, round_trips=TRIPS,
                pnl_curve=((START_MS, -0.01), (START_MS + 2000, 0.01), (START_MS + 19_000, -0.1)),
                halts=(), worst=FILLS[:2])  # fmt: skip


def _printed(width: int) -> str:
    out = io.StringIO()
    print_report(REPORT, console=Console(file=out, width=width, color_system=None))
    return out.getvalue()


@pytest.mark.parametrize("width", [80, 88, 100, 160])
def test_no_price_size_or_time_is_cut(width: int) -> None:
    text = _printed(width)
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width
    for f in FILLS:
        assert f" {f.px} " in text and f" {f.sz} " in text
    for t in TRIPS:
        assert f" {t.entry_px} " in text and f" {t.exit_px} " in text


def test_narrow_terminals_leave_the_oracle_markouts_out_and_say_where_they_are() -> None:
    narrow, wide = _printed(80), _printed(100)
    assert "o10s" not in narrow and "oracle: in the CSV" in " ".join(narrow.split())
    assert "-39.5" not in narrow and "-43.5" in narrow  # the mid markout stays
    assert "o10s" in wide and "-39.5" in wide


def test_narrow_round_trips_sign_the_size() -> None:
    narrow, wide = _printed(80), _printed(100)
    assert "+0.174" in narrow and "-0.228" in narrow and "size: + long, - short" in narrow
    assert " long " in wide and " short " in wide and "+0.174" not in wide


def test_rounded_to_zero_prints_without_a_sign() -> None:
    assert " -0.0 " not in _printed(100)  # the slippage of -0.04 bps


def test_a_file_or_pipe_gets_a_wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    assert make_console().width == 160  # pytest captures stdout: not a terminal
    assert make_console(72).width == 72
    monkeypatch.setenv("COLUMNS", "90")
    assert make_console().width == 90
