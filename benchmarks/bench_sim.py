"""The exchange simulator on loopback: frames served per second and order round trips.

Run: `.venv/bin/python benchmarks/bench_sim.py [--json] [--seconds S] [--orders N]
[--uvloop]`

Each part runs the server in its own process (as `hip3term sim` does), on the wall clock;
the client runs in this process.

- frames/s (burst mode): the server steps the market and pushes every l2Book every
  millisecond. One connection is subscribed to l2Book (20 levels), l2Book fast (5
  levels), l2Book with nSigFigs 2..5, bbo, trades, activeAssetCtx and allMids of
  xyz:COIN; every frame received (and decoded) during `--seconds` is counted.
- order round trip (default pacing: 100 ms steps, a book every 0.5 s): one connection
  subscribed as a trading client is (l2Book, bbo, trades, orderUpdates, userFills) posts
  `--orders` signed orders, alternating an Alo buy far below the market (it rests) and an
  Ioc through the touch (it fills, buying and selling in turn). Each is timed from the
  socket write to its `post` response; the orders are signed before the clock starts.

Both figures include the client's JSON decoding in Python on the same machine. At 1 ms
steps the server is paced by its ticker; stepping flat out (0.1 ms) it produces frames
faster than one Python client decodes them, and its slow-client guard (100 000 queued
frames) cuts the connection.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Coroutine
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

from hip3term.keys import SecretKey
from hip3term.venue.hyperliquid.actions import LimitType, Tif, order_action, order_wire
from hip3term.venue.hyperliquid.signing import signed_body

KEY = SecretKey.from_hex("0x" + "5a" * 32)
COIN = "xyz:COIN"
ASSET = 110007
TICK = Decimal("0.01")
BURST_SUBSCRIPTIONS: list[dict[str, Any]] = [
    {"type": "l2Book", "coin": COIN},
    {"type": "l2Book", "coin": COIN, "fast": True},
    *({"type": "l2Book", "coin": COIN, "nSigFigs": n} for n in (2, 3, 4, 5)),
    {"type": "bbo", "coin": COIN},
    {"type": "trades", "coin": COIN},
    {"type": "activeAssetCtx", "coin": COIN},
    {"type": "allMids", "dex": "xyz"},
]
TRADER_SUBSCRIPTIONS: list[dict[str, Any]] = [
    {"type": "l2Book", "coin": COIN},
    {"type": "bbo", "coin": COIN},
    {"type": "trades", "coin": COIN},
    {"type": "orderUpdates", "user": KEY.address},
    {"type": "userFills", "user": KEY.address},
]


# --- the server process ------------------------------------------------------------------


def _serve(port_out: Any, stop: Any, burst: bool) -> None:
    from hip3term.venue.sim.exchange import SimExchange
    from hip3term.venue.sim.server import ServerConfig, SimServer

    async def main() -> None:
        exchange = SimExchange.create(["COIN"], seed=1, fund={KEY.address: Decimal(10**9)})
        config = ServerConfig(tick_s=0.001, book_interval_s=0.001) if burst else ServerConfig()
        async with SimServer(exchange, config) as server:
            port_out.put(server.port)
            await asyncio.get_running_loop().run_in_executor(None, stop.wait)

    asyncio.run(main())


def _with_server(burst: bool, run: Callable[[int], Any]) -> Any:
    ctx = multiprocessing.get_context("spawn")
    port_out, stop = ctx.Queue(), ctx.Event()
    child = ctx.Process(target=_serve, args=(port_out, stop, burst), daemon=True)
    child.start()
    try:
        return run(port_out.get(timeout=30))
    finally:
        stop.set()
        child.join(timeout=10)


def _run(coroutine: Coroutine[Any, Any, Any], use_uvloop: bool) -> Any:
    if use_uvloop:
        import uvloop

        return uvloop.run(coroutine)
    return asyncio.run(coroutine)


# --- the client measurements --------------------------------------------------------------


async def _subscribe(ws: ClientConnection, subscriptions: list[dict[str, Any]]) -> None:
    await ws.recv()  # greeting
    for sub in subscriptions:
        await ws.send(json.dumps({"method": "subscribe", "subscription": sub}))


async def _frames_per_second(url: str, seconds: float) -> dict[str, float]:
    async with connect(url, compression=None, max_size=None) as ws:
        await _subscribe(ws, BURST_SUBSCRIPTIONS)
        await asyncio.sleep(0.5)  # let the subscriptions settle
        frames = size = 0
        started = time.perf_counter()
        deadline = started + seconds
        while (now := time.perf_counter()) < deadline:
            try:
                async with asyncio.timeout(deadline - now):
                    message = await ws.recv(decode=False)
            except TimeoutError:
                break
            orjson.loads(message)
            frames += 1
            size += len(message)
        elapsed = time.perf_counter() - started
    return {"frames_per_s": frames / elapsed, "mb_per_s": size / elapsed / 1e6,
            "frames": float(frames), "seconds": elapsed}  # fmt: skip


def _signed_posts(count: int, bid: Decimal, ask: Decimal) -> list[tuple[str, bytes]]:
    posts: list[tuple[str, bytes]] = []
    nonce = time.time_ns() // 1_000_000
    deep_bid = (bid * Decimal("0.9")).quantize(TICK, ROUND_DOWN)
    through_ask = (ask * Decimal("1.01")).quantize(TICK, ROUND_UP)
    through_bid = (bid * Decimal("0.99")).quantize(TICK, ROUND_DOWN)
    for i in range(count):
        kind: Tif = "Alo" if i % 2 == 0 else "Ioc"
        is_buy = kind == "Alo" or i % 4 == 1
        px = deep_bid if kind == "Alo" else through_ask if is_buy else through_bid
        wire = order_wire(ASSET, is_buy, px, Decimal("0.1"), False, LimitType(kind))
        body = signed_body(KEY, order_action([wire]), nonce + i, None, None, True)
        post = {"method": "post", "id": i + 1, "request": {"type": "action", "payload": body}}
        posts.append((kind, orjson.dumps(post)))
    return posts


async def _response(ws: ClientConnection, post_id: int) -> Any:
    while True:
        frame = orjson.loads(await ws.recv(decode=False))
        if frame.get("channel") == "post" and frame["data"]["id"] == post_id:
            return frame["data"]["response"]


async def _round_trips(url: str, orders: int) -> dict[str, dict[str, float]]:
    async with connect(url, compression=None, max_size=None) as ws:
        await _subscribe(ws, TRADER_SUBSCRIPTIONS)
        query = {"type": "info", "payload": {"type": "l2Book", "coin": COIN}}
        await ws.send(json.dumps({"method": "post", "id": 0, "request": query}))
        levels = (await _response(ws, 0))["payload"]["data"]["levels"]
        posts = _signed_posts(orders, Decimal(levels[0][0]["px"]), Decimal(levels[1][0]["px"]))
        times: dict[str, list[float]] = {"Alo": [], "Ioc": []}
        for post_id, (kind, post) in enumerate(posts, start=1):
            started = time.perf_counter()
            await ws.send(post, text=True)
            response = await _response(ws, post_id)
            times[kind].append((time.perf_counter() - started) * 1000)
            if response["payload"]["status"] != "ok":
                raise RuntimeError(f"order refused: {response}")
    times["all"] = times["Alo"] + times["Ioc"]
    return {kind: _percentiles(values) for kind, values in times.items()}


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "n": float(len(ordered)),
        "p50_ms": statistics.median(ordered),
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "max_ms": ordered[-1],
    }


# --- main ---------------------------------------------------------------------------------


def _print_table(result: dict[str, Any]) -> None:
    machine, frames = result["machine"], result["frames"]
    print(f"simulator on loopback ({machine['client_loop']} client, {machine['cpus']} cpus, "
          f"Python {machine['python']})")  # fmt: skip
    print(f"{'frames served to one client':30} {frames['frames_per_s']:10.0f} frames/s "
          f"{frames['mb_per_s']:7.2f} MB/s")  # fmt: skip
    print(f"{'order round trip':30} {'p50 ms':>10} {'p99 ms':>8} {'max ms':>8} {'n':>6}")
    for kind, row in result["round_trip"].items():
        print(f"{'  ' + kind:30} {row['p50_ms']:10.3f} {row['p99_ms']:8.3f} "
              f"{row['max_ms']:8.3f} {row['n']:6.0f}")  # fmt: skip


def main() -> None:
    """Run both measurements and print a table (or JSON)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--seconds", type=float, default=5.0, help="throughput window (s)")
    parser.add_argument("--orders", type=int, default=400, help="orders to time")
    parser.add_argument("--uvloop", action="store_true", help="run the client on uvloop")
    args = parser.parse_args()
    url = "ws://127.0.0.1:{}/ws"
    result: dict[str, Any] = {
        "frames": _with_server(
            True, lambda port: _run(_frames_per_second(url.format(port), args.seconds),
                                    args.uvloop)),
        "round_trip": _with_server(
            False, lambda port: _run(_round_trips(url.format(port), args.orders), args.uvloop)),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                    "cpus": os.cpu_count(), "client_loop": "uvloop" if args.uvloop
                    else "asyncio"},
    }  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_table(result)


if __name__ == "__main__":
    main()
