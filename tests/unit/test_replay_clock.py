"""The replay's virtual-time loop: timers and source items in virtual time, in a fixed
order; pause and step; the pacer's arithmetic; the speed ladder."""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from hip3term.replay.clock import Pacer, VirtualClock, VirtualTimeLoop, run_virtual
from hip3term.replay.thread import SPEEDS, _next_speed

START_NS = 1_785_000_000_000_000_000
S = 1_000_000_000


class ListSource:
    """Items (due ns, name, market frame?, action) handed out in order; logs them."""

    def __init__(self, clock: VirtualClock, items: list[tuple[int, str, bool]],
                 log: list[tuple[int, str]],
                 actions: dict[str, Callable[[], None]] | None = None) -> None:
        self.clock, self.items, self.log = clock, deque(items), log
        self.actions = actions or {}

    def next_due_ns(self) -> int | None:
        return self.items[0][0] if self.items else None

    def dispatch(self) -> bool:
        due, name, is_frame = self.items.popleft()
        assert self.clock.ns == due  # the clock stands at the item's time
        self.log.append((self.clock.ns - START_NS, name))
        action = self.actions.get(name)
        if action is not None:
            action()
        return is_frame


def run(main: Callable[[VirtualTimeLoop], Coroutine[Any, Any, Any]],
        pacer: Pacer | None = None) -> tuple[VirtualClock, Any]:
    vclock = VirtualClock(START_NS)
    loop = VirtualTimeLoop(vclock, pacer)
    result = run_virtual(main(loop), loop)
    return vclock, result


def test_virtual_clock_reads_one_timeline() -> None:
    c = VirtualClock(START_NS + 1_234_567)
    assert c.now_ns() == c.monotonic_ns() == START_NS + 1_234_567
    assert c.now_ms() == (START_NS + 1_234_567) // 1_000_000


def test_sleep_of_an_hour_moves_virtual_time_only() -> None:
    async def main(loop: VirtualTimeLoop) -> float:
        await asyncio.sleep(3600)
        return loop.time()

    vclock, elapsed = run(main)
    assert elapsed == pytest.approx(3600, abs=1e-6)
    assert vclock.ns - START_NS == pytest.approx(3600 * S, abs=1000)


def test_timers_fire_in_order_at_their_virtual_times() -> None:
    async def main(loop: VirtualTimeLoop) -> list[tuple[str, float]]:
        fired: list[tuple[str, float]] = []
        done = loop.create_future()
        def fire(name: str) -> None:
            fired.append((name, loop.time()))

        for name, delay in (("c", 2.5), ("a", 0.25), ("b", 1.0)):
            loop.call_later(delay, fire, name)
        loop.call_later(3.0, done.set_result, None)
        await done
        return fired

    _, fired = run(main)
    assert [n for n, _ in fired] == ["a", "b", "c"]
    assert [t for _, t in fired] == pytest.approx([0.25, 1.0, 2.5], abs=1e-6)


def test_timeout_expires_in_virtual_time() -> None:
    async def main(loop: VirtualTimeLoop) -> float:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(5):
                await asyncio.sleep(60)
        return loop.time()

    _, elapsed = run(main)
    assert elapsed == pytest.approx(5, abs=1e-6)


def test_source_items_interleave_with_timers_in_time_order() -> None:
    log: list[tuple[int, str]] = []

    async def ticker(loop: VirtualTimeLoop) -> None:
        for _ in range(3):
            await asyncio.sleep(0.1)
            log.append((round(loop.time() * S), "tick"))

    async def main(loop: VirtualTimeLoop) -> None:
        items = [(START_NS + 50_000_000, "f1", True), (START_NS + 100_000_000, "f2", True),
                 (START_NS + 250_000_000, "f3", True)]
        loop.set_source(ListSource(loop.vclock, items, log))
        await ticker(loop)

    run(main)
    # an item due at the same instant as a timer comes after the timer
    assert log == [(50_000_000, "f1"), (100_000_000, "tick"), (100_000_000, "f2"),
                   (200_000_000, "tick"), (250_000_000, "f3"), (300_000_000, "tick")]


def test_a_scheduled_callback_runs_before_later_items() -> None:
    log: list[tuple[int, str]] = []

    async def main(loop: VirtualTimeLoop) -> None:
        event = asyncio.Event()

        async def waiter() -> None:
            await event.wait()
            log.append((loop.vclock.ns - START_NS, "woken"))

        task = asyncio.create_task(waiter())
        await asyncio.sleep(0)
        items = [(START_NS + S, "set", False), (START_NS + S + 1, "later", False),
                 (START_NS + 2 * S, "last", False)]
        loop.set_source(ListSource(loop.vclock, items, log, {"set": event.set}))
        await task
        await asyncio.sleep(3)

    run(main)
    assert log == [(S, "set"), (S, "woken"), (S + 1, "later"), (2 * S, "last")]


def test_ticker_runs_at_exact_multiples_between_timers_and_items() -> None:
    log: list[tuple[int, str]] = []

    async def main(loop: VirtualTimeLoop) -> None:
        loop.set_ticker(100_000_000, lambda: log.append((loop.vclock.ns - START_NS, "tick")))
        items = [(START_NS + 200_000_000, "f1", True), (START_NS + 250_000_000, "f2", True)]
        loop.set_source(ListSource(loop.vclock, items, log))
        loop.call_at(0.2, lambda: log.append((loop.vclock.ns - START_NS, "timer")))
        await asyncio.sleep(0.35)
        loop.set_ticker(0, None)
        await asyncio.sleep(1)

    vclock, _ = run(main)
    # at 200 ms: the asyncio timer, then the tick, then the item; no drift over 1000 ticks
    # is shown by the exact nanoseconds; none after set_ticker(0, None)
    assert log == [(100_000_000, "tick"), (200_000_000, "timer"), (200_000_000, "tick"),
                   (200_000_000, "f1"), (250_000_000, "f2"), (300_000_000, "tick")]
    assert vclock.ns - START_NS == 1_350_000_000


def test_ticker_keeps_exact_time_over_many_ticks_without_a_source() -> None:
    times: list[int] = []

    async def main(loop: VirtualTimeLoop) -> None:
        loop.set_ticker(100_000_000, lambda: times.append(loop.vclock.ns - START_NS))
        await asyncio.sleep(1000.05)

    run(main)
    assert len(times) == 10_000
    assert times[-1] == 10_000 * 100_000_000
    assert all(b - a == 100_000_000 for a, b in itertools.pairwise(times))


def test_a_callback_scheduled_by_a_tick_runs_before_the_next_item() -> None:
    log: list[tuple[int, str]] = []

    async def main(loop: VirtualTimeLoop) -> None:
        def tick() -> None:
            log.append((loop.vclock.ns - START_NS, "tick"))
            loop.call_soon(lambda: log.append((loop.vclock.ns - START_NS, "soon")))

        loop.set_ticker(S, tick)
        items = [(START_NS + S, "same instant", True), (START_NS + S + 1, "next", True)]
        loop.set_source(ListSource(loop.vclock, items, log))
        await asyncio.sleep(1.5)

    run(main)
    assert log[:4] == [(S, "tick"), (S, "soon"), (S, "same instant"), (S + 1, "next")]


def test_idle_ticks_are_skipped_up_to_the_quiet_time_the_next_item_or_timer() -> None:
    log: list[tuple[int, str]] = []
    ms = 1_000_000
    quiet = {"until": START_NS + 1000 * ms}
    loops: list[VirtualTimeLoop] = []

    async def main(loop: VirtualTimeLoop) -> None:
        loops.append(loop)

        def tick() -> None:
            log.append((loop.vclock.ns - START_NS, "tick"))
            if loop.vclock.ns == START_NS + 1100 * ms:
                quiet["until"] = START_NS + 5 * S

        loop.set_ticker(100 * ms, tick, lambda: quiet["until"])
        items = [(START_NS + 450 * ms, "f1", True), (START_NS + 1500 * ms, "f2", True)]
        loop.set_source(ListSource(loop.vclock, items, log))
        loop.call_at(1.75, lambda: log.append((loop.vclock.ns - START_NS, "timer")))
        await asyncio.sleep(2.05)

    run(main)
    # 100: the first tick runs, then quiet until 1 s; the item at 450 ends the skipping
    # (the tick at 500 runs), quiet again until 1 s; 1000 and 1100 run (the quiet time
    # is past), then quiet until 5 s: the item at 1500 (the tick at its instant would run
    # before it, idle: skipped too), the timer at 1750 and the end at 2050 each end a skip
    assert log == [(100 * ms, "tick"), (450 * ms, "f1"), (500 * ms, "tick"),
                   (1000 * ms, "tick"), (1100 * ms, "tick"), (1500 * ms, "f2"),
                   (1600 * ms, "tick"), (1750 * ms, "timer"), (1800 * ms, "tick")]
    loop = loops[0]
    assert (loop.ticks_run, loop.ticks_skipped) == (6, 14)  # 20 periods in 2.05 s


def test_items_that_leave_the_ticks_idle_do_not_end_the_skipping() -> None:
    log: list[tuple[int, str]] = []
    ms = 1_000_000
    asked: list[int] = []
    quiet = START_NS + 1000 * ms

    async def main(loop: VirtualTimeLoop) -> None:
        def still_idle() -> int:
            asked.append((loop.vclock.ns - START_NS) // ms)
            return 0 if loop.vclock.ns == START_NS + 600 * ms else quiet  # f3 changed it

        loop.set_ticker(100 * ms, lambda: log.append((loop.vclock.ns - START_NS, "tick")),
                        lambda: quiet, still_idle)  # fmt: skip
        items = [(START_NS + 250 * ms, "f1", True), (START_NS + 450 * ms, "f2", True),
                 (START_NS + 600 * ms, "f3", True), (START_NS + 1100 * ms, "f4", True)]
        loop.set_source(ListSource(loop.vclock, items, log))
        await asyncio.sleep(1.25)

    run(main)
    # f1 and f2 leave the ticks idle: skipped on to f3 and the tick at its instant (it
    # would run before f3); f3 does not, so the tick at 700 runs; quiet until 1 s again
    # (the tick at 1000 runs); at 1100 the quiet time is past and the ticks run anyway
    assert log == [(100 * ms, "tick"), (250 * ms, "f1"), (450 * ms, "f2"),
                   (600 * ms, "f3"), (700 * ms, "tick"), (1000 * ms, "tick"),
                   (1100 * ms, "tick"), (1100 * ms, "f4"), (1200 * ms, "tick")]
    assert asked == [250, 450, 600, 1100]


def test_a_callback_scheduled_by_a_tick_ends_the_skipping() -> None:
    ms = 1_000_000
    times: list[int] = []

    async def main(loop: VirtualTimeLoop) -> None:
        def tick() -> None:
            times.append((loop.vclock.ns - START_NS) // ms)
            if len(times) == 1:
                loop.call_soon(lambda: None)  # e.g. a post started by the tick

        loop.set_ticker(100 * ms, tick, lambda: START_NS + 10 * S)
        await asyncio.sleep(0.95)

    run(main)
    # the first tick scheduled a callback: the next tick runs; the second did not, so
    # the ticks after it are skipped up to the end of the sleep
    assert times == [100, 200]


def test_ticker_refuses_a_period_that_is_not_positive() -> None:
    loop = VirtualTimeLoop(VirtualClock(START_NS))
    try:
        with pytest.raises(ValueError, match="above 0"):
            loop.set_ticker(0, lambda: None)
    finally:
        loop.close()


def test_step_runs_exactly_to_the_next_frames_while_paused() -> None:
    log: list[tuple[int, str]] = []
    pacer = Pacer(None, paused=True)

    async def main(loop: VirtualTimeLoop) -> None:
        reached = loop.create_future()
        items = [(START_NS + S, "a", True), (START_NS + 2 * S, "noise", False),
                 (START_NS + 3 * S, "b", True), (START_NS + 4 * S, "c", True)]
        loop.set_source(ListSource(loop.vclock, items, log,
                                   {"b": lambda: reached.set_result(None)}))
        pacer.step(2)
        await reached

    vclock, _ = run(main, pacer)
    assert [name for _, name in log] == ["a", "noise", "b"]  # "c" waits: still paused
    assert vclock.ns == START_NS + 3 * S
    assert pacer.paused and not pacer.may_run()


def test_run_virtual_cancels_leftover_tasks_and_closes_the_loop() -> None:
    cancelled: list[bool] = []

    async def forever() -> None:
        try:
            await asyncio.sleep(10**6)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main(loop: VirtualTimeLoop) -> VirtualTimeLoop:
        asyncio.get_running_loop().create_task(forever())
        await asyncio.sleep(0)
        return loop

    _, loop = run(main)
    assert cancelled == [True]
    assert loop.is_closed()


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now


def test_pacer_waits_real_time_scaled_by_speed() -> None:
    fake = FakeTime()
    pacer = Pacer(10.0, monotonic=fake.monotonic)
    assert pacer.wait_s(START_NS + 5 * S, START_NS) == pytest.approx(0.5)
    fake.now += 0.2  # 0.2 s of real time later: 2 s of virtual time have passed
    assert pacer.wait_s(START_NS + 5 * S, START_NS) == pytest.approx(0.3)
    assert pacer.reached_ns(START_NS + 5 * S, START_NS) == START_NS + 2 * S
    pacer.set_speed(None)
    assert pacer.wait_s(START_NS + 50 * S, START_NS) == 0.0


def test_pacer_forgives_a_long_lag() -> None:
    fake = FakeTime()
    pacer = Pacer(1.0, monotonic=fake.monotonic)
    assert pacer.wait_s(START_NS + S, START_NS) == pytest.approx(1.0)
    fake.now += 10.0  # the code fell 9 s behind real time
    assert pacer.wait_s(START_NS + 2 * S, START_NS + S) == pytest.approx(1.0)


class SteppingTime(FakeTime):
    """Real time that moves 0.25 s at every reading (the pacer reads it once per slice)."""

    def monotonic(self) -> float:
        self.now += 0.25
        return self.now


def test_a_paced_wait_runs_the_idle_hook_as_virtual_time_moves() -> None:
    # Items 1 s and 4 s in at 1x with no timer between: the hook (the TUI's snapshots)
    # runs during the 3 s wait with the clock between the two, not only at the next timer;
    # the items still run at their exact times (ListSource checks).
    log: list[tuple[int, str]] = []
    seen: list[int] = []

    async def main(loop: VirtualTimeLoop) -> None:
        done = loop.create_future()
        items = [(START_NS + S, "a", True), (START_NS + 4 * S, "b", True)]
        loop.set_source(ListSource(loop.vclock, items, log,
                                   {"b": lambda: done.set_result(None)}))
        loop.set_idle_hook(lambda: seen.append(loop.vclock.ns))
        await done

    vclock, _ = run(main, Pacer(1.0, monotonic=SteppingTime().monotonic))
    assert vclock.ns == START_NS + 4 * S
    assert log == [(S, "a"), (4 * S, "b")]
    assert any(START_NS + S < ns < START_NS + 4 * S for ns in seen)
    assert seen == sorted(seen)  # the clock only moves forward


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan")])
def test_pacer_refuses_bad_speeds(bad: float) -> None:
    with pytest.raises(ValueError, match="speed"):
        Pacer(bad)


def test_pause_resume_toggle_and_step_counts() -> None:
    pacer = Pacer(1.0)
    assert pacer.may_run()
    assert pacer.toggle() is True and not pacer.may_run()
    pacer.step()
    assert pacer.may_run() and pacer.steps == 1
    pacer.frame_done()
    assert not pacer.may_run()
    assert pacer.toggle() is False and pacer.may_run()


@pytest.mark.parametrize(("speed", "direction", "expected"), [
    (1.0, +1, 2.0), (1.0, -1, 0.5), (100.0, +1, None), (None, +1, None), (None, -1, 100.0),
    (0.25, -1, 0.25), (3.0, +1, 5.0), (3.0, -1, 2.0),
])
def test_speed_ladder(speed: float | None, direction: int, expected: float | None) -> None:
    assert _next_speed(speed, direction) == expected
    assert expected in SPEEDS
