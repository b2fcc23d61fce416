"""`POST /info` and `POST /exchange` on the simulator's port, as HTTP clients use them."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from decimal import Decimal
from typing import Any

import pytest

from hip3term.venue.hyperliquid.actions import LimitType, order_action, order_wire
from hip3term.venue.hyperliquid.signing import signed_body
from hip3term.venue.sim.server import SimServer
from tests.integration.conftest import (
    ACCOUNT_KEY,
    COIN,
    COIN_ASSET,
    FIXTURES,
    SimClient,
)


def http_post(server: SimServer, path: str, body: bytes) -> tuple[int, bytes]:
    url = server.url.replace("ws://", "http://").removesuffix("/ws") + path
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # loopback only
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), bytes(error.read())


async def post_json(server: SimServer, path: str, payload: Any) -> tuple[int, Any]:
    status, body = await asyncio.to_thread(http_post, server, path, json.dumps(payload).encode())
    return status, json.loads(body) if status == 200 else body.decode()


async def test_info_over_http_returns_the_data_itself(server: SimServer) -> None:
    status, data = await post_json(server, "/info", {"type": "perpDexs"})
    assert status == 200
    assert data == json.loads((FIXTURES / "info_perpDexs.json").read_text())


async def test_exchange_over_http_trades_and_feeds_the_websocket(
    server: SimServer, client: SimClient
) -> None:
    await client.subscribe({"type": "orderUpdates", "user": ACCOUNT_KEY.address})
    _, book = await post_json(server, "/info", {"type": "l2Book", "coin": COIN})
    bid = Decimal(book["levels"][0][0]["px"])
    wire = order_wire(COIN_ASSET, True, bid, Decimal("0.1"), False, LimitType("Alo"))
    body = signed_body(ACCOUNT_KEY, order_action([wire]), client.next_nonce(), None, None, True)
    status, answer = await post_json(server, "/exchange", body)
    assert status == 200
    oid = answer["response"]["data"]["statuses"][0]["resting"]["oid"]
    update = await client.recv_channel("orderUpdates")
    assert update["data"][0]["order"]["oid"] == oid


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("/info", b'{"type":"clearinghouseState"}', 422),
        ("/info", b"not json", 400),
        ("/other", b"{}", 404),
    ],
)
async def test_bad_http_requests_get_the_http_errors(
    server: SimServer, path: str, body: bytes, expected: int
) -> None:
    status, _ = await asyncio.to_thread(http_post, server, path, body)
    assert status == expected
