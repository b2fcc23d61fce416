"""The loopback websocket server of the exchange simulator (`ws://127.0.0.1:PORT/ws`).

The same port also answers `POST /info` and `POST /exchange` over HTTP (see
`hip3term.venue.sim.http`), for clients that use HTTP for requests and the websocket for
subscriptions.

It speaks Hyperliquid's websocket protocol (PROTOCOL.md section 2) on top of the
synchronous exchange core `SimExchange`:

- on connect, the plain-text greeting `Websocket connection established.`;
- `subscribe` / `unsubscribe` acknowledged with the normalised subscription, and the
  exchange's error frames (`Already subscribed: …`, `Already unsubscribed: …`,
  `Error parsing JSON into valid websocket request: …`, `Invalid subscription …`);
- `{"method":"ping"}` answered with `{"channel":"pong"}`;
- `post` requests (info and signed actions) answered on channel `post` with the request
  id; more than `max_pending_posts` (100) unanswered posts on one connection give
  `{"channel":"error","data":"too many pending post requests id=N"}`;
- the connection is closed (code 1000, "idle timeout") after `idle_timeout_s` (60 s)
  without a message from the client (websocket-level pings do not count);
- channels: l2Book (a full snapshot every `book_interval_s`, 20 levels a side or 5 with
  `fast`), bbo (when it changes), trades, activeAssetCtx (every `ctx_interval_s`),
  allMids (when a mid changes), orderUpdates, userFills (a snapshot first) and userEvents
  (channel `user`). On subscribe, l2Book, bbo, activeAssetCtx and allMids send their
  current state and trades the recent trades, right after the ack.

Clocks: with a live clock a ticker task steps the markets every `tick_s` of wall time.
With a simulated clock (`SimClock`) nothing moves on its own: `await server.advance(ms)`
steps the clock and the markets in `tick_s` steps and then waits until every frame that
is due has been written, so the same seed and the same client actions give the same
frames.

Faults (`FaultSpec`): each connection gets its own `FaultInjector`, seeded from the server
seed and the connection number, started when the connection opens. Drops abort the TCP
connection (the client sees an abnormal closure, 1006); stalls hold frames until the
window ends; delays hold each frame; duplicated and malformed frames replace the frame;
an unanswered post is executed but gets no response (it stays pending on its connection
for `unanswered_hold_s`); a reject storm gives every order the error status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from hip3term.venue.sim.connection import (
    SimConnection,
    ack_frame,
    error_frame,
    frame,
    mids_data,
    route_key,
)
from hip3term.venue.sim.exchange import SimExchange
from hip3term.venue.sim.faults import FaultInjector, FaultSpec
from hip3term.venue.sim.http import HttpAnswer, answer_http, connection_class
from hip3term.venue.sim.pushes import Push
from hip3term.venue.sim.subscriptions import (
    InvalidSubscriptionError,
    Subscription,
    SubscriptionParseError,
)
from hip3term.venue.sim.ws_requests import (
    PingRequest,
    PostRequest,
    SubscriptionRequest,
    parse_error_text,
    parse_ws_request,
)

__all__ = ["GREETING", "ServerConfig", "SimServer"]

logger = logging.getLogger("hip3term.sim")

GREETING = "Websocket connection established."
_PONG = b'{"channel":"pong"}'


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """How the server listens and paces its pushes.

    Attributes:
        host: Listen address (loopback only by default).
        port: Listen port; 0 picks a free one (see `SimServer.port`).
        idle_timeout_s: Close a connection after this long without a client message.
        book_interval_s: Seconds between l2Book snapshots.
        ctx_interval_s: Seconds between activeAssetCtx pushes.
        tick_s: Seconds of (wall or simulated) time per market step ("block").
        max_pending_posts: Posts in flight on one connection before the overload error.
        unanswered_hold_s: How long an unanswered post (fault) counts as pending.
        faults: Faults to inject (the empty spec injects nothing).
        seed: Seed of the per-connection fault generators.
        max_queued_frames: A client that falls this far behind is disconnected.
    """

    host: str = "127.0.0.1"
    port: int = 0
    idle_timeout_s: float = 60.0
    book_interval_s: float = 0.5
    ctx_interval_s: float = 1.0
    tick_s: float = 0.1
    max_pending_posts: int = 100
    unanswered_hold_s: float = 30.0
    faults: FaultSpec = field(default_factory=FaultSpec)
    seed: int = 0
    max_queued_frames: int = 100_000


class SimServer:
    """The simulator's websocket server around one `SimExchange`.

    Use as `async with SimServer(exchange, config) as server:` (or `start()`/`stop()`);
    `server.url` is `ws://127.0.0.1:PORT/ws` once started.
    """

    def __init__(self, exchange: SimExchange, config: ServerConfig | None = None) -> None:
        """Serve `exchange`; a simulated exchange clock means no ticker (see `advance`)."""
        self.exchange = exchange
        self.config = config or ServerConfig()
        self.simulated = exchange.simulated_clock
        self._server: Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._clients: dict[ServerConnection, SimConnection] = {}
        self._connections = 0
        self._routes: dict[tuple[Any, ...], dict[SimConnection, None]] = {}
        self._next_book_ms = 0
        self._next_ctx_ms = 0
        self._closed_fault_counts: dict[str, int] = {}

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Listen and, with a live clock, start the market ticker."""
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            create_connection=connection_class(self._http_request),
            process_request=_only_ws_path,
            ping_interval=None,  # the exchange relies on client pings
            compression=None,
            max_size=2**22,
        )
        now = self.exchange.now_ms()
        self._next_book_ms = now + int(self.config.book_interval_s * 1000)
        self._next_ctx_ms = now + int(self.config.ctx_interval_s * 1000)
        if not self.simulated:
            self._ticker = asyncio.create_task(self._tick_loop(), name="sim-ticker")
        logger.info("simulator listening on %s", self.url)

    async def stop(self) -> None:
        """Stop the ticker, close every connection (1001) and stop listening."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def serve_forever(self) -> None:
        """Run until cancelled (the CLI cancels on Ctrl-C / SIGTERM)."""
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    @property
    def port(self) -> int:
        """The port actually listened on (useful with port 0)."""
        if self._server is None:
            raise RuntimeError("the server is not started")
        return int(next(iter(self._server.sockets)).getsockname()[1])

    @property
    def url(self) -> str:
        """`ws://HOST:PORT/ws`."""
        return f"ws://{self.config.host}:{self.port}/ws"

    @property
    def connection_count(self) -> int:
        """How many clients are connected now."""
        return len(self._clients)

    def fault_counters(self) -> dict[str, int]:
        """Faults injected so far, summed over every connection (open or closed)."""
        total = dict(self._closed_fault_counts)
        for client in self._clients.values():
            if client.faults is not None:
                for name, count in client.faults.counters.items():
                    total[name] = total.get(name, 0) + count
        return total

    # --- simulated time -------------------------------------------------------------------

    async def advance(self, ms: int) -> None:
        """Step a simulated clock by `ms` in `tick_s` steps, flushing the frames of each step.

        Raises:
            RuntimeError: the exchange runs on a live clock.
        """
        if not self.simulated:
            raise RuntimeError("advance() needs the exchange to run on a SimClock")
        step = max(int(self.config.tick_s * 1000), 1)
        remaining = ms
        while remaining > 0:
            delta = min(step, remaining)
            self.exchange.advance_clock(delta)
            remaining -= delta
            self._tick(self.exchange.now_ms())
            await self.flush()  # what is due at this time goes out before time moves on

    async def flush(self) -> None:
        """Wait until every queued frame that may go out now has been written."""
        for client in list(self._clients.values()):
            if client.queue:
                client.drained.clear()
            client.wake.set()
        await asyncio.gather(*(c.drained.wait() for c in list(self._clients.values())))

    # --- the ticker -----------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            # A late tick is not made up for: each step catches the markets up to now.
            next_at = max(next_at + self.config.tick_s, loop.time())
            await asyncio.sleep(next_at - loop.time())
            try:
                self._tick(self.exchange.now_ms())
            except Exception:
                logger.exception("simulator tick failed")

    def _tick(self, now_ms: int) -> None:
        self._check_drops(now_ms)
        self._route(self.exchange.step(now_ms))
        if now_ms >= self._next_book_ms:
            self._next_book_ms = now_ms + int(self.config.book_interval_s * 1000)
            self._push_books()
        self._push_bbos(now_ms)
        self._push_mids()
        if now_ms >= self._next_ctx_ms:
            self._next_ctx_ms = now_ms + int(self.config.ctx_interval_s * 1000)
            self._push_ctxs()

    def _check_drops(self, now_ms: int) -> None:
        for client in list(self._clients.values()):
            if client.faults is not None and client.faults.should_drop(now_ms):
                client.abort()

    def _push_books(self) -> None:
        sides: dict[str, Any] = {}  # one read of each book serves all its variants
        for key, clients in self._routes.items():
            if key[0] == "l2Book" and clients:
                _, coin, sig_figs, mantissa, fast = key
                if coin not in sides:
                    sides[coin] = self.exchange.book_sides(coin)
                book = self.exchange.l2_book(
                    coin, sig_figs, mantissa, 5 if fast else 20, sides[coin]
                )
                if book is not None:
                    if fast:
                        book["fast"] = True
                    self._send_to(clients, frame("l2Book", book))

    def _push_bbos(self, now_ms: int) -> None:
        for key, clients in self._routes.items():
            if key[0] == "bbo" and clients:
                levels = self.exchange.bbo_levels(key[1])
                if levels is not None:
                    data = {"coin": key[1], "time": now_ms, "bbo": levels}
                    self._send_changed(clients, key, orjson.dumps(levels), "bbo", data)

    def _push_mids(self) -> None:
        for key, clients in self._routes.items():
            if key[0] == "allMids" and clients:
                mids = self.exchange.all_mids(key[1])
                data = mids_data(mids, key[1])
                self._send_changed(clients, key, orjson.dumps(mids), "allMids", data)

    @staticmethod
    def _send_changed(
        clients: dict[SimConnection, None],
        key: tuple[Any, ...],
        state: bytes,
        channel: str,
        data: Any,
    ) -> None:
        # Each client gets a frame only when the state differs from the last it was sent.
        encoded: bytes | None = None
        for client in list(clients):
            if client.last_sent.get(key) != state:
                client.last_sent[key] = state
                encoded = encoded if encoded is not None else frame(channel, data)
                client.send(encoded)

    def _push_ctxs(self) -> None:
        for key, clients in self._routes.items():
            if key[0] == "activeAssetCtx" and clients:
                ctx = self.exchange.active_asset_ctx(key[1])
                if ctx is not None:
                    self._send_to(clients, frame("activeAssetCtx", ctx))

    def _route(self, pushes: Iterable[Push]) -> None:
        for push in pushes:
            clients = self._routes.get(push.route)
            if clients:
                self._send_to(clients, frame(push.channel, push.data))

    @staticmethod
    def _send_to(clients: Iterable[SimConnection], frame: bytes) -> None:
        for client in list(clients):
            client.send(frame)

    # --- connections ----------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        self._connections += 1
        faults: FaultInjector | None = None
        if not self.config.faults.is_empty:
            rng = random.Random(f"{self.config.seed}:{self._connections}")
            faults = FaultInjector(self.config.faults, rng, self.exchange.now_ms())
        client = SimConnection(
            ws, self._connections, faults=faults, now_ms=self.exchange.now_ms,
            simulated=self.simulated, max_queued=self.config.max_queued_frames,
        )  # fmt: skip
        self._clients[ws] = client
        client.writer = asyncio.create_task(client.write_loop(), name=f"sim-writer-{client.number}")
        client.send(GREETING.encode())
        logger.info("connection %d opened from %s", client.number, ws.remote_address)
        try:
            await self._read_loop(client)
        finally:
            self._forget(client)
            client.writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await client.writer
            logger.info("connection %d closed", client.number)

    async def _read_loop(self, client: SimConnection) -> None:
        while True:
            try:
                async with asyncio.timeout(self.config.idle_timeout_s):
                    message = await client.ws.recv()
            except TimeoutError:
                logger.info("connection %d idle: closing it", client.number)
                await client.ws.close(1000, "idle timeout")
                return
            except ConnectionClosed:
                return
            self._on_message(client, message)

    def _on_message(self, client: SimConnection, message: str | bytes) -> None:
        try:
            request = parse_ws_request(message)
        except SubscriptionParseError:
            client.send(error_frame(parse_error_text(message)))
            return
        except InvalidSubscriptionError as exc:
            client.send(error_frame(f"Invalid subscription {exc}"))
            return
        if isinstance(request, PingRequest):
            client.send(_PONG)
        elif isinstance(request, SubscriptionRequest):
            if request.method == "subscribe":
                self._subscribe(client, request.subscription)
            else:
                self._unsubscribe(client, request.subscription)
        else:
            self._post(client, request)

    def _subscribe(self, client: SimConnection, sub: Subscription) -> None:
        if sub in client.subs:
            client.send(error_frame(f"Already subscribed: {sub.compact()}"))
            return
        client.subs[sub] = None
        client.send(ack_frame("subscribe", sub))
        if not sub.pushed:
            logger.info("subscription %s is not simulated: nothing will be pushed", sub.compact())
            return
        self._routes.setdefault(route_key(sub), {})[client] = None
        for initial in self._initial_frames(client, sub):
            client.send(initial)

    def _unsubscribe(self, client: SimConnection, sub: Subscription) -> None:
        if sub not in client.subs:
            client.send(error_frame(f"Already unsubscribed: {sub.compact()}"))
            return
        del client.subs[sub]
        if sub.pushed:
            self._routes.get(route_key(sub), {}).pop(client, None)
        client.send(ack_frame("unsubscribe", sub))

    def _initial_frames(self, client: SimConnection, sub: Subscription) -> list[bytes]:
        ex = self.exchange
        if sub.type == "l2Book":
            fast = bool(sub.get("fast"))
            book = ex.l2_book(sub.coin, sub.get("nSigFigs"), sub.get("mantissa"), 5 if fast else 20)
            if book is None:
                return []
            if fast:
                book["fast"] = True
            return [frame("l2Book", book)]
        if sub.type == "bbo":
            levels = ex.bbo_levels(sub.coin)
            if levels is None:
                return []
            client.last_sent[route_key(sub)] = orjson.dumps(levels)
            return [frame("bbo", {"coin": sub.coin, "time": ex.now_ms(), "bbo": levels})]
        if sub.type == "activeAssetCtx":
            ctx = ex.active_asset_ctx(sub.coin)
            return [] if ctx is None else [frame("activeAssetCtx", ctx)]
        if sub.type == "allMids":
            dex = sub.get("dex")
            mids = ex.all_mids(dex)
            client.last_sent[route_key(sub)] = orjson.dumps(mids)
            return [frame("allMids", mids_data(mids, dex))]
        if sub.type == "trades":
            trades = ex.recent_trades(sub.coin)
            return [frame("trades", trades)] if trades else []
        if sub.type == "userFills":
            fills = ex.user_fills(sub.user, bool(sub.get("aggregateByTime")))
            data = {"isSnapshot": True, "user": sub.user, "fills": fills}
            return [frame("userFills", data)]
        return []

    def _forget(self, client: SimConnection) -> None:
        self._clients.pop(client.ws, None)
        if client.faults is not None:
            for name, count in client.faults.counters.items():
                self._closed_fault_counts[name] = self._closed_fault_counts.get(name, 0) + count
        for sub in client.subs:
            if sub.pushed:
                self._routes.get(route_key(sub), {}).pop(client, None)
        client.subs.clear()

    # --- post -----------------------------------------------------------------------------

    def _post(self, client: SimConnection, request: PostRequest) -> None:
        if client.pending_posts >= self.config.max_pending_posts:
            client.send(error_frame(f"too many pending post requests id={request.id}"))
            return
        client.pending_posts += 1
        if request.kind == "info":
            response = self.exchange.info_response(request.payload)
            pushes: list[Push] = []
        else:
            response, pushes = self.exchange.action_response(
                request.payload, reject_storm=self._storm_check(client)
            )
        frame = orjson.dumps(
            {"channel": "post", "data": {"id": request.id, "response": response}}
        )
        if client.faults is not None and client.faults.leave_unanswered():
            asyncio.get_running_loop().call_later(
                self.config.unanswered_hold_s, client.release_post
            )
        else:
            client.send(frame, is_post_response=True)
        self._route(pushes)

    def _http_request(self, path: str, payload: Any) -> HttpAnswer:
        answer, pushes = answer_http(self.exchange, path, payload)
        self._route(pushes)
        return answer

    def _storm_check(self, client: SimConnection) -> Callable[[], bool] | None:
        faults = client.faults
        if faults is None or faults.spec.reject_storm is None:
            return None
        now = self.exchange.now_ms()
        return lambda: faults.reject_storm(now)


def _only_ws_path(connection: ServerConnection, request: Request) -> Response | None:
    if request.path.split("?", 1)[0] == "/ws":
        return None
    return connection.respond(404, "Not Found\n")
