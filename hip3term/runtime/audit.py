"""The fill audit: fills whose frame never arrived are read back from the exchange.

A `userFills` frame lost in transit (cut, unreadable) means a fill the tracker never saw.
Positions are set right by the next reconcile (the engine asks for one as soon as it
notices, see `fillgap`), but the fill itself must still reach the journal. So after every
resync (`wanted` is set), `FillAudit.run` reads the account's fills since a little before
the previous audit (`userFillsByTime`, parsed by the same parser as the feed) and hands
the ones not journaled yet to `EventLog.recover_fills`. Fills of the last
`SETTLE_MS` may still be on their way as frames: they are judged on a second look a
moment later, as is an answer that could not be read or did not come.
"""

from __future__ import annotations

import asyncio
import logging

import orjson

from hip3term.core.clock import Clock
from hip3term.feeds import FeedClient
from hip3term.feeds.posts import FeedError
from hip3term.runtime.engine import Engine
from hip3term.venue.hyperliquid import wire
from hip3term.venue.hyperliquid.parse import parse_frame

__all__ = ["OVERLAP_MS", "SETTLE_MS", "FillAudit"]

_log = logging.getLogger("hip3term.node")

SETTLE_MS = 2_000
"""Fills younger than this at the query are left for the next look."""
OVERLAP_MS = 120_000
"""Each audit reads back from this long before the previous one."""


class FillAudit:
    """Reads recent fills back and journals the missing ones (module docstring).

    Args:
        poster: the feed client the info request goes through.
        engine: whose event log journals the fills.
        clock: the injected clock.
        account: the account queried (None: nothing to audit).
        timeout_s: the info request's timeout.
    """

    def __init__(self, poster: FeedClient, engine: Engine, clock: Clock, account: str | None,
                 timeout_s: float) -> None:  # fmt: skip
        self._poster, self._engine, self._clock = poster, engine, clock
        self.account, self.timeout_s = account, timeout_s
        self.wanted = asyncio.Event()
        self.since_ms = clock.now_ms()

    async def run(self) -> None:
        """Audit whenever `wanted` is set, until cancelled. Cancel-safe."""
        while self.account is not None:
            await self.wanted.wait()
            self.wanted.clear()
            try:
                again = await self.audit(self.account)
            except (FeedError, TimeoutError) as exc:
                _log.info("fill audit failed (%s); trying again", exc or type(exc).__name__)
                again = self._poster.connected  # else the next connection's resync asks
            if again:  # look again once recent frames had time to arrive
                await asyncio.sleep(SETTLE_MS / 1000)
                self.wanted.set()

    async def audit(self, account: str) -> bool:
        """One look; returns whether to look again shortly (recent fills not journaled
        yet, or an unreadable answer).

        Raises:
            FeedError: the request failed.
        """
        asked = self._clock.now_ms()
        answer = await self._poster.post_info(
            {"type": "userFillsByTime", "user": account, "startTime": self.since_ms},
            timeout=self.timeout_s)
        event = parse_frame(orjson.dumps({"channel": "userFills",
                                          "data": {"user": account, "fills": answer.data}}))
        if not isinstance(event, wire.UserFills):
            _log.warning("fill audit: unreadable userFillsByTime answer: %s", event)
            return True
        log = self._engine.log
        log.recover_fills([f for f in event.fills if f.time_ms < asked - SETTLE_MS],
                          self._clock.now_ms())
        self.since_ms = max(self.since_ms, asked - OVERLAP_MS)
        return any(not log.is_journaled(f.tid) for f in event.fills
                   if f.time_ms >= asked - SETTLE_MS)
