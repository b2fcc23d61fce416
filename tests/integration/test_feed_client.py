"""FeedClient against the real simulator on 127.0.0.1:0 (live clock), and real frames.

The simulator runs on the wall clock here (the feed client runs on real time), with fast
pushes (book every 0.1 s) so that every channel delivers within a second. Assertions
wait on conditions with generous timeouts; nothing depends on exact timing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.server import ServerConnection, serve

from hip3term.book import MarketState
from hip3term.core.clock import LiveClock
from hip3term.feeds import (
    FeedClient,
    FeedClientSettings,
    FeedServerError,
    FeedSubscribed,
    HealthEvent,
    NotConnected,
    PostRejected,
)
from hip3term.keys import SecretKey
from hip3term.venue.hyperliquid.actions import LimitType, Tif, order_action, order_wire
from hip3term.venue.hyperliquid.parse import info_l2_book
from hip3term.venue.hyperliquid.signing import signed_body
from hip3term.venue.hyperliquid.wire import (
    Event,
    Filled,
    L2Book,
    OrderUpdates,
    PostAction,
    Trades,
    UserFills,
)
from hip3term.venue.sim.exchange import SimExchange
from hip3term.venue.sim.faults import FaultSpec
from hip3term.venue.sim.server import ServerConfig, SimServer

COIN = "xyz:COIN"
COIN_ASSET = 110007
ACCOUNT_KEY = SecretKey.from_hex("0x" + "44" * 32)  # a throwaway test key
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
WAIT_S = 10.0

FAST = FeedClientSettings(ping_interval_s=0.2, pong_timeout_s=2.0, backoff_initial_s=0.05,
                          backoff_max_s=0.2, ack_timeout_s=0.5, open_timeout_s=5.0,
                          close_timeout_s=1.0)

ServerFactory = Callable[..., Awaitable[SimServer]]


@pytest.fixture
async def live_server() -> AsyncIterator[ServerFactory]:
    servers: list[SimServer] = []

    async def factory(*, faults: str = "", seed: int = 7, max_pending_posts: int = 100,
                      unanswered_hold_s: float = 30.0) -> SimServer:
        exchange = SimExchange.create(("COIN",), seed=seed,
                                      fund={ACCOUNT_KEY.address: Decimal(10_000)})
        config = ServerConfig(book_interval_s=0.1, ctx_interval_s=0.2, tick_s=0.02,
                              faults=FaultSpec.parse(faults), seed=seed,
                              max_pending_posts=max_pending_posts,
                              unanswered_hold_s=unanswered_hold_s)
        server = SimServer(exchange, config)
        await server.start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        await server.stop()


class Consumer:
    """What an engine would wire to the client: a market state and records of callbacks."""

    def __init__(self, coin: str = COIN) -> None:
        self.clock = LiveClock()
        self.state = MarketState(coin)
        self.events: list[Event] = []
        self.health: list[HealthEvent] = []
        self.raw: list[tuple[bytes, str | None, int | None]] = []
        self.posts_sent: list[bytes] = []
        self.controls: list[tuple[bytes, str]] = []

    def on_event(self, event: Event) -> None:
        self.events.append(event)
        self.state.apply(event, self.clock.monotonic_ns())

    def on_health(self, event: HealthEvent) -> None:
        self.health.append(event)

    def on_raw(self, raw: bytes, channel: str | None, exch_ms: int | None) -> None:
        self.raw.append((raw, channel, exch_ms))

    def client(self, url: str, settings: FeedClientSettings = FAST, **kwargs: Any) -> FeedClient:
        return FeedClient(url, self.state.coin, settings=settings, clock=self.clock,
                          on_event=self.on_event, on_health=self.on_health, on_raw=self.on_raw,
                          on_post_sent=self.posts_sent.append,
                          on_control_sent=lambda raw, method: self.controls.append((raw, method)),
                          **kwargs)

    def of_type(self, kind: type[Any]) -> list[Any]:
        return [event for event in self.events if isinstance(event, kind)]

    def health_of_type(self, kind: type[Any]) -> list[Any]:
        return [event for event in self.health if isinstance(event, kind)]


async def eventually(condition: Callable[[], bool]) -> None:
    """Wait until `condition()` holds, polling (the conditions read state the client
    updates from many places, so there is no single event to wait on); fail after
    `WAIT_S` seconds."""
    async with asyncio.timeout(WAIT_S):
        while not condition():  # noqa: ASYNC110  # reason: polling is the point here
            await asyncio.sleep(0.01)


def order_body(px: Decimal, sz: Decimal, *, is_buy: bool = True, tif: Tif = "Ioc",
               nonce: int | None = None) -> dict[str, Any]:
    wire = order_wire(COIN_ASSET, is_buy, px, sz, False, LimitType(tif))
    return signed_body(ACCOUNT_KEY, order_action([wire]), nonce or LiveClock().now_ms(),
                       None, None, True)


# -- the simulator ---------------------------------------------------------------------


async def test_every_channel_reaches_the_market_state(live_server: ServerFactory) -> None:
    server = await live_server()
    consumer = Consumer()
    async with consumer.client(server.url, user=ACCOUNT_KEY.address) as client:
        await client.wait_ready(WAIT_S)
        subscribed = [e.subscription["type"] for e in consumer.health_of_type(FeedSubscribed)]
        assert sorted(subscribed) == sorted(
            ["l2Book", "bbo", "trades", "activeAssetCtx", "orderUpdates", "userFills"])
        await eventually(lambda: consumer.state.features(
            consumer.clock.monotonic_ns()).rv_1s_bps.valid)
        features = consumer.state.features(consumer.clock.monotonic_ns())
        for name in ("mid", "microprice", "spread_bps", "imbalance", "buy_dislocation_bps",
                     "sell_dislocation_bps", "mark_oracle_bps", "oracle_age_s", "rv_1s_bps"):
            assert getattr(features, name).valid, (name, getattr(features, name))
        snapshots = consumer.of_type(UserFills)
        assert snapshots
        assert snapshots[0].is_snapshot
        health = client.health()
    assert health.ready
    assert health.channels["l2Book"].frames >= 5
    assert health.channels["bbo"].frames >= 1
    assert health.channels["activeAssetCtx"].frames >= 2
    assert health.total("malformed") == 0
    assert health.total("duplicates") == 0
    assert health.rtt_ms is not None


async def test_info_post_round_trip(live_server: ServerFactory) -> None:
    server = await live_server()
    consumer = Consumer()
    async with consumer.client(server.url) as client:
        await client.wait_ready(WAIT_S)
        info = await client.post_info({"type": "l2Book", "coin": COIN}, timeout=WAIT_S)
        book = info_l2_book(info)
        assert isinstance(book, L2Book)
        assert book.coin == COIN
        assert book.bids
        assert book.asks
        assert book.bids[0].px < book.asks[0].px
        second = await client.post_info({"type": "meta", "dex": "xyz"}, timeout=WAIT_S)
        assert second.id > info.id
        assert isinstance(second.data, dict)
        assert client.health().pending_posts == 0
    assert len(consumer.posts_sent) == 2
    assert [orjson.loads(raw)["id"] for raw in consumer.posts_sent] == [info.id, second.id]


async def test_info_error_answer_is_rejected(live_server: ServerFactory) -> None:
    server = await live_server()
    async with Consumer().client(server.url) as client:
        await client.wait_ready(WAIT_S)
        with pytest.raises(PostRejected, match="Failed to deserialize") as caught:
            await client.post_info({"type": "noSuchInfo"}, timeout=WAIT_S)
        assert caught.value.sent
        assert client.health().pending_posts == 0


async def test_signed_order_gets_its_answer_and_its_events(live_server: ServerFactory) -> None:
    server = await live_server()
    consumer = Consumer()
    async with consumer.client(server.url, user=ACCOUNT_KEY.address) as client:
        await client.wait_ready(WAIT_S)
        await eventually(lambda: consumer.state.best_ask is not None)
        ask = consumer.state.best_ask
        assert ask is not None
        steps: list[str] = []
        answer = await client.post(
            {"type": "action", "payload": order_body(ask.px + Decimal("0.05"), Decimal("0.1"))},
            timeout=WAIT_S, on_sent=lambda post_id: steps.append(f"sent {post_id}"))
        steps.append(f"answered {answer.id}")
        assert steps == [f"sent {answer.id}", f"answered {answer.id}"]
        assert isinstance(answer, PostAction)
        assert answer.status == "ok", answer
        filled = answer.statuses[0]
        assert isinstance(filled, Filled), filled
        assert filled.total_sz == Decimal("0.1")
        await eventually(lambda: any(f.oid == filled.oid for u in consumer.of_type(UserFills)
                                     for f in u.fills))
        await eventually(lambda: any(u.oid == filled.oid and u.status == "filled"
                                     for o in consumer.of_type(OrderUpdates) for u in o.updates))
        fill = next(f for u in consumer.of_type(UserFills) for f in u.fills if f.oid == filled.oid)
        await eventually(lambda: any(t.tid == fill.tid for t in consumer.state.recent_trades))
        flow = consumer.state.features(consumer.clock.monotonic_ns()).trade_flow
        assert flow.valid
    assert any(isinstance(e, Trades) for e in consumer.events)


async def test_post_without_connection_is_not_sent(live_server: ServerFactory) -> None:
    server = await live_server()
    consumer = Consumer()
    client = consumer.client(server.url)
    with pytest.raises(NotConnected):
        await client.post_info({"type": "meta", "dex": "xyz"}, timeout=1.0)
    async with client:
        await client.wait_ready(WAIT_S)
    with pytest.raises(NotConnected):
        await client.post_info({"type": "meta", "dex": "xyz"}, timeout=1.0)
    assert consumer.posts_sent == []


async def test_recording_hooks_see_every_frame_and_message(live_server: ServerFactory) -> None:
    server = await live_server()
    consumer = Consumer()
    async with consumer.client(server.url, user=ACCOUNT_KEY.address) as client:
        await client.wait_ready(WAIT_S)
        await client.post_info({"type": "meta", "dex": "xyz"}, timeout=WAIT_S)
        await eventually(lambda: client.health().rtt_ms is not None)
        health = client.health()
        assert len(consumer.raw) == health.total("frames")
    channels = {channel for _, channel, _ in consumer.raw}
    assert {"l2Book", "bbo", "activeAssetCtx", "subscriptionResponse", "pong", "post",
            None} <= channels
    for raw, channel, exch_ms in consumer.raw:
        frame = orjson.loads(raw) if channel is not None else None
        if channel == "l2Book":
            assert frame is not None
            assert exch_ms == frame["data"]["time"]
    methods = [method for _, method in consumer.controls]
    assert methods.count("subscribe") == 6
    assert "ping" in methods
    assert len(consumer.posts_sent) == 1


async def test_aclose_ends_the_run_task_and_the_connection(live_server: ServerFactory) -> None:
    server = await live_server()
    client = Consumer().client(server.url)
    task = client.start()
    await client.wait_ready(WAIT_S)
    await client.aclose()
    assert task.done()
    assert not client.connected
    await eventually(lambda: server.connection_count == 0)


async def test_run_in_callers_task_stops_on_aclose(live_server: ServerFactory) -> None:
    server = await live_server()
    client = Consumer().client(server.url)
    async with asyncio.TaskGroup() as group:
        runner = group.create_task(client.run())
        await client.wait_ready(WAIT_S)
        await client.aclose()
    assert runner.done()
    assert not runner.cancelled()


# -- real frames through a tiny websocket server ---------------------------------------


def real_messages(name: str) -> list[dict[str, Any]]:
    lines = (FIXTURES / name).read_text().splitlines()
    return [json.loads(line)["msg"] for line in lines if line.strip()]


async def test_real_frames_pass_through_the_client_into_market_state() -> None:
    frames = real_messages("real_ws_frames.jsonl")
    served = [orjson.dumps(frame) for frame in frames]

    async def handler(ws: ServerConnection) -> None:
        await ws.send("Websocket connection established.")
        subscribed = 0
        async for message in ws:
            request = orjson.loads(message)
            if request["method"] == "ping":
                await ws.send('{"channel":"pong"}')
            elif request["method"] == "subscribe":
                await ws.send(orjson.dumps({"channel": "subscriptionResponse", "data": {
                    "method": "subscribe", "subscription": request["subscription"]}}), text=True)
                subscribed += 1
                if subscribed == 4:
                    for raw in served:
                        await ws.send(raw, text=True)

    consumer = Consumer("xyz:AAPL")
    async with serve(handler, "127.0.0.1", 0) as fixture_server:
        port = next(iter(fixture_server.sockets)).getsockname()[1]
        async with consumer.client(f"ws://127.0.0.1:{port}/ws") as client:
            await eventually(lambda: client.health().total("frames") >= len(served) + 5)
            health = client.health()
    per_channel: dict[str, int] = {}
    for frame in frames:
        per_channel[frame["channel"]] = per_channel.get(frame["channel"], 0) + 1
    per_channel["subscriptionResponse"] += 4
    for channel, count in per_channel.items():
        assert health.channels[channel].frames == count, channel
    # the parser reads no candles: counted as unread, by kind; every other frame parsed
    assert health.total("malformed") == per_channel["candle"] == 2
    assert health.channels["candle"].malformed == {"unknown_channel": 2}
    assert health.late_post_answers == 1  # the real answer to someone else's post id 7
    errors = [e.text for e in consumer.health_of_type(FeedServerError)]
    assert sum(1 for f in frames if f["channel"] == "error") == len(errors)
    # the real xyz:AAPL frames: the newest source on top is the bbo
    aapl_bbo = next(f["data"]["bbo"] for f in frames
                    if f["channel"] == "bbo" and f["data"]["coin"] == "xyz:AAPL")
    state = consumer.state
    assert state.best_bid is not None
    assert state.best_ask is not None
    assert str(state.best_bid.px) == aapl_bbo[0]["px"]
    assert str(state.best_ask.px) == aapl_bbo[1]["px"]
    assert state.ctx is not None
    assert state.ctx.oracle_px == Decimal("312.05")
    assert state.counters["other_coin"] > 0


async def test_lost_ack_is_recovered_by_resubscribing_on_the_same_connection() -> None:
    seen: list[str] = []

    async def handler(ws: ServerConnection) -> None:
        await ws.send("Websocket connection established.")
        async for message in ws:
            request = orjson.loads(message)
            if request["method"] != "subscribe":
                continue
            sub = request["subscription"]
            seen.append(sub["type"])
            if sub["type"] == "bbo" and seen.count("bbo") == 1:
                continue  # the first bbo ack is lost
            if seen.count(sub["type"]) > 1:  # the exchange's answer to a repeat
                text = "Already subscribed: " + orjson.dumps(sub).decode()
                await ws.send(orjson.dumps({"channel": "error", "data": text}), text=True)
            else:
                await ws.send(orjson.dumps({"channel": "subscriptionResponse", "data": {
                    "method": "subscribe", "subscription": sub}}), text=True)

    consumer = Consumer()
    async with serve(handler, "127.0.0.1", 0) as fixture_server:
        port = next(iter(fixture_server.sockets)).getsockname()[1]
        async with consumer.client(f"ws://127.0.0.1:{port}/ws") as client:
            await client.wait_ready(WAIT_S)
            health = client.health()
    assert health.connections == 1
    assert seen.count("bbo") == 2
    assert seen.count("l2Book") == 1  # only the unacknowledged one was sent again
    assert not consumer.health_of_type(FeedServerError)
