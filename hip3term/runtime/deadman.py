"""The exchange's dead-man switch (`scheduleCancel`), armed where the account allows it.

Once READY-TRADING, `run()` sets `scheduleCancel` to `risk.dead_man_switch_s` ahead and
refreshes it every half period, so that if this process dies the exchange cancels every
open order of the account by itself. The exchange gates the action behind $1,000,000 of
traded volume (and the simulator follows it); a refusal is said once (journaled as risk
event `dead_man_refused` with the exchange's text) and the task ends: the workstation
then relies on its client-side cancel-all (on quit, on a halt). A failed post (no answer,
disconnected) is retried a second later. `clear()` removes an armed switch at a graceful
exit. Each action takes its nonce from the executor's `NonceManager` (one signer, one
nonce sequence) and counts against the in-flight limit like any other post.
"""

from __future__ import annotations

import asyncio
import itertools
import time

from hip3term.core.clock import Clock
from hip3term.core.nonce import NonceManager
from hip3term.errors import Hip3Error
from hip3term.execution.executor import Signer
from hip3term.feeds import FeedClient
from hip3term.runtime.engine import Engine
from hip3term.venue.hyperliquid.actions import schedule_cancel_action
from hip3term.venue.hyperliquid.signing import signed_body
from hip3term.venue.hyperliquid.wire import PostAction, PostError

__all__ = ["DeadManSwitch"]

_RETRY_S = 1.0
_READY_POLL_S = 0.25
_keys = itertools.count(1)


class DeadManSwitch:
    """Arms and refreshes `scheduleCancel` (see the module docstring).

    Args:
        poster: the feed client the action is posted through.
        signer: the key and network that sign it.
        nonces: the signer's nonce manager (shared with the executor).
        engine: READY-TRADING, the in-flight limit and the event log.
        clock: the injected clock.
        period_s: how far ahead the cancel is scheduled (0 = off).
        timeout_s: the post timeout.
    """

    def __init__(self, poster: FeedClient, signer: Signer, nonces: NonceManager, engine: Engine,
                 clock: Clock, period_s: float, timeout_s: float) -> None:  # fmt: skip
        self._poster, self._signer, self._nonces = poster, signer, nonces
        self._engine, self._clock = engine, clock
        self.period_s, self.timeout_s = period_s, timeout_s
        self.status = "off" if period_s == 0 else "waiting for READY"
        self.armed_until_ms: int | None = None
        self.refused: str | None = None

    async def run(self) -> None:
        """Arm and refresh until refused or cancelled. Cancel-safe."""
        if self.period_s == 0:
            return
        while True:
            await self._until_ready()
            if self.armed_until_ms is None:
                self.status = "arming"
            until = self._clock.now_ms() + round(self.period_s * 1000)
            accepted, text = await self._post(until)
            if accepted is None:
                await asyncio.sleep(_RETRY_S)
                continue
            if not accepted:
                self.refused, self.status, self.armed_until_ms = text, f"refused: {text}", None
                self._engine.log.risk(
                    self._clock.now_ms(), "dead_man_refused",
                    f"the exchange refused the dead-man switch (scheduleCancel): {text}; "
                    "relying on client-side cancel-all", severity="warning",
                )  # fmt: skip
                return
            self.armed_until_ms = until
            self.status = "armed until " + time.strftime("%H:%M:%S", time.gmtime(until / 1000))
            await asyncio.sleep(self.period_s / 2)

    async def _until_ready(self) -> None:
        # READY-TRADING lives in the synchronous engine: polled, no event to wait on.
        for _ in itertools.count():
            if self._engine.ready.ready:
                return
            await asyncio.sleep(_READY_POLL_S)

    async def clear(self) -> None:
        """Remove an armed switch (graceful exit); nothing when it is not armed."""
        if self.armed_until_ms is None:
            return
        accepted, _ = await self._post(None)
        if accepted:
            self.armed_until_ms, self.status = None, "cleared"

    async def _post(self, time_ms: int | None) -> tuple[bool | None, str]:
        # (True, "") accepted; (False, text) refused by the exchange; (None, why) no answer.
        inflight = self._engine.scheduler.inflight
        if not self._poster.connected or not inflight.reserve():
            return None, "not connected or at the in-flight limit"
        key, sent = ("dead-man", next(_keys)), False

        def on_sent(post_id: int) -> None:
            nonlocal sent
            inflight.mark_sent(key)
            sent = True

        try:
            nonce = self._nonces.next()
            body = signed_body(self._signer.key, schedule_cancel_action(time_ms), nonce,
                               self._signer.vault_address, None, self._signer.is_mainnet)
            answer = await self._poster.post({"type": "action", "payload": body},
                                             timeout=self.timeout_s, on_sent=on_sent)
        except Hip3Error as exc:  # not sent or no answer (feed), nonce store, signing
            return None, str(exc)
        finally:
            if sent:
                inflight.complete(key)
            else:
                inflight.release_reservation()
            if sent:
                self._engine.log.action(self._clock.now_ms(), "scheduleCancel", nonce,
                                        "set" if time_ms is not None else "clear")
        if isinstance(answer, PostAction):
            return (True, "") if answer.status == "ok" else (False, answer.error or "refused")
        if isinstance(answer, PostError):
            return False, answer.text
        return None, "an info answer to an action"
