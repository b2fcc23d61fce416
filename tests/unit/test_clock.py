from __future__ import annotations

import time

import pytest

from hip3term.core.clock import Clock, LiveClock, SimClock

START_MS = 1_785_261_289_146  # a real exchange timestamp (orderUpdates frame, 2026-07-28)


def test_simclock_starts_at_the_given_time() -> None:
    clock = SimClock(START_MS)
    assert clock.now_ms() == START_MS
    assert clock.now_ns() == START_MS * 1_000_000
    assert clock.monotonic_ns() == START_MS * 1_000_000


@pytest.mark.parametrize("steps", [[1], [0, 0, 5], [100, 250, 3000], [86_400_000]])
def test_simclock_advance_adds_up(steps: list[int]) -> None:
    clock = SimClock(START_MS)
    for step in steps:
        clock.advance(step)
    assert clock.now_ms() == START_MS + sum(steps)
    assert clock.monotonic_ns() == clock.now_ns()


def test_simclock_set_jumps_forward_and_accepts_the_same_time() -> None:
    clock = SimClock(START_MS)
    clock.set(START_MS)
    assert clock.now_ms() == START_MS
    clock.set(START_MS + 10_000)
    assert clock.now_ms() == START_MS + 10_000


def test_simclock_set_backwards_is_refused_and_leaves_time_unchanged() -> None:
    clock = SimClock(START_MS)
    clock.advance(10)
    with pytest.raises(ValueError, match="never goes backwards"):
        clock.set(START_MS + 9)
    assert clock.now_ms() == START_MS + 10


@pytest.mark.parametrize("bad", [-1, -1000])
def test_simclock_negative_advance_is_refused(bad: int) -> None:
    clock = SimClock(START_MS)
    with pytest.raises(ValueError, match="must not be negative"):
        clock.advance(bad)
    with pytest.raises(ValueError, match="never goes backwards"):
        clock.advance_ns(bad)
    assert clock.now_ms() == START_MS


@pytest.mark.parametrize("bad", [1.5, True, "10"])
def test_simclock_refuses_non_int_durations(bad: object) -> None:
    clock = SimClock(START_MS)
    with pytest.raises(TypeError):
        clock.advance(bad)  # type: ignore[arg-type]  # reason: the wrong type is the test
    with pytest.raises(TypeError):
        SimClock(bad)  # type: ignore[arg-type]  # reason: the wrong type is the test


def test_simclock_sub_millisecond_advance_rounds_ms_down_and_set_keeps_it() -> None:
    clock = SimClock(START_MS)
    clock.advance_ns(999_999)
    assert clock.now_ms() == START_MS
    assert clock.now_ns() == START_MS * 1_000_000 + 999_999
    clock.set(START_MS)  # same millisecond: the sub-millisecond part is kept
    assert clock.now_ns() == START_MS * 1_000_000 + 999_999
    clock.advance_ns(1)
    assert clock.now_ms() == START_MS + 1


def test_simclock_rejects_negative_start() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        SimClock(-5)


def test_liveclock_reads_the_system_clocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time_ns", lambda: 1_785_261_289_146_987_654)
    monkeypatch.setattr(time, "monotonic_ns", lambda: 42)
    clock = LiveClock()
    assert clock.now_ns() == 1_785_261_289_146_987_654
    assert clock.now_ms() == 1_785_261_289_146
    assert clock.monotonic_ns() == 42


@pytest.mark.parametrize("clock", [LiveClock(), SimClock(START_MS)])
def test_both_clocks_satisfy_the_protocol(clock: Clock) -> None:
    assert isinstance(clock, Clock)
    assert isinstance(clock.now_ms(), int)
