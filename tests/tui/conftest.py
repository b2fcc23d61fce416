"""Fixtures for the TUI tests: the real simulator and the real node on an engine thread.

`LiveRig` builds, on the engine thread's own loop, a `SimExchange` + `SimServer` on
127.0.0.1:0 (live clock, fixed seed) and a real `TradingNode` trading it with a fixed
throwaway key; optionally it first gives the account a long position and a resting order
far from the market, placed with signed actions straight into the exchange, so the keys
have something to cancel and flatten whatever the strategy does. The exchange's own
answers (`clearinghouseState`, `openOrders`) are read on the engine loop, where the
exchange lives (`rig.info`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.screen import Screen
from textual.widgets import Static

from hip3term.config import Settings, load_settings
from hip3term.core.clock import LiveClock
from hip3term.keys import SecretKey
from hip3term.runtime.credentials import Credentials
from hip3term.runtime.node import TradingNode
from hip3term.runtime.snapshot import CommandResult, NodeSnapshot, OperatorCommand
from hip3term.runtime.thread import EngineThread
from hip3term.strategy.loader import load_strategy
from hip3term.venue.hyperliquid.actions import LimitType, order_action, order_wire
from hip3term.venue.hyperliquid.signing import signed_body
from hip3term.venue.sim.exchange import SimExchange
from hip3term.venue.sim.server import ServerConfig, SimServer

COIN = "xyz:COIN"
COIN_ASSET = 110007
TEST_KEY = SecretKey.from_hex("0x" + "44" * 32)  # a throwaway test key, never used for real
SEED_SIZE = Decimal("0.100")


def rig_settings(tmp_path: Path, strategy: str, params: dict[str, Any] | None = None) -> Settings:
    """Default settings with every file under `tmp_path` and the given strategy."""
    overrides: dict[str, Any] = {
        "paths.state_dir": str(tmp_path / "state"),
        "paths.journal": str(tmp_path / "state" / "journal.sqlite"),
        "paths.recordings_dir": str(tmp_path / "recordings"),
        "strategy.name": strategy,
        "strategy.params": params or {},
    }
    return load_settings(None, overrides, env={})


class _SimNode:
    # The node and its in-process simulator, stopped together (a `RunnableNode`).
    def __init__(self, node: TradingNode, server: SimServer) -> None:
        self.node, self.server = node, server

    def snapshot(self) -> NodeSnapshot:
        return self.node.snapshot()

    def command(self, command: OperatorCommand, *, who: str = "operator",
                reason: str = "") -> CommandResult:  # fmt: skip
        return self.node.command(command, who=who, reason=reason)

    def request_stop(self, reason: str = "operator quit") -> None:
        self.node.request_stop(reason)

    async def run(self) -> None:
        try:
            await self.node.run()
        finally:
            await self.server.stop()


def _seed_account(exchange: SimExchange, key: SecretKey) -> None:
    # A long position (an IOC buy through the ask) and a resting bid far below the market.
    sides = exchange.book_sides(COIN)
    assert sides is not None and sides[0] and sides[1]
    best_bid, best_ask = sides[0][0].px, sides[1][0].px
    nonce = exchange.now_ms() - 5_000
    orders = [
        order_wire(COIN_ASSET, True, (best_ask * Decimal("1.01")).quantize(Decimal("0.01")),
                   SEED_SIZE, False, LimitType("Ioc"), None),
        order_wire(COIN_ASSET, True, (best_bid * Decimal("0.95")).quantize(Decimal("0.01")),
                   SEED_SIZE, False, LimitType("Gtc"), None),
    ]  # fmt: skip
    for i, wire in enumerate(orders):
        body = signed_body(key, order_action([wire]), nonce + i, None, None, True)
        response, _ = exchange.action_response(body)
        statuses = response["payload"]["response"]["data"]["statuses"]
        assert "error" not in statuses[0], statuses


@dataclass
class LiveRig:
    """A real node on an engine thread against an in-process simulator."""

    settings: Settings
    seed_account: bool = False
    exchange: SimExchange | None = None
    engine: EngineThread = field(init=False)

    def __post_init__(self) -> None:
        self.engine = EngineThread(self._factory, publish_interval_s=0.1)

    async def _factory(self) -> _SimNode:
        exchange = SimExchange.create(("COIN",), seed=7, clock=LiveClock(),
                                      fund={TEST_KEY.address: Decimal(10_000)})  # fmt: skip
        exchange.step(exchange.now_ms())
        if self.seed_account:
            _seed_account(exchange, TEST_KEY)
        server = SimServer(exchange, ServerConfig(book_interval_s=0.2, seed=7))
        await server.start()
        self.exchange = exchange
        strategy = load_strategy(self.settings.strategy.name, self.settings.strategy.params)
        credentials = Credentials(TEST_KEY, TEST_KEY.address, (), "test key")
        node = TradingNode(self.settings, strategy=strategy, credentials=credentials,
                           ws_url=server.url, record=False)  # fmt: skip
        return _SimNode(node, server)

    def _info_now(self, kind: str) -> Any:
        assert self.exchange is not None
        answer = self.exchange.info_response({"type": kind, "user": TEST_KEY.address,
                                              "dex": "xyz"})  # fmt: skip
        return answer["payload"]["data"]

    async def info(self, kind: str) -> Any:
        """The exchange's answer to an info request about the account (`data`).

        Asked on the engine loop, where the exchange lives; once the engine thread has
        ended, nothing else touches the exchange and it is asked directly.
        """
        if self.engine.finished:
            return self._info_now(kind)

        async def on_loop() -> Any:
            return self._info_now(kind)

        return await asyncio.wrap_future(self.engine.submit(on_loop()))

    async def position_size(self) -> Decimal:
        """The account's signed position in xyz:COIN on the exchange (0 when flat)."""
        state = await self.info("clearinghouseState")
        for item in state["assetPositions"]:
            if item["position"]["coin"] == COIN:
                return Decimal(item["position"]["szi"])
        return Decimal(0)

    async def open_orders(self) -> list[Any]:
        """The account's open orders on the exchange."""
        orders: list[Any] = await self.info("openOrders")
        return orders


async def wait_for(check: Callable[[], Any], timeout_s: float = 10.0,
                   what: str | Callable[[], str] = "condition") -> Any:  # fmt: skip
    """Poll `check` (sync or async) every 50 ms until truthy; fail after `timeout_s`.

    `what` names the condition in the failure; a callable is asked at the failure (to say
    the state things were left in)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout_s} s waiting for {said}")
        await asyncio.sleep(0.05)


async def shown_text(app: App[Any], screen: type[Screen[Any]], selector: str,
                     timeout_s: float = 5.0) -> str:  # fmt: skip
    """The text of `selector` once a `screen` is on top with it mounted (a pushed screen
    is current before its children are)."""
    def ready() -> bool:
        return isinstance(app.screen, screen) and bool(app.screen.query(selector))

    await wait_for(ready, timeout_s, f"{selector} on {screen.__name__}")
    return str(app.screen.query_one(selector, Static).render())


@pytest.fixture
async def make_rig(tmp_path: Path) -> AsyncIterator[Callable[..., LiveRig]]:
    rigs: list[LiveRig] = []

    def factory(strategy: str = "oracle_dislocation", *, seed_account: bool = False,
                params: dict[str, Any] | None = None) -> LiveRig:  # fmt: skip
        rig = LiveRig(rig_settings(tmp_path, strategy, params), seed_account=seed_account)
        rigs.append(rig)
        return rig

    yield factory
    for rig in rigs:
        rig.engine.request_stop("test teardown")
        await asyncio.to_thread(rig.engine.join, 20.0)
        assert rig.engine.finished, "the engine thread did not stop"
