"""The feed client: one websocket to the venue, kept alive, with posts multiplexed on it.

`FeedClient(url, coin, user=...)` subscribes to l2Book, bbo, trades and activeAssetCtx of
`coin` (and orderUpdates and userFills of `user` when given), and hands every data
message to the synchronous `on_event` callback, in arrival order, with duplicates removed
(`feeds.health` says what counts as one). `last_recv_ns` holds the local monotonic
receive time of the frame being delivered.

Keep-alive: `{"method":"ping"}` every `ping_interval_s`; no pong within `pong_timeout_s`,
a subscribed channel silent for longer than its `stale_after_s`, or a closed socket each
end the connection, and the client reconnects after a backoff delay (`feeds.backoff`),
resubscribes everything and matches the acks by subset (the server normalises the echo);
a lost ack is made good by subscribing again (see `FeedClientSettings.ack_timeout_s`).
Health events go to `on_health`; `health()` is a snapshot of the counters.

Posts: `post()` and `post_info()` send `{"method":"post","id":N,...}` on the same socket
with increasing ids and a per-request timeout (errors in `feeds.posts`). Every post
pending when the connection drops fails with `Disconnected`.

Recording hooks: `on_raw(raw, channel, exch_ms)` for every frame received (channel and
exchange time from the parsed message, no second parse), `on_post_sent(raw)` for every
post written and `on_control_sent(raw, method)` for every subscribe and ping written.

Callbacks run on the event loop and must not block; an exception in a callback is logged
and counted (`callback_errors`), never fatal. Ages and pacing are read from the injected
clock's `monotonic_ns` (a `SimClock` that does not move means nothing ever goes stale);
waiting uses the event loop's real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from hip3term.core.clock import Clock, LiveClock
from hip3term.feeds.backoff import Backoff
from hip3term.feeds.connection import close_connection, describe, open_connection
from hip3term.feeds.dedupe import FrameFilter
from hip3term.feeds.health import (
    NO_CHANNEL,
    ChannelCounters,
    FeedConnected,
    FeedDisconnected,
    FeedHealth,
    FeedReconnecting,
    FeedServerError,
    FeedStale,
    FeedSubscribed,
    HealthEvent,
    LogThrottle,
)
from hip3term.feeds.posts import (
    FeedError,
    NotConnected,
    PendingPosts,
    PostRejected,
    PostUnreadable,
)
from hip3term.feeds.settings import FeedClientSettings
from hip3term.feeds.subscriptions import (
    Subscription,
    SubscriptionSet,
    already_subscribed,
    market_subscriptions,
)
from hip3term.feeds.watchdog import Watchdog
from hip3term.venue.hyperliquid import wire
from hip3term.venue.hyperliquid.parse import parse_frame

__all__ = ["FeedClient"]

logger = logging.getLogger("hip3term.feeds")

_NS_PER_S: Final = 1_000_000_000
_PING: Final = b'{"method":"ping"}'
_RESPONSES: Final = (wire.PostInfo, wire.PostAction, wire.PostError)
_LOG_EVERY_NS: Final = 10 * _NS_PER_S

EventCallback = Callable[[wire.Event], None]
HealthCallback = Callable[[HealthEvent], None]
RawCallback = Callable[[bytes, str | None, int | None], None]


_YIELD_TURNS = 4  # prompt tick, then the post task's first step (its write), and spare


class _SessionEndedError(Exception):
    # Ends one connection; the text is the reason shown in health events.
    pass


class FeedClient:
    """A reconnecting websocket feed for one market, with posts on the same socket.

    Args:
        url: the websocket URL (`ws://127.0.0.1:PORT/ws`, `wss://api.hyperliquid.xyz/ws`).
        coin: the market, e.g. "xyz:COIN".
        user: the account address whose orderUpdates and userFills to follow, if any.
        settings: keep-alive, backoff and staleness settings.
        clock: the source of monotonic time for ages (a `LiveClock` by default).
        on_event: receives every data message (synchronous, must not block).
        on_health: receives health events.
        on_raw: receives every frame as received, with its channel and exchange time.
        on_post_sent: receives every post as written.
        on_control_sent: receives every subscribe and ping as written, with its method.
        extra_subscriptions: more subscriptions to make on every connection.
        rng: random source of the backoff jitter.
    """

    def __init__(
        self, url: str, coin: str, *, user: str | None = None,
        settings: FeedClientSettings | None = None, clock: Clock | None = None,
        on_event: EventCallback | None = None, on_health: HealthCallback | None = None,
        on_raw: RawCallback | None = None, on_post_sent: Callable[[bytes], None] | None = None,
        on_control_sent: Callable[[bytes, str], None] | None = None,
        extra_subscriptions: Iterable[Subscription] = (), rng: random.Random | None = None,
    ) -> None:
        self.url, self.coin, self.user = url, coin, user
        self.settings = settings or FeedClientSettings()
        self._clock = clock or LiveClock()
        self._on_event, self._on_health, self._on_raw = on_event, on_health, on_raw
        self._on_post_sent, self._on_control_sent = on_post_sent, on_control_sent
        self.yield_to: Callable[[], bool] | None = None
        """After each frame, while this returns True (the executor has an order on its way
        to the socket), the read loop gives the event loop a turn (at most a few)."""
        self._subs = SubscriptionSet((*market_subscriptions(coin, user),
                                      *extra_subscriptions))
        self.subscriptions = self._subs.subscriptions
        s = self.settings
        self._backoff = Backoff(s.backoff_initial_s, s.backoff_max_s, s.backoff_jitter, rng)
        self._watchdog = Watchdog(s.ping_interval_s, s.pong_timeout_s, [
            (channel, stale) for channel, sub in zip(self._subs.channels, self.subscriptions,
                                                     strict=True)
            if (stale := s.stale_after(str(sub["type"]))) is not None], s.ack_timeout_s)
        self._counters = {ch: ChannelCounters() for ch in self._subs.channels}
        self._filter = FrameFilter()
        self._posts = PendingPosts()
        self._ws: ClientConnection | None = None
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._running = self._closing = False
        self._rtt_ns: int | None = None
        self._connections = self._reconnects = self._callback_errors = 0
        self._last_disconnect: str | None = None
        self._throttle = LogThrottle(logger, _LOG_EVERY_NS)
        self.last_recv_ns = 0
        """Local monotonic time (ns) the frame being delivered was received."""

    # -- lifecycle ------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """A websocket is open."""
        return self._ws is not None

    @property
    def closing(self) -> bool:
        """`aclose()` was called: the client will not reconnect."""
        return self._closing

    @property
    def ready(self) -> bool:
        """Connected, and every subscription acknowledged on this connection."""
        return self._ready.is_set()

    def start(self) -> asyncio.Task[None]:
        """Run the client in a task of its own (named), stopped by `aclose`."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"feed {self.coin}")
        return self._task

    async def wait_ready(self, timeout: float) -> None:  # noqa: ASYNC109  # reason: simpler
        """Wait until connected with every subscription acknowledged.

        Raises:
            TimeoutError: not ready within `timeout` seconds.
        """
        async with asyncio.timeout(timeout):
            await self._ready.wait()

    async def run(self) -> None:
        """Connect, and reconnect after every loss, until `aclose()` or cancellation.

        Cancel-safe: cancelling closes the socket and fails pending posts.

        Raises:
            FeedError: the URL is not a websocket URL (nothing to retry).
            RuntimeError: the client is already running.
        """
        if self._running:
            raise RuntimeError("this FeedClient is already running")
        self._running = True
        self._stopped.clear()
        try:
            while not self._closing:
                reason, lasted_s = await self._connect_once()
                if self.closing:  # set by aclose() while we awaited
                    break
                if lasted_s is not None and lasted_s >= self.settings.healthy_reset_s:
                    self._backoff.reset()
                delay = self._backoff.next_delay()
                self._reconnects += 1
                self._emit(FeedReconnecting(self._backoff.attempts, delay, reason))
                await self._sleep_unless_closing(delay)
        finally:
            self._running = False
            self._stopped.set()

    async def aclose(self) -> None:
        """Stop: cancel the client's tasks, close the socket, fail pending posts.

        Cancel-safe: cancelling the caller propagates; the client is still marked
        closing and its socket is aborted.
        """
        self._closing = True
        self._stop.set()
        try:
            task = self._task
            if task is not None and not task.done() and task is not asyncio.current_task():
                task.cancel()
                await asyncio.wait({task}, timeout=self.settings.close_timeout_s + 1.0)
                if task.done() and not task.cancelled() and task.exception() is not None:
                    logger.error("feed %s ended with an error", self.coin,
                                 exc_info=task.exception())
            elif self._running:
                if self._ws is not None:
                    await close_connection(self._ws, self.settings.close_timeout_s)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.close_timeout_s + 1.0):
                        await self._stopped.wait()
        finally:
            ws, self._ws = self._ws, None
            if ws is not None:
                ws.transport.abort()
            self._posts.fail_all("client closed")

    async def __aenter__(self) -> FeedClient:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _sleep_unless_closing(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._stop.wait()

    async def _connect_once(self) -> tuple[str, float | None]:
        # One connection from opening to loss: (reason it ended, seconds it lasted or
        # None when it never opened).
        try:
            ws = await open_connection(self.url, self.settings)
        except FeedError:
            raise
        except Exception as exc:  # refused, DNS, handshake, timeout: all retried
            reason = f"connect failed: {describe(exc)}"
            self._lost(reason)
            return reason, None
        opened_ns = self._clock.monotonic_ns()
        reason = "closed"
        try:
            reason = await self._session(ws)
        finally:
            await self._teardown(ws, reason)
        return reason, (self._clock.monotonic_ns() - opened_ns) / _NS_PER_S

    async def _session(self, ws: ClientConnection) -> str:
        self._ws = ws
        self._connections += 1
        self._watchdog.start(self._clock.monotonic_ns())
        self._filter.new_connection()
        self._subs.reset()
        self._emit(FeedConnected(self.url, self._connections))
        reason = "closed"
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._read_loop(ws), name=f"feed {self.coin} reader")
                group.create_task(self._monitor(ws), name=f"feed {self.coin} monitor")
        except* _SessionEndedError as ended:
            reason = str(ended.exceptions[0])
        return reason

    async def _teardown(self, ws: ClientConnection, reason: str) -> None:
        self._ws = None
        self._ready.clear()
        for channel in self._subs.reset():
            self._counters[channel].gaps += 0 if self._closing else 1
        self._posts.fail_all(reason)
        await close_connection(ws, self.settings.close_timeout_s)
        self._lost("client closed" if self._closing else reason)

    def _lost(self, reason: str) -> None:
        self._last_disconnect = reason
        self._emit(FeedDisconnected(reason))

    # -- the two tasks of a connection -----------------------------------------------

    async def _read_loop(self, ws: ClientConnection) -> None:
        await self._subscribe_all(ws)
        while True:
            try:
                raw = await ws.recv(decode=False)
            except ConnectionClosed as exc:
                raise _SessionEndedError(describe(exc)) from None
            try:
                self._handle(raw if isinstance(raw, bytes) else raw.encode())
            except Exception:  # our bug must not end the feed: log it, keep reading
                self._callback_errors += 1
                self._log_throttled("handle", logging.ERROR, "feed: frame handling failed",
                                    exc_info=True)
            # Buffered frames come out of recv() without a pause: let an order this frame
            # decided reach the socket before the next one is handled (a few loop turns).
            yield_to = self.yield_to
            if yield_to is not None:
                for _ in range(_YIELD_TURNS):
                    if not yield_to():
                        break
                    await asyncio.sleep(0)

    async def _subscribe_all(self, ws: ClientConnection, pending_only: bool = False) -> None:
        for sub in self._subs.pending() if pending_only else self.subscriptions:
            await self._send_control(ws, orjson.dumps(
                {"method": "subscribe", "subscription": dict(sub)}), "subscribe")

    async def _send_control(self, ws: ClientConnection, raw: bytes, method: str) -> None:
        try:
            async with asyncio.timeout(self.settings.pong_timeout_s):
                await ws.send(raw, text=True)
        except ConnectionClosed as exc:
            raise _SessionEndedError(describe(exc)) from None
        except TimeoutError:
            raise _SessionEndedError(f"{method} write blocked") from None
        if self._on_control_sent is not None:
            self._call(self._on_control_sent, raw, method)

    async def _monitor(self, ws: ClientConnection) -> None:
        watchdog = self._watchdog
        while True:
            await asyncio.sleep(watchdog.tick_s)
            now = self._clock.monotonic_ns()
            acked = self._subs.all_acknowledged
            problem = watchdog.check(now, self._last_frame_ns, acked)
            if problem is not None:
                if problem.stale is not None:
                    self._counters[problem.stale.channel].gaps += 1
                    self._emit(problem.stale)
                raise _SessionEndedError(problem.reason)
            if watchdog.resend_acks(now, acked):
                await self._subscribe_all(ws, pending_only=True)
            if watchdog.ping_due(now):
                await self._send_control(ws, _PING, "ping")

    def _last_frame_ns(self, channel: str) -> int | None:
        counters = self._counters.get(channel)
        return None if counters is None else counters.last_frame_ns

    # -- frames ---------------------------------------------------------------------

    def _handle(self, raw: bytes) -> None:
        now = self.last_recv_ns = self._clock.monotonic_ns()
        event = parse_frame(raw)
        channel = event.channel
        if self._on_raw is not None:
            self._call(self._on_raw, raw, channel, event.exchange_time_ms)
        counters = self._counters.get(channel or NO_CHANNEL)
        if counters is None:
            counters = self._counters[channel or NO_CHANNEL] = ChannelCounters()
        counters.frames += 1
        if isinstance(event, wire.ParseError):
            self._malformed(event, counters, raw)
            return
        counters.last_frame_ns = now
        if isinstance(event, _RESPONSES):
            self._posts.resolve(event)
        elif isinstance(event, wire.SubscriptionAck):
            if event.method == "subscribe":
                self._acknowledged(event.subscription)
        elif isinstance(event, wire.ChannelError):
            self._server_error(event)
        elif channel == "pong":
            rtt = self._watchdog.on_pong(now)
            self._rtt_ns = self._rtt_ns if rtt is None else rtt
        elif not isinstance(event, wire.Greeting):
            verdict = self._filter.check(event, raw)
            counters.duplicates += verdict.duplicates
            counters.gaps += verdict.backwards
            if verdict.event is not None and self._on_event is not None:
                self._call(self._on_event, verdict.event)

    def _malformed(self, error: wire.ParseError, counters: ChannelCounters, raw: bytes) -> None:
        counters.malformed[error.kind.value] = counters.malformed.get(error.kind.value, 0) + 1
        if error.post_id is not None:
            self._posts.fail(error.post_id, PostUnreadable(error.post_id, error.detail))
        self._log_throttled(f"malformed {error.channel}", logging.WARNING,
                            "feed: malformed %s frame (%s: %s): %r", error.channel or "?",
                            error.kind.value, error.detail, raw[:120])

    def _acknowledged(self, echo: Mapping[str, wire.JsonValue]) -> bool:
        sub = self._subs.acknowledge(echo)
        if sub is None:
            logger.debug("feed: ack for no pending subscription: %s", dict(echo))
            return False
        self._emit(FeedSubscribed(sub))
        if self._subs.all_acknowledged:
            self._ready.set()
        return True

    def _server_error(self, error: wire.ChannelError) -> None:
        if error.post_id is not None and self._posts.fail(
                error.post_id, PostRejected(error.post_id, error.text)):
            return
        echo = already_subscribed(error.text)
        if echo is not None and self._acknowledged(echo):
            return  # the answer to a resent subscribe whose ack was lost
        self._log_throttled("server error", logging.WARNING, "feed: server error: %s",
                            error.text)
        self._emit(FeedServerError(error.text))

    # -- posts ----------------------------------------------------------------------

    # reason for the noqa: a per-request timeout is this API's contract
    async def post(self, request: Mapping[str, Any], *, timeout: float,  # noqa: ASYNC109
                   on_sent: Callable[[int], None] | None = None) -> wire.PostResponse:
        """Send a post request (`{"type": "info"|"action", "payload": {...}}`) and wait.

        Not cancel-safe in the sense of "nothing happened": cancelled after the write,
        the post may still execute (`on_sent` tells whether it was written).

        Args:
            request: the request object of the post envelope.
            timeout: seconds for the write and the answer together.
            on_sent: called with the post id right after the socket write succeeds.

        Returns:
            The server's answer: `PostInfo`, `PostAction` or `PostError` (of `wire`).

        Raises:
            NotConnected: no open connection; nothing was sent.
            PostTimeout: no answer in time (`sent` says whether it was written).
            Disconnected: the connection dropped while the post was pending.
            PostRejected: the server refused it unprocessed (too many pending posts).
            PostUnreadable: the answer could not be parsed.
        """
        ws = self._ws
        if ws is None or self._closing:
            raise NotConnected(f"no connection to {self.url}: post not sent")
        return await self._posts.send(ws, request, timeout, self._post_written, on_sent)

    def _post_written(self, raw: bytes) -> None:
        if self._on_post_sent is not None:
            self._call(self._on_post_sent, raw)

    # reason for the noqa: a per-request timeout is this API's contract
    async def post_info(self, payload: Mapping[str, Any], *,
                        timeout: float) -> wire.PostInfo:  # noqa: ASYNC109
        """Send an info request (the `/info` body) over the socket and wait for its data.

        Cancel-safe (an info request changes nothing).

        Raises:
            NotConnected, PostTimeout, Disconnected, PostUnreadable: as for `post`.
            PostRejected: the server refused it or answered with an error.
        """
        answer = await self.post({"type": "info", "payload": payload}, timeout=timeout)
        if isinstance(answer, wire.PostInfo):
            return answer
        if isinstance(answer, wire.PostError):
            raise PostRejected(answer.id, answer.text)
        raise PostUnreadable(answer.id, "an action answer to an info request")

    # -- health ---------------------------------------------------------------------

    def health(self) -> FeedHealth:
        """A snapshot of the connection and the per-channel counters."""
        now = self._clock.monotonic_ns()
        channels = {name: c.snapshot(now, self._watchdog.threshold_s(name),
                                     self._subs.subscribed(name))
                    for name, c in self._counters.items()}
        return FeedHealth(
            url=self.url, connected=self.connected, ready=self.ready,
            rtt_ms=None if self._rtt_ns is None else self._rtt_ns / 1e6,
            connections=self._connections, reconnects=self._reconnects,
            pending_posts=len(self._posts), late_post_answers=self._posts.late_answers,
            callback_errors=self._callback_errors, last_disconnect=self._last_disconnect,
            channels=MappingProxyType(channels))

    # -- helpers --------------------------------------------------------------------

    def _emit(self, event: HealthEvent) -> None:
        quiet = self._closing or not isinstance(event, FeedStale | FeedDisconnected)
        log = logging.INFO if quiet else logging.WARNING
        logger.log(log, "feed %s: %s", self.coin, event)
        if self._on_health is not None:
            self._call(self._on_health, event)

    def _call(self, callback: Callable[..., None], *args: object) -> None:
        try:
            callback(*args)
        except Exception:  # a consumer's bug must not stop the feed
            self._callback_errors += 1
            self._log_throttled(f"callback {callback!r}", logging.ERROR,
                                "feed: callback %r failed", callback, exc_info=True)

    def _log_throttled(self, key: str, level: int, message: str, *args: object,
                       exc_info: bool = False) -> None:
        self._throttle.log(self._clock.monotonic_ns(), key, level, message, *args,
                           exc_info=exc_info)
