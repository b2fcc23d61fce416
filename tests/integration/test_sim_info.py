"""Every info request of the simulator, with shapes checked against real exchange responses."""

from __future__ import annotations

import json
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from tests.integration.conftest import (
    ACCOUNT_KEY,
    AGENT_KEY,
    COIN,
    FIXTURES,
    SimClient,
    key_shape,
    real_frames,
)

ACCOUNT = "real_account_frames.jsonl"
WS = "real_ws_frames.jsonl"


def fixture_json(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


async def buy_at_ask(client: SimClient, sz: str = "0.1") -> dict[str, Any]:
    _, asks = await client.book()
    status: dict[str, Any] = await client.order(asks[0]["px"], sz, tif="Ioc")
    assert "filled" in status, status
    return status


async def test_meta_xyz_is_the_real_response(client: SimClient) -> None:
    assert await client.info({"type": "meta", "dex": "xyz"}) == fixture_json("info_meta_xyz.json")


async def test_meta_without_dex_has_no_xyz_markets(client: SimClient) -> None:
    meta = await client.info({"type": "meta"})
    assert meta["universe"] == []


async def test_perp_dexs_is_the_real_response(client: SimClient) -> None:
    assert await client.info({"type": "perpDexs"}) == fixture_json("info_perpDexs.json")


async def test_meta_and_asset_ctxs_aligns_ctxs_with_the_universe(client: SimClient) -> None:
    meta, ctxs = await client.info({"type": "metaAndAssetCtxs", "dex": "xyz"})
    assert meta == fixture_json("info_meta_xyz.json")
    assert len(ctxs) == len(meta["universe"])
    real_ctx_shape = key_shape(real_frames(WS)[15]["data"]["ctx"])  # xyz:AAPL, captured
    names = [entry["name"] for entry in meta["universe"]]
    live = ctxs[names.index(COIN)]
    assert key_shape(live) == real_ctx_shape
    assert key_shape(ctxs[names.index("xyz:TSLA")]) == real_ctx_shape


async def test_unknown_dex_is_an_error(client: SimClient) -> None:
    response = await client.post("info", {"type": "meta", "dex": "nope"})
    assert response["type"] == "error"


async def test_all_mids_with_dex_is_the_book_mid(client: SimClient) -> None:
    bids, asks = await client.book()
    mids = await client.info({"type": "allMids", "dex": "xyz"})
    assert list(mids) == [COIN]
    expected = (Decimal(bids[0]["px"]) + Decimal(asks[0]["px"])) / 2
    assert Decimal(mids[COIN]) == expected
    assert await client.info({"type": "allMids"}) == {}


async def test_l2book_has_twenty_real_shaped_levels_a_side(client: SimClient) -> None:
    data = await client.info({"type": "l2Book", "coin": COIN})
    real = real_frames(WS)[14]["data"]  # a full 20x20 xyz:AAPL book
    assert key_shape(data) == key_shape(real)
    bids, asks = data["levels"]
    assert len(bids) == len(asks) == 20
    bid_pxs = [Decimal(level["px"]) for level in bids]
    ask_pxs = [Decimal(level["px"]) for level in asks]
    assert bid_pxs == sorted(bid_pxs, reverse=True)
    assert ask_pxs == sorted(ask_pxs)
    assert bid_pxs[0] < ask_pxs[0]


async def test_l2book_with_sig_figs_aggregates_levels(client: SimClient) -> None:
    # The synthetic book has 20 levels a side, so the full-precision answer is all of it.
    full = await client.info({"type": "l2Book", "coin": COIN})
    coarse = await client.info({"type": "l2Book", "coin": COIN, "nSigFigs": 3})
    for rounding, side, full_side in zip(
        (ROUND_FLOOR, ROUND_CEILING), coarse["levels"], full["levels"], strict=True
    ):
        buckets: dict[Decimal, tuple[Decimal, int]] = {}
        for level in full_side:  # ~190: 3 significant figures = whole units
            bucket = Decimal(level["px"]).quantize(Decimal(1), rounding)
            sz, n = buckets.get(bucket, (Decimal(0), 0))
            buckets[bucket] = (sz + Decimal(level["sz"]), n + level["n"])
        got = {Decimal(lv["px"]): (Decimal(lv["sz"]), lv["n"]) for lv in side}
        assert got == buckets


async def test_clearinghouse_state_of_a_flat_account_has_the_real_shape(
    client: SimClient,
) -> None:
    state = await client.info(
        {"type": "clearinghouseState", "user": ACCOUNT_KEY.address, "dex": "xyz"}
    )
    assert key_shape(state) == key_shape(real_frames(ACCOUNT)[4])
    assert Decimal(state["marginSummary"]["accountValue"]) == 10_000
    assert Decimal(state["withdrawable"]) == 10_000


async def test_clearinghouse_state_with_a_position_has_the_real_shape(client: SimClient) -> None:
    status = await buy_at_ask(client)
    state = await client.info(
        {"type": "clearinghouseState", "user": ACCOUNT_KEY.address, "dex": "xyz"}
    )
    real = real_frames(ACCOUNT)[12]  # isolated xyz:NVDA short
    assert key_shape(state["assetPositions"]) == key_shape(real["assetPositions"])
    position = state["assetPositions"][0]["position"]
    assert position["coin"] == COIN
    assert position["szi"] == status["filled"]["totalSz"]
    assert position["leverage"]["type"] == "isolated"


async def test_open_orders_and_frontend_open_orders_have_the_real_shapes(
    client: SimClient,
) -> None:
    bids, _ = await client.book()
    cloid = "0x" + "ab" * 16
    status = await client.order(bids[-1]["px"], "0.1", cloid=cloid)
    oid = status["resting"]["oid"]
    orders = await client.info({"type": "openOrders", "user": ACCOUNT_KEY.address, "dex": "xyz"})
    assert key_shape(orders) == key_shape(real_frames(ACCOUNT)[5])  # captured, with cloid
    assert list(orders[0]) == list(real_frames(ACCOUNT)[5][0])  # key order too
    assert (orders[0]["oid"], orders[0]["cloid"], orders[0]["coin"]) == (oid, cloid, COIN)
    frontend = await client.info(
        {"type": "frontendOpenOrders", "user": ACCOUNT_KEY.address, "dex": "xyz"}
    )
    real_keys = set(fixture_json("info_frontendOpenOrders.json")[0])
    assert set(frontend[0]) - real_keys == {"cloid"}  # 2023 capture predates cloid
    assert real_keys <= set(frontend[0])
    no_dex = await client.info({"type": "openOrders", "user": ACCOUNT_KEY.address})
    assert no_dex == []


async def test_order_status_by_oid_and_cloid(client: SimClient) -> None:
    bids, _ = await client.book()
    cloid = "0x" + "cd" * 16
    oid = (await client.order(bids[-1]["px"], "0.1", cloid=cloid))["resting"]["oid"]
    by_oid = await client.info({"type": "orderStatus", "user": ACCOUNT_KEY.address, "oid": oid})
    by_cloid = await client.info(
        {"type": "orderStatus", "user": ACCOUNT_KEY.address, "oid": cloid}
    )
    assert by_oid == by_cloid
    assert by_oid["status"] == "order"
    assert by_oid["order"]["status"] == "open"
    frontend_keys = set(fixture_json("info_frontendOpenOrders.json")[0])
    assert frontend_keys <= set(by_oid["order"]["order"])
    unknown = await client.info(
        {"type": "orderStatus", "user": ACCOUNT_KEY.address, "oid": oid + 10_000}
    )
    assert unknown == {"status": "unknownOid"}


async def test_user_fills_and_by_time_have_the_real_fill_shape(client: SimClient) -> None:
    before = client.server.exchange.now_ms()
    await buy_at_ask(client)
    fills = await client.info({"type": "userFills", "user": ACCOUNT_KEY.address})
    real_fill = real_frames(ACCOUNT)[10]["data"]["fills"][0]
    assert fills
    assert key_shape(fills[0]) == key_shape(real_fill)
    by_time = await client.info(
        {"type": "userFillsByTime", "user": ACCOUNT_KEY.address, "startTime": before}
    )
    assert sorted(f["tid"] for f in by_time) == sorted(f["tid"] for f in fills)
    later = await client.info(
        {"type": "userFillsByTime", "user": ACCOUNT_KEY.address, "startTime": before + 1}
    )
    assert later == []
    assert await client.info({"type": "userFills", "user": AGENT_KEY.address}) == []


async def test_user_rate_limit_counts_requests_and_volume(client: SimClient) -> None:
    start = await client.info({"type": "userRateLimit", "user": ACCOUNT_KEY.address})
    assert start == {
        "cumVlm": "0.0", "nRequestsUsed": 0, "nRequestsCap": 10000, "nRequestsSurplus": 0
    }
    status = await buy_at_ask(client, "1")
    notional = Decimal(status["filled"]["totalSz"]) * Decimal(status["filled"]["avgPx"])
    after = await client.info({"type": "userRateLimit", "user": ACCOUNT_KEY.address})
    assert after["nRequestsUsed"] == 1
    assert Decimal(after["cumVlm"]) == notional
    assert after["nRequestsCap"] == 10000 + int(notional)


async def test_missing_user_is_a_deserialize_error(client: SimClient) -> None:
    response = await client.post("info", {"type": "clearinghouseState"})
    assert response == {
        "type": "error",
        "payload": "Failed to deserialize the JSON body into the target type: missing field `user`",
    }
