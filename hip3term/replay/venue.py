"""The replay venue: recorded frames at their recorded times, posts answered in process.

`ReplayVenue` is the loop's `EventSource` (see `replay.clock`) and the executor's
`Poster`. It stands where the websocket and the exchange stand in a live session:

- *market data*: the recording's l2Book, bbo, trades and activeAssetCtx frames (every
  other frame of the recording, its account frames and post answers included, is the
  recorded session's own business and is skipped) are read in recorded order. A frame
  received at monotonic time `m` is due at virtual time `started_wall_ns + (m -
  started_mono_ns)` from the header (frames of other coins are left out, as a session
  subscribes to its own market only). At that time it is parsed once (`parse_frame`, the
  feed's parser) and the exchange side sees it (`RecordedBookExchange.on_market`, and
  the market series kept for markouts); it reaches the engine `feed_latency` later, after
  the feed's duplicate filter (`feeds.dedupe.FrameFilter`), through `on_event`.
- *dropped frames*: with `drop_rate` each market frame is lost in transit with that
  probability (seeded): the exchange moved, the engine never hears of it.
- *posts*: `post(request)` is written at once (`on_sent`), reaches the exchange after
  `order_latency`, is answered there from the exchange's state (actions are matched;
  see `replay.exchange`), and the answer comes back `feed_latency` later as the frame
  `{"channel": "post", ...}` read by `parse_frame`. The account frames an action caused
  (orderUpdates, userFills) follow the answer on the same path, as the simulator sends
  them; fills of resting orders caused by the recorded market arrive the same way.

So the round trip of a post is `order_latency + feed_latency`. Everything happens in
virtual time, in a fixed order: the same recording, settings and seed give the same
frames, answers and fills.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any, Final

import orjson

from hip3term.feeds.dedupe import FrameFilter
from hip3term.feeds.posts import PostUnreadable
from hip3term.recording.format import RecordingHeader, RecordKind
from hip3term.recording.reader import RecordingReader
from hip3term.replay.clock import VirtualClock
from hip3term.replay.exchange import RecordedBookExchange
from hip3term.venue.hyperliquid import wire
from hip3term.venue.hyperliquid.parse import parse_frame
from hip3term.venue.sim.pushes import Push

__all__ = ["MARKET_CHANNELS", "Latency", "ReplayVenue", "VenueCounters", "recorded_start_ns"]

_log = logging.getLogger("hip3term.replay")

MARKET_CHANNELS: Final = frozenset({"l2Book", "bbo", "trades", "activeAssetCtx"})
"""The recorded channels replayed (the market data the engine subscribes to)."""
_FRAME_IN: Final = RecordKind.FRAME_IN
_NS_PER_S: Final = 1_000_000_000
_RESPONSES: Final = (wire.PostInfo, wire.PostAction, wire.PostError)
# Final: compiled, a C static (`wire.Trades` is a lookup of the module's global, then of
# the module's attribute, on every frame)
_PARSE_ERROR: Final = wire.ParseError
_TRADES: Final = wire.Trades


@dataclass(frozen=True, slots=True)
class Latency:
    """The latency model, in nanoseconds.

    Attributes:
        order_ns: a post reaches the exchange this long after it is written.
        feed_ns: every frame from the exchange (market data, account frames, answers)
            reaches the engine this long after the exchange sent it (market data: on top
            of the latency already in the recording's receive times).
    """

    order_ns: int = 0
    feed_ns: int = 0

    @classmethod
    def from_ms(cls, order_ms: float, feed_ms: float) -> Latency:
        """From milliseconds (not negative).

        Raises:
            ValueError: a negative latency.
        """
        if order_ms < 0 or feed_ms < 0:
            raise ValueError("latencies cannot be negative")
        return cls(round(order_ms * 1e6), round(feed_ms * 1e6))


@dataclass(slots=True)
class VenueCounters:
    """What the venue did so far."""

    records: int = 0
    market_frames: int = 0
    delivered: int = 0
    dropped: int = 0
    malformed: int = 0
    other_coin: int = 0
    duplicates: int = 0
    account_frames: int = 0
    posts: int = 0
    actions: int = 0
    errors: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters by name (`dataclasses.asdict`'s answer, without its deep copy)."""
        return {name: getattr(self, name) for name in _COUNTER_NAMES}


_COUNTER_NAMES: Final = tuple(f.name for f in fields(VenueCounters))


def recorded_start_ns(header: RecordingHeader) -> int:
    """Virtual time of the recording's start (its header's wall-clock start)."""
    return header.started_wall_ns or 0


class ReplayVenue:
    """Recorded market data in, posts answered (see the module docstring).

    Args:
        reader: the recording.
        exchange: the exchange side.
        clock: the loop's virtual clock.
        latency: the latency model.
        on_event: receives every parsed message for the engine (market and account).
        on_market: receives (virtual ns, event) of every market event at exchange time
            (the markout series), or None.
        drop_rate: probability that a market frame is lost in transit.
        seed: seed of the drops.
    """

    def __init__(self, reader: RecordingReader, exchange: RecordedBookExchange, *,
                 clock: VirtualClock, latency: Latency,
                 on_event: Callable[[wire.Event], None],
                 on_market: Callable[[int, wire.Event], None] | None = None,
                 drop_rate: float = 0.0, seed: int = 0) -> None:  # fmt: skip
        if not 0.0 <= drop_rate < 1.0:
            raise ValueError(f"drop_rate must be in [0, 1), got {drop_rate}")
        header = reader.header
        self.exchange, self.clock, self.latency = exchange, clock, latency
        self.on_event, self.on_market = on_event, on_market
        self.counters = VenueCounters()
        self.finished = asyncio.Event()
        """Set once the last recorded frame was read (deliveries may still be due)."""
        self.last_frame_ns = recorded_start_ns(header)
        self._offset = recorded_start_ns(header) - (header.started_mono_ns or 0)
        self._records: Iterator[tuple[int, bytes]] = self._market_records(reader)
        self._next: tuple[int, bytes] | None = None
        self._due: deque[tuple[int, wire.Event, bytes, bool]] = deque()
        self._filter = FrameFilter()
        self._drop = drop_rate
        self._rng = random.Random(seed)
        self._ids = itertools.count(1)
        self._coin = exchange.spec.name
        self._posts_sent: dict[object, int] = {}
        self.recorded_round_trips_ns: list[int] = []
        """Round trips of the recorded session's own posts, as the recording read so far."""
        self._fetch()

    # ------------------------------------------------------------ EventSource

    def next_due_ns(self) -> int | None:
        """Virtual time of the next frame to read or to deliver (None: nothing left)."""
        frame, due = self._next, self._due
        if not due:
            return None if frame is None else frame[0]
        if frame is None or due[0][0] <= frame[0]:
            return due[0][0]
        return frame[0]

    def dispatch(self) -> bool:
        """Deliver or read the next item; True when a market frame reached the engine."""
        due, frame = self._due, self._next
        if due and (frame is None or due[0][0] <= frame[0]):
            _, event, raw, is_market = due.popleft()
            self._deliver(event, raw)
            return is_market
        assert frame is not None  # next_due_ns said there is one
        self._fetch()
        return self._read(frame[1])

    # ------------------------------------------------------------ market frames

    def _market_records(self, reader: RecordingReader) -> Iterator[tuple[int, bytes]]:
        offset, last, market = self._offset, 0, MARKET_CHANNELS
        for record in reader:
            self.counters.records += 1
            if record.channel == "post":
                self._timed_post(record.kind, record.mono_ns, record.raw)
            if record.kind is not _FRAME_IN or (record.channel is not None
                                                and record.channel not in market):
                continue
            last = max(last, record.mono_ns + offset)
            yield last, record.raw

    def _timed_post(self, kind: RecordKind, mono_ns: int, raw: bytes) -> None:
        # The recorded session's post round trips: written (sent) -> answered (frame).
        try:
            message = orjson.loads(raw)
            post_id = message["id"] if kind is RecordKind.SENT else message["data"]["id"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return
        if kind is RecordKind.SENT:
            self._posts_sent[post_id] = mono_ns
        elif (sent := self._posts_sent.pop(post_id, None)) is not None:
            self.recorded_round_trips_ns.append(mono_ns - sent)

    def _fetch(self) -> None:
        self._next = next(self._records, None)
        if self._next is None:
            self.finished.set()

    def _read(self, raw: bytes) -> bool:
        # At the frame's exchange time: parse once, the exchange side and the series see
        # it; the engine gets it feed_ns later (unless it is lost in transit).
        event = parse_frame(raw)
        if isinstance(event, _PARSE_ERROR):
            self.counters.malformed += 1
            return False
        if event.channel not in MARKET_CHANNELS:
            return False  # a recording without channel names: acks, answers, account frames
        mine = self._mine(event)
        if mine is None:
            self.counters.other_coin += 1
            return False
        event = mine
        now = self.clock.ns
        self.counters.market_frames += 1
        self.last_frame_ns = now
        self._on_exchange(now, event)
        if self._drop and self._rng.random() < self._drop:
            self.counters.dropped += 1
            return False
        if self.latency.feed_ns or self._due:
            self._due.append((now + self.latency.feed_ns, event, raw, True))
            return False
        self._deliver(event, raw)
        return True

    def _mine(self, event: wire.Event) -> wire.Event | None:
        # Only the market's own frames (and trades): a session subscribes to its coin only.
        if isinstance(event, _TRADES):
            coin = self._coin
            for trade in event.trades:  # usually all are: then the push is passed on
                if trade.coin != coin:
                    break
            else:
                return event
            trades = tuple(t for t in event.trades if t.coin == coin)
            return _TRADES(trades) if trades else None
        return event if getattr(event, "coin", self._coin) == self._coin else None

    def _on_exchange(self, now: int, event: wire.Event) -> None:
        try:
            if self.on_market is not None:
                self.on_market(now, event)
            pushes = self.exchange.on_market(event)
        except Exception:  # a bug must not end the replay: count, log, go on
            self.counters.errors += 1
            _log.exception("replay: the exchange failed on a %s frame", event.channel)
            return
        if pushes:
            self._send_account(pushes)

    def _deliver(self, event: wire.Event, raw: bytes) -> None:
        verdict = self._filter.check(event, raw)
        self.counters.duplicates += verdict.duplicates
        if verdict.event is None:
            return
        self.counters.delivered += 1
        try:
            self.on_event(verdict.event)
        except Exception:  # as the feed client does: a consumer's bug is logged, not fatal
            self.counters.errors += 1
            _log.exception("replay: the engine failed on a %s frame", event.channel)

    # ------------------------------------------------------------ account frames

    def send_account(self, channel: str, data: Any) -> None:
        """Send an account frame (`{"channel", "data"}`) to the engine, `feed_ns` from now."""
        self._send_account([Push(("", ""), channel, data)])

    def _send_account(self, pushes: list[Push]) -> None:
        due = self.clock.ns + self.latency.feed_ns
        for push in pushes:
            raw = orjson.dumps({"channel": push.channel, "data": push.data})
            event = parse_frame(raw)
            if isinstance(event, wire.ParseError):  # our own frame: a bug if it happens
                self.counters.errors += 1
                _log.error("replay: unreadable account frame: %s", event.detail)
                continue
            self.counters.account_frames += 1
            self._due.append((due, event, raw, False))

    # ------------------------------------------------------------ Poster

    # reason for the noqa: the Poster protocol's signature (a per-request timeout)
    async def post(self, request: Mapping[str, Any], *, timeout: float,  # noqa: ASYNC109
                   on_sent: Callable[[int], None] | None = None,
                   ) -> wire.PostInfo | wire.PostAction | wire.PostError:  # fmt: skip
        """Post `request` (`{"type": "info"|"action", "payload"}`) and wait for the answer.

        Written at once, answered `order_ns + feed_ns` later in virtual time (the timeout
        never runs out here). Cancel-safe as the feed client's `post`.

        Raises:
            PostUnreadable: the answer did not parse (a bug of the simulator).
        """
        post_id = next(self._ids)
        self.counters.posts += 1
        if on_sent is not None:
            on_sent(post_id)
        await asyncio.sleep(self.latency.order_ns / _NS_PER_S)
        response = self._answer(request)
        await asyncio.sleep(self.latency.feed_ns / _NS_PER_S)
        answer = parse_frame(orjson.dumps(
            {"channel": "post", "data": {"id": post_id, "response": response}}))
        if isinstance(answer, _RESPONSES):
            return answer
        raise PostUnreadable(post_id, getattr(answer, "detail", "not a post answer"))

    # reason for the noqa: as above
    async def post_info(self, payload: Mapping[str, Any], *,
                        timeout: float) -> wire.PostInfo:  # noqa: ASYNC109
        """An info request answered from the exchange's state.

        Raises:
            PostUnreadable: the answer was not an info answer.
        """
        answer = await self.post({"type": "info", "payload": payload}, timeout=timeout)
        if isinstance(answer, wire.PostInfo):
            return answer
        raise PostUnreadable(answer.id, f"info {payload.get('type')!r} was not answered")

    def _answer(self, request: Mapping[str, Any]) -> dict[str, Any]:
        kind, payload = request.get("type"), request.get("payload")
        if not isinstance(payload, dict):
            return {"type": "error", "payload": "Failed to deserialize the JSON body"}
        if kind == "info":
            return self.exchange.info_response(payload)
        if kind != "action":
            return {"type": "error", "payload": f"unknown post type {kind!r}"}
        self.counters.actions += 1
        response, pushes = self.exchange.action_response(payload)
        self._send_account(pushes)
        return response
