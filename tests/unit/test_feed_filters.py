"""Duplicate suppression (FrameFilter) and ack matching, on real exchange frames."""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hip3term.feeds import ack_matches, market_subscriptions
from hip3term.feeds.dedupe import FrameFilter, Verdict
from hip3term.venue.hyperliquid.parse import parse_frame
from hip3term.venue.hyperliquid.wire import (
    Bbo,
    Event,
    L2Book,
    Ladder,
    Level,
    OrderUpdates,
    ParseError,
    SubscriptionAck,
    Trades,
    UserEvent,
    UserFills,
)

FIXTURES = Path(__file__).parent.parent / "fixtures"


def _lines(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (FIXTURES / name).read_text().splitlines()]


WS = _lines("real_ws_frames.jsonl")
ACCOUNT = _lines("real_account_frames.jsonl")


def raw_of(lines: list[dict[str, Any]], number: int) -> bytes:
    """The frame of line `number` (1-based), re-encoded compactly."""
    return orjson.dumps(lines[number - 1]["msg"])


def parsed(raw: bytes) -> Event:
    event = parse_frame(raw)
    assert not isinstance(event, ParseError), event
    return event


AAPL_BOOK = raw_of(WS, 15)  # the full 20x20 xyz:AAPL book
AAPL_BBO = raw_of(WS, 18)
BTC_TRADES = raw_of(WS, 9)
NATGAS_TRADES = raw_of(WS, 24)  # two trades
ORDER_OPEN, ORDER_CANCELED = raw_of(ACCOUNT, 1), raw_of(ACCOUNT, 2)
FILLS_SNAPSHOT = raw_of(ACCOUNT, 11)
USER_FILLS = raw_of(ACCOUNT, 8)


@pytest.mark.parametrize("raw", [AAPL_BOOK, AAPL_BBO, ORDER_OPEN])
def test_identical_consecutive_snapshot_is_a_duplicate(raw: bytes) -> None:
    frames = FrameFilter()
    first = frames.check(parsed(raw), raw)
    assert first.event is not None
    assert first.duplicates == 0
    second = frames.check(parsed(raw), bytes(raw))  # an equal copy, not the same object
    assert second.event is None
    assert second.duplicates == 1


def test_new_connection_delivers_the_resubscribe_snapshot_again() -> None:
    frames = FrameFilter()
    frames.check(parsed(AAPL_BOOK), AAPL_BOOK)
    frames.new_connection()
    assert frames.check(parsed(AAPL_BOOK), AAPL_BOOK).event is not None


def test_book_time_going_backwards_is_delivered_and_flagged() -> None:
    frames = FrameFilter()
    book = parsed(AAPL_BOOK)
    assert isinstance(book, L2Book)
    frames.check(book, AAPL_BOOK)
    older = replace(book, time_ms=book.time_ms - 1)
    verdict = frames.check(older, AAPL_BOOK.replace(b'"time":1778803273189',
                                                    b'"time":1778803273188'))
    assert verdict.event is older
    assert verdict.backwards


def test_order_updates_only_consecutive_copies_are_duplicates() -> None:
    frames = FrameFilter()
    results = [frames.check(parsed(raw), raw).event is not None
               for raw in (ORDER_OPEN, ORDER_CANCELED, ORDER_OPEN)]
    assert results == [True, True, True]
    assert isinstance(parsed(ORDER_OPEN), OrderUpdates)


def test_repeated_trades_are_removed_by_coin_and_tid() -> None:
    frames = FrameFilter()
    trades = parsed(NATGAS_TRADES)
    assert isinstance(trades, Trades)
    assert len(trades.trades) == 2
    assert frames.check(trades, NATGAS_TRADES).event is trades
    again = frames.check(trades, NATGAS_TRADES)
    assert again.event is None
    assert again.duplicates == 2
    # one old and one new trade: only the new one is delivered
    new_trade = replace(trades.trades[0], tid=trades.trades[0].tid + 1)
    mixed = frames.check(Trades((trades.trades[1], new_trade)), b"")
    assert isinstance(mixed.event, Trades)
    assert mixed.event.trades == (new_trade,)
    assert mixed.duplicates == 1


def test_trade_older_than_newest_seen_is_a_gap() -> None:
    frames = FrameFilter()
    trades = parsed(NATGAS_TRADES)
    assert isinstance(trades, Trades)
    frames.check(Trades((trades.trades[1],)), b"")  # the later trade first
    verdict = frames.check(Trades((trades.trades[0],)), b"")
    assert verdict.event is not None
    assert verdict.backwards


def test_repeated_fill_snapshot_is_delivered_empty_but_still_a_snapshot() -> None:
    frames = FrameFilter()
    snapshot = parsed(FILLS_SNAPSHOT)
    assert isinstance(snapshot, UserFills)
    assert snapshot.is_snapshot
    assert snapshot.fills
    assert frames.check(snapshot, FILLS_SNAPSHOT).event is snapshot
    again = frames.check(snapshot, FILLS_SNAPSHOT)
    assert isinstance(again.event, UserFills)
    assert again.event.is_snapshot
    assert again.event.fills == ()
    assert again.duplicates == len(snapshot.fills)


def test_repeated_live_fills_are_not_delivered() -> None:
    frames = FrameFilter()
    snapshot = parsed(FILLS_SNAPSHOT)
    assert isinstance(snapshot, UserFills)
    live = replace(snapshot, is_snapshot=False)
    assert frames.check(live, b"").event is live
    assert frames.check(live, b"").event is None


def test_user_channel_fills_deduplicated_separately() -> None:
    frames = FrameFilter()
    event = parsed(USER_FILLS)
    assert isinstance(event, UserEvent)
    assert event.kind == "fills"
    assert frames.check(event, USER_FILLS).event is event
    assert frames.check(event, USER_FILLS).event is None


def test_asset_contexts_are_never_duplicates() -> None:
    frames = FrameFilter()
    raw = raw_of(WS, 16)
    assert all(frames.check(parsed(raw), raw).event is not None for _ in range(3))


def test_memory_is_bounded() -> None:
    frames = FrameFilter(memory=1)
    trades = parsed(NATGAS_TRADES)
    assert isinstance(trades, Trades)
    frames.check(trades, b"")  # remembers only the second trade
    verdict = frames.check(Trades((trades.trades[0],)), b"")
    assert verdict.event is not None


@pytest.mark.parametrize("raw", [AAPL_BOOK, AAPL_BBO, raw_of(WS, 16), ORDER_OPEN])
def test_a_delivered_verdict_is_an_ordinary_frozen_verdict(raw: bytes) -> None:
    event = parsed(raw)
    verdict = FrameFilter().check(event, raw)
    assert verdict == Verdict(event) and hash(verdict) == hash(Verdict(event))
    assert repr(verdict) == f"Verdict(event={event!r}, duplicates=0, backwards=False)"
    with pytest.raises(FrozenInstanceError):
        verdict.duplicates = 1  # type: ignore[misc]


def _quote(coin: str, time_ms: int) -> Bbo:
    level = Level(Decimal(1), Decimal(2), 3)
    return Bbo(coin, time_ms, level, level)


SNAPSHOTS = st.lists(st.tuples(st.sampled_from(["bbo", "l2Book", "reconnect"]),
                               st.sampled_from("AB"), st.integers(0, 5),
                               st.sampled_from([b"x", b"y", b"z"])),
                     max_size=30)


@settings(max_examples=200, deadline=None)
@given(SNAPSHOTS)
def test_snapshots_follow_the_documented_rules(frames: list[tuple[str, str, int, bytes]]
                                               ) -> None:
    # The rules of feeds.health, per channel and coin: a byte-identical copy of the last
    # frame is a duplicate; an exchange time below the newest seen is delivered, flagged;
    # a new connection forgets the last frames, not the newest times.
    filters = FrameFilter()
    last_raw: dict[tuple[str, str], bytes] = {}
    newest: dict[tuple[str, str], int] = {}
    for channel, coin, time_ms, raw in frames:
        if channel == "reconnect":
            filters.new_connection()
            last_raw.clear()
            continue
        event = (_quote(coin, time_ms) if channel == "bbo"
                 else L2Book(coin, time_ms, Ladder(), Ladder()))
        verdict, key = filters.check(event, raw), (channel, coin)
        if last_raw.get(key) == raw:
            assert verdict == Verdict(None, 1)
            continue
        last_raw[key] = raw
        backwards = key in newest and time_ms < newest[key]
        if not backwards:
            newest[key] = time_ms
        assert verdict == Verdict(event, 0, backwards)


# -- acks ----------------------------------------------------------------------------


def ack(lines: list[dict[str, Any]], number: int) -> SubscriptionAck:
    event = parsed(raw_of(lines, number))
    assert isinstance(event, SubscriptionAck)
    return event


def test_ack_with_fields_added_by_the_server_matches() -> None:
    # real ack: the venue adds aggregateByTime to our {"type","user"}
    echo = ack(ACCOUNT, 12).subscription
    ours = {"type": "userFills", "user": "0x31CA8395CF837DE08B24DA3F660E77761DFB974B"}
    assert ack_matches(ours, echo)
    # and adds nSigFigs / mantissa to an l2Book subscription
    assert ack_matches({"type": "l2Book", "coin": "BTC"}, ack(WS, 1).subscription)


@pytest.mark.parametrize(
    "ours",
    [{"type": "l2Book", "coin": "ETH"}, {"type": "bbo", "coin": "BTC"},
     {"type": "l2Book", "coin": "BTC", "fast": False}],
)
def test_ack_of_another_subscription_does_not_match(ours: dict[str, Any]) -> None:
    assert not ack_matches(ours, ack(WS, 1).subscription)  # l2Book BTC, fast true


def test_ack_with_a_field_dropped_by_the_server_matches() -> None:
    assert ack_matches({"type": "bbo", "coin": "BTC", "extra": 1}, ack(WS, 37).subscription)


def test_market_subscriptions_with_and_without_user() -> None:
    assert [s["type"] for s in market_subscriptions("xyz:COIN")] == [
        "l2Book", "bbo", "trades", "activeAssetCtx"]
    subs = market_subscriptions("xyz:COIN", "0xAbC")
    assert subs[-2:] == [{"type": "orderUpdates", "user": "0xabc"},
                         {"type": "userFills", "user": "0xabc"}]
    assert all(s["coin"] == "xyz:COIN" for s in subs[:4])
