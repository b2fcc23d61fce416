"""Fixtures for the simulator's integration tests: a real server on 127.0.0.1:0, real clients.

The exchange runs on a `SimClock` (nothing moves unless a test calls `server.advance`),
so frames are deterministic. `SimClient` wraps a `websockets` client connection with the
few helpers the tests share; `barrier()` sends a ping and collects every frame up to its
pong, which is how a test proves that a frame did *not* arrive without waiting on time
(the server answers messages in order through one queue per connection).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from hip3term.core.clock import SimClock
from hip3term.keys import SecretKey
from hip3term.venue.hyperliquid.actions import LimitType, Tif, order_action, order_wire
from hip3term.venue.hyperliquid.signing import signed_body
from hip3term.venue.sim.exchange import SimExchange
from hip3term.venue.sim.faults import FaultSpec
from hip3term.venue.sim.server import ServerConfig, SimServer

START_MS = 1_790_000_000_000
COIN = "xyz:COIN"
COIN_ASSET = 110007
FUNDED_USDC = Decimal(10_000)
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
RECV_TIMEOUT_S = 5.0

# Fixed throwaway test keys (never used anywhere real).
ACCOUNT_KEY = SecretKey.from_hex("0x" + "11" * 32)
AGENT_KEY = SecretKey.from_hex("0x" + "22" * 32)
STRANGER_KEY = SecretKey.from_hex("0x" + "33" * 32)


def real_frames(name: str) -> list[Any]:
    """Every `msg` of a tests/fixtures JSON-lines file of real frames."""
    lines = (FIXTURES / name).read_text().splitlines()
    return [json.loads(line)["msg"] for line in lines if line.strip()]


def real_frame(name: str, note_part: str) -> dict[str, Any]:
    """The one real frame of `name` whose note contains `note_part`."""
    for line in (FIXTURES / name).read_text().splitlines():
        record = json.loads(line)
        if note_part in record["note"]:
            message: dict[str, Any] = record["msg"]
            return message
    raise KeyError(note_part)


def key_shape(value: Any) -> Any:
    """The structure of a JSON value: dict keys (sorted) and value kinds, list heads."""
    if isinstance(value, dict):
        return {key: key_shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [key_shape(value[0])] if value else []
    if value is None:
        return None
    return type(value).__name__


class SimClient:
    """A websocket client of the simulator with small helpers for tests."""

    def __init__(self, ws: ClientConnection, server: SimServer) -> None:
        self.ws = ws
        self.server = server
        self._post_ids = itertools.count(1)
        self._nonces = itertools.count(START_MS)

    async def send_json(self, message: Any) -> None:
        await self.ws.send(json.dumps(message))

    async def recv_text(self, wait_s: float = RECV_TIMEOUT_S) -> str:
        async with asyncio.timeout(wait_s):
            message = await self.ws.recv()
        return message if isinstance(message, str) else message.decode()

    async def recv_json(self, wait_s: float = RECV_TIMEOUT_S) -> Any:
        return orjson.loads(await self.recv_text(wait_s))

    async def recv_channel(self, channel: str, wait_s: float = RECV_TIMEOUT_S) -> Any:
        """The next frame of `channel`, skipping others."""
        while True:
            frame = await self.recv_json(wait_s)
            if isinstance(frame, dict) and frame.get("channel") == channel:
                return frame

    async def barrier(self) -> list[Any]:
        """Every frame received before the pong of a fresh ping (the pong excluded)."""
        await self.send_json({"method": "ping"})
        frames: list[Any] = []
        while True:
            frame = await self.recv_json()
            if frame == {"channel": "pong"}:
                return frames
            frames.append(frame)

    async def subscribe(self, subscription: dict[str, Any]) -> Any:
        """Subscribe and return the ack (frames before it are dropped)."""
        await self.send_json({"method": "subscribe", "subscription": subscription})
        return await self.recv_channel("subscriptionResponse")

    async def post(self, kind: str, payload: dict[str, Any]) -> Any:
        """Post and return the `response` object of the answer with the same id."""
        post_id = next(self._post_ids)
        await self.send_json(
            {"method": "post", "id": post_id, "request": {"type": kind, "payload": payload}}
        )
        while True:
            frame = await self.recv_channel("post")
            if frame["data"]["id"] == post_id:
                return frame["data"]["response"]

    async def info(self, payload: dict[str, Any]) -> Any:
        """An info request's `data` (asserting the info envelope)."""
        response = await self.post("info", payload)
        assert response["type"] == "info", response
        assert response["payload"]["type"] == payload["type"]
        return response["payload"]["data"]

    def next_nonce(self) -> int:
        return next(self._nonces) + self.server.exchange.now_ms() - START_MS

    async def act(
        self,
        action: dict[str, Any],
        key: SecretKey = ACCOUNT_KEY,
        *,
        nonce: int | None = None,
        vault: str | None = None,
        expires_after: int | None = None,
    ) -> Any:
        """Sign `action` (mainnet) and post it; the `/exchange`-style payload returned."""
        nonce = self.next_nonce() if nonce is None else nonce
        body = signed_body(key, action, nonce, vault, expires_after, True)
        response = await self.post("action", body)
        assert response["type"] == "action", response
        return response["payload"]

    async def order(
        self,
        px: str,
        sz: str,
        *,
        is_buy: bool = True,
        tif: Tif = "Gtc",
        reduce_only: bool = False,
        cloid: str | None = None,
        key: SecretKey = ACCOUNT_KEY,
    ) -> Any:
        """Place one order on xyz:COIN; returns its `statuses[0]` (or the whole err)."""
        wire = order_wire(
            COIN_ASSET, is_buy, Decimal(px), Decimal(sz), reduce_only,
            LimitType(tif), cloid,
        )  # fmt: skip
        payload = await self.act(order_action([wire]), key)
        if payload["status"] != "ok":
            return payload
        return payload["response"]["data"]["statuses"][0]

    async def book(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        data = await self.info({"type": "l2Book", "coin": COIN})
        return data["levels"][0], data["levels"][1]


ServerFactory = Callable[..., Awaitable[SimServer]]
ClientFactory = Callable[[SimServer], Awaitable[SimClient]]


@pytest.fixture
async def make_server() -> AsyncIterator[ServerFactory]:
    servers: list[SimServer] = []

    async def factory(
        *,
        seed: int = 7,
        markets: tuple[str, ...] = ("COIN",),
        fund: dict[str, Decimal] | None = None,
        faults: str = "",
        idle_timeout_s: float = 60.0,
        book_interval_s: float = 0.5,
        is_mainnet: bool = True,
        recording: Path | None = None,
    ) -> SimServer:
        exchange = SimExchange.create(
            markets, seed=seed, clock=SimClock(START_MS),
            fund={ACCOUNT_KEY.address: FUNDED_USDC} if fund is None else fund,
            is_mainnet=is_mainnet, recording=recording,
        )  # fmt: skip
        config = ServerConfig(
            idle_timeout_s=idle_timeout_s, book_interval_s=book_interval_s,
            faults=FaultSpec.parse(faults), seed=seed,
        )  # fmt: skip
        server = SimServer(exchange, config)
        await server.start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        await server.stop()


@pytest.fixture
async def make_client() -> AsyncIterator[ClientFactory]:
    clients: list[ClientConnection] = []

    async def factory(server: SimServer) -> SimClient:
        ws = await connect(server.url, compression=None)
        clients.append(ws)
        client = SimClient(ws, server)
        greeting = await client.recv_text()
        assert greeting == "Websocket connection established."
        return client

    yield factory
    for ws in clients:
        await ws.close()


@pytest.fixture
async def server(make_server: ServerFactory) -> SimServer:
    return await make_server()


@pytest.fixture
async def client(server: SimServer, make_client: ClientFactory) -> SimClient:
    return await make_client(server)
