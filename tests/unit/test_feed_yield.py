"""`FeedClient.yield_to`: an order decided on a frame goes out before the next buffered frame.

When frames are already buffered, `websockets`' `recv()` returns them without suspending,
so the read loop would handle a whole burst before any callback it scheduled (the
executor's prompt tick, the post task's write) could run. The stand-in connection below
behaves the same way: every `recv()` returns at once from a list.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from hip3term.feeds.client import FeedClient

COIN = "xyz:COIN"


class _BufferedConnection:
    # A websocket connection with `frames` already received: recv() never suspends.
    def __init__(self, frames: list[bytes]) -> None:
        self.frames, self.sent = list(frames), list[Any]()

    async def send(self, raw: Any, text: bool = False) -> None:
        self.sent.append(raw)

    async def recv(self, decode: bool = False) -> bytes:
        if not self.frames:
            await asyncio.Event().wait()  # nothing more: wait until cancelled
        return self.frames.pop(0)


def _bbo(t: int) -> bytes:
    level = {"px": f"{190 + t % 7}.5", "sz": "1", "n": 1}
    return orjson.dumps({"channel": "bbo", "data": {"coin": COIN, "time": 1_790_000_000_000 + t,
                                                    "bbo": [level, {**level, "px": "200"}]}})


async def _handled_before_the_callback(yield_to: bool) -> tuple[int, int]:
    events: list[object] = []
    seen_by_callback: list[int] = []
    urgent = [False]
    done = asyncio.Event()
    loop = asyncio.get_running_loop()

    def callback() -> None:  # what the prompt tick would do: runs once the loop gets a turn
        seen_by_callback.append(len(events))
        urgent[0] = False
        if len(events) == 6:
            done.set()

    def on_event(event: object) -> None:
        events.append(event)
        if len(events) == 1:  # the first frame "decides an order"
            urgent[0] = True
            loop.call_soon(callback)
        if len(events) == 6 and seen_by_callback:
            done.set()

    feed = FeedClient("ws://127.0.0.1:1/ws", COIN, on_event=on_event)
    if yield_to:
        feed.yield_to = lambda: urgent[0]
    ws = _BufferedConnection([_bbo(t) for t in range(6)])
    task = asyncio.create_task(feed._read_loop(ws))  # type: ignore[arg-type]
    await asyncio.wait_for(done.wait(), 10)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return seen_by_callback[0], len(events)


async def test_the_read_loop_yields_to_urgent_work_between_buffered_frames() -> None:
    assert await _handled_before_the_callback(yield_to=True) == (1, 6)


async def test_without_yield_to_a_burst_is_handled_before_anything_else_runs() -> None:
    # the behaviour the hook exists for: the callback waits for the whole burst
    assert await _handled_before_the_callback(yield_to=False) == (6, 6)
