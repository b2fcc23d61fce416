from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hip3term.core.clock import SimClock
from hip3term.venue.sim.ledger import Ledger, MarketSpec, hip3_fee_rates
from hip3term.venue.sim.matching import MatchingEngine
from hip3term.venue.sim.records import isolated_position_wire, margin_summary_wire

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
D = Decimal
COIN = MarketSpec(110007, "xyz:COIN", 3, 10)
ALICE = "0x" + "a1" * 20
BOB = "0x" + "b2" * 20


def real_frame(note_part: str) -> Any:
    with (FIXTURES / "real_account_frames.jsonl").open() as handle:
        frames = [json.loads(line) for line in handle]
    return next(f["msg"] for f in frames if note_part in f["note"])


def shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return None


# --- fees ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scale", "growth", "multiple"),
    [  # PROTOCOL.md 3.5, the exchange's worked table: total fee as a multiple of the base
        ("0", False, "1"),
        ("0.5", False, "1.5"),
        ("1", False, "2"),
        ("3", False, "6"),
        ("0", True, "0.1"),
        ("0.5", True, "0.15"),
        ("1", True, "0.2"),
        ("3.01", True, "0.602"),
        ("9.99", True, "1.998"),
    ],
)
def test_hip3_fee_scale_matches_the_official_table(scale: str, growth: bool, multiple: str) -> None:
    taker, maker = hip3_fee_rates(D(scale), growth_mode=growth)
    assert taker == D("0.00045") * D(multiple)
    assert maker == D("0.00015") * D(multiple)


def test_hip3_fee_scale_leaves_a_maker_rebate_alone() -> None:
    taker, maker = hip3_fee_rates(D(3), growth_mode=False, base_maker=D("-0.00002"))
    assert (taker, maker) == (D("0.00270"), D("-0.00002"))


def test_market_spec_dex() -> None:
    assert COIN.dex == "xyz"
    assert MarketSpec(0, "BTC", 5, 40).dex == ""


# --- clearinghouseState figures: the real isolated xyz:NVDA short --------------------------------


def test_isolated_position_figures_match_the_real_nvda_response() -> None:
    real = real_frame("isolated xyz:NVDA short")
    real_position = real["assetPositions"][0]
    # Inputs recovered from the real response: mark = positionValue / 56 = 216.08;
    # entry = mark + unrealizedPnl / 56; margin = marginUsed - unrealizedPnl.
    mark = D("12100.48") / 56
    entry = mark + D("54.765972") / 56
    margin = D("6385.392074") - D("54.765972")
    funding = (D("-469.942577"), D("-310.436405"), D("-27.857483"))
    wire, value, raw, used = isolated_position_wire(
        "xyz:NVDA", D(-56), entry, margin, 2, 20, mark, funding
    )
    expected = json.loads(json.dumps(real_position))
    expected["position"]["szi"] = "-56"  # the exchange writes "-56.0"; to_wire drops ".0"
    assert wire == expected  # liquidationPx, returnOnEquity, rawUsd, entryPx and the rest
    summary = margin_summary_wire(D("17832.00223") + used, value, D("17832.00223") + raw, used)
    assert summary == real["marginSummary"]


def test_clearinghouse_state_shape_matches_the_real_responses(clock: SimClock) -> None:
    engine = MatchingEngine([COIN], clock)
    engine.ledger.open_account(ALICE, D(1000))
    engine.ledger.open_account(BOB, D(1000))
    flat = engine.clearinghouse_state(ALICE, "xyz", {})
    assert shape(flat) == shape(real_frame("clearinghouseState, flat account"))
    engine.place(BOB, COIN.asset, True, D(190), D(1))
    engine.place(ALICE, COIN.asset, False, D(190), D(1), "Ioc")
    state = engine.clearinghouse_state(ALICE, "xyz", {COIN.asset: D(191)})
    assert shape(state) == shape(real_frame("isolated xyz:NVDA short"))
    position = state["assetPositions"][0]["position"]
    assert (position["szi"], position["entryPx"], position["unrealizedPnl"]) == ("-1", "190", "-1")
    assert position["leverage"] == {"type": "isolated", "value": 10, "rawUsd": "209"}
    assert engine.clearinghouse_state(ALICE, "", {})["assetPositions"] == []  # other dex


@pytest.fixture
def clock() -> SimClock:
    return SimClock(1_785_923_125_277)


# --- funding, leverage, margin ------------------------------------------------------------


def _long_alice_short_bob(ledger: Ledger) -> None:
    ledger.open_account(ALICE, D(1000))
    ledger.open_account(BOB, D(1000))
    ledger.apply_fill(ALICE, COIN, True, D(190), D(2), D(0))
    ledger.apply_fill(BOB, COIN, False, D(190), D(2), D(0))


def test_funding_moves_money_from_longs_to_shorts() -> None:
    ledger = Ledger()
    _long_alice_short_bob(ledger)
    payments = ledger.apply_funding(COIN, D("0.0001"), D(191), 5)
    # 2 * 191 * 0.0001 = 0.0382
    assert [(p.owner, p.usdc, p.szi) for p in payments] == [
        (ALICE.lower(), D("-0.0382"), D(2)), (BOB.lower(), D("0.0382"), D(-2))
    ]  # fmt: skip
    assert ledger.position(ALICE, COIN).margin == D(38) - D("0.0382")
    assert ledger.position(BOB, COIN).cum_funding_all_time == D("-0.0382")
    assert payments[0].wire() == {
        "time": 5, "coin": "xyz:COIN", "usdc": "-0.0382", "szi": "2", "fundingRate": "0.0001"
    }  # fmt: skip


def test_leverage_change_moves_isolated_margin() -> None:
    ledger = Ledger()
    _long_alice_short_bob(ledger)  # margin 380 / 10 = 38
    assert ledger.set_leverage(ALICE, COIN, 2) is None  # needs 190: 152 more
    assert ledger.position(ALICE, COIN).margin == D(190)
    assert ledger.balance(ALICE) == D(1000) - D(190)
    assert ledger.leverage(ALICE, COIN) == 2
    assert ledger.set_leverage(ALICE, COIN, 10) is None  # back to 38: 152 returns
    assert ledger.balance(ALICE) == D(1000) - D(38)


def test_leverage_change_refused_when_the_balance_cannot_fund_it() -> None:
    ledger = Ledger()
    ledger.open_account(ALICE, D(50))
    ledger.apply_fill(ALICE, COIN, True, D(190), D(2), D(0))  # 38 into margin, 12 left
    assert ledger.set_leverage(ALICE, COIN, 5) is not None  # needs 76: 38 more
    assert ledger.leverage(ALICE, COIN) == 10


def test_engine_update_leverage_checks_range_and_cross(clock: SimClock) -> None:
    engine = MatchingEngine([COIN], clock)
    assert engine.update_leverage(ALICE, COIN.asset, 11) is not None
    assert engine.update_leverage(ALICE, COIN.asset, 0) is not None
    assert engine.update_leverage(ALICE, COIN.asset, 3, is_cross=True) is not None
    assert engine.update_leverage(ALICE, COIN.asset, 3) is None
    assert engine.position(ALICE, COIN.asset).leverage == 3


def test_add_and_remove_isolated_margin() -> None:
    ledger = Ledger()
    _long_alice_short_bob(ledger)
    assert ledger.add_margin(ALICE, COIN, D(10)) is None
    assert ledger.position(ALICE, COIN).margin == D(48)
    assert ledger.add_margin(ALICE, COIN, D(-10)) is None
    assert ledger.add_margin(ALICE, COIN, D(-1)) is not None  # below 380 / 10
    assert ledger.add_margin("0x" + "00" * 20, COIN, D(1)) is not None  # no position


@pytest.mark.parametrize(
    ("is_buy", "sz", "margin"),
    [(False, "1", "0"), (False, "2", "0"), (False, "3", "19"), (True, "1", "19")],
)
def test_margin_for_order_counts_only_the_increasing_part(
    is_buy: bool, sz: str, margin: str
) -> None:
    ledger = Ledger()
    _long_alice_short_bob(ledger)  # alice long 2
    assert ledger.margin_for_order(ALICE, COIN, is_buy, D(190), D(sz)) == D(margin)
