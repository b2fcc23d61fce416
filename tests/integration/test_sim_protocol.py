"""The simulator's websocket protocol against real exchange frames (greeting, acks, errors).

Where a real frame exists for a situation, the test sends what the real client sent and
expects the real frame byte for byte (as parsed JSON).
"""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from hip3term.venue.sim.server import SimServer
from tests.integration.conftest import (
    ACCOUNT_KEY,
    COIN,
    ClientFactory,
    ServerFactory,
    SimClient,
    real_frames,
)

WS = "real_ws_frames.jsonl"
ACCOUNT = "real_account_frames.jsonl"


async def test_greeting_is_the_plain_text_frame(server: SimServer) -> None:
    async with connect(server.url) as ws:
        assert await ws.recv() == "Websocket connection established."


async def test_ping_gets_the_real_pong(client: SimClient) -> None:
    await client.send_json({"method": "ping"})
    assert await client.recv_json() == real_frames(WS)[10]


async def test_l2book_ack_echoes_the_normalised_subscription(client: SimClient) -> None:
    ack = await client.subscribe({"type": "l2Book", "coin": "BTC", "fast": True})
    assert ack == real_frames(WS)[0]


async def test_l2book_unsubscribe_ack_matches_real(client: SimClient) -> None:
    await client.subscribe({"type": "l2Book", "coin": "BTC", "nSigFigs": 5})
    subscription = {"type": "l2Book", "coin": "BTC", "nSigFigs": 5}
    await client.send_json({"method": "unsubscribe", "subscription": subscription})
    assert await client.recv_json() == real_frames(WS)[1]


async def test_bbo_subscribe_and_unsubscribe_acks_match_real(client: SimClient) -> None:
    assert await client.subscribe({"type": "bbo", "coin": "BTC"}) == real_frames(WS)[36]
    bbo = {"type": "bbo", "coin": "BTC"}
    await client.send_json({"method": "unsubscribe", "subscription": bbo})
    assert await client.recv_json() == real_frames(WS)[37]


async def test_user_fills_ack_and_empty_snapshot_match_real(client: SimClient) -> None:
    user = real_frames(ACCOUNT)[11]["data"]["subscription"]["user"]
    ack = await client.subscribe({"type": "userFills", "user": user})
    assert ack == real_frames(ACCOUNT)[11]
    snapshot = await client.recv_json()
    expected = real_frames(ACCOUNT)[2]  # a captured empty snapshot, for another address
    expected["data"]["user"] = user
    assert snapshot == expected


async def test_duplicate_subscribe_gets_the_real_error(client: SimClient) -> None:
    await client.subscribe({"type": "l2Book", "coin": "SOL"})
    sol = {"type": "l2Book", "coin": "SOL"}
    await client.send_json({"method": "subscribe", "subscription": sol})
    assert await client.recv_json() == real_frames(WS)[11]


async def test_unsubscribe_without_subscription_gets_the_real_error(client: SimClient) -> None:
    eth = {"type": "trades", "coin": "ETH"}
    await client.send_json({"method": "unsubscribe", "subscription": eth})
    assert await client.recv_json() == real_frames(WS)[38]


async def test_coin_that_is_not_a_string_gets_the_real_parse_error(client: SimClient) -> None:
    text = '{"method":"subscribe","subscription":{"type":"bbo","coin":["BTC","ETH"]}}'
    await client.ws.send(text)  # exactly what the real client sent
    assert await client.recv_json() == real_frames(WS)[12]


async def test_unknown_type_gets_the_real_parse_error_and_socket_survives(
    client: SimClient,
) -> None:
    message = {"method": "subscribe", "subscription": {"type": "noSuchType", "coin": "BTC"}}
    await client.ws.send(json.dumps(message))  # Python's default separators, as captured
    assert await client.recv_json() == real_frames(WS)[30]
    assert await client.barrier() == []


@pytest.mark.parametrize(
    "text",
    ["not json", "[]", '{"method":"subscribe"}', '{"method":"fly"}', '{"method":"post","id":1}'],
)
async def test_unparsable_messages_are_quoted_in_the_parse_error(
    client: SimClient, text: str
) -> None:
    await client.ws.send(text)
    frame = await client.recv_json()
    assert frame == {
        "channel": "error",
        "data": f"Error parsing JSON into valid websocket request: {text}",
    }


async def test_out_of_range_nsigfigs_is_an_invalid_subscription(client: SimClient) -> None:
    await client.send_json(
        {"method": "subscribe", "subscription": {"type": "l2Book", "coin": COIN, "nSigFigs": 9}}
    )
    frame = await client.recv_json()
    assert frame["channel"] == "error"
    assert frame["data"] == (
        'Invalid subscription {"type":"l2Book","coin":"xyz:COIN","nSigFigs":9,'
        '"mantissa":null,"fast":false}'
    )


async def test_other_real_types_are_acknowledged_without_data(client: SimClient) -> None:
    ack = await client.subscribe({"type": "candle", "coin": COIN, "interval": "1m"})
    assert ack["data"]["subscription"] == {"type": "candle", "coin": COIN, "interval": "1m"}
    await client.server.advance(2000)
    assert [f for f in await client.barrier() if f["channel"] == "candle"] == []


async def test_user_address_is_echoed_in_lower_case(client: SimClient) -> None:
    upper = "0x" + ACCOUNT_KEY.address[2:].upper()
    ack = await client.subscribe({"type": "orderUpdates", "user": upper})
    assert ack["data"]["subscription"] == {"type": "orderUpdates", "user": ACCOUNT_KEY.address}


async def test_post_l2book_of_unknown_coin_matches_real(client: SimClient) -> None:
    request = {"type": "info", "payload": {"type": "l2Book", "coin": "NOPE"}}
    await client.send_json({"method": "post", "id": 7, "request": request})
    assert await client.recv_json() == real_frames(WS)[13]


async def test_unknown_info_type_is_an_error_response(client: SimClient) -> None:
    response = await client.post("info", {"type": "noSuchInfo"})
    assert response["type"] == "error"
    assert response["payload"].startswith("Failed to deserialize the JSON body")


async def test_idle_connection_is_closed(make_server: ServerFactory) -> None:
    server = await make_server(idle_timeout_s=0.3)
    async with connect(server.url) as ws:
        await ws.recv()  # greeting
        await ws.send('{"method":"ping"}')
        await ws.recv()
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(5):
                await ws.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1000
        assert closed.value.rcvd.reason == "idle timeout"


async def test_client_messages_keep_the_connection_open(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(idle_timeout_s=0.4)
    client = await make_client(server)
    for _ in range(5):
        await asyncio.sleep(0.2)
        assert await client.barrier() == []


async def test_only_the_ws_path_is_served(server: SimServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await connect(server.url.replace("/ws", "/other"))
    assert refused.value.response.status_code == 404


async def test_more_than_100_pending_posts_get_the_overload_error(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(faults="unanswered=1")
    client = await make_client(server)
    for post_id in range(1, 102):
        request = {"type": "info", "payload": {"type": "perpDexs"}}
        await client.send_json({"method": "post", "id": post_id, "request": request})
    frames = await client.barrier()
    assert frames == [{"channel": "error", "data": "too many pending post requests id=101"}]
