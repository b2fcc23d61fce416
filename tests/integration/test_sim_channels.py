"""The simulator's market-data channels: cadence, content and shapes against real frames."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise
from typing import Any

from tests.integration.conftest import (
    ACCOUNT_KEY,
    COIN,
    FIXTURES,
    ClientFactory,
    ServerFactory,
    SimClient,
    key_shape,
    real_frames,
)

WS = "real_ws_frames.jsonl"


def of(frames: list[Any], channel: str) -> list[Any]:
    return [frame for frame in frames if frame["channel"] == channel]


async def test_l2book_snapshot_on_subscribe_then_every_interval(client: SimClient) -> None:
    await client.subscribe({"type": "l2Book", "coin": COIN})
    first = await client.recv_channel("l2Book")
    assert key_shape(first) == key_shape(real_frames(WS)[14])  # full 20x20 xyz:AAPL
    assert [len(side) for side in first["data"]["levels"]] == [20, 20]
    await client.server.advance(2000)
    books = of(await client.barrier(), "l2Book")
    times = [book["data"]["time"] for book in books]
    assert len(books) == 4
    assert all(b - a == 500 for a, b in pairwise([first["data"]["time"], *times]))


async def test_book_interval_is_configurable(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(book_interval_s=0.2)
    client = await make_client(server)
    await client.subscribe({"type": "l2Book", "coin": COIN})
    await client.recv_channel("l2Book")
    await server.advance(1000)
    assert len(of(await client.barrier(), "l2Book")) == 5


async def test_fast_l2book_has_five_levels_and_the_flag(client: SimClient) -> None:
    await client.subscribe({"type": "l2Book", "coin": COIN, "fast": True})
    frame = await client.recv_channel("l2Book")
    real = real_frames(WS)[26]  # testnet fast frame: 5 levels, "fast": true
    assert key_shape(frame) == key_shape(real)
    assert frame["data"]["fast"] is True
    assert [len(side) for side in frame["data"]["levels"]] == [5, 5]


async def test_bbo_is_sent_only_when_it_changes(client: SimClient) -> None:
    await client.subscribe({"type": "bbo", "coin": COIN})
    first = await client.recv_channel("bbo")
    assert key_shape(first) == key_shape(real_frames(WS)[17])  # xyz:AAPL bbo
    bids, asks = await client.book()
    assert first["data"]["bbo"] == [bids[0], asks[0]]
    await client.server.advance(30_000)
    frames = [first, *of(await client.barrier(), "bbo")]
    assert len(frames) > 1
    for previous, current in pairwise(frames):
        assert current["data"]["bbo"] != previous["data"]["bbo"]


async def test_trades_carry_the_real_fields(client: SimClient) -> None:
    await client.subscribe({"type": "trades", "coin": COIN})
    await client.server.advance(120_000)
    trades = [t for frame in of(await client.barrier(), "trades") for t in frame["data"]]
    assert trades
    real = real_frames(WS)[33]["data"][0]  # mainnet BTC trade, verbatim
    assert all(key_shape(trade) == key_shape(real) for trade in trades)
    assert all(trade["coin"] == COIN and trade["side"] in ("A", "B") for trade in trades)
    tids = [trade["tid"] for trade in trades]
    assert len(set(tids)) == len(tids)


async def test_recent_trades_are_replayed_on_subscribe(client: SimClient) -> None:
    await client.server.advance(120_000)
    await client.subscribe({"type": "trades", "coin": COIN})
    replay = await client.recv_channel("trades")
    assert 0 < len(replay["data"]) <= 30


async def test_active_asset_ctx_about_once_a_second(client: SimClient) -> None:
    await client.subscribe({"type": "activeAssetCtx", "coin": COIN})
    first = await client.recv_channel("activeAssetCtx")
    assert key_shape(first) == key_shape(real_frames(WS)[15])  # xyz:AAPL ctx
    await client.server.advance(3000)
    ctxs = of(await client.barrier(), "activeAssetCtx")
    assert len(ctxs) == 3
    assert all(frame["data"]["coin"] == COIN for frame in ctxs)


async def test_oracle_moves_every_few_seconds_and_mark_within_one_percent(
    client: SimClient,
) -> None:
    await client.subscribe({"type": "activeAssetCtx", "coin": COIN})
    first = await client.recv_channel("activeAssetCtx")
    await client.server.advance(60_000)
    ctxs = [first, *of(await client.barrier(), "activeAssetCtx")]
    oracles = [Decimal(frame["data"]["ctx"]["oraclePx"]) for frame in ctxs]
    marks = [Decimal(frame["data"]["ctx"]["markPx"]) for frame in ctxs]
    changes = sum(1 for a, b in pairwise(oracles) if a != b)
    assert 5 <= changes <= 24  # one push every 2.5 s or more, mean ~3 s: ~20 in 60 s
    assert all(abs(b - a) <= a / 100 for a, b in pairwise(marks))


async def test_all_mids_with_dex(client: SimClient) -> None:
    await client.subscribe({"type": "allMids", "dex": "xyz"})
    frame = await client.recv_channel("allMids")
    assert frame["data"]["dex"] == "xyz"
    assert list(frame["data"]["mids"]) == [COIN]
    bids, asks = await client.book()
    mid = (Decimal(bids[0]["px"]) + Decimal(asks[0]["px"])) / 2
    assert Decimal(frame["data"]["mids"][COIN]) == mid


async def test_unsubscribe_stops_pushes(client: SimClient) -> None:
    sub = {"type": "l2Book", "coin": COIN}
    await client.subscribe(sub)
    await client.recv_channel("l2Book")
    await client.send_json({"method": "unsubscribe", "subscription": sub})
    await client.recv_channel("subscriptionResponse")
    await client.server.advance(2000)
    assert of(await client.barrier(), "l2Book") == []


async def test_private_frames_go_only_to_their_subscribers(
    server: Any, make_client: ClientFactory
) -> None:
    trader = await make_client(server)
    watcher = await make_client(server)
    other = "0x" + "55" * 20
    await watcher.subscribe({"type": "orderUpdates", "user": other})
    await trader.subscribe({"type": "orderUpdates", "user": ACCOUNT_KEY.address})
    bids, _ = await trader.book()
    await trader.order(bids[0]["px"], "0.1", tif="Alo")
    assert of(await trader.barrier(), "orderUpdates")
    assert await watcher.barrier() == []


async def test_replayed_recording_serves_the_recorded_book_and_ctx(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    recording = FIXTURES / "recordings" / "xyz_aapl_frames.jsonl"
    server = await make_server(markets=("AAPL",), recording=recording)
    client = await make_client(server)
    await server.advance(2_000)  # the recorded book is due 1.189 s after the start
    book = await client.info({"type": "l2Book", "coin": "xyz:AAPL"})
    real = real_frames(WS)[14]["data"]  # the same frame, as the exchange sent it
    for side, real_side in zip(book["levels"], real["levels"], strict=True):
        assert [(Decimal(lv["px"]), Decimal(lv["sz"]), lv["n"]) for lv in side] == [
            (Decimal(lv["px"]), Decimal(lv["sz"]), lv["n"]) for lv in real_side
        ]
    await client.subscribe({"type": "activeAssetCtx", "coin": "xyz:AAPL"})
    ctx = await client.recv_channel("activeAssetCtx")
    assert ctx == real_frames(WS)[15]  # the recorded ctx, verbatim
