"""Hyperliquid websocket frames -> typed messages of `wire`. Pure; never raises.

`parse_frame(raw)` returns a `wire.Event` or a `wire.ParseError` saying why the frame
could not be read, so a malformed frame cannot stop the feed. Extra fields are ignored;
a missing field hip3term depends on, a wrong JSON type or a bad number fails the frame.

Numbers: prices, sizes and amounts must be JSON strings of plain decimals, the only form
the exchange sends (`digits[.digits]`, with a `-` for signed amounts such as fees, PnL
and funding; no exponent, no blanks); they become `Decimal`, never float. A JSON number,
null or list where a decimal string belongs is `BAD_TYPE`. Prices and sizes are
unsigned: a `-` there is `BAD_NUMBER`. Times, ids and counts (`time`, `oid`, `tid`, `n`,
post `id`) must be non-negative JSON integers.

The usual book, bbo and activeAssetCtx frames, in the exchange's own compact form, are
read from their bytes by one strict regular expression each (module `compact`), without
decoding the JSON;
a book's sides then stay text until read (`wire.Ladder`), and a book repeating the last
one's levels needs only its head checked. Any other frame is decoded: its book sides are
validated in bulk (one regular expression over the joined number strings) and only when
that fails does the parser walk the levels one by one to say precisely what is wrong.
A fast path only ever refuses a frame to the exact readers, never decides otherwise.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Any, TypeVar, cast

import orjson

from hip3term.venue.hyperliquid import wire
from hip3term.venue.hyperliquid.compact import BOOK_PREFIX as _BOOK_PREFIX
from hip3term.venue.hyperliquid.compact import UNSIGNED as _UNSIGNED
from hip3term.venue.hyperliquid.compact import compact_book as _compact_book
from hip3term.venue.hyperliquid.compact import compact_quote as _compact_quote
from hip3term.venue.hyperliquid.compact import repeated_book as _repeated_book
from hip3term.venue.hyperliquid.wire import Event, ParseError, ParseErrorKind, PostResponse

GREETING_TEXT = "Websocket connection established."
"""The plain-text frame the server sends first on every connection."""

_K = ParseErrorKind
_T = TypeVar("_T")
_Obj = dict[str, Any]
_Read = Callable[[_Obj], _T]

# Possessive quantifiers: the list pattern runs over ~80 joined numbers per book frame.
_UNSIGNED_RE = re.compile(_UNSIGNED)
_SIGNED_RE = re.compile("-?" + _UNSIGNED)
_UNSIGNED_LIST_RE = re.compile(f"{_UNSIGNED}(?:,{_UNSIGNED})*+")
_POST_ID_RE = re.compile(r"\bid=([0-9]+)\s*$", re.ASCII)
_PX, _SZ, _N = map(operator.itemgetter, ("px", "sz", "n"))
_INT_ONLY = frozenset({int})
_TYPE_NAMES = {type(None): "null", bool: "a bool", int: "an integer", float: "a float",
               str: "a string", list: "a list", dict: "an object"}


class _FieldError(Exception):
    # Internal only: raised by the readers below, returned as a ParseError at the top.
    def __init__(self, kind: ParseErrorKind, detail: str, post_id: int | None = None) -> None:
        super().__init__(detail)
        self.kind, self.detail, self.post_id = kind, detail, post_id

    def within(self, where: str) -> _FieldError:
        return _FieldError(self.kind, f"{where}.{self.detail}", self.post_id)


def _type_name(value: object) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _short(text: str) -> str:
    return repr(text) if len(text) <= 40 else repr(text[:37] + "...")


def _bad_type(where: str, expected: str, value: object) -> _FieldError:
    return _FieldError(_K.BAD_TYPE, f"{where}: expected {expected}, got {_type_name(value)}")


# -- field readers: each raises _FieldError naming the field ---------------------------


def _get(d: _Obj, key: str) -> object:
    try:
        return d[key]
    except KeyError:
        raise _FieldError(_K.MISSING_FIELD, f"{key}: missing") from None


def _obj(value: object, where: str) -> _Obj:
    if not isinstance(value, dict):
        raise _bad_type(where, "an object", value)
    return value


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise _bad_type(where, "a list", value)
    return value


def _typed(d: _Obj, key: str, kind: type[_T]) -> _T:
    value = _get(d, key)
    if type(value) is not kind:  # exact: a bool is not an integer here
        raise _bad_type(key, _TYPE_NAMES[kind], value)
    return value


def _str(d: _Obj, key: str) -> str:
    return _typed(d, key, str)


def _bool(d: _Obj, key: str) -> bool:
    return _typed(d, key, bool)


def _int(d: _Obj, key: str) -> int:
    value = _typed(d, key, int)
    if value < 0:
        raise _FieldError(_K.BAD_NUMBER, f"{key}: negative ({value})")
    return value


def _number(value: object, where: str, signed: bool = False) -> Decimal:
    if type(value) is not str:
        raise _bad_type(where, "a decimal string", value)
    if not (_SIGNED_RE if signed else _UNSIGNED_RE).fullmatch(value):
        what = "a decimal" if signed else "an unsigned decimal"
        raise _FieldError(_K.BAD_NUMBER, f"{where}: {_short(value)} is not {what}")
    return Decimal(value)


def _dec(d: _Obj, key: str) -> Decimal:
    return _number(_get(d, key), key)


def _sdec(d: _Obj, key: str) -> Decimal:
    return _number(_get(d, key), key, signed=True)


def _opt(read: Callable[[_Obj, str], _T], d: _Obj, key: str) -> _T | None:
    # Absent and null both mean "not given".
    return None if d.get(key) is None else read(d, key)


def _side(d: _Obj) -> wire.Side:
    value = _str(d, "side")
    if value in ("B", "A"):
        return cast(wire.Side, value)
    raise _FieldError(_K.BAD_VALUE, f"side: {_short(value)} is neither 'B' nor 'A'")


def _at(where: str, read: Callable[[Any], _T], value: object) -> _T:
    try:
        return read(value)
    except _FieldError as bad:
        raise bad.within(where) from None


def _within(where: str, read: _Read[_T], value: object) -> _T:
    return _at(where, read, _obj(value, where))


def _each(items: object, where: str, read: _Read[_T]) -> tuple[_T, ...]:
    return tuple(_within(f"{where}[{i}]", read, item)
                 for i, item in enumerate(_list(items, where)))


def _data(frame: _Obj) -> object:
    if "data" not in frame:
        raise _FieldError(_K.BAD_ENVELOPE, "data: missing")
    return frame["data"]


def _data_obj(frame: _Obj) -> _Obj:
    return _obj(_data(frame), "data")


def _pair(value: object, where: str) -> list[Any]:
    items = _list(value, where)
    if len(items) != 2:
        raise _FieldError(_K.BAD_VALUE, f"{where}: expected 2 items, got {len(items)}")
    return items


# -- market data -----------------------------------------------------------------------


def _all_unsigned(values: Sequence[object]) -> bool:
    # One regex over the joined strings: join rejects non-strings, the comma count
    # rejects a string that itself holds a comma.
    if not values:
        return True
    try:
        joined = ",".join(cast(Sequence[str], values))
    except TypeError:
        return False
    return joined.count(",") == len(values) - 1 and bool(_UNSIGNED_LIST_RE.fullmatch(joined))


def _level(d: _Obj) -> wire.Level:
    return wire.Level(_dec(d, "px"), _dec(d, "sz"), _int(d, "n"))


def _fast_ladders(levels: list[Any]) -> tuple[wire.Ladder, wire.Ladder] | None:
    # Both sides' columns pulled out at once by C-level calls, then every number checked
    # at once; None sends the caller to the slow path, which names the bad level.
    bids, asks = levels
    if type(bids) is not list or type(asks) is not list:
        return None
    both = bids + asks
    try:
        pxs, szs, ns = tuple(map(_PX, both)), tuple(map(_SZ, both)), tuple(map(_N, both))
    except (KeyError, TypeError):  # a level that is no object, or lacks a field
        return None
    if not (_all_unsigned(pxs + szs) and {*map(type, ns)} <= _INT_ONLY
            and (not ns or min(ns) >= 0)):
        return None
    k = len(bids)
    return (wire.Ladder.from_wire(pxs[:k], szs[:k], ns[:k]),
            wire.Ladder.from_wire(pxs[k:], szs[k:], ns[k:]))


def _book(d: _Obj) -> wire.L2Book:
    levels = _pair(_get(d, "levels"), "levels")
    ladders = _fast_ladders(levels)
    if ladders is None:
        for i, side in enumerate(levels):
            _each(side, f"levels[{i}]", _level)
        raise _FieldError(_K.INTERNAL, "levels: refused by the fast check only")
    return wire.L2Book(_str(d, "coin"), _int(d, "time"), *ladders)


def _bbo(frame: _Obj) -> wire.Bbo:
    d = _data_obj(frame)
    bid, ask = (None if side is None else _within(f"bbo[{i}]", _level, side)
                for i, side in enumerate(_pair(_get(d, "bbo"), "bbo")))
    return wire.Bbo(_str(d, "coin"), _int(d, "time"), bid, ask)


def _trade(d: _Obj) -> wire.Trade:
    users = tuple(_list(_get(d, "users"), "users"))
    if not all(type(user) is str for user in users):
        raise _FieldError(_K.BAD_TYPE, "users: expected a list of strings")
    return wire.Trade(_str(d, "coin"), _side(d), _dec(d, "px"), _dec(d, "sz"),
                      _int(d, "time"), _int(d, "tid"), _str(d, "hash"), users)


def _impact_pxs(c: _Obj, key: str) -> tuple[Decimal, Decimal]:
    bid, ask = _pair(c[key], key)
    return _number(bid, f"{key}[0]"), _number(ask, f"{key}[1]")


def _ctx(coin: str, c: _Obj) -> wire.AssetCtx:
    # Volumes are display-only, so a frame without them still counts; a null mid,
    # premium or impact price is how the exchange reports a coin without a book.
    return wire.AssetCtx(
        coin=coin, mark_px=_dec(c, "markPx"), oracle_px=_dec(c, "oraclePx"),
        mid_px=_opt(_dec, c, "midPx"), funding=_sdec(c, "funding"),
        open_interest=_dec(c, "openInterest"), premium=_opt(_sdec, c, "premium"),
        impact_pxs=_opt(_impact_pxs, c, "impactPxs"), day_ntl_vlm=_opt(_dec, c, "dayNtlVlm"),
        prev_day_px=_dec(c, "prevDayPx"), day_base_vlm=_opt(_dec, c, "dayBaseVlm"),
    )


def _asset_ctx(frame: _Obj) -> wire.AssetCtx:
    d = _data_obj(frame)
    coin = _str(d, "coin")
    return _within("ctx", lambda c: _ctx(coin, c), _get(d, "ctx"))


def _all_mids(frame: _Obj) -> wire.AllMids:
    d = _data_obj(frame)
    mids = _obj(_get(d, "mids"), "mids")
    values = list(mids.values())
    if not _all_unsigned(values):
        for coin, value in mids.items():
            _number(value, f"mids[{_short(coin)}]")
        raise _FieldError(_K.INTERNAL, "mids: refused by the fast check only")
    decimals = dict(zip(mids, map(Decimal, values), strict=True))
    return wire.AllMids(MappingProxyType(decimals), _opt(_str, d, "dex"))


# -- account ---------------------------------------------------------------------------


def _order(o: _Obj, status: str, status_timestamp_ms: int) -> wire.OrderUpdate:
    return wire.OrderUpdate(
        coin=_str(o, "coin"), side=_side(o), limit_px=_dec(o, "limitPx"), sz=_dec(o, "sz"),
        orig_sz=_dec(o, "origSz"), oid=_int(o, "oid"), cloid=_opt(_str, o, "cloid"),
        timestamp_ms=_int(o, "timestamp"), status=status,
        status_timestamp_ms=status_timestamp_ms, reduce_only=_opt(_bool, o, "reduceOnly"),
    )


def _order_update(d: _Obj) -> wire.OrderUpdate:
    status, status_timestamp_ms = _str(d, "status"), _int(d, "statusTimestamp")
    return _within("order", lambda o: _order(o, status, status_timestamp_ms), _get(d, "order"))


def _liquidation(d: _Obj, key: str) -> wire.Liquidation:
    return _within(key, lambda q: wire.Liquidation(
        _opt(_str, q, "liquidatedUser"), _dec(q, "markPx"), _str(q, "method")), d[key])


def _fill(d: _Obj) -> wire.Fill:
    return wire.Fill(
        coin=_str(d, "coin"), px=_dec(d, "px"), sz=_dec(d, "sz"), side=_side(d),
        time_ms=_int(d, "time"), start_position=_sdec(d, "startPosition"), dir=_str(d, "dir"),
        closed_pnl=_sdec(d, "closedPnl"), hash=_str(d, "hash"), oid=_int(d, "oid"),
        crossed=_bool(d, "crossed"), fee=_sdec(d, "fee"), fee_token=_str(d, "feeToken"),
        tid=_int(d, "tid"), cloid=_opt(_str, d, "cloid"),
        builder_fee=_opt(_sdec, d, "builderFee"),
        liquidation=_opt(_liquidation, d, "liquidation"), twap_id=_opt(_int, d, "twapId"),
    )


def _user_fills(frame: _Obj) -> wire.UserFills:
    d = _data_obj(frame)
    is_snapshot = _opt(_bool, d, "isSnapshot") is True
    return wire.UserFills(_str(d, "user"), is_snapshot, _each(_get(d, "fills"), "fills", _fill))


def _funding(d: _Obj) -> wire.UserFunding:
    return wire.UserFunding(_int(d, "time"), _str(d, "coin"), _sdec(d, "usdc"),
                            _sdec(d, "szi"), _sdec(d, "fundingRate"), _opt(_int, d, "nSamples"))


def _user_liquidation(d: _Obj) -> wire.UserLiquidation:
    return wire.UserLiquidation(
        _int(d, "lid"), _str(d, "liquidator"), _str(d, "liquidated_user"),
        _sdec(d, "liquidated_ntl_pos"), _sdec(d, "liquidated_account_value"))


def _user_event(frame: _Obj) -> wire.UserEvent:
    d = _data_obj(frame)
    if "fills" in d:
        return wire.UserEvent("fills", fills=_each(d["fills"], "fills", _fill))
    if "funding" in d:
        return wire.UserEvent("funding", funding=_within("funding", _funding, d["funding"]))
    if "liquidation" in d:
        liquidation = _within("liquidation", _user_liquidation, d["liquidation"])
        return wire.UserEvent("liquidation", liquidation=liquidation)
    if "nonUserCancel" in d:
        cancels = _each(d["nonUserCancel"], "nonUserCancel",
                        lambda c: wire.NonUserCancel(_str(c, "coin"), _int(c, "oid")))
        return wire.UserEvent("nonUserCancel", cancels=cancels)
    keys = ", ".join(sorted(d)[:5])
    raise _FieldError(_K.UNKNOWN_VARIANT, f"data: no fills, funding, liquidation or "
                      f"nonUserCancel (has {keys})")


# -- control frames and post responses -------------------------------------------------


def _channel_error(frame: _Obj) -> wire.ChannelError:
    text = _data(frame)
    if type(text) is not str:
        raise _bad_type("data", "a string", text)
    match = _POST_ID_RE.search(text)
    return wire.ChannelError(text, int(match.group(1)) if match else None)


def _ack(d: _Obj) -> wire.SubscriptionAck:
    subscription = _obj(_get(d, "subscription"), "subscription")
    return wire.SubscriptionAck(_str(d, "method"), MappingProxyType(subscription))


def _order_status(value: object) -> wire.OrderStatus:
    if type(value) is str:
        return wire.StatusWord(value)
    d = _obj(value, "status")
    if "resting" in d:
        return _within("resting", lambda r: wire.Resting(
            _int(r, "oid"), _opt(_str, r, "cloid")), d["resting"])
    if "filled" in d:
        return _within("filled", lambda f: wire.Filled(
            _dec(f, "totalSz"), _dec(f, "avgPx"), _int(f, "oid"), _opt(_str, f, "cloid")),
            d["filled"])
    if "error" in d:
        return wire.StatusError(_str(d, "error"))
    raise _FieldError(_K.UNKNOWN_VARIANT, f"status: unknown shape, keys {sorted(d)[:5]}")


def _statuses(response: _Obj) -> tuple[wire.OrderStatus, ...]:
    data = response.get("data")
    statuses = None if data is None else _obj(data, "data").get("statuses")
    if statuses is None:
        return ()
    return tuple(_at(f"data.statuses[{i}]", _order_status, status)
                 for i, status in enumerate(_list(statuses, "data.statuses")))


def _action(post_id: int, payload: _Obj) -> wire.PostAction:
    status, response = _str(payload, "status"), _get(payload, "response")
    if status == "err":
        if type(response) is not str:
            raise _bad_type("response", "a string", response)
        return wire.PostAction(post_id, "err", None, (), response)
    if status != "ok":
        raise _FieldError(_K.BAD_VALUE, f"status: {_short(status)} is neither 'ok' nor 'err'")
    return _within("response", lambda r: wire.PostAction(
        post_id, "ok", _str(r, "type"), _statuses(r), None), response)


def _post_body(post_id: int, response: object) -> PostResponse:
    if not isinstance(response, dict) or "payload" not in response:
        raise _FieldError(_K.BAD_ENVELOPE, "response: expected an object with a payload")
    kind, payload = response.get("type"), response["payload"]
    if kind == "info":
        return _within("payload", lambda p: wire.PostInfo(
            post_id, _str(p, "type"), cast(wire.JsonValue, _get(p, "data"))), payload)
    if kind == "action":
        return _within("payload", lambda p: _action(post_id, p), payload)
    if kind == "error":
        if type(payload) is not str:
            raise _bad_type("payload", "a string", payload)
        return wire.PostError(post_id, payload)
    raise _FieldError(_K.BAD_ENVELOPE, f"response.type: {kind!r} is not info, action or error")


def _post(frame: _Obj) -> PostResponse:
    data = _data(frame)
    if not isinstance(data, dict) or type(data.get("id")) is not int:
        raise _FieldError(_K.BAD_ENVELOPE, "data.id: expected an integer post id")
    post_id: int = data["id"]
    try:
        return _post_body(post_id, data.get("response"))
    except _FieldError as bad:
        raise _FieldError(bad.kind, bad.detail, post_id) from None


# -- entry points ----------------------------------------------------------------------

_READERS: dict[str, Callable[[_Obj], Event]] = {
    "l2Book": lambda f: _book(_data_obj(f)), "bbo": _bbo,
    "trades": lambda f: wire.Trades(_each(_data(f), "data", _trade)),
    "activeAssetCtx": _asset_ctx, "allMids": _all_mids,
    "orderUpdates": lambda f: wire.OrderUpdates(_each(_data(f), "data", _order_update)),
    "userFills": _user_fills, "user": _user_event, "error": _channel_error,
    "subscriptionResponse": lambda f: _ack(_data_obj(f)),
    "pong": lambda f: wire.Pong(), "post": _post,
}

CHANNELS = frozenset(_READERS)
"""The channels `parse_frame` reads; any other is `UNKNOWN_CHANNEL`."""


def _guarded(read: Callable[[], _T], channel: str | None, post_id: int | None = None,
             ) -> _T | ParseError:
    try:
        return read()
    except _FieldError as bad:
        pid = post_id if bad.post_id is None else bad.post_id
        return ParseError(bad.kind, bad.detail, channel, pid)
    except Exception as exc:  # a parser bug must not escape into the feed; report it
        return ParseError(_K.INTERNAL, f"{type(exc).__name__}: {exc}"[:200], channel, post_id)


def _not_json(raw: object, exc: Exception) -> wire.Greeting | ParseError:
    text = raw
    if isinstance(raw, bytes | bytearray | memoryview):
        text = bytes(raw).decode("utf-8", "replace")
    if isinstance(text, str) and text.strip() == GREETING_TEXT:
        return wire.Greeting(GREETING_TEXT)
    return ParseError(_K.NOT_JSON, str(exc)[:120], None)


def parse_frame(raw: bytes | bytearray | memoryview | str) -> Event | ParseError:
    """Read one websocket frame.

    Args:
        raw: the frame as received (text frames as `str` or UTF-8 bytes).

    Returns:
        The typed message, or a `ParseError` whose `kind` says what was wrong. Never
        raises: an unexpected exception inside the parser becomes `INTERNAL`.
    """
    try:
        if type(raw) is bytes:  # the usual market frames first, read from their text
            if raw.startswith(_BOOK_PREFIX):
                if (book := _repeated_book(raw) or _compact_book(raw)) is not None:
                    return book
            elif (quote := _compact_quote(raw)) is not None:
                return quote
    except Exception as exc:  # a parser bug must not escape into the feed; report it
        return ParseError(_K.INTERNAL, f"{type(exc).__name__}: {exc}"[:200], None)
    return parse_exact(raw)


def parse_exact(raw: bytes | bytearray | memoryview | str) -> Event | ParseError:
    """`parse_frame` without its fast paths: the frame decoded and read by the exact
    readers, which name any fault. What the fast paths must agree with (they may only
    refuse a frame to this), and what the tests compare them with."""
    try:
        try:
            frame = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return _not_json(raw, exc)
        if not isinstance(frame, dict):
            return ParseError(_K.NOT_OBJECT, f"expected an object, got {_type_name(frame)}", None)
        channel = frame.get("channel")
        if type(channel) is not str:
            detail = f"channel: expected a string, got {_type_name(channel)}"
            return ParseError(_K.BAD_ENVELOPE, detail, None)
        read = _READERS.get(channel)
        if read is None:
            detail = f"channel {_short(channel)} is not read"
            return ParseError(_K.UNKNOWN_CHANNEL, detail, channel)
        try:  # as _guarded, inline: this runs for every frame
            return read(frame)
        except _FieldError as bad:
            return ParseError(bad.kind, bad.detail, channel, bad.post_id)
        except Exception as exc:  # a parser bug must not escape into the feed; report it
            return ParseError(_K.INTERNAL, f"{type(exc).__name__}: {exc}"[:200], channel)
    except Exception as exc:  # e.g. a raw of a type orjson refuses; the feed must survive
        return ParseError(_K.INTERNAL, f"{type(exc).__name__}: {exc}"[:200], None)


def parse_post_response(data: object) -> PostResponse | ParseError:
    """Read the `data` of a `post` frame: `{"id": n, "response": {"type": ..., ...}}`.

    Also serves an `/exchange` body received over HTTP, wrapped as
    `{"id": n, "response": {"type": "action", "payload": body}}`.

    Returns:
        `PostInfo`, `PostAction` or `PostError`, or a `ParseError` (with `post_id` when
        the id could be read). Never raises.
    """
    return _guarded(lambda: _post({"data": data}), "post")


def info_l2_book(info: wire.PostInfo) -> wire.L2Book | ParseError | None:
    """The book of an `l2Book` info response; None when the exchange knows no such coin.

    Returns:
        The `L2Book`, None for `"data": null`, or a `ParseError` (also for an info
        response of another type). Never raises.
    """
    if info.info_type != "l2Book":
        return ParseError(_K.BAD_VALUE, f"info type {_short(info.info_type)} is not l2Book",
                          "post", info.id)
    if info.data is None:
        return None
    return _guarded(lambda: _book(_obj(info.data, "data")), "post", info.id)
