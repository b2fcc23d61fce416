"""Every fault of `--faults`, as a client of the simulator sees it."""

from __future__ import annotations

import time
from decimal import Decimal

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from hip3term.venue.hyperliquid.actions import LimitType, order_action, order_wire
from hip3term.venue.hyperliquid.signing import signed_body
from hip3term.venue.sim.faults import REJECT_STORM_ERROR
from tests.integration.conftest import (
    ACCOUNT_KEY,
    COIN,
    COIN_ASSET,
    ClientFactory,
    ServerFactory,
)

PING = '{"method":"ping"}'
PONG = '{"channel":"pong"}'


async def test_drop_closes_the_connection_every_period(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(faults="drop=5s")
    client = await make_client(server)
    await server.advance(4_900)
    assert await client.barrier() == []
    await server.advance(200)
    with pytest.raises(ConnectionClosed) as closed:
        await client.barrier()
    assert closed.value.rcvd is None  # no close frame: the TCP connection was cut
    assert server.fault_counters()["drop"] == 1


async def test_stall_holds_every_frame_until_the_window_ends(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(faults="stall=2s/10s")
    client = await make_client(server)
    await client.subscribe({"type": "l2Book", "coin": COIN})
    await client.recv_channel("l2Book")
    await server.advance(9_900)
    assert [f["channel"] for f in await client.barrier()] == ["l2Book"] * 19  # 0.5 .. 9.5 s
    await server.advance(600)  # 10.5 s: inside the first stall window [10 s, 12 s)
    await client.send_json({"method": "ping"})
    with pytest.raises(TimeoutError):
        await client.recv_text(wait_s=0.3)
    await server.advance(2_000)
    held = await client.barrier()  # up to the pong that was held, in one burst
    later = await client.barrier()
    assert [f["channel"] for f in held] == ["l2Book"] * 2  # the pushes of 10 s and 10.5 s
    assert [f["channel"] for f in later] == ["l2Book"] * 4  # 11 s .. 12.5 s
    assert server.fault_counters()["stall"] == 1


async def test_delay_holds_each_frame(make_server: ServerFactory) -> None:
    server = await make_server(faults="delay=200ms")
    async with connect(server.url) as ws:
        await ws.recv()  # greeting
        sent = time.monotonic()
        await ws.send(PING)
        assert await ws.recv() == PONG
        assert time.monotonic() - sent >= 0.2


async def test_dup_sends_frames_twice(make_server: ServerFactory) -> None:
    server = await make_server(faults="dup=1")
    async with connect(server.url) as ws:
        greeting = "Websocket connection established."
        assert [await ws.recv(), await ws.recv()] == [greeting, greeting]
        await ws.send(PING)
        assert [await ws.recv(), await ws.recv()] == [PONG, PONG]


async def test_malformed_replaces_frames_by_broken_ones(make_server: ServerFactory) -> None:
    server = await make_server(faults="malformed=100%")
    async with connect(server.url) as ws:
        assert await ws.recv() != "Websocket connection established."
        for _ in range(5):
            await ws.send(PING)
            text = await ws.recv()
            assert text != PONG
            try:
                parsed = orjson.loads(text)
            except orjson.JSONDecodeError:
                continue
            assert parsed != {"channel": "pong"}
    assert server.fault_counters()["malformed"] == 6


async def test_unanswered_post_is_executed_but_never_answered(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(faults="unanswered=1")
    client = await make_client(server)
    await client.subscribe({"type": "orderUpdates", "user": ACCOUNT_KEY.address})
    bids, _ = server.exchange.engine.book_levels(COIN_ASSET, 1)  # info posts go unanswered
    wire = order_wire(COIN_ASSET, True, bids[0].px, Decimal("0.1"), False, LimitType("Alo"))
    body = signed_body(ACCOUNT_KEY, order_action([wire]), client.next_nonce(), None, None, True)
    request = {"type": "action", "payload": body}
    await client.send_json({"method": "post", "id": 1, "request": request})
    frames = await client.barrier()
    assert [frame["channel"] for frame in frames] == ["orderUpdates"]  # executed ...
    assert frames[0]["data"][0]["status"] == "open"  # ... but never answered
    assert server.fault_counters()["unanswered"] == 1


async def test_reject_storm_rejects_every_order_during_its_window(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(faults="reject_storm=5s/10s")
    client = await make_client(server)
    bids, _ = await client.book()
    assert "resting" in await client.order(bids[-1]["px"], "0.1")
    await server.advance(10_000)
    bids, _ = await client.book()
    assert await client.order(bids[-1]["px"], "0.1") == {"error": REJECT_STORM_ERROR}
    await server.advance(5_000)
    bids, _ = await client.book()
    assert "resting" in await client.order(bids[-1]["px"], "0.1")
    assert server.fault_counters()["reject_storm.orders"] == 1
