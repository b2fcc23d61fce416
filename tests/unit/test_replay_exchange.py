"""The replay exchange's recorded book, kept lazily, against the book built from scratch.

`RecordedBookExchange` converts an l2Book's ladders once and lays each bbo over them; the
sides it serves must be the module docstring's definition (the last l2Book, its top
replaced by a newer bbo: the bbo's level first, then the book's levels strictly behind
it) after any sequence of books and quotes. The per-update check of resting orders reads
the engine's open orders without snapshots; it must see the same orders.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from hip3term.replay.clock import VirtualClock
from hip3term.replay.exchange import HOUSE, RecordedBookExchange
from hip3term.venue.hyperliquid import wire
from hip3term.venue.hyperliquid.parse import parse_frame

COIN = "xyz:COIN"
START_MS = 1_785_000_000_000
ACCOUNT = "0x" + "a1" * 20

_Side = list[tuple[Decimal, Decimal]]


def _event(channel: str, data: Any) -> wire.Event:
    event = parse_frame(orjson.dumps({"channel": channel, "data": data}))
    assert not isinstance(event, wire.ParseError), event
    return event


def _level(px: str, sz: str) -> dict[str, Any]:
    return {"px": px, "sz": sz, "n": 1}


def _exchange() -> RecordedBookExchange:
    return RecordedBookExchange(COIN, clock=VirtualClock(START_MS * 1_000_000),
                                account=ACCOUNT, funding=Decimal(10_000))


def _eager_side(book: wire.L2Book | None, bbo: wire.Bbo | None, is_bid: bool) -> _Side:
    # the definition, computed from the frames each time
    ladder = [] if book is None else list(book.bids if is_bid else book.asks)
    if bbo is None:
        return [(level.px, level.sz) for level in ladder]
    top = bbo.bid if is_bid else bbo.ask
    if top is None:
        return []
    behind = [(level.px, level.sz) for level in ladder
              if (level.px < top.px if is_bid else level.px > top.px)]
    return [(top.px, top.sz), *behind]


_bid_ticks = st.lists(st.integers(9_900, 9_999), min_size=0, max_size=6, unique=True)
_ask_ticks = st.lists(st.integers(10_001, 10_100), min_size=0, max_size=6, unique=True)
_size = st.sampled_from(["1", "0.5", "12", "0.001"])
_frame = st.one_of(
    st.tuples(st.just("l2Book"), _bid_ticks, _ask_ticks, _size),
    st.tuples(st.just("bbo"), st.lists(st.integers(9_950, 10_050), min_size=2, max_size=2),
              st.sampled_from(["both", "no bid", "no ask"]), _size),
)


def _px(ticks: int) -> str:
    return str(Decimal(ticks) / 100)


def _market(frame: tuple[Any, ...], time_ms: int) -> wire.Event:
    if frame[0] == "l2Book":
        _, bids, asks, sz = frame
        levels = [[_level(_px(t), sz) for t in sorted(bids, reverse=True)],
                  [_level(_px(t), sz) for t in sorted(asks)]]
        return _event("l2Book", {"coin": COIN, "time": time_ms, "levels": levels})
    _, (low, high), shown, sz = frame
    bid, ask = _level(_px(min(low, high)), sz), _level(_px(max(low, high) + 1), sz)
    top = [None if shown == "no bid" else bid, None if shown == "no ask" else ask]
    return _event("bbo", {"coin": COIN, "time": time_ms, "bbo": top})


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_frame, st.booleans()), min_size=1, max_size=30))
def test_recorded_sides_equal_the_book_built_from_scratch(
        frames: list[tuple[tuple[Any, ...], bool]]) -> None:
    exchange = _exchange()
    book: wire.L2Book | None = None
    bbo: wire.Bbo | None = None
    for i, (frame, read_before) in enumerate(frames):
        if read_before:  # reads between updates fill the caches with the old book
            exchange.side(True)
            exchange.side(False)
        event = _market(frame, START_MS + i)
        exchange.on_market(event)
        if isinstance(event, wire.L2Book):
            book, bbo = event, None
        else:
            assert isinstance(event, wire.Bbo)
            bbo = event
        for is_bid in (True, False):
            assert exchange.side(is_bid) == _eager_side(book, bbo, is_bid)
            for px, sz in _eager_side(book, bbo, is_bid):
                assert exchange.size_at(is_bid, px) == sz


def test_open_limits_are_the_open_orders_without_snapshots() -> None:
    exchange = _exchange()
    engine, asset = exchange.engine, exchange.spec.asset
    engine.place(ACCOUNT, asset, True, Decimal("99.5"), Decimal("1"), "Gtc")
    engine.place(ACCOUNT, asset, False, Decimal("100.5"), Decimal("2"), "Gtc")
    engine.place(HOUSE, asset, True, Decimal("99.4"), Decimal("3"), "Gtc")
    engine.place(ACCOUNT, asset, True, Decimal("99.6"), Decimal("1"), "Gtc")
    engine.place(HOUSE, asset, False, Decimal("99.6"), Decimal("0.5"), "Ioc")  # a part fill
    for owner in (ACCOUNT, ACCOUNT.upper().replace("0X", "0x"), HOUSE):
        views = engine.open_orders(owner)
        assert engine.open_limits(owner) == [(o.oid, o.is_buy, o.limit_px) for o in views]
    assert len(engine.open_limits(ACCOUNT)) == 3
