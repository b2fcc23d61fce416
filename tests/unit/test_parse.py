"""Parsing real Hyperliquid frames (tests/fixtures, see ORIGINS.md) into typed messages.

Expected values are the exchange's own strings from the fixture files, read as Decimal
here, or the documented shapes of PROTOCOL.md sections 2 and 4.3.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from hip3term.venue.hyperliquid import wire
from hip3term.venue.hyperliquid.compact import peek_frame
from hip3term.venue.hyperliquid.parse import (
    CHANNELS,
    GREETING_TEXT,
    info_l2_book,
    parse_frame,
    parse_post_response,
)
from hip3term.venue.hyperliquid.wire import ParseError, ParseErrorKind

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
K = ParseErrorKind


def _records(name: str) -> list[dict[str, Any]]:
    lines = (FIXTURES / name).read_bytes().splitlines()
    return [orjson.loads(line) for line in lines if line.strip()]


WS = _records("real_ws_frames.jsonl")
ACCOUNT = _records("real_account_frames.jsonl")

EXPECTED_TYPE: dict[str, type[Any]] = {
    "l2Book": wire.L2Book, "bbo": wire.Bbo, "trades": wire.Trades,
    "activeAssetCtx": wire.AssetCtx, "subscriptionResponse": wire.SubscriptionAck,
    "error": wire.ChannelError, "pong": wire.Pong, "post": wire.PostInfo,
    "orderUpdates": wire.OrderUpdates, "userFills": wire.UserFills, "user": wire.UserEvent,
}


def _raw(msg: object) -> bytes:
    return orjson.dumps(msg)


def _parse(msg: object) -> object:
    return parse_frame(_raw(msg))


def _post_envelope(post_id: int, kind: str, payload: object) -> dict[str, Any]:
    return {"channel": "post", "data": {"id": post_id,
                                        "response": {"type": kind, "payload": payload}}}


def _one(records: list[dict[str, Any]], note_part: str) -> dict[str, Any]:
    found = [r["msg"] for r in records if note_part in r["note"]]
    assert len(found) == 1, note_part
    msg: dict[str, Any] = orjson.loads(orjson.dumps(found[0]))  # a copy the test may change
    return msg


def _ok(result: object, kind: type[Any]) -> Any:
    assert isinstance(result, kind), result
    return result


# -- every real frame ------------------------------------------------------------------


def test_fixture_files_hold_every_collected_line() -> None:
    assert (len(WS), len(ACCOUNT)) == (39, 14)


@pytest.mark.parametrize("record", WS, ids=lambda r: str(r["msg"].get("channel")))
def test_ws_frame_parses_to_its_channel_type(record: dict[str, Any]) -> None:
    channel = record["msg"]["channel"]
    result = _parse(record["msg"])
    if channel == "candle":  # a channel the workstation does not read
        assert result == ParseError(K.UNKNOWN_CHANNEL, "channel 'candle' is not read", "candle")
    else:
        assert isinstance(result, EXPECTED_TYPE[channel])
        assert result.channel == channel


def _account_result(msg: Any, index: int) -> object:
    # Four lines are bare /info or /exchange bodies, not frames: they reach hip3term as
    # the payload of a post response, so that is how they are fed here.
    if isinstance(msg, dict) and "channel" in msg:
        return _parse(msg)
    if isinstance(msg, dict) and "status" in msg:
        return _parse(_post_envelope(index, "action", msg))
    info_type = ("openOrders" if isinstance(msg, list) else
                 "meta" if "universe" in msg else "clearinghouseState")
    return _parse(_post_envelope(index, "info", {"type": info_type, "data": msg}))


@pytest.mark.parametrize("index", range(len(ACCOUNT)))
def test_account_line_parses_to_its_type(index: int) -> None:
    msg = ACCOUNT[index]["msg"]
    result = _account_result(msg, index)
    if isinstance(msg, dict) and "channel" in msg:
        assert isinstance(result, EXPECTED_TYPE[msg["channel"]])
    elif isinstance(msg, dict) and "status" in msg:
        assert _ok(result, wire.PostAction).id == index
    else:
        info = _ok(result, wire.PostInfo)
        assert (info.id, info.data) == (index, msg)


def test_every_fixture_frame_has_a_reader_or_is_candle() -> None:
    channels = {r["msg"]["channel"] for r in WS + ACCOUNT if "channel" in r["msg"]}
    assert channels - CHANNELS == {"candle"}


# -- market data -----------------------------------------------------------------------


def test_aapl_book_has_twenty_levels_each_side_with_exchange_values() -> None:
    msg = _one(WS, "full 20x20 xyz:AAPL book")
    raw_bids, raw_asks = msg["data"]["levels"]
    book = _ok(_parse(msg), wire.L2Book)
    assert (book.coin, book.time_ms, book.exchange_time_ms) == ("xyz:AAPL", 1778803273189,
                                                                1778803273189)
    assert (len(book.bids), len(book.asks)) == (20, 20)
    assert book.bids[0].px == Decimal("297.73") == Decimal(raw_bids[0]["px"])
    assert book.best_ask == wire.Level(Decimal("297.84"), Decimal("11.988"), 1)
    assert book.bids[-1] == wire.Level(Decimal("297.24"), Decimal("5.322"), 2)
    for ladder, raw in ((book.bids, raw_bids), (book.asks, raw_asks)):
        expected = [wire.Level(Decimal(r["px"]), Decimal(r["sz"]), r["n"]) for r in raw]
        assert list(ladder) == expected
        assert ladder.prices() == tuple(level.px for level in expected)
        assert ladder.sizes() == tuple(level.sz for level in expected)
        assert ladder == wire.Ladder(expected)
        assert all(type(level.n) is int for level in ladder)
    assert list(book.bids.prices()) == sorted(book.bids.prices(), reverse=True)
    assert list(book.asks.prices()) == sorted(book.asks.prices())


def test_ladder_reads_single_levels_slices_and_iteration_consistently() -> None:
    book = _ok(_parse(_one(WS, "full 20x20 xyz:AAPL book")), wire.L2Book)
    third, last = book.asks[2], book.asks[-1]  # before any full iteration
    assert list(book.asks)[2] == third and list(book.asks)[-1] == last
    assert book.asks[1:3] == (book.asks[1], book.asks[2])
    assert book.asks[::-1][0] == last
    assert wire.Level(Decimal("297.86"), Decimal("6.318"), 1) in book.asks
    with pytest.raises(IndexError):
        book.asks[20]
    assert hash(book.asks) == hash(wire.Ladder(list(book.asks)))
    assert book.bids != book.asks
    assert "297.73" in repr(book.bids)


def test_trimmed_and_suspect_books_keep_the_exchange_strings() -> None:
    sp500 = _ok(_parse(_one(WS, "HIP-3 xyz:SP500, trimmed")), wire.L2Book)
    assert sp500.bids[2] == wire.Level(Decimal("7673.0"), Decimal("0.1"), 3)
    suspect = _ok(_parse(_one(WS, "SUSPECT edited")), wire.L2Book)
    assert str(suspect.bids[1].px) == "338.90"  # the string's own scale is kept


def test_delisted_coin_book_is_empty_on_both_sides() -> None:
    book = _ok(_parse(_one(WS, "delisted coin: empty book")), wire.L2Book)
    assert (len(book.bids), len(book.asks), book.best_bid, book.best_ask) == (0, 0, None, None)
    assert list(book.bids) == [] and book.bids.prices() == ()


def test_bbo_reads_both_levels_and_null_sides() -> None:
    aapl = _ok(_parse(_one(WS, "xyz:AAPL bbo")), wire.Bbo)
    assert aapl == wire.Bbo("xyz:AAPL", 1788330949235,
                            wire.Level(Decimal("324.18"), Decimal("3.085"), 1),
                            wire.Level(Decimal("324.21"), Decimal("0.58"), 1))
    assert aapl.exchange_time_ms == 1788330949235
    matic = _ok(_parse(_one(WS, "bbo with both sides null")), wire.Bbo)
    assert (matic.coin, matic.bid, matic.ask) == ("MATIC", None, None)


def test_trades_keep_side_tid_and_users() -> None:
    trades = _ok(_parse(_one(WS, "xyz:NATGAS trades")), wire.Trades)
    first, second = trades.trades
    assert first == wire.Trade("xyz:NATGAS", "B", Decimal("3.1768"), Decimal("3.5"),
                               1790119150922, 644346118695407, "0xaa", ("0xbuyer", "0xseller"))
    assert (second.side, second.px, second.tid) == ("A", Decimal("3.1765"), 960840405993232)
    assert trades.exchange_time_ms == first.time_ms


def test_asset_ctx_reads_oracle_mark_and_impact_prices() -> None:
    ctx = _ok(_parse(_one(WS, "xyz:AAPL ctx")), wire.AssetCtx)
    assert (ctx.coin, ctx.mark_px, ctx.oracle_px, ctx.mid_px) == (
        "xyz:AAPL", Decimal("312.12"), Decimal("312.05"), Decimal("312.12"))
    assert ctx.impact_pxs == (Decimal("312.094"), Decimal("312.153"))
    assert (ctx.funding, ctx.premium) == (Decimal("0.0000074304"), Decimal("0.0002355392"))
    assert (ctx.open_interest, ctx.prev_day_px) == (Decimal("221413.164"), Decimal("337.34"))
    assert ctx.day_ntl_vlm == Decimal("172946726.7845301032")
    assert ctx.exchange_time_ms is None


def test_asset_ctx_of_a_bookless_coin_has_null_mid_premium_and_impact() -> None:
    ctx = _ok(_parse(_one(WS, "book-less asset ctx")), wire.AssetCtx)
    assert (ctx.mid_px, ctx.premium, ctx.impact_pxs) == (None, None, None)
    assert (ctx.mark_px, ctx.oracle_px) == (Decimal("0.37621"), Decimal("0.3754"))


def test_asset_ctx_without_day_volumes_still_gives_oracle_and_mark() -> None:
    ctx = _ok(_parse(_one(WS, "ctx trimmed to 5 keys")), wire.AssetCtx)
    assert (ctx.day_ntl_vlm, ctx.day_base_vlm, ctx.mid_px) == (None, None, None)
    assert (ctx.oracle_px, ctx.mark_px) == (Decimal("166.22"), Decimal("166.18"))
    assert ctx.open_interest == Decimal("1399928.0799999998")


def test_all_mids_reads_decimals_by_coin_and_the_dex_echo() -> None:
    # PROTOCOL.md 2.4 shape; the mids are the real xyz:AAPL and xyz:NATGAS ctx mids.
    mids_by_coin = {"xyz:AAPL": "312.12", "xyz:NATGAS": "3.17705"}
    frame: dict[str, Any] = {"channel": "allMids", "data": {"mids": mids_by_coin, "dex": "xyz"}}
    mids = _ok(_parse(frame), wire.AllMids)
    assert dict(mids.mids) == {"xyz:AAPL": Decimal("312.12"), "xyz:NATGAS": Decimal("3.17705")}
    assert mids.dex == "xyz"
    del frame["data"]["dex"]
    assert _ok(_parse(frame), wire.AllMids).dex is None


def test_all_mids_names_the_coin_of_a_bad_mid() -> None:
    frame = {"channel": "allMids", "data": {"mids": {"BTC": "84143.5", "ETH": 3000.5}}}
    assert _parse(frame) == ParseError(
        K.BAD_TYPE, "mids['ETH']: expected a decimal string, got a float", "allMids")


# -- control frames --------------------------------------------------------------------


def test_subscription_acks_echo_method_and_subscription() -> None:
    ack = _ok(_parse(_one(ACCOUNT, "TESTNET; userFills ack")), wire.SubscriptionAck)
    assert ack.method == "subscribe"
    assert dict(ack.subscription) == {"type": "userFills", "aggregateByTime": False,
                                      "user": "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"}
    unsub = _ok(_parse(WS[1]["msg"]), wire.SubscriptionAck)
    assert (unsub.method, unsub.subscription["nSigFigs"]) == ("unsubscribe", 5)


def test_error_frames_keep_the_text() -> None:
    texts = [r["msg"]["data"] for r in WS if r["msg"]["channel"] == "error"]
    assert len(texts) == 4
    for text in texts:
        assert _parse({"channel": "error", "data": text}) == wire.ChannelError(text, None)


def test_too_many_pending_posts_error_gives_the_post_id() -> None:
    frame = {"channel": "error", "data": "too many pending post requests id=4711"}
    assert _parse(frame) == wire.ChannelError("too many pending post requests id=4711", 4711)


def test_pong_and_greeting() -> None:
    assert _parse(_one(WS, "keepalive reply")) == wire.Pong()
    assert parse_frame(GREETING_TEXT) == wire.Greeting(GREETING_TEXT)
    assert parse_frame(GREETING_TEXT.encode() + b"\n") == wire.Greeting(GREETING_TEXT)
    assert wire.Greeting(GREETING_TEXT).channel is None


# -- account ---------------------------------------------------------------------------


def test_order_updates_follow_an_order_from_open_to_canceled() -> None:
    opened = _ok(_parse(_one(ACCOUNT, "resting post-only bid")), wire.OrderUpdates)
    canceled = _ok(_parse(_one(ACCOUNT, "same order canceled")), wire.OrderUpdates)
    (o,), (c,) = opened.updates, canceled.updates
    assert o == wire.OrderUpdate("BTC", "B", Decimal("31795.0"), Decimal("0.00037"),
                                 Decimal("0.00037"), 57118842019,
                                 "0xa1f0cddc17303d07f3fd128d5b35071d", 1785261289146, "open",
                                 1785261289146, None)
    assert (c.oid, c.status, c.status_timestamp_ms) == (o.oid, "canceled", 1785261290665)
    assert canceled.exchange_time_ms == 1785261290665


def test_order_update_keeps_a_rejection_status() -> None:
    updates = _ok(_parse(_one(ACCOUNT, "badAloPxRejected")), wire.OrderUpdates)
    assert updates.updates[0].status == "badAloPxRejected"
    assert updates.updates[0].cloid == "0xffabb2d185b75ea5ca0a5cd346b21507"


def test_user_fills_snapshot_flag_and_builder_fee() -> None:
    empty = _ok(_parse(_one(ACCOUNT, "userFills empty snapshot")), wire.UserFills)
    assert (empty.is_snapshot, empty.fills, empty.exchange_time_ms) == (True, (), None)
    sp500 = _ok(_parse(_one(ACCOUNT, "xyz:SP500 fill with builderFee")), wire.UserFills)
    (fill,) = sp500.fills
    assert sp500.is_snapshot and sp500.user == "0x9be9...522f"
    assert (fill.coin, fill.px, fill.sz, fill.side) == ("xyz:SP500", Decimal("7429.1"),
                                                        Decimal("1.149"), "B")
    assert (fill.fee, fill.builder_fee, fill.fee_token) == (Decimal("4.489271"),
                                                            Decimal("4.268017"), "USDC")
    assert (fill.crossed, fill.tid, fill.oid, fill.dir) == (False, 955441961359817,
                                                            502150498105, "Open Long")
    assert (fill.cloid, fill.liquidation, fill.twap_id) == (None, None, None)


def test_user_fills_without_flag_is_not_a_snapshot() -> None:
    msg = _one(ACCOUNT, "userFills snapshot of a public address")
    assert _ok(_parse(msg), wire.UserFills).fills[0].start_position == Decimal(
        "-3695042.8999999999")
    del msg["data"]["isSnapshot"]
    assert _ok(_parse(msg), wire.UserFills).is_snapshot is False


def test_user_channel_fill_with_a_liquidation_block() -> None:
    raw = (FIXTURES / "ws_user_fill_liquidation.json").read_bytes()
    event = _ok(parse_frame(raw), wire.UserEvent)
    (fill,) = event.fills
    assert event.kind == "fills" and event.exchange_time_ms == 1781528065899
    assert fill.liquidation == wire.Liquidation(
        "0x360878d351f05975e25f1807a27895e1e5e004fb", Decimal("66607.0"), "market")
    assert (fill.cloid, fill.start_position, fill.fee) == (
        "0xe8d5fd7ebbb4c3cff4d1803472a11463", Decimal("-0.0213"), Decimal("0.009997"))


def test_user_channel_funding_liquidation_and_cancel_variants() -> None:
    # Field names and types as PROTOCOL.md 2.4 documents the `user` channel.
    funding = {"time": 1784976000000, "coin": "xyz:NVDA", "usdc": "-0.52", "szi": "-56.0",
               "fundingRate": "0.0000074304", "nSamples": None}
    event = _ok(_parse({"channel": "user", "data": {"funding": funding}}), wire.UserEvent)
    assert event.funding == wire.UserFunding(1784976000000, "xyz:NVDA", Decimal("-0.52"),
                                             Decimal("-56.0"), Decimal("0.0000074304"), None)
    assert (event.kind, event.exchange_time_ms) == ("funding", 1784976000000)
    liq = {"lid": 7, "liquidator": "0x1", "liquidated_user": "0x2",
           "liquidated_ntl_pos": "12100.48", "liquidated_account_value": "-3.5"}
    event = _ok(_parse({"channel": "user", "data": {"liquidation": liq}}), wire.UserEvent)
    assert event.liquidation == wire.UserLiquidation(7, "0x1", "0x2", Decimal("12100.48"),
                                                     Decimal("-3.5"))
    cancels = {"nonUserCancel": [{"coin": "xyz:COIN", "oid": 502464503020}]}
    event = _ok(_parse({"channel": "user", "data": cancels}), wire.UserEvent)
    assert event.cancels == (wire.NonUserCancel("xyz:COIN", 502464503020),)
    assert event.exchange_time_ms is None


# -- post responses --------------------------------------------------------------------

INFO_FILES = sorted(FIXTURES.glob("hlpysdk__info_*.json"))


@pytest.mark.parametrize("path", INFO_FILES, ids=lambda p: p.name)
def test_real_info_response_in_a_post_envelope_parses_as_post_info(path: Path) -> None:
    info_type = path.name.split("__")[1].split("_")[1]
    body = orjson.loads(path.read_bytes())
    result = _parse(_post_envelope(12, "info", {"type": info_type, "data": body}))
    assert result == wire.PostInfo(12, info_type, body)


def test_info_l2_book_types_the_real_dydx_book() -> None:
    body = orjson.loads((FIXTURES / "hlpysdk__info_l2Book_DYDX_2023-07-17.json").read_bytes())
    info = wire.PostInfo(3, "l2Book", body)
    book = _ok(info_l2_book(info), wire.L2Book)
    assert (book.coin, book.time_ms, len(book.bids), len(book.asks)) == (
        "DYDX", body["time"], 20, 20)
    assert book.best_bid == wire.Level(Decimal("2.111"), Decimal("134.4"), 1)


def test_info_l2_book_of_an_unknown_coin_is_none() -> None:
    info = _ok(_parse(_one(WS, "post l2Book for unknown coin")), wire.PostInfo)
    assert (info.id, info.info_type, info.data) == (7, "l2Book", None)
    assert info_l2_book(info) is None
    other = info_l2_book(wire.PostInfo(8, "meta", {"universe": []}))
    assert isinstance(other, ParseError) and other.post_id == 8


def test_real_order_response_filled_on_xyz_silver() -> None:
    payload = _one(ACCOUNT, "IOC filled on xyz:SILVER")
    action = _ok(_parse(_post_envelope(5, "action", payload)), wire.PostAction)
    assert action == wire.PostAction(5, "ok", "order", (wire.Filled(
        Decimal("0.2"), Decimal("104.63"), 302228651101, None),), None)


def _order_payload(*statuses: object, kind: str = "order") -> dict[str, Any]:
    return {"status": "ok", "response": {"type": kind, "data": {"statuses": list(statuses)}}}


@pytest.mark.parametrize(("payload", "statuses"), [
    (_order_payload({"resting": {"oid": 88383}}), (wire.Resting(88383, None),)),
    (_order_payload({"resting": {"oid": 88383, "cloid": "0x1234567890abcdef1234567890abcdef"}}),
     (wire.Resting(88383, "0x1234567890abcdef1234567890abcdef"),)),
    (_order_payload({"filled": {"totalSz": "0.02", "avgPx": "1891.4", "oid": 77738308}}),
     (wire.Filled(Decimal("0.02"), Decimal("1891.4"), 77738308, None),)),
    (_order_payload({"error": "Order must have minimum value of $10."}, "waitingForFill",
                    "waitingForTrigger"),
     (wire.StatusError("Order must have minimum value of $10."),
      wire.StatusWord("waitingForFill"), wire.StatusWord("waitingForTrigger"))),
    (_order_payload("success", {"error": "Order was never placed, already canceled, or filled."},
                    kind="cancel"),
     (wire.StatusWord("success"),
      wire.StatusError("Order was never placed, already canceled, or filled."))),
], ids=["resting", "resting-cloid", "filled", "error-and-waiting", "cancel"])
def test_order_and_cancel_statuses_are_typed(payload: dict[str, Any],
                                             statuses: tuple[wire.OrderStatus, ...]) -> None:
    action = _ok(_parse(_post_envelope(9, "action", payload)), wire.PostAction)
    assert (action.status, action.statuses, action.error) == ("ok", statuses, None)
    assert action.response_type == payload["response"]["type"]


def test_default_response_and_whole_request_error() -> None:
    ok = _parse(_post_envelope(1, "action", {"status": "ok", "response": {"type": "default"}}))
    assert ok == wire.PostAction(1, "ok", "default", (), None)
    err_text = "Invalid nonce: duplicate nonce 1741107452532"
    err = _parse(_post_envelope(2, "action", {"status": "err", "response": err_text}))
    assert err == wire.PostAction(2, "err", None, (), err_text)


def test_post_error_response_keeps_the_text() -> None:
    result = _parse(_post_envelope(3, "error", "429 Too Many Requests"))
    assert result == wire.PostError(3, "429 Too Many Requests")


def test_parse_post_response_reads_the_post_data_directly() -> None:
    data = {"id": 4, "response": {"type": "action", "payload": _order_payload("success")}}
    assert parse_post_response(data) == wire.PostAction(4, "ok", "order",
                                                        (wire.StatusWord("success"),), None)
    bad = parse_post_response({"id": 4, "response": {"type": "action", "payload": {}}})
    assert bad == ParseError(K.MISSING_FIELD, "payload.status: missing", "post", 4)
    assert parse_post_response([]) == ParseError(
        K.BAD_ENVELOPE, "data.id: expected an integer post id", "post")


# -- classified failures ---------------------------------------------------------------


@pytest.mark.parametrize(("raw", "kind"), [
    (b"", K.NOT_JSON), (b"{", K.NOT_JSON), ("Websocket connection", K.NOT_JSON),
    (b"\xff\xfe", K.NOT_JSON), (b"[1, 2]", K.NOT_OBJECT), (b"42", K.NOT_OBJECT),
    (b'"pong"', K.NOT_OBJECT), (b'{"data": {}}', K.BAD_ENVELOPE),
    (b'{"channel": 5, "data": {}}', K.BAD_ENVELOPE), (b'{"channel": "l2Book"}', K.BAD_ENVELOPE),
    (b'{"channel": "post", "data": {"id": "7"}}', K.BAD_ENVELOPE),
    (b'{"channel": "allDexsAssetCtxs", "data": {"ctxs": []}}', K.UNKNOWN_CHANNEL),
    (b'{"channel": "user", "data": {"twapHistory": []}}', K.UNKNOWN_VARIANT),
])
def test_malformed_frames_are_classified(raw: bytes | str, kind: ParseErrorKind) -> None:
    result = parse_frame(raw)
    assert isinstance(result, ParseError) and result.kind is kind


def test_wrong_raw_type_is_reported_not_raised() -> None:
    result = parse_frame(12345)  # type: ignore[arg-type]  # what a buggy caller might pass
    assert isinstance(result, ParseError) and result.kind is K.NOT_JSON


@pytest.mark.parametrize(("mutate", "kind", "detail"), [
    (lambda d: d["levels"][0][3].pop("n"), K.MISSING_FIELD, "levels[0][3].n: missing"),
    (lambda d: d["levels"][1][0].update(px=297.84), K.BAD_TYPE,
     "levels[1][0].px: expected a decimal string, got a float"),
    (lambda d: d["levels"][0][5].update(sz=None), K.BAD_TYPE,
     "levels[0][5].sz: expected a decimal string, got null"),
    (lambda d: d["levels"][0][2].update(n=True), K.BAD_TYPE,
     "levels[0][2].n: expected an integer, got a bool"),
    (lambda d: d["levels"][0][2].update(n=-1), K.BAD_NUMBER, "levels[0][2].n: negative (-1)"),
    (lambda d: d["levels"][1][4].update(px="297.8x"), K.BAD_NUMBER,
     "levels[1][4].px: '297.8x' is not an unsigned decimal"),
    (lambda d: d["levels"][1][4].update(px="-297.89"), K.BAD_NUMBER,
     "levels[1][4].px: '-297.89' is not an unsigned decimal"),
    (lambda d: d["levels"][1][4].update(sz="1,5"), K.BAD_NUMBER,
     "levels[1][4].sz: '1,5' is not an unsigned decimal"),
    (lambda d: d["levels"][0].__setitem__(7, [1, 2]), K.BAD_TYPE,
     "levels[0][7]: expected an object, got a list"),
    (lambda d: d["levels"].append([]), K.BAD_VALUE, "levels: expected 2 items, got 3"),
    (lambda d: d.update(time="1778803273189"), K.BAD_TYPE,
     "time: expected an integer, got a string"),
    (lambda d: d.pop("coin"), K.MISSING_FIELD, "coin: missing"),
])
def test_broken_book_field_is_named_in_the_error(mutate: Any, kind: ParseErrorKind,
                                                 detail: str) -> None:
    frame = _one(WS, "full 20x20 xyz:AAPL book")
    mutate(frame["data"])
    assert _parse(frame) == ParseError(kind, detail, "l2Book")


@pytest.mark.parametrize("text", ["NaN", "Infinity", "1e5", " 1", "1_000", "", ".5", "1.",
                                  "\u0661\u0662", "+1"])
def test_numbers_python_would_accept_but_the_exchange_never_sends_are_refused(text: str) -> None:
    frame = _one(WS, "full 20x20 xyz:AAPL book")
    frame["data"]["levels"][0][0]["px"] = text
    result = _parse(frame)
    assert isinstance(result, ParseError) and result.kind is K.BAD_NUMBER
    assert result.detail.startswith("levels[0][0].px:")


def test_bad_side_and_status_values() -> None:
    trades = _one(WS, "xyz:NATGAS trades")
    trades["data"][1]["side"] = "S"
    assert _parse(trades) == ParseError(K.BAD_VALUE, "data[1].side: 'S' is neither 'B' nor 'A'",
                                        "trades")
    maybe = _parse(_post_envelope(6, "action", {"status": "maybe", "response": "?"}))
    assert maybe == ParseError(K.BAD_VALUE, "payload.status: 'maybe' is neither 'ok' nor 'err'",
                               "post", 6)


def test_unknown_order_status_shape_fails_with_the_post_id() -> None:
    result = _parse(_post_envelope(11, "action", _order_payload({"parked": {"oid": 1}})))
    assert isinstance(result, ParseError)
    assert (result.kind, result.post_id) == (K.UNKNOWN_VARIANT, 11)
    assert result.detail.startswith("payload.response.data.statuses[0].status:")


def test_extra_fields_are_ignored() -> None:
    frame = _one(WS, "xyz:AAPL bbo")
    frame["data"]["spread"] = "0.03"
    frame["data"]["bbo"][0]["future"] = {"x": [1]}
    frame["extra"] = True
    assert isinstance(_parse(frame), wire.Bbo)


# -- peek ------------------------------------------------------------------------------


@pytest.mark.parametrize("record", WS + ACCOUNT[:4], ids=lambda r: r["note"][:30])
def test_peek_agrees_with_the_full_parse(record: dict[str, Any]) -> None:
    compact, spaced = _raw(record["msg"]), json.dumps(record["msg"], indent=1)
    event = parse_frame(compact)
    channel = record["msg"].get("channel")
    time_ms = event.exchange_time_ms if channel in ("l2Book", "bbo", "trades") else None
    assert peek_frame(compact) == wire.FramePeek(channel, time_ms)
    assert peek_frame(spaced) == wire.FramePeek(channel, time_ms)  # the decoding fallback


@pytest.mark.parametrize("raw", [GREETING_TEXT, b"", b"[]", b'{"channel":', b'{"channel": 3}',
                                 "\ud800", memoryview(b'{"channel":"pong"}')])
def test_peek_never_fails(raw: bytes | str | memoryview) -> None:
    peek = peek_frame(raw)
    assert peek.channel in (None, "pong") and peek.time_ms is None
