"""ExecutorLoop: the 100 ms tick that signs and posts the scheduler's batches.

Every `tick_ms` the loop asks the scheduler for at most one cancel batch and one order
batch. For each: build the action (`posts.build_action`), take a nonce (one per signed
action, never reused), sign it (`signed_body`), register the post (`sent = False`) and
hand it to a task of its own that posts it; the two posts of a tick run concurrently and
the tick never waits for an answer. The post's `on_sent` (right after the socket write)
marks it sent in the `PostRequestManager` and in flight in the scheduler in one step, so
that `posts sent - posts completed == in flight` holds at every moment.

How a post ends decides what happens to its items:

- answered: its per-item statuses go to the tracker (resting, filled, error) and out as
  events (`OrderAcknowledged`, `OrderRejected`, `CancelCompleted`, `CancelFailed`); every
  order reject is counted by the risk monitor. A single error for an n-item batch is the
  exchange's pre-validation and refuses them all; statuses are never indexed blindly.
  A whole-request refusal (`status: err`) executed nothing: cancels and reduce-only
  orders go again when the error is transient (a few times), orders are rejected
  otherwise; a refused nonce is an alert (`NonceRejected`).
- never written (not connected, write error, the write timed out): cancels and
  reduce-only orders are re-queued at the front, new orders reported failed
  (`OrderFailed`).
- refused unprocessed by the server (too many pending posts): as never written.
- written, then timed out, cut by a disconnect, or answered unreadably: *ambiguous*.
  Cancels are re-queued (a duplicate cancel is harmless); reduce-only orders wait held,
  new orders are reported failed, and each order's fate is read by cloid
  (`orderStatus`): found -> adopted as the exchange has it (never sent again);
  `unknownOid` -> never placed (a held reduce-only order is released to be sent, a new
  one is FAILED). Nothing of such a post is resent before that: no double placement.

Info posts (`orderStatus`, `userRateLimit`) count against the same in-flight limit under
the keys `("info", n)`. After a post found no connection the ticks send nothing for
`NOT_CONNECTED_PAUSE_S` (everything waits in its queue) instead of failing at 10 Hz.

The runtime calls `on_connection_lost()` when the feed drops (it runs the gatekeeper's
disconnect: do not call that too) and may `await resolve_unknown()` after a reconnect,
before reconciling open orders.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from hip3term.config import ExecutorSettings
from hip3term.core.clock import Clock
from hip3term.core.events import (
    ActionPosted,
    ActionPostFailed,
    AlertRaised,
    CancelCompleted,
    CancelFailed,
    OrderAcknowledged,
    OrderRejected,
    OrderResolved,
    OrderState,
)
from hip3term.core.nonce import NonceManager
from hip3term.execution.posts import (
    AnswerReader,
    PendingPost,
    PostKind,
    PostOutcome,
    PostRequestManager,
    PostView,
    build_action,
    order_status_of,
)
from hip3term.execution.scheduler import Batch, BatchKind, BatchScheduler, InflightLevel
from hip3term.feeds.posts import (
    Disconnected,
    NotConnected,
    PostRejected,
    PostTimeout,
    PostUnreadable,  # fmt: skip
)
from hip3term.keys import SecretKey
from hip3term.positions.tracker import PositionTracker
from hip3term.venue.hyperliquid.signing import signed_body
from hip3term.venue.hyperliquid.wire import PostAction, PostError, PostInfo

if TYPE_CHECKING:  # types only: risk imports execution, not the other way round
    from hip3term.risk.gates import ActionBudget, GateKeeper
    from hip3term.risk.latch import RiskMonitor

__all__ = ["ExecutorCounters", "ExecutorLoop", "ExecutorStatus", "Poster", "Signer"]

logger = logging.getLogger("hip3term.executor")

RECENT_RESULTS: Final = 50
"""How many recent acks and rejects `status()` keeps."""
RESOLVE_PARALLEL: Final = 10
RESOLVE_RETRY_S: Final = 0.5
NOT_CONNECTED_PAUSE_S: Final = 0.25
"""After a post found no connection, ticks send nothing for this long (no busy retries)."""
INFO_WEIGHT: Final = 2  # IP weight of orderStatus (userRateLimit weighs 20)
_BACKSTOP_S: Final = 1.0  # on top of the poster's own timeout

_Events = list[object]
_RECENT_TYPES = (OrderAcknowledged, OrderRejected, CancelCompleted, CancelFailed, OrderResolved)


@dataclass(frozen=True, slots=True)
class Signer:
    """Who signs, and for which network.

    Attributes:
        key: the signing key (an approved agent's, or the account's).
        is_mainnet: phantom-agent source "a" (mainnet, and the simulator) or "b" (testnet).
        vault_address: the vault or sub-account acted for, if any.
    """

    key: SecretKey
    is_mainnet: bool
    vault_address: str | None = None


class Poster(Protocol):
    """What the executor posts through (`hip3term.feeds.FeedClient` satisfies it)."""

    async def post(self, request: Mapping[str, Any], *, timeout: float,  # noqa: ASYNC109  # reason: the feed client's API
                   on_sent: Callable[[int], None] | None = None,
                   ) -> PostInfo | PostAction | PostError: ...  # fmt: skip

    async def post_info(self, payload: Mapping[str, Any], *,
                        timeout: float) -> PostInfo: ...  # noqa: ASYNC109  # reason: as above


@dataclass(frozen=True, slots=True)
class ExecutorCounters:
    """Running totals since start."""

    ticks: int
    posts_sent: int
    info_posts: int
    answered: int
    timeouts: int
    send_failures: int
    disconnected: int
    refused: int
    unreadable: int
    late_answers: int
    resolved: int
    rejects: int
    nonce_errors: int
    prompt_ticks: int = 0
    """Ticks run because work was queued (`executor.prompt_dispatch`), included in `ticks`."""


@dataclass(frozen=True, slots=True)
class ExecutorStatus:
    """An immutable snapshot for the status line and the TUI."""

    running: bool
    queued_cancels: int
    queued_reduce_only: int
    queued_new: int
    held: int
    in_flight: int
    reserved: int
    limit: int
    high_water: int
    level: InflightLevel
    pending: tuple[PostView, ...]
    recent: tuple[object, ...]
    unresolved: int
    counters: ExecutorCounters


class ExecutorLoop:
    """The tick loop, its post tasks, and the resolution of ambiguous orders.

    See the module docstring. All arguments are keyword-only; `user` is the account
    address (queries use it, never the agent's), `on_event` receives every event.
    """

    def __init__(self, *, gatekeeper: GateKeeper, scheduler: BatchScheduler,
                 tracker: PositionTracker, budget: ActionBudget, monitor: RiskMonitor,
                 poster: Poster, signer: Signer, nonces: NonceManager, clock: Clock,
                 settings: ExecutorSettings, user: str,
                 on_event: Callable[[object], None]) -> None:  # fmt: skip
        self._gates, self._scheduler, self._tracker = gatekeeper, scheduler, tracker
        self._budget, self._monitor, self._poster = budget, monitor, poster
        self._signer, self._nonces, self._clock = signer, nonces, clock
        self.settings, self.user, self._on_event = settings, user.lower(), on_event
        self.posts = PostRequestManager(clock.monotonic_ns)
        self._reader = AnswerReader(gatekeeper=gatekeeper, scheduler=scheduler,
                                    tracker=tracker, monitor=monitor)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._recent: deque[object] = deque(maxlen=RECENT_RESULTS)
        self._counts: Counter[str] = Counter()
        self._resolving: set[str] = set()
        self._resolver: asyncio.Task[int] | None = None
        self._needs_resolution = False
        self._resolve_not_before = 0.0
        self._paused_until = 0.0
        self._running = False
        self._prompt: asyncio.Handle | None = None
        self._unwritten = 0  # post tasks spawned that have not taken their first step

    # ------------------------------------------------------------ the loop

    async def run(self, *, periodic: bool = True) -> None:
        """Tick every `tick_ms` until cancelled; then cancel and await every post task.

        With `periodic=False` the loop does not tick by itself: its owner calls
        `safe_tick` on its own schedule (the replay's virtual-time ticker). Prompt
        dispatch still ticks when work is queued.

        Cancel-safe: posts cut by the cancellation complete as disconnected (their orders
        become UNKNOWN, to be reconciled at the next start).

        Raises:
            RuntimeError: the loop is already running.
        """
        if self._running:
            raise RuntimeError("this ExecutorLoop is already running")
        self._running = True
        loop = asyncio.get_running_loop()
        tick_s = self.settings.tick_ms / 1000
        next_at = loop.time()
        if self.settings.prompt_dispatch:
            self._scheduler.on_work = self._wake
            queued = self._scheduler.status()
            if queued.cancels or queued.reduce_only or queued.new:
                self._wake()  # queued before the loop started
        # The clean-up awaits, so it is not written as a `finally`: compiled (mypyc), an
        # await inside `finally` leaves the caught exception set as the thread's "being
        # handled" one after the coroutine ends, and every later exception in the thread
        # chains onto it (a replay sweep's, a test run's).
        stopped: BaseException
        try:
            if not periodic:
                await loop.create_future()  # until cancelled
            while True:
                next_at = max(next_at + tick_s, loop.time())  # late ticks are not made up
                await asyncio.sleep(next_at - loop.time())
                self.safe_tick()
        except BaseException as exc:  # re-raised after the clean-up
            stopped = exc
        self._running = False
        self._scheduler.on_work = None
        if self._prompt is not None:
            self._prompt.cancel()
            self._prompt = None
        await self.aclose()
        raise stopped

    def safe_tick(self) -> None:
        """`tick`, with a failure logged and counted (`tick_errors`) instead of raised."""
        try:
            self.tick()
        except Exception:  # a bug must not stop the executor: log, tick again
            self._counts["tick_errors"] += 1
            logger.exception("executor: tick failed")

    def _wake(self) -> None:
        # Prompt dispatch: work was queued; tick right after the current callback (so
        # everything one frame or one command queues still goes out together) instead
        # of waiting up to `tick_ms` for the next periodic tick.
        if self._prompt is None and self._running:
            self._prompt = asyncio.get_running_loop().call_soon(self._prompt_tick)

    def _prompt_tick(self) -> None:
        self._prompt = None
        self._counts["prompt_ticks"] += 1
        self.safe_tick()

    async def aclose(self) -> None:
        """Cancel every task of the executor and wait for them (also done by `run`)."""
        self._unwritten = 0  # a task cancelled before its first step never counts down
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def idle(self) -> bool:
        """True when a tick would do nothing (nothing queued, nothing to resolve) until
        something is enqueued or an order's fate becomes unknown: what a replay's loop
        asks before it skips ticks (`VirtualTimeLoop.set_ticker`)."""
        return self._scheduler.idle and not self._needs_resolution

    def tick(self) -> int:
        """Run one tick now: post the scheduler's batches (each in its own task), and
        start resolving ambiguous orders when some wait. Needs a running event loop.

        Returns:
            The number of action posts started.
        """
        self._counts["ticks"] += 1
        if self._paused_until and asyncio.get_running_loop().time() < self._paused_until:
            return 0  # no connection a moment ago: everything waits in its queue
        batches = self._scheduler.tick()
        started = 0
        if batches:
            now = self._clock.now_ms()
            started = sum(self._dispatch(batch, now) for batch in batches)
        if self._needs_resolution:
            self._maybe_resolve()
        return started

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _dispatch(self, batch: Batch, now: int) -> int:
        kind = PostKind.ORDER if batch.kind is BatchKind.ORDER else PostKind.CANCEL
        try:
            action = build_action(batch)
            nonce = self._nonces.next()
            signer = self._signer
            body = signed_body(signer.key, action, nonce, signer.vault_address, None,
                               signer.is_mainnet)  # fmt: skip
        except Exception as exc:  # a value the builders refuse, a nonce store failure
            logger.error("executor: %s batch %d not sent: %s", kind, batch.batch_id, exc)
            self._counts["send_failed"] += 1
            self._emit([AlertRaised(now, "action_not_built", f"{kind} batch: {exc}"),
                        *self._gates.on_send_failed(batch.batch_id, now)])  # fmt: skip
            return 0
        post = self.posts.register(kind, batch_id=batch.batch_id, nonce=nonce, items=len(batch))
        self._unwritten += 1
        self._spawn(self._post_action(batch, post, body), f"post {kind.value} {batch.batch_id}")
        return 1

    def has_urgent_work(self) -> bool:
        """True while queued work has not reached the socket: a prompt tick is due, or a
        built post's task has not run its first step (the write). The feed's read loop
        yields to it between buffered frames (`FeedClient.yield_to`)."""
        return self._prompt is not None or self._unwritten > 0

    # ------------------------------------------------------------ one action post

    async def _post_action(self, batch: Batch, post: PendingPost, body: dict[str, Any]) -> None:
        self._unwritten -= 1  # this first step writes (or finds the post given up)
        if post.done:  # the connection dropped before this task ran: never written
            return
        timeout = self.settings.post_timeout_s
        try:
            async with asyncio.timeout(timeout + _BACKSTOP_S):
                answer = await self._poster.post(
                    {"type": "action", "payload": body}, timeout=timeout,
                    on_sent=lambda post_id: self._action_sent(batch, post, post_id))
        except asyncio.CancelledError:
            self._action_failed(batch, post, PostOutcome.DISCONNECTED, "executor stopped")
            raise
        except Exception as exc:
            outcome, claimed = _failure(exc, post)
            if claimed and not post.sent and not post.done:  # written, on_sent not seen
                self._action_sent(batch, post, getattr(exc, "post_id", -post.key))
            if isinstance(exc, NotConnected):
                self._paused_until = asyncio.get_running_loop().time() + NOT_CONNECTED_PAUSE_S
            elif outcome is PostOutcome.SEND_FAILED:
                logger.warning("executor: %s post failed: %r", post.kind, exc)
            self._action_failed(batch, post, outcome, str(exc) or type(exc).__name__)
            return
        self._answered(batch, post, answer)

    def _action_sent(self, batch: Batch, post: PendingPost, post_id: int) -> None:
        now = self._clock.now_ms()
        if not self.posts.mark_sent(post, post_id):
            if post.done:  # written after it was given up as unsent: it may execute
                logger.error("executor: post %d written after it was given up", post_id)
                self._emit([AlertRaised(now, "late_post_write", f"{post.kind} post {post_id} "
                                        "was written after it was given up as unsent")])
            return
        self._counts["posts_sent"] += 1
        events: _Events = [*self._gates.on_batch_sent(batch, now)]
        assert post.nonce is not None  # action posts always carry their nonce
        events.append(ActionPosted(now, post_id, post.kind, batch.batch_id, post.nonce,
                                   len(batch)))  # fmt: skip
        self._emit(events)

    def _action_failed(self, batch: Batch, post: PendingPost, outcome: PostOutcome,
                       detail: str) -> None:  # fmt: skip
        sent = post.sent
        if not self.posts.complete(post, outcome if sent else PostOutcome.SEND_FAILED):
            return  # already completed (the connection dropped first)
        now = self._clock.now_ms()
        outcome = outcome if sent else PostOutcome.SEND_FAILED
        self._counts[outcome.value] += 1
        events: _Events = [ActionPostFailed(now, post.post_id, post.kind, batch.batch_id,
                                            post.nonce or 0, outcome, sent, detail)]
        if not sent:
            events += self._gates.on_send_failed(batch.batch_id, now)
        elif outcome is PostOutcome.REFUSED:  # the server did not process it
            self._scheduler.on_response(batch.batch_id)
            events += self._reader.unexecuted(batch, now)
        else:
            events += self._gates.on_timeout(batch.batch_id, now)
            self._needs_resolution = self._needs_resolution or bool(batch.orders)
        self._emit(events)

    def _answered(self, batch: Batch, post: PendingPost, answer: object) -> None:
        if not self.posts.complete(post, PostOutcome.ANSWERED):
            self._counts["late_answers"] += 1  # completed as disconnected: resolved by cloid
            return
        self._counts["answered"] += 1
        self._scheduler.on_response(batch.batch_id)
        events = self._reader.answered(batch, post, answer, self._clock.now_ms())
        self._needs_resolution = self._needs_resolution or self._reader.needs_resolution
        self._reader.needs_resolution = False
        self._emit(events)

    # ------------------------------------------------------------ disconnects

    def on_connection_lost(self) -> None:
        """The feed disconnected: complete every pending post as disconnected.

        Runs the gatekeeper's disconnect (in-flight back to 0, cancels and reduce-only
        orders re-queued, new orders reported failed, READY-TRADING lost); orders of
        posts that were written are resolved by cloid once the connection is back.
        """
        now = self._clock.now_ms()
        events: _Events = []
        inflight = self._scheduler.inflight
        for post in self.posts.complete_all(PostOutcome.DISCONNECTED):
            if post.kind is PostKind.INFO:
                if post.sent:
                    inflight.complete(("info", post.key))
                else:
                    inflight.release_reservation()
                continue
            self._counts["disconnected" if post.sent else "send_failed"] += 1
            events.append(ActionPostFailed(now, post.post_id, post.kind, post.batch_id or 0,
                                           post.nonce or 0, PostOutcome.DISCONNECTED,
                                           post.sent, "connection lost"))  # fmt: skip
        events += self._gates.on_disconnect(now)
        self._needs_resolution = True  # a pass with nothing to resolve clears it
        self._emit(events)

    # ------------------------------------------------------------ resolution by cloid

    def _maybe_resolve(self) -> None:
        if not self._needs_resolution or (self._resolver is not None
                                          and not self._resolver.done()):  # fmt: skip
            return
        if asyncio.get_running_loop().time() < self._resolve_not_before:
            return
        self._resolver = self._spawn(self._resolve_pass(), "resolve unknown orders")

    async def resolve_unknown(self) -> None:
        """Resolve every UNKNOWN or held order by cloid (`orderStatus`) now.

        Call it after a reconnect, before reconciling open orders. Passes repeat while
        they make progress; what stays unresolved (no answer) is retried by the loop.
        Cancel-safe (queries change nothing).
        """
        while await self._resolve_pass() > 0:
            pass

    def _unknown(self) -> dict[str, str]:
        found = {order.cloid: order.market for order in self._tracker.orders.live()
                 if order.state is OrderState.UNKNOWN and order.cloid is not None}
        for cloid in self._scheduler.held:
            order = self._tracker.order(cloid=cloid)
            found.setdefault(cloid, order.market if order is not None else "")
        return {c: m for c, m in found.items() if c not in self._resolving}

    async def _resolve_pass(self) -> int:
        # One round of orderStatus queries; returns how many were resolved.
        todo = list(self._unknown().items())[:RESOLVE_PARALLEL]
        if not todo:
            self._needs_resolution = bool(self._resolving)
            return 0
        done = await asyncio.gather(*(self._resolve_one(c, m) for c, m in todo))
        resolved = sum(done)
        if resolved < len(todo):
            loop_time = asyncio.get_running_loop().time()
            self._resolve_not_before = loop_time + RESOLVE_RETRY_S
        return resolved

    async def _resolve_one(self, cloid: str, market: str) -> bool:
        self._resolving.add(cloid)
        try:
            data = await self._info({"type": "orderStatus", "user": self.user, "oid": cloid})
            if data is None:
                return False
            status, oid = order_status_of(data)
        except ValueError as exc:
            logger.warning("executor: orderStatus of %s: %s", cloid, exc)
            return False
        finally:
            self._resolving.discard(cloid)
        now = self._clock.now_ms()
        self._counts["resolved"] += 1
        tracked = self._tracker.order(cloid=cloid)
        if tracked is not None and oid is not None:  # adopted: cancels by oid must work
            self._tracker.orders.set_oid(tracked, oid)
        self._emit([*self._gates.resolve(cloid, status, now),
                    OrderResolved(now, cloid, market, status, oid)])
        return True

    async def refresh_rate_limit(self) -> bool:
        """Read `userRateLimit` into the action budget (do it on every resync).

        Returns:
            Whether the budget was updated. Cancel-safe.
        """
        data = await self._info({"type": "userRateLimit", "user": self.user}, weight=20)
        if data is None:
            return False
        try:
            self._budget.on_user_rate_limit(data)
        except ValueError as exc:
            logger.warning("executor: userRateLimit: %s", exc)
            return False
        return True

    async def _info(self, payload: Mapping[str, Any], weight: int = INFO_WEIGHT) -> object:
        # An info post under the in-flight limit; None when refused, failed or not an info.
        inflight = self._scheduler.inflight
        if not inflight.reserve():
            return None
        post = self.posts.register(PostKind.INFO)
        self._counts["info_posts"] += 1

        def on_sent(post_id: int) -> None:
            if self.posts.mark_sent(post, post_id):
                inflight.mark_sent(("info", post.key))
                self._budget.on_ip_weight(weight, self._clock.now_ms())

        timeout = self.settings.post_timeout_s
        outcome = PostOutcome.ANSWERED
        answer: object = None
        try:
            async with asyncio.timeout(timeout + _BACKSTOP_S):
                answer = await self._poster.post({"type": "info", "payload": payload},
                                                 timeout=timeout, on_sent=on_sent)
        except asyncio.CancelledError:
            self._end_info(post, PostOutcome.DISCONNECTED)
            raise
        except Exception as exc:
            outcome = _failure(exc, post)[0]
        self._end_info(post, outcome)
        return answer.data if isinstance(answer, PostInfo) else None

    def _end_info(self, post: PendingPost, outcome: PostOutcome) -> None:
        if self.posts.complete(post, outcome):
            inflight = self._scheduler.inflight
            if post.sent:
                inflight.complete(("info", post.key))
            else:
                inflight.release_reservation()

    # ------------------------------------------------------------ output

    def _emit(self, events: Iterable[object]) -> None:
        for event in events:
            if isinstance(event, _RECENT_TYPES):
                self._recent.append(event)
            try:
                self._on_event(event)
            except Exception:  # a consumer's bug must not break the executor
                logger.exception("executor: on_event failed for %r", event)

    def status(self) -> ExecutorStatus:
        """An immutable snapshot: queues, in-flight, pending posts, recent results."""
        s, c = self._scheduler.status(), self._counts + self._reader.counts
        counters = ExecutorCounters(
            ticks=c["ticks"], posts_sent=c["posts_sent"], info_posts=c["info_posts"],
            answered=c["answered"], timeouts=c["timeout"], send_failures=c["send_failed"],
            disconnected=c["disconnected"], refused=c["refused"], unreadable=c["unreadable"],
            late_answers=c["late_answers"], resolved=c["resolved"], rejects=c["rejects"],
            nonce_errors=c["nonce_errors"], prompt_ticks=c["prompt_ticks"],
        )  # fmt: skip
        inflight = self._scheduler.inflight
        return ExecutorStatus(
            running=self._running, queued_cancels=s.cancels, queued_reduce_only=s.reduce_only,
            queued_new=s.new, held=s.held, in_flight=s.in_flight, reserved=s.reserved,
            limit=inflight.limit, high_water=inflight.high_water, level=s.level,
            pending=self.posts.views(), recent=tuple(self._recent),
            unresolved=len(self._unknown()) + len(self._resolving), counters=counters,
        )  # fmt: skip


def _failure(exc: Exception, post: PendingPost) -> tuple[PostOutcome, bool]:
    # How a post that raised ended, and whether the write is known to have happened.
    if isinstance(exc, NotConnected):
        return PostOutcome.SEND_FAILED, False
    if isinstance(exc, PostTimeout):
        return (PostOutcome.TIMEOUT if exc.sent else PostOutcome.SEND_FAILED), exc.sent
    if isinstance(exc, Disconnected):
        return (PostOutcome.DISCONNECTED if exc.sent else PostOutcome.SEND_FAILED), exc.sent
    if isinstance(exc, PostRejected):
        return PostOutcome.REFUSED, True
    if isinstance(exc, PostUnreadable):
        return PostOutcome.UNREADABLE, True
    if isinstance(exc, TimeoutError):  # our backstop: the poster did not time out itself
        return PostOutcome.TIMEOUT, post.sent
    logger.error("executor: post failed unexpectedly", exc_info=exc)
    return (PostOutcome.DISCONNECTED if post.sent else PostOutcome.SEND_FAILED), post.sent
