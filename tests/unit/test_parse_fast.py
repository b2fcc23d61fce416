"""The parser's fast paths decide exactly as its exact readers, on random frames.

`parse_frame` reads the usual market frames by fast paths: a book frame in the compact
form is matched whole on its text, not decoded, and its ladders keep their sides' text
(`wire.Ladder.from_json`); a book frame ending with the very levels of the last one needs
only its head read; the usual bbo and activeAssetCtx frames are read from their text too.
A fast path may only refuse a frame to the exact readers, never decide otherwise.
Each test here draws frames, valid and broken (values of another type, numbers the
exchange never sends, missing or extra keys, keys reordered, other spacing, bytes or
text), and compares `parse_frame` with the same parser reduced to its exact readers: the
same event with the same wire strings, or the same `ParseError`.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import itertools
import json
import pickle
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hip3term.venue.hyperliquid import compact, parse, wire
from hip3term.venue.hyperliquid.parse import parse_frame

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MANY = settings(max_examples=250, deadline=None)  # no deadline: never depend on timing


def _exact(raw: bytes | str) -> object:
    # The parser without its fast paths (its own entry point: the compiled parser calls
    # the fast paths directly, so patching their names would not remove them)
    return parse.parse_exact(raw)


def _same_as_exact(raw: bytes | str) -> object:
    fast, exact = parse_frame(raw), _exact(raw)
    assert fast == exact
    # repr shows the wire strings: Decimal('1.0') == Decimal('1') but is not the same text
    assert repr(fast) == repr(exact)
    if isinstance(fast, wire.L2Book) and isinstance(exact, wire.L2Book):
        # each ladder's best level, built with it, is the first its levels give when
        # iterated (built in another pass, from the other reading of the frame)
        for one, other in ((fast, exact), (exact, fast)):
            for side, twin in ((one.bids, other.bids), (one.asks, other.asks)):
                assert repr(side.best) == repr(next(iter(twin), None))
    return fast


# -- frames ----------------------------------------------------------------------------

DIGITS = st.text("0123456789", min_size=1, max_size=7)
DECIMAL = st.builds(lambda whole, part: whole if part is None else f"{whole}.{part}",
                    DIGITS, st.none() | DIGITS)
SIGNED = st.builds(lambda sign, number: sign + number, st.sampled_from(["", "-"]), DECIMAL)
COUNT = st.integers(0, 10**6) | st.integers(10**17, 2**64 - 1)
COIN = st.sampled_from(["xyz:COIN", "BTC", "kPEPE", "xyz:SP500"]) | st.text(max_size=6)


def _level() -> st.SearchStrategy[dict[str, Any]]:
    # px, sz, n in the exchange's order (a dict keeps the order it was built in)
    return st.builds(lambda px, sz, n: {"px": px, "sz": sz, "n": n}, DECIMAL, DECIMAL, COUNT)


BOOK = st.builds(lambda coin, time, bids, asks: {
    "channel": "l2Book", "data": {"coin": coin, "time": time, "levels": [bids, asks]}},
    COIN, COUNT, st.lists(_level(), max_size=6), st.lists(_level(), max_size=6))
BBO = st.builds(lambda coin, time, bid, ask: {
    "channel": "bbo", "data": {"coin": coin, "time": time, "bbo": [bid, ask]}},
    COIN, COUNT, _level() | st.none(), _level() | st.none())
CTX_FIELDS = {"funding": SIGNED, "openInterest": DECIMAL, "prevDayPx": DECIMAL,
              "dayNtlVlm": DECIMAL, "premium": SIGNED, "oraclePx": DECIMAL, "markPx": DECIMAL,
              "midPx": DECIMAL, "impactPxs": st.lists(DECIMAL, min_size=2, max_size=2),
              "dayBaseVlm": DECIMAL}
CTX = st.builds(lambda coin, values: {"channel": "activeAssetCtx", "data": {
    "coin": coin, "ctx": dict(zip(CTX_FIELDS, values, strict=True))}},  # the exchange's order
    COIN, st.tuples(*CTX_FIELDS.values()))
FRAMES = {"l2Book": BOOK, "bbo": BBO, "activeAssetCtx": CTX}

# What a broken frame may hold instead: numbers the exchange never sends, other types,
# integers past what orjson keeps as int (it makes them floats), bools for integers.
ODD_TEXT = st.sampled_from(["", ".5", "5.", "1.2.3", "-1", "+1", "1e5", " 1", "1 ", "1,5",
                            "1_0", "NaN", "inf", "\u0661", "0x1", "-0", "--1", "1.", "-"])
ODD = (ODD_TEXT | SIGNED | DECIMAL | st.text(max_size=4) | st.none() | st.booleans()
       | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
       | st.lists(DECIMAL, max_size=3) | st.dictionaries(st.text(max_size=3), DECIMAL,
                                                        max_size=2))

Path_ = tuple[str | int, ...]


def _paths(value: Any, prefix: Path_ = ()) -> list[Path_]:
    items = (value.items() if isinstance(value, dict)
             else enumerate(value) if isinstance(value, list) else ())
    out: list[Path_] = []
    for key, child in items:
        out.append((*prefix, key))
        out.extend(_paths(child, (*prefix, key)))
    return out


def _at(frame: dict[str, Any], path: Path_) -> Any:
    # The object holding the value at `path`.
    parent: Any = frame
    for key in path[:-1]:
        parent = parent[key]
    return parent


def _mutate(data: st.DataObject, frame: dict[str, Any]) -> None:
    paths = _paths(frame)
    if not paths:  # every key dropped already
        return
    path = data.draw(st.sampled_from(paths))
    parent = _at(frame, path)
    action = data.draw(st.sampled_from(["replace", "drop", "extra", "reorder"]))
    if action == "replace":
        parent[path[-1]] = data.draw(ODD)
    elif action == "drop" and isinstance(parent, dict):
        del parent[path[-1]]
    elif action == "extra" and isinstance(parent, dict):
        parent[data.draw(st.sampled_from(["px", "sz", "n", "x", "time", "coin"]))] = (
            data.draw(ODD))
    elif isinstance(parent, dict):  # the same keys in another order
        items = list(parent.items())
        parent.clear()
        parent.update(data.draw(st.permutations(items)))


def _text(data: st.DataObject, frame: dict[str, Any]) -> bytes | str:
    compact = data.draw(st.booleans())
    text = json.dumps(frame, ensure_ascii=data.draw(st.booleans()),
                      separators=(",", ":") if compact else None)
    return text if data.draw(st.booleans()) else text.encode()


def _draw_frame(data: st.DataObject, channel: str, max_faults: int) -> bytes | str:
    frame = data.draw(FRAMES[channel])
    for _ in range(data.draw(st.integers(0, max_faults))):
        _mutate(data, frame)
    return _text(data, frame)


def _real_frames(channel: str) -> list[dict[str, Any]]:
    lines = (FIXTURES / "real_ws_frames.jsonl").read_bytes().splitlines()
    msgs = [orjson.loads(line)["msg"] for line in lines if line.strip()]
    return [m for m in msgs if isinstance(m, dict) and m.get("channel") == channel]


# -- the whole parser, fast paths against the exact readers -----------------------------


@MANY
@given(st.data(), st.sampled_from(sorted(FRAMES)))
def test_well_formed_frames_read_alike(data: st.DataObject, channel: str) -> None:
    result = _same_as_exact(_draw_frame(data, channel, max_faults=0))
    assert isinstance(result, wire.L2Book | wire.Bbo | wire.AssetCtx), result


@MANY
@given(st.data(), st.sampled_from(sorted(FRAMES)))
def test_broken_frames_fail_or_read_alike(data: st.DataObject, channel: str) -> None:
    _same_as_exact(_draw_frame(data, channel, max_faults=3))


@MANY
@given(st.data(), st.sampled_from(sorted(FRAMES)))
def test_frames_with_text_edits_fail_or_read_alike(data: st.DataObject, channel: str) -> None:
    raw = orjson.dumps(data.draw(FRAMES[channel]))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(raw)))
        cut = data.draw(st.integers(0, 2))
        new = data.draw(st.sampled_from([b"", b" ", b".", b",", b"-", b"0", b"9", b"e",
                                         b'"', b"\\", b"}", b"]", b"[{", b"1.5"]))
        raw = raw[:at] + new + raw[at + cut:]
    _same_as_exact(raw)


# Values next to the edges of what the fast paths accept.
TRICKY_VALUES: list[Any] = ["-1", "-0.5", "1e5", "", ".5", "5.", "1.2.3", "+1", " 1", "1,5",
                            "7", "0.25", True, False, -1, 0, 1.5, 1e300, None, [], {},
                            2**64 - 1, 2**64, 10**18 - 1, 10**18, 10**19, 10**20]
TRICKY = st.sampled_from(TRICKY_VALUES)
NUMBER_KEYS = {"px", "sz", "n", "time", *CTX_FIELDS}


def _number_paths(frame: dict[str, Any]) -> list[Path_]:
    return [p for p in _paths(frame) if p[-1] in NUMBER_KEYS or "impactPxs" in p[:-1]]


@MANY
@given(st.data(), st.sampled_from(sorted(FRAMES)))
def test_one_odd_number_in_a_compact_frame_fails_or_reads_alike(data: st.DataObject,
                                                                 channel: str) -> None:
    frame = data.draw(FRAMES[channel])
    path = data.draw(st.sampled_from(_number_paths(frame)))
    _at(frame, path)[path[-1]] = data.draw(TRICKY | ODD)
    text = json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
    _same_as_exact(text.encode() if data.draw(st.booleans()) else text)


def _real_market_frames() -> list[dict[str, Any]]:
    return [m for channel in sorted(FRAMES) for m in _real_frames(channel)]


def test_every_tricky_number_in_every_real_market_frame_fails_or_reads_alike() -> None:
    checked = 0
    for msg in _real_market_frames():
        for path in _number_paths(msg):
            for value in TRICKY_VALUES:
                frame = copy.deepcopy(msg)
                _at(frame, path)[path[-1]] = value
                text = json.dumps(frame, separators=(",", ":"))
                _same_as_exact(text)
                _same_as_exact(text.encode())
                checked += 1
    assert checked > 1000


ODD_INTEGER_TEXT = [b"01", b"00", b"-0", b"-1", b"1.0", b"1e2", b"1E2", b"+1", b"0x1", b" 1",
                    b"1 ", b"9999999999999999999", b"18446744073709551616", b"true", b'"1"']


def test_every_odd_integer_text_in_every_real_book_or_quote_fails_or_reads_alike() -> None:
    for msg in _real_frames("l2Book") + _real_frames("bbo"):
        raw = orjson.dumps(msg)
        _same_as_exact(raw)
        after_raw = compact._last_levels.entry
        for found in re.finditer(rb'"(?:n|time)":([0-9]+)', raw):
            for text in ODD_INTEGER_TEXT:
                edited = raw[:found.start(1)] + text + raw[found.end(1):]
                for last in (None, after_raw):  # read whole, or right after `raw`
                    compact._last_levels.entry = last
                    _same_as_exact(edited)


def test_every_escaped_character_in_every_real_market_frame_reads_alike() -> None:
    # "\u0031" is "1" to JSON: the text paths leave such frames to the decoder.
    for msg in _real_market_frames():
        raw = orjson.dumps(msg)
        for found in re.finditer(rb'"([^"\\])', raw):
            escaped = b"\\u%04x" % found[1][0]
            _same_as_exact(raw[:found.start(1)] + escaped + raw[found.end(1):])


ODD_COIN_TEXT = [b"", b"a b~!", b"\xc3\xa9", b"xyz:\xe2\x82\xac", b"\xff", b"\xc3", b"\x01",
                 b"\x7f", b"\\u0041", b"\\\"", b"a\"b", b"\t"]


def test_every_odd_coin_text_in_every_real_market_frame_fails_or_reads_alike() -> None:
    for msg in _real_market_frames():
        raw = orjson.dumps(msg)
        found = re.search(rb'"coin":"([^"]*)"', raw)
        assert found is not None
        for text in ODD_COIN_TEXT:
            compact._last_levels.entry = None
            _same_as_exact(raw[:found.start(1)] + text + raw[found.end(1):])


def test_every_key_dropped_or_doubled_in_every_real_market_frame_reads_alike() -> None:
    for msg in _real_market_frames():
        for path in _paths(msg):
            if isinstance(path[-1], int):
                continue
            dropped, extra = copy.deepcopy(msg), copy.deepcopy(msg)
            del _at(dropped, path)[path[-1]]
            _at(extra, path)["x"] = 1
            for frame in (dropped, extra):
                _same_as_exact(orjson.dumps(frame))


# -- the fast paths are taken for the frames they are for -------------------------------


REAL_BOOKS = _real_frames("l2Book")


def _refuse(*_: object) -> object:
    raise AssertionError("the exact reader was called")


@pytest.mark.parametrize("msg", REAL_BOOKS, ids=range(len(REAL_BOOKS)))
def test_real_books_take_the_compact_path_and_read_alike(msg: dict[str, Any]) -> None:
    raw = orjson.dumps(msg)
    assert parse._compact_book(raw) is not None
    book = _same_as_exact(raw)
    bids, asks = msg["data"]["levels"]
    assert isinstance(book, wire.L2Book)
    assert list(book.bids) == [wire.Level(Decimal(r["px"]), Decimal(r["sz"]), r["n"])
                               for r in bids]
    assert book.asks.sizes() == tuple(Decimal(r["sz"]) for r in asks)


@pytest.mark.parametrize("channel", ["bbo", "activeAssetCtx"])
def test_real_quotes_and_contexts_of_the_usual_shape_skip_the_exact_reader(
        channel: str) -> None:
    # The usual shape: both quote sides; every context field, none null.
    usual = [m for m in _real_frames(channel)
             if (None not in m["data"]["bbo"] if channel == "bbo" else
                 set(m["data"]["ctx"]) == set(CTX_FIELDS)
                 and None not in m["data"]["ctx"].values())]
    assert usual
    expected = [_exact(orjson.dumps(m)) for m in usual]
    assert all(type(e) is (wire.Bbo if channel == "bbo" else wire.AssetCtx) for e in expected)
    with mock.patch.dict(parse._READERS, {channel: _refuse}):  # what the parser calls
        assert [parse_frame(orjson.dumps(m)) for m in usual] == expected
        refused = _exact(orjson.dumps(usual[0]))  # (the patch holds)
        assert isinstance(refused, wire.ParseError) and "exact reader" in refused.detail


@MANY
@given(st.data(), st.sampled_from(sorted(FRAMES)))
def test_compact_well_formed_frames_skip_the_exact_readers(data: st.DataObject,
                                                           channel: str) -> None:
    frame = data.draw(FRAMES[channel].filter(lambda f: _usual(f)))
    raw = orjson.dumps(frame)
    expected = _exact(raw)
    with mock.patch.object(parse, "orjson", _refuse_module()):  # not even decoded
        assert parse_frame(raw) == expected


def _usual(frame: dict[str, Any]) -> bool:
    # What the fast paths are for: no null quote side; integers of 18 digits at most; a
    # coin in printable ASCII without a quote or a backslash.
    data = frame["data"]
    levels = data.get("levels") or [[side] for side in data.get("bbo", ()) if side]
    counts = [data.get("time", 0)] + [level["n"] for side in levels for level in side]
    return (None not in data.get("bbo", ()) and max(counts) < 10**18
            and all(" " <= c <= "~" and c not in '"\\' for c in data["coin"]))


@pytest.mark.parametrize("channel", sorted(FRAMES))
def test_fast_built_messages_are_ordinary_frozen_dataclasses(channel: str) -> None:
    for msg in _real_frames(channel):
        raw = orjson.dumps(msg)
        fast, exact = parse_frame(raw), _exact(raw)
        assert isinstance(fast, wire.L2Book | wire.Bbo | wire.AssetCtx)
        assert type(fast) is type(exact) and hash(fast) == hash(exact)
        assert pickle.loads(pickle.dumps(fast)) == exact == copy.copy(fast)
        assert dataclasses.replace(fast, coin="x") == dataclasses.replace(exact, coin="x")
        with pytest.raises(dataclasses.FrozenInstanceError):
            fast.coin = "x"  # type: ignore[misc]
        for level in (getattr(fast, "bid", None), getattr(fast, "ask", None)):
            if level is not None:
                assert dataclasses.astuple(level) == (level.px, level.sz, level.n)


# -- lazy ladders behave as ladders of levels ------------------------------------

ROWS = st.lists(_level(), max_size=6)
READS = st.lists(st.tuples(st.sampled_from(["index", "slice", "iter", "prices", "sizes",
                                            "len", "hash", "repr"]),
                           st.integers(-7, 7), st.integers(-7, 7)), max_size=6)


def _reads(ladder: wire.Ladder, reads: list[tuple[str, int, int]]) -> list[object]:
    # The reads in the order drawn: a ladder over rows builds its parts as they are read.
    out: list[object] = []
    for read, a, b in reads:
        if read == "index":
            try:
                out.append(ladder[a])
            except IndexError:
                out.append(IndexError)
        elif read == "slice":
            out.append(ladder[a:b])
        else:
            reader: dict[str, Callable[[], object]] = {
                "iter": lambda: list(ladder), "prices": ladder.prices, "sizes": ladder.sizes,
                "len": lambda: len(ladder), "hash": lambda: hash(ladder),
                "repr": lambda: repr(ladder)}
            out.append(reader[read]())
    return out


def _lazy_ladders(rows: list[dict[str, Any]]) -> list[wire.Ladder]:
    return [wire.Ladder.from_rows(copy.deepcopy(rows)),
            wire.Ladder.from_json(orjson.dumps(rows), len(rows)),
            wire.Ladder.from_wire(tuple(r["px"] for r in rows), tuple(r["sz"] for r in rows),
                                  tuple(r["n"] for r in rows))]


@MANY
@given(ROWS, READS)
def test_a_lazy_ladder_reads_as_a_ladder_of_levels(
        rows: list[dict[str, Any]], reads: list[tuple[str, int, int]]) -> None:
    levels = [wire.Level(Decimal(r["px"]), Decimal(r["sz"]), r["n"]) for r in rows]
    ready = wire.Ladder(levels)
    expected = _reads(ready, reads)
    for lazy in _lazy_ladders(rows):
        assert _reads(lazy, reads) == expected
        assert lazy == ready and list(lazy) == levels and len(lazy) == len(rows)
        assert repr(lazy.best) == repr(ready.best) == repr(levels[0] if levels else None)
        assert repr(lazy) == repr(ready)  # the same wire strings (scale, leading zeros)


# -- a book that repeats the last book's levels ------------------------------------------

HEAD_COINS: list[bytes] = [b'"xyz:COIN"', b'"BTC"', b'""', b'"a b~!"', b'"x\\u0041"',
                           b'"x\\"y"', b'"\xc3\xa9"', b'"\xff"', b'"\x01"', b'"\x7f"',
                           b"7", b"null", b'"levels"']
HEAD_TIMES: list[bytes] = [b"0", b"7", b"1790232236546", b"01", b"-1", b"1.5", b"1e3",
                           b"999999999999999999", b"1000000000000000000",
                           b"18446744073709551616", b"true", b"null", b'"7"', b" 7"]
SHORT_COINS = {b'"xyz:COIN"', b'"BTC"', b'""', b'"a b~!"', b'"levels"'}
SHORT_TIMES = {b"0", b"7", b"1790232236546", b"999999999999999999"}
HEAD_FORMS: list[bytes] = [b'{"channel":"l2Book","data":{"coin":%s,"time":%s,',
                           b'{"channel":"l2Book","data":{"time":%s,"coin":%s,',
                           b'{"channel":"bbo","data":{"coin":%s,"time":%s,',
                           b'{"channel": "l2Book","data":{"coin":%s,"time":%s,',
                           b'{"channel":"l2Book","data":{"coin":%s,"time":%s,"x":1,',
                           b'{"channel":"l2Book","x":{},"data":{"coin":%s,"time":%s,']


def _check_repeated_head(first: bytes, coin: bytes, time_ms: bytes, form: bytes) -> None:
    _same_as_exact(first)  # the levels now known
    levels = first[first.find(b'"levels":'):]
    repeated = (form % ((time_ms, coin) if b'{"time"' in form else (coin, time_ms))) + levels
    result = _same_as_exact(repeated)
    compact._last_levels.entry = None  # the same frame, read whole
    assert _same_as_exact(repeated) == result
    if form == HEAD_FORMS[0] and coin in SHORT_COINS and time_ms in SHORT_TIMES:
        # the compact head with a plain ASCII coin and a plain time: no decoding at all
        assert isinstance(result, wire.L2Book)
        with mock.patch.object(parse, "orjson", _refuse_module()):
            assert parse_frame(repeated) == result


@pytest.mark.parametrize("msg", REAL_BOOKS[:3] + REAL_BOOKS[-2:],
                         ids=range(len(REAL_BOOKS[:3] + REAL_BOOKS[-2:])))
def test_every_head_before_the_last_levels_reads_alike(msg: dict[str, Any]) -> None:
    first = orjson.dumps(msg)
    for form in HEAD_FORMS:
        for coin in HEAD_COINS:
            for time_ms in HEAD_TIMES:
                _check_repeated_head(first, coin, time_ms, form)


@MANY
@given(BOOK.filter(lambda f: _usual(f)), st.sampled_from(HEAD_COINS),
       st.sampled_from(HEAD_TIMES), st.sampled_from(HEAD_FORMS))
def test_a_book_after_one_with_the_same_levels_reads_alike(
        first: dict[str, Any], coin: bytes, time_ms: bytes, form: bytes) -> None:
    _check_repeated_head(orjson.dumps(first), coin, time_ms, form)


def test_a_quiet_book_shares_the_last_ladders_and_a_changed_one_does_not() -> None:
    msg = REAL_BOOKS[0]
    raw = orjson.dumps(msg)
    first = parse_frame(raw)
    later = orjson.dumps({**msg, "data": {**msg["data"], "time": msg["data"]["time"] + 500}})
    again = parse_frame(later)
    assert isinstance(first, wire.L2Book) and isinstance(again, wire.L2Book)
    assert again == _exact(later) and again.time_ms == msg["data"]["time"] + 500
    assert again.bids is first.bids and again.asks is first.asks
    moved = copy.deepcopy(msg)
    moved["data"]["levels"][0][0]["sz"] += "1"
    changed = parse_frame(orjson.dumps(moved))
    assert isinstance(changed, wire.L2Book) and changed.bids is not first.bids
    assert changed == _exact(orjson.dumps(moved))



@MANY
@given(st.sampled_from(sorted(FRAMES)).flatmap(
    lambda channel: st.lists(FRAMES[channel].filter(lambda f: _usual(f)), min_size=2,
                             max_size=4)),
    st.data())
def test_numbers_repeated_across_frames_read_as_the_exact_reader_reads_them(
        frames: list[dict[str, Any]], data: st.DataObject) -> None:  # fmt: skip
    # Consecutive frames of a channel, each field kept from the one before or not: each
    # reads as the exact reader reads it, to the text ("1.0" after "1" is "1.0").
    for previous, frame in itertools.pairwise(frames):
        for path in _paths(frame):
            value = _at(frame, path)[path[-1]]
            if isinstance(value, str) and data.draw(st.booleans()):
                with contextlib.suppress(KeyError, IndexError, TypeError):
                    kept = _at(previous, path)[path[-1]]
                    _at(frame, path)[path[-1]] = kept if isinstance(kept, str) else value
    for frame in frames:
        _same_as_exact(orjson.dumps(frame))
    book, same_value = REAL_BOOKS[0], copy.deepcopy(REAL_BOOKS[0])
    top = same_value["data"]["levels"][0][0]
    top["px"] = top["px"] + ".0" if "." not in top["px"] else top["px"] + "0"
    first, second = parse_frame(orjson.dumps(book)), parse_frame(orjson.dumps(same_value))
    assert isinstance(first, wire.L2Book) and isinstance(second, wire.L2Book)
    assert first.bids.best is not None and second.bids.best is not None
    assert first.bids.best.px == second.bids.best.px
    assert str(second.bids.best.px) == top["px"]  # the text read, not the last one


def test_a_number_text_seen_lately_gives_the_same_decimal_within_a_bound() -> None:
    first = compact._decimal("189.840")
    assert compact._decimal("189.840") is first and repr(first) == "Decimal('189.840')"
    assert repr(compact._decimal("189.84")) == "Decimal('189.84')"  # its own text
    for i in range(compact._DECIMALS_KEPT + 1):  # past the bound: cleared, still right
        assert compact._decimal(f"{i}.5") == Decimal(i) + Decimal("0.5")
    assert len(compact._decimals) <= compact._DECIMALS_KEPT
    assert compact._decimal("189.840") == first and repr(compact._decimal("7.25")) == (
        "Decimal('7.25')")

def _refuse_module() -> Any:
    stub = mock.Mock()
    stub.loads.side_effect = AssertionError("the frame was decoded")
    return stub
