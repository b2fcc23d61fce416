"""Fast paths of the parser for the market data of every frame (see `parse`).

The usual l2Book, bbo and activeAssetCtx frames come in the exchange's compact form: each
is read from its text by one strict pattern, without decoding. `compact_book`,
`repeated_book` and `compact_quote` return the message, or None for any other frame (a
null, an absent optional field, other spacing, any irregularity), which `parse_frame` then
decodes and reads with its exact readers; those give the same value or name the fault.
So a fast path may only ever refuse, never decide differently:
tests/unit/test_parse_fast.py compares the two.

Each pattern is also scanned in C (`_scan.c`, built with the compiled hot path): one pass
over the bytes giving the same fields as the pattern's reader here (`_book_fields_re`,
`_bbo_fields_re`, `_ctx_fields_re`), a book of 40 levels in a fifth of the time of the
regular-expression engine. Without the build (`HIP3TERM_PURE=1`, no compiler) the patterns
read the frames; tests/unit/test_scan.py holds the two to the same answers.

`peek_frame` reads a frame's channel and exchange time the same way, for the recorder.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Final

import orjson

from hip3term.venue.hyperliquid import wire

try:  # the C scanners, when built and trusted (`hip3term._native`)
    from hip3term.venue.hyperliquid import _scan
except ImportError:
    _scan = None  # type: ignore[assignment]

BookFields = tuple[str, int, bytes, int, str | None, str | None, int | None,
                   bytes, int, str | None, str | None, int | None, int]
"""What a compact book frame says: (coin, time_ms, bid_text, bid_count, bid_px, bid_sz,
bid_n, ask_text, ask_count, ask_px, ask_sz, ask_n, levels_at); a side's text is its JSON
list, its top None when it is empty; `levels_at`: where `"levels":` starts."""
BboFields = tuple[str, int, str, str, int, str, str, int]
"""(coin, time_ms, bid_px, bid_sz, bid_n, ask_px, ask_sz, ask_n)"""
CtxFields = tuple[str, str, str, str, str, str, str, str, str, str, str, str]
"""(coin, funding, open_interest, prev_day_px, day_ntl_vlm, premium, oracle_px, mark_px,
mid_px, impact_bid, impact_ask, day_base_vlm), as written"""

__all__ = ["BOOK_PREFIX", "UNSIGNED", "compact_book", "compact_quote", "peek_frame",
           "repeated_book"]

UNSIGNED = r"[0-9]++(?:\.[0-9]++)?+"
"""A plain unsigned decimal as the exchange writes it (possessive: no backtracking)."""

# The frozen dataclasses' __init__ is Python code calling object.__setattr__ once per field;
# the messages built here per frame are made by the same calls written out (the name
# `object.__setattr__` itself: mypyc compiles it to a direct C call, without a Python frame
# or a bound setter): the same objects (wire's classes have no __post_init__, and
# `_fields_are` holds the names written here to the classes' fields), in half the time.
_new: Final = object.__new__
# the classes built here, read from C statics by compiled code (Final), not the module's dict
_LEVEL: Final = wire.Level
_L2BOOK: Final = wire.L2Book
_BBO: Final = wire.Bbo
_ASSET_CTX: Final = wire.AssetCtx
_from_json: Final = wire.Ladder.from_json
_DECIMAL: Final = Decimal


def _fields_are(cls: type, names: str) -> None:
    if (sorted(names.split()) != sorted(field.name for field in dataclasses.fields(cls))
            or hasattr(cls, "__post_init__")):
        raise TypeError(f"{cls.__name__} is not built from the fields {names}")


_fields_are(wire.Level, "px sz n")
_fields_are(wire.L2Book, "coin time_ms bids asks")
_fields_are(wire.Bbo, "coin time_ms bid ask")
_fields_are(wire.AssetCtx, "coin mark_px oracle_px mid_px funding open_interest premium "
                           "impact_pxs day_ntl_vlm prev_day_px day_base_vlm")


# The Decimal of each number text read lately: a price on the tick grid, a size or a
# context field seen in the last few thousand numbers is not converted again (Decimal(str)
# is about 1,500 instructions, a lookup a tenth of that; 80 % of a recorded session's
# numbers hit). Decimals are immutable: sharing one shares a value, and the key is the
# exact text ("1.0" and "1" stay apart). Bounded: cleared when full.
_decimals: Final[dict[str, Decimal]] = {}
_DECIMALS_KEPT: Final = 4096


def _decimal(text: str) -> Decimal:
    value = _decimals.get(text)
    if value is None:
        if len(_decimals) >= _DECIMALS_KEPT:
            _decimals.clear()
        value = _decimals[text] = _DECIMAL(text)
    return value


def _new_level(px: Decimal, sz: Decimal, n: int) -> wire.Level:
    level = _new(_LEVEL)
    object.__setattr__(level, "px", px)
    object.__setattr__(level, "sz", sz)
    object.__setattr__(level, "n", n)
    return level


def _new_book(coin: str, time_ms: int, bids: wire.Ladder, asks: wire.Ladder) -> wire.L2Book:
    book = _new(_L2BOOK)
    object.__setattr__(book, "coin", coin)
    object.__setattr__(book, "time_ms", time_ms)
    object.__setattr__(book, "bids", bids)
    object.__setattr__(book, "asks", asks)
    return book


def _new_bbo(coin: str, time_ms: int, bid: wire.Level, ask: wire.Level) -> wire.Bbo:
    bbo = _new(_BBO)
    object.__setattr__(bbo, "coin", coin)
    object.__setattr__(bbo, "time_ms", time_ms)
    object.__setattr__(bbo, "bid", bid)
    object.__setattr__(bbo, "ask", ask)
    return bbo


def _new_asset_ctx(coin: str, mark: Decimal, oracle: Decimal, mid: Decimal, funding: Decimal,
                   oi: Decimal, premium: Decimal, impact: tuple[Decimal, Decimal],
                   ntl: Decimal, prev: Decimal, base: Decimal) -> wire.AssetCtx:  # fmt: skip
    ctx = _new(_ASSET_CTX)
    object.__setattr__(ctx, "coin", coin)
    object.__setattr__(ctx, "mark_px", mark)
    object.__setattr__(ctx, "oracle_px", oracle)
    object.__setattr__(ctx, "mid_px", mid)
    object.__setattr__(ctx, "funding", funding)
    object.__setattr__(ctx, "open_interest", oi)
    object.__setattr__(ctx, "premium", premium)
    object.__setattr__(ctx, "impact_pxs", impact)
    object.__setattr__(ctx, "day_ntl_vlm", ntl)
    object.__setattr__(ctx, "prev_day_px", prev)
    object.__setattr__(ctx, "day_base_vlm", base)
    return ctx


# A book frame exactly in the exchange's compact form (with the "fast" flag of a fast
# book, or without): strict JSON with an ASCII coin, valid numbers and integers that
# orjson would keep as int (18 digits, no leading zero). A full match of its text leaves
# nothing to check, and nothing to decode yet: the ladders keep their sides' text.
_INT = r"(?:0|[1-9][0-9]{0,17}+)"
_ROW = rf'\{{"px":"{UNSIGNED}","sz":"{UNSIGNED}","n":{_INT}\}}'
_SIDE = rf"\[(?:{_ROW}(?:,{_ROW})*+)?+\]"
# the same, with the first level's px, sz and n captured (its best level, built at once)
_TOP_SIDE = (rf'\[(?:\{{"px":"({UNSIGNED})","sz":"({UNSIGNED})","n":({_INT})\}}'
             rf"(?:,{_ROW})*+)?+\]")
_BOOK_HEAD = rf'\{{"channel":"l2Book","data":\{{"coin":"([ !#-\[\]-~]*+)","time":({_INT}),'
_BOOK_RE = re.compile(
    rf'{_BOOK_HEAD}"levels":\[({_TOP_SIDE}),({_TOP_SIDE})\](?:,"fast":(?:true|false))?+\}}\}}'
    .encode())
BOOK_PREFIX = b'{"channel":"l2Book","data":{'
"""How every compact book frame begins (`compact_book`, `repeated_book`)."""
_LEVELS_AT = len(b'"levels":[')


def _book_fields_re(raw: bytes) -> BookFields | None:
    # The reference reader of a compact book (`_scan.book` in C).
    match = _BOOK_RE.fullmatch(raw)
    if match is None:
        return None
    coin, time_ms, bid_text, bpx, bsz, bn, ask_text, apx, asz, an = match.groups()
    return (coin.decode("ascii"), int(time_ms),
            bid_text, bid_text.count(b"{"), _text(bpx), _text(bsz), _int(bn),
            ask_text, ask_text.count(b"{"), _text(apx), _text(asz), _int(an),
            match.start(3) - _LEVELS_AT)  # fmt: skip


def _text(group: bytes | None) -> str | None:
    return None if group is None else group.decode("ascii")


def _int(group: bytes | None) -> int | None:
    return None if group is None else int(group)


_book_fields: Final[Callable[[bytes], BookFields | None]] = (
    _book_fields_re if _scan is None else _scan.book)


def compact_book(raw: bytes) -> wire.L2Book | None:
    fields = _book_fields(raw)
    if fields is None:
        return None
    coin, time_ms, bid_text, bid_count, bpx, bsz, bn, ask_text, ask_count, apx, asz, an, at = (
        fields)
    bids = _from_json(bid_text, bid_count, _top(bpx, bsz, bn))
    asks = _from_json(ask_text, ask_count, _top(apx, asz, an))
    _last_levels.entry = (raw[at:], bids, asks)
    return _new_book(coin, time_ms, bids, asks)


def _top(px: str | None, sz: str | None, n: int | None) -> wire.Level | None:
    # A side's best level from its numbers (None: an empty side).
    if px is None or sz is None or n is None:
        return None
    return _new_level(_decimal(px), _decimal(sz), n)


# A quiet book is pushed again with a new time only: a frame that ends with the very
# bytes of the last compact book's levels and starts with a compact head is a compact
# book too, and shares that book's (immutable) ladders.
_BOOK_HEAD_RE = re.compile(_BOOK_HEAD.encode())


class _LastLevels:
    # One slot: (the levels' bytes from `"levels":` to the end, bids, asks) or None.
    __slots__ = ("entry",)

    def __init__(self) -> None:
        self.entry: tuple[bytes, wire.Ladder, wire.Ladder] | None = None


_last_levels: Final = _LastLevels()


def repeated_book(raw: bytes) -> wire.L2Book | None:
    entry = _last_levels.entry
    if entry is None or not raw.endswith(entry[0]):
        return None
    levels, bids, asks = entry
    head = _BOOK_HEAD_RE.fullmatch(raw, 0, len(raw) - len(levels))
    if head is None:
        return None
    return _new_book(head[1].decode("ascii"), int(head[2]), bids, asks)


# The usual quote and asset context in the exchange's compact form, read from their text
# (as latin-1: a byte outside ASCII cannot match), with the same guarantees as a book.
_NUMBER, _SIGNED_NUMBER, _COIN = f"({UNSIGNED})", f"(-?{UNSIGNED})", r"([ !#-\[\]-~]*+)"
_QUOTE_LEVEL = rf'\{{"px":"{_NUMBER}","sz":"{_NUMBER}","n":({_INT})\}}'
_BBO_RE = re.compile(rf'\{{"channel":"bbo","data":\{{"coin":"{_COIN}","time":({_INT}),'
                     rf'"bbo":\[{_QUOTE_LEVEL},{_QUOTE_LEVEL}\]\}}\}}')
_CTX_RE = re.compile(
    rf'\{{"channel":"activeAssetCtx","data":\{{"coin":"{_COIN}","ctx":\{{'
    rf'"funding":"{_SIGNED_NUMBER}","openInterest":"{_NUMBER}","prevDayPx":"{_NUMBER}",'
    rf'"dayNtlVlm":"{_NUMBER}","premium":"{_SIGNED_NUMBER}","oraclePx":"{_NUMBER}",'
    rf'"markPx":"{_NUMBER}","midPx":"{_NUMBER}","impactPxs":\["{_NUMBER}","{_NUMBER}"\],'
    rf'"dayBaseVlm":"{_NUMBER}"\}}\}}\}}')
_BBO_PREFIX: Final = b'{"channel":"bbo",'
_CTX_PREFIX: Final = b'{"channel":"activeAssetCtx",'


def _bbo_fields_re(raw: bytes) -> BboFields | None:
    # The reference reader of a compact bbo (`_scan.bbo` in C).
    match = _BBO_RE.fullmatch(raw.decode("latin-1"))
    if match is None:
        return None
    coin, time_ms, bpx, bsz, bn, apx, asz, an = match.groups()
    return coin, int(time_ms), bpx, bsz, int(bn), apx, asz, int(an)


def _ctx_fields_re(raw: bytes) -> CtxFields | None:
    # The reference reader of a compact asset context (`_scan.ctx` in C).
    match = _CTX_RE.fullmatch(raw.decode("latin-1"))
    if match is None:
        return None
    (coin, funding, oi, prev, ntl, premium, oracle, mark, mid, bid, ask,
     base) = match.groups()  # fmt: skip
    return coin, funding, oi, prev, ntl, premium, oracle, mark, mid, bid, ask, base


_bbo_fields: Final[Callable[[bytes], BboFields | None]] = (
    _bbo_fields_re if _scan is None else _scan.bbo)
_ctx_fields: Final[Callable[[bytes], CtxFields | None]] = (
    _ctx_fields_re if _scan is None else _scan.ctx)


def compact_quote(raw: bytes) -> wire.Bbo | wire.AssetCtx | None:
    if raw.startswith(_BBO_PREFIX):
        if (bbo := _bbo_fields(raw)) is None:
            return None
        coin, time_ms, bpx, bsz, bn, apx, asz, an = bbo
        return _new_bbo(coin, time_ms, _new_level(_decimal(bpx), _decimal(bsz), bn),
                        _new_level(_decimal(apx), _decimal(asz), an))
    if raw.startswith(_CTX_PREFIX):
        if (ctx := _ctx_fields(raw)) is None:
            return None
        coin, funding, oi, prev, ntl, premium, oracle, mark, mid, bid, ask, base = ctx
        return _new_asset_ctx(coin, _decimal(mark), _decimal(oracle), _decimal(mid),
                              _decimal(funding), _decimal(oi), _decimal(premium),
                              (_decimal(bid), _decimal(ask)), _decimal(ntl), _decimal(prev),
                              _decimal(base))
    return None


# -- the recorder's peek -----------------------------------------------------------------

_PEEK_PREFIX = b'{"channel":"'
_PEEK_TIME_RE = re.compile(rb'"time":([0-9]+)[,}]')
_TIMED = frozenset({"l2Book", "bbo", "trades"})


def peek_frame(raw: bytes | bytearray | memoryview | str) -> wire.FramePeek:
    """Channel and exchange time of a frame, cheaply, for the recorder. Never raises.

    A frame in the exchange's own compact form (`{"channel":"...`) is read by a byte
    scan without decoding the JSON; any other is decoded. `time_ms` is given for
    `l2Book`, `bbo` and `trades` (the first trade's), else None. A hint, not validation:
    a frame that peeks fine may still fail `parse_frame`.
    """
    try:
        data = raw.encode() if isinstance(raw, str) else bytes(raw)
        start = len(_PEEK_PREFIX)
        end = data.find(b'"', start) if data.startswith(_PEEK_PREFIX) else -1
        if end > start and b"\\" not in data[start:end]:
            channel = data[start:end].decode()
            match = _PEEK_TIME_RE.search(data, end) if channel in _TIMED else None
            return wire.FramePeek(channel, int(match.group(1)) if match else None)
        return _peek_decoded(data)
    except Exception:  # a peek must never fail the recorder
        return wire.FramePeek(None, None)


def _peek_decoded(data: bytes) -> wire.FramePeek:
    try:
        frame = orjson.loads(data)
    except orjson.JSONDecodeError:
        return wire.FramePeek(None, None)
    channel = frame.get("channel") if isinstance(frame, dict) else None
    if type(channel) is not str:
        return wire.FramePeek(None, None)
    body = frame.get("data")
    if channel == "trades" and isinstance(body, list) and body:
        body = body[0]
    time_ms = body.get("time") if channel in _TIMED and isinstance(body, dict) else None
    return wire.FramePeek(channel, time_ms if type(time_ms) is int else None)
