"""One websocket connection of the simulator: its subscriptions, queue and writer task.

Frames for a connection are queued (`send`, never blocking the exchange) and written in
order by one writer task, which applies the connection's faults: a stall holds the queue
until its window ends (with a simulated clock: until a later `advance`), a delay holds
each frame, and duplicated or malformed frames replace it. A post response leaves the
connection's pending count when it is actually written, so delayed or stalled responses
count as in flight. Also here: the frame encoders shared by the server.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from hip3term.venue.sim.faults import FaultInjector
from hip3term.venue.sim.subscriptions import Subscription

__all__ = [
    "ROUTED_TYPES",
    "SimConnection",
    "ack_frame",
    "error_frame",
    "frame",
    "mids_data",
    "route_key",
]

logger = logging.getLogger("hip3term.sim")

ROUTED_TYPES = frozenset({"trades", "orderUpdates", "userFills", "userEvents"})


@dataclass(slots=True)
class _Item:
    frame: bytes
    is_post_response: bool = False


class SimConnection:
    """One client connection.

    Args:
        ws: The websockets connection.
        number: Its number (1 for the first connection of the server), for logs.
        faults: Its fault injector, or None.
        now_ms: The exchange clock.
        simulated: True when the clock only moves on `advance` (stalls then wait for it).
        max_queued: A connection with this many frames waiting is too slow: it is cut.
    """

    def __init__(
        self,
        ws: ServerConnection,
        number: int,
        *,
        faults: FaultInjector | None,
        now_ms: Callable[[], int],
        simulated: bool,
        max_queued: int,
    ) -> None:
        self.ws = ws
        self.number = number
        self.faults = faults
        self.subs: dict[Subscription, None] = {}
        self.queue: deque[_Item] = deque()
        self.wake = asyncio.Event()
        self.drained = asyncio.Event()
        self.pending_posts = 0
        self.last_sent: dict[tuple[Any, ...], bytes] = {}
        self.writer: asyncio.Task[None] | None = None
        self._now_ms = now_ms
        self._simulated = simulated
        self._max_queued = max_queued

    def send(self, frame: bytes, *, is_post_response: bool = False) -> None:
        """Queue a frame (a post response leaves the pending count once written)."""
        if len(self.queue) >= self._max_queued:
            logger.warning("connection %d is too slow; closing it", self.number)
            self.abort()
            return
        self.queue.append(_Item(frame, is_post_response))
        self.drained.clear()
        self.wake.set()

    def abort(self) -> None:
        """Cut the TCP connection without a close frame (the client sees 1006)."""
        transport = self.ws.transport
        if transport is not None:
            transport.abort()

    def release_post(self) -> None:
        """Forget one post that will never be answered (unanswered fault)."""
        self.pending_posts -= 1

    async def write_loop(self) -> None:
        """Write queued frames in order until the connection closes (cancel-safe)."""
        try:
            while True:
                if not self.queue:
                    self.drained.set()
                    self.wake.clear()
                    await self.wake.wait()
                    continue
                if await self._held_by_stall():
                    continue
                item = self.queue.popleft()
                await self._write(item)
        except ConnectionClosed:
            pass
        finally:
            self.drained.set()

    async def _held_by_stall(self) -> bool:
        if self.faults is None:
            return False
        until = self.faults.stall_until_ms(self._now_ms())
        if until is None:
            return False
        self.drained.set()  # nothing can go out now: a flush must not wait for it
        if self._simulated:
            self.wake.clear()
            await self.wake.wait()  # the next advance() re-checks the stall
        else:
            await asyncio.sleep(max(until - self._now_ms(), 1) / 1000)
        return True

    async def _write(self, item: _Item) -> None:
        frames = [item.frame]
        if self.faults is not None:
            delay = self.faults.delay_s()
            if delay:
                await asyncio.sleep(delay)
            frames = self.faults.outgoing(item.frame)
        for data in frames:
            await self.ws.send(data, text=True)
        if item.is_post_response:
            self.pending_posts -= 1


def route_key(sub: Subscription) -> tuple[Any, ...]:
    """The key under which the server fans frames out to this subscription."""
    if sub.type == "l2Book":
        return ("l2Book", sub.coin, sub.get("nSigFigs"), sub.get("mantissa"), sub.get("fast"))
    if sub.type in ("bbo", "activeAssetCtx"):
        return (sub.type, sub.coin)
    if sub.type == "allMids":
        return ("allMids", sub.get("dex"))
    if sub.type in ROUTED_TYPES:
        return (sub.type, sub.coin if sub.type == "trades" else sub.user)
    raise ValueError(f"no route for {sub.type}")


def mids_data(mids: dict[str, str], dex: str | None) -> dict[str, Any]:
    """The `allMids` data: `{"mids": …}` plus the `dex` when one was asked for."""
    data: dict[str, Any] = {"mids": mids}
    if dex is not None:
        data["dex"] = dex
    return data


def frame(channel: str, data: Any) -> bytes:
    """`{"channel": channel, "data": data}` as compact JSON bytes."""
    return orjson.dumps({"channel": channel, "data": data})


def error_frame(text: str) -> bytes:
    """The exchange's error frame `{"channel":"error","data":text}`."""
    return orjson.dumps({"channel": "error", "data": text})


def ack_frame(method: str, sub: Subscription) -> bytes:
    """The subscription ack, echoing the normalised subscription."""
    data = {"method": method, "subscription": sub.echo()}
    return orjson.dumps({"channel": "subscriptionResponse", "data": data})
