"""Virtual time for replay: an asyncio event loop whose clock is simulated.

`VirtualTimeLoop` is an `asyncio.SelectorEventLoop` whose `time()` reads a
`VirtualClock` (integer unix nanoseconds) instead of the machine's monotonic clock. When
the loop would wait (nothing ready, the next timer in the future) it does not sleep: its
selector first hands the time in between to the replay's `EventSource` (recorded frames
and other due items, each dispatched with the clock set to its due time, synchronously),
then moves the clock to the next timer. So `asyncio.sleep`, `asyncio.timeout`,
`call_later`, the executor's 100 ms tick, the engine's timers, the latency model and the
strategy all share one simulated clock (`VirtualClock` is a `core.clock.Clock`), and a
replay runs as fast as the code allows.

A ticker (`set_ticker`) is a periodic synchronous callback the loop runs itself, in the
same way as the source's items: at exact multiples of its period (integer nanoseconds, so
a tick never drifts by float rounding), with no task, future or timer handle per tick.
The replay's engine and executor tick this way, ten times a second of market time, which
costs a few microseconds instead of two asyncio timers and task steps. A ticker may also
say, after each tick, until when the ticks to come would do nothing if nothing else ran;
the loop then skips them, up to that time, the next source item or the next timer,
whichever comes first (the tick at that multiple runs, except at the item's own instant:
that one would run before the item, as idle as the others): the ticks of a quiet market,
between sparse frames, cost nothing. A ticker that can tell whether an item changed what
its ticks read (`still_idle_until`) keeps them skipped across the items that did not.

Order at equal times: an asyncio timer first, then the ticker, then the source's item.
Source items and ticks due strictly before the next timer run first. Whenever a dispatched
item or a tick schedules a callback or a timer (`call_soon`, `call_at`), dispatching
stops so that the loop runs it before anything later.

Pacing (`Pacer`): `speed=None` runs as fast as possible; a number runs virtual time at
that many times real time (the selector waits real time first, waking at once for real
events such as a thread-safe call from the TUI). `pause()` stops virtual time (the
selector blocks on real events only), `step()` lets it run to the next market frame and
pauses again. Pacer methods belong to the loop's thread: another thread calls them
through `loop.call_soon_threadsafe`.

Real file descriptors still work (the loop polls them without waiting before it moves
virtual time); a replay opens none besides the loop's own wake-up pipe.
"""

from __future__ import annotations

import asyncio
import math
import selectors
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Final, Protocol, TypeVar

__all__ = ["EventSource", "Pacer", "VirtualClock", "VirtualTimeLoop", "run_virtual"]

_NS_PER_S: Final = 1_000_000_000
_NS_PER_MS: Final = 1_000_000
_IDLE_POLL_S: Final = 0.1  # how often a paused loop wakes to run its idle hook
_MAX_LAG_S: Final = 0.5  # behind real time by more: the pacer forgives the debt

_T = TypeVar("_T")


class VirtualClock:
    """The replay's clock (`core.clock.Clock`): wall and monotonic readings are one value.

    Args:
        start_ns: the start, in unix nanoseconds.
    """

    __slots__ = ("ns",)

    def __init__(self, start_ns: int) -> None:
        self.ns = start_ns

    def now_ms(self) -> int:
        """Virtual wall-clock time in unix milliseconds."""
        return self.ns // _NS_PER_MS

    def now_ns(self) -> int:
        """Virtual wall-clock time in unix nanoseconds."""
        return self.ns

    def monotonic_ns(self) -> int:
        """The same reading as `now_ns` (one timeline)."""
        return self.ns

    def __repr__(self) -> str:
        return f"VirtualClock(ns={self.ns})"


class EventSource(Protocol):
    """What the loop dispatches between timers (the replay venue)."""

    def next_due_ns(self) -> int | None:
        """Virtual time of the next item, None when there is none (for now)."""
        ...

    def dispatch(self) -> bool:
        """Handle the next item (the clock is at its due time); True for a market frame."""
        ...


class Pacer:
    """How virtual time moves against real time: speed, pause and single steps.

    Args:
        speed: virtual seconds per real second, or None for as fast as possible.
        paused: start paused.
        monotonic: the real clock (seconds), `time.monotonic` unless a test steers it.
    """

    def __init__(self, speed: float | None = None, *, paused: bool = False,
                 monotonic: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.speed = _checked_speed(speed)
        self._monotonic = monotonic
        self.paused = paused
        self.steps = 0
        self._anchor: tuple[float, int] | None = None  # (real seconds, virtual ns)

    def set_speed(self, speed: float | None) -> None:
        """Change the speed (None: as fast as possible).

        Raises:
            ValueError: not a finite number above 0.
        """
        self.speed = _checked_speed(speed)
        self._anchor = None

    def pause(self) -> None:
        """Stop virtual time until `resume` (or `step`)."""
        self.paused, self.steps, self._anchor = True, 0, None

    def resume(self) -> None:
        """Let virtual time run again."""
        self.paused, self.steps, self._anchor = False, 0, None

    def toggle(self) -> bool:
        """Pause or resume; returns whether it is paused now."""
        if self.paused:
            self.resume()
        else:
            self.pause()
        return self.paused

    def step(self, frames: int = 1) -> None:
        """While paused: run to the next `frames` market frames, then pause again."""
        self.paused, self.steps, self._anchor = True, self.steps + max(1, frames), None

    def may_run(self) -> bool:
        """Whether virtual time may move now."""
        return not self.paused or self.steps > 0

    def frame_done(self) -> None:
        """A market frame was delivered (counts down a step)."""
        if self.paused and self.steps > 0:
            self.steps -= 1

    def wait_s(self, virtual_ns: int, now_ns: int) -> float:
        """Real seconds to wait before virtual time may move from `now_ns` to `virtual_ns`."""
        if self.speed is None or virtual_ns <= now_ns:
            return 0.0
        real = self._monotonic()
        if self._anchor is None:
            self._anchor = (real, now_ns)
        anchor_real, anchor_ns = self._anchor
        due = anchor_real + (virtual_ns - anchor_ns) / _NS_PER_S / self.speed
        if real - due > _MAX_LAG_S:  # far behind (slow code, a long pause): start afresh
            self._anchor = (real, now_ns)
            due = real + (virtual_ns - now_ns) / _NS_PER_S / self.speed
        return max(0.0, due - real)

    def reached_ns(self, target_ns: int, now_ns: int) -> int:
        """The virtual time real time has reached on the way to `target_ns` (after a wait
        cut short by a real event)."""
        if self.speed is None or self._anchor is None:
            return target_ns
        anchor_real, anchor_ns = self._anchor
        reached = anchor_ns + round((self._monotonic() - anchor_real) * self.speed * _NS_PER_S)
        return max(now_ns, min(target_ns, reached))


def _checked_speed(speed: float | None) -> float | None:
    if speed is None:
        return None
    if isinstance(speed, bool) or not math.isfinite(speed) or speed <= 0:
        raise ValueError(f"the replay speed must be a finite number above 0, got {speed!r}")
    return float(speed)


class _VirtualSelector(selectors.BaseSelector):
    # The loop's real selector, except that waiting is the loop's business (virtual time).
    def __init__(self, loop: VirtualTimeLoop) -> None:
        self._inner = selectors.DefaultSelector()
        self._loop = loop

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        return self._loop._wait(self._inner, timeout)

    def close(self) -> None:
        self._inner.close()

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.get_key(fileobj)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._inner.get_map()


_Ready = list[tuple[selectors.SelectorKey, int]]


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on virtual time (see the module docstring).

    Args:
        clock: the virtual clock (the loop reads and moves it).
        pacer: speed, pause and steps (as fast as possible when None).
    """

    def __init__(self, clock: VirtualClock, pacer: Pacer | None = None) -> None:
        self.vclock = clock
        self.pacer = pacer or Pacer()
        self._base_ns = clock.ns
        self._source: EventSource | None = None
        self._idle_hook: Callable[[], None] | None = None
        self._tick: Callable[[], None] | None = None
        self._tick_idle: Callable[[], int] | None = None
        self._tick_still_idle: Callable[[], int] | None = None
        self._tick_period_ns = 0
        self._tick_due_ns: int | None = None
        self._quiet_until_ns = 0  # ticks before this may be skipped (see `set_ticker`)
        self.ticks_run = self.ticks_skipped = 0
        super().__init__(_VirtualSelector(self))

    def time(self) -> float:
        """Virtual seconds since the loop was made (the loop's clock for its timers)."""
        return (self.vclock.ns - self._base_ns) / _NS_PER_S

    def set_source(self, source: EventSource | None) -> None:
        """Dispatch `source`'s items between timers (None: no source)."""
        self._source = source

    def set_ticker(self, period_ns: int, tick: Callable[[], None] | None,
                   idle_until: Callable[[], int] | None = None,
                   still_idle_until: Callable[[], int] | None = None) -> None:  # fmt: skip
        """Call `tick` every `period_ns` of virtual time, the first one period from now
        (None: no ticker). `tick` runs inside the loop's wait (see the module docstring):
        it must not raise and must not block; what it schedules runs right after it.

        `idle_until`, asked right after each tick, gives the virtual time (ns) before
        which the ticks to come would do nothing as long as nothing else runs: no source
        item, no callback, no timer (0 or the past: none). The loop skips those ticks
        (`ticks_skipped` counts them); a source item, a callback or a timer ends the
        skipping at its own time, so the tick due at or after it runs, unless
        `still_idle_until` is given: asked after a source item that scheduled nothing
        (while ticks were being skipped), it says whether they still may be (the same
        answer as `idle_until`, or 0 if the item changed what the ticks read).

        Raises:
            ValueError: `period_ns` is not above 0.
        """
        self._quiet_until_ns = 0
        if tick is None:
            self._tick, self._tick_idle, self._tick_due_ns = None, None, None
            self._tick_still_idle = None
            return
        if period_ns <= 0:
            raise ValueError(f"a ticker's period must be above 0 ns, got {period_ns}")
        self._tick, self._tick_idle, self._tick_period_ns = tick, idle_until, period_ns
        self._tick_still_idle = still_idle_until
        self._tick_due_ns = self.vclock.ns + period_ns

    def set_idle_hook(self, hook: Callable[[], None] | None) -> None:
        """Call `hook` every time the loop would wait (keep it cheap: a snapshot every
        100 ms of real time for the TUI, for example)."""
        self._idle_hook = hook

    # ------------------------------------------------------------ waiting

    def _wait(self, inner: selectors.BaseSelector, timeout: float | None) -> _Ready:
        # What the loop's select does: real events first; else run the source up to the
        # next timer and move the clock there. The loop ran callbacks or timers since
        # the last wait, perhaps: the ticks to come may have work again.
        self._quiet_until_ns = 0
        if self._idle_hook is not None:
            self._idle_hook()
        ready = inner.select(0)
        if ready or (timeout is not None and timeout <= 0):
            return ready
        if not self.pacer.may_run():
            return inner.select(_IDLE_POLL_S)
        now = self.vclock.ns
        # round, not ceil: the loop's 1 ns clock resolution absorbs the float error of
        # `when`, so 0.2 + 0.1 s lands on 300 000 000 ns, not one above
        deadline = None if timeout is None else now + max(1, round(timeout * _NS_PER_S))
        events = self._run_source(inner, deadline)
        if events is not None:
            return events
        if deadline is None:
            return inner.select(_IDLE_POLL_S if self._idle_hook is not None else None)
        events = self._pace(inner, deadline)
        return [] if events is None else events

    def _run_source(self, inner: selectors.BaseSelector, deadline: int | None) -> _Ready | None:
        # Dispatch the source's items and the ticks due before `deadline`, each at its own
        # time. Returns what the loop must see now (real events, or [] to run a callback or
        # to pause), or None once nothing more is due before the deadline.
        # a callback or a timer scheduled by an item grows one of these (nothing else
        # shrinks them while the source runs: the loop itself pops them)
        ready, timers = self._ready, self._scheduled  # type: ignore[attr-defined]
        scheduled, source, pacer = len(ready) + len(timers), self._source, self.pacer
        vclock = self.vclock
        while True:
            due = None if source is None else source.next_due_ns()
            tick_due = self._tick_due_ns
            if tick_due is not None and tick_due < self._quiet_until_ns:
                tick_due = self._skip_ticks(tick_due, due, deadline)
            ticks = tick_due is not None and (due is None or tick_due <= due)
            if ticks:
                due = tick_due
            if due is None or (deadline is not None and due >= deadline):
                return None
            if due > vclock.ns:
                if pacer.speed is None:  # as fast as possible: no real wait to make
                    vclock.ns = due
                elif (events := self._pace(inner, due)) is not None:
                    return events
            if pacer.paused and not pacer.may_run():
                return []
            if ticks:
                assert self._tick is not None and tick_due is not None  # set together
                self._tick_due_ns = tick_due + self._tick_period_ns
                self.ticks_run += 1
                self._tick()
                idle = self._tick_idle
                self._quiet_until_ns = 0 if idle is None else idle()
                if len(ready) + len(timers) != scheduled:
                    return []
            else:
                quiet, self._quiet_until_ns = self._quiet_until_ns, 0
                if source.dispatch():  # type: ignore[union-attr]  # due came from it
                    pacer.frame_done()
                if len(ready) + len(timers) != scheduled:
                    return []
                if quiet and (still := self._tick_still_idle) is not None:
                    self._quiet_until_ns = still()

    def _skip_ticks(self, tick_due: int, due: int | None, deadline: int | None) -> int:
        # The ticks due before the quiet time, the next item and the next timer would do
        # nothing, and so would one at the item's own instant (it would run before the
        # item): the next to run is the first multiple of the period at or after the
        # quiet time or the timer, or after the item, whichever comes first.
        until = self._quiet_until_ns
        if due is not None and due < until:
            until = due + 1
        if deadline is not None and deadline < until:
            until = deadline
        if until <= tick_due:
            return tick_due
        period = self._tick_period_ns
        skipped = -(-(until - tick_due) // period)
        self.ticks_skipped += skipped
        tick_due += skipped * period
        self._tick_due_ns = tick_due
        return tick_due

    def _pace(self, inner: selectors.BaseSelector, target_ns: int) -> _Ready | None:
        # Move the clock to `target_ns`, after the real wait the speed asks for; a real
        # event during the wait stops it there (returned, the clock where real time is).
        # With an idle hook the wait is cut in slices of _IDLE_POLL_S, the clock moved on
        # to where real time has reached and the hook run before each: nothing is due
        # before `target_ns`, and a screen fed by the hook keeps moving through a quiet
        # spell (the next timer may be a minute of virtual time away).
        pacer, vclock, hook = self.pacer, self.vclock, self._idle_hook
        while (wait := pacer.wait_s(target_ns, vclock.ns)) > 0:
            if hook is not None:
                hook()
                wait = min(wait, _IDLE_POLL_S)
            events = inner.select(wait)
            vclock.ns = pacer.reached_ns(target_ns, vclock.ns)
            if events:
                return events
            if hook is None:
                break
        vclock.ns = max(vclock.ns, target_ns)
        return None


def run_virtual(main: Coroutine[Any, Any, _T], loop: VirtualTimeLoop) -> _T:
    """Run `main` to completion on `loop` in this thread (as `asyncio.run` does with a
    new loop): tasks left over are then cancelled and awaited, and the loop is closed."""
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main)
    finally:
        try:
            _cancel_all(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
