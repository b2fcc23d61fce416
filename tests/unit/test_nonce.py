import itertools
import json
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hip3term.core.nonce import FileNonceStore, MemoryNonceStore, NonceManager
from hip3term.errors import NonceError

T0 = 1_700_000_000_000  # a plausible unix time in ms


class FakeClock:
    """A settable millisecond clock."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


class _Killed(BaseException):
    """Stands for kill -9 right after a store write."""


class KilledAfterSave(FileNonceStore):
    def save(self, reserved: int) -> None:
        super().save(reserved)
        raise _Killed


@pytest.fixture
def fast_switching() -> Iterator[None]:
    # More thread switches make a missing lock show up as duplicates.
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


# --- start, monotonicity, clock going backwards ---------------------------------------


def test_nonce_first_is_current_clock_time() -> None:
    assert NonceManager(FakeClock(T0)).next() == T0


def test_nonce_never_zero_even_if_clock_reads_zero() -> None:
    manager = NonceManager(lambda: 0)
    assert [manager.next() for _ in range(3)] == [1, 2, 3]


def test_nonce_frozen_clock_increments_by_one() -> None:
    manager = NonceManager(FakeClock(T0))
    assert [manager.next() for _ in range(4)] == [T0, T0 + 1, T0 + 2, T0 + 3]


def test_nonce_clock_going_backwards_never_repeats() -> None:
    clock = FakeClock(T0)
    manager = NonceManager(clock)
    seen = []
    for now in (T0, T0 + 1000, T0 - 60_000, T0 - 60_000, T0 + 999, T0 + 5000):
        clock.now = now
        seen.append(manager.next())
    assert seen == [T0, T0 + 1000, T0 + 1001, T0 + 1002, T0 + 1003, T0 + 5000]


def test_nonce_follows_clock_when_it_moves_ahead() -> None:
    clock = FakeClock(T0)
    manager = NonceManager(clock)
    manager.next()
    clock.now = T0 + 250
    assert manager.next() == T0 + 250


def test_nonce_peek_does_not_consume_or_persist() -> None:
    store = MemoryNonceStore()
    manager = NonceManager(FakeClock(T0), store)
    assert manager.peek() == T0
    assert manager.peek() == T0
    assert store.saves == 0
    assert manager.next() == T0
    assert manager.peek() == T0 + 1
    assert manager.last == T0


def test_nonce_unique_and_monotonic_across_threads(
    tmp_path: Path, fast_switching: None
) -> None:
    # A clock that jitters back and forth around T0, read concurrently by all threads.
    ticks = iter(range(10**9))
    clock: Callable[[], int] = lambda: T0 + (next(ticks) % 997) - 500  # noqa: E731
    store = FileNonceStore(tmp_path / "nonce.json")
    manager = NonceManager(clock, store)
    results: list[list[int]] = [[] for _ in range(8)]
    start = threading.Barrier(8)

    def worker(out: list[int]) -> None:
        start.wait()
        out.extend(manager.next() for _ in range(10_000))

    threads = [threading.Thread(target=worker, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    everything = [n for out in results for n in out]
    assert len(everything) == 80_000
    assert len(set(everything)) == 80_000
    for out in results:
        assert all(a < b for a, b in itertools.pairwise(out))
    assert max(everything) == manager.last
    assert store.load() == manager.reserved >= max(everything)


# --- sync_with_server -----------------------------------------------------------------


def test_sync_fast_forwards_to_server_time(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(T0)
    manager = NonceManager(clock)
    manager.next()
    with caplog.at_level(logging.WARNING):
        assert manager.sync_with_server(T0 + 1500) == 1500
    assert manager.offset_ms == 1500
    assert manager.next() == T0 + 1500
    clock.now = T0 + 10
    assert manager.next() == T0 + 1510
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_sync_server_behind_never_goes_backwards() -> None:
    clock = FakeClock(T0)
    manager = NonceManager(clock)
    assert manager.next() == T0
    assert manager.sync_with_server(T0 - 1000) == -1000
    assert manager.next() == T0 + 1
    clock.now = T0 + 2000
    assert manager.next() == T0 + 1000


@pytest.mark.parametrize("drift", [2000, -2000])
def test_sync_at_exactly_two_seconds_does_not_warn(
    drift: int, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        NonceManager(FakeClock(T0)).sync_with_server(T0 + drift)
    assert not caplog.records


@pytest.mark.parametrize(("drift", "words"), [(2001, "behind"), (-3000, "ahead of")])
def test_sync_past_two_seconds_warns_and_applies(
    drift: int, words: str, caplog: pytest.LogCaptureFixture
) -> None:
    manager = NonceManager(FakeClock(T0))
    with caplog.at_level(logging.WARNING):
        assert manager.sync_with_server(T0 + drift) == drift
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert words in warnings[0].getMessage()
    assert str(abs(drift)) in warnings[0].getMessage()
    assert manager.offset_ms == drift


def test_sync_warning_goes_to_the_given_logger(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.nonce.custom")
    manager = NonceManager(FakeClock(T0), logger=logger)
    with caplog.at_level(logging.WARNING, logger="test.nonce.custom"):
        manager.sync_with_server(T0 + 4000)
    assert [r.name for r in caplog.records] == ["test.nonce.custom"]


def test_sync_at_exactly_five_seconds_is_accepted() -> None:
    manager = NonceManager(FakeClock(T0))
    assert manager.sync_with_server(T0 + 5000) == 5000
    assert manager.next() == T0 + 5000


@pytest.mark.parametrize("drift", [5001, -5001, 3_600_000, T0 * 999])
def test_sync_past_five_seconds_raises_and_keeps_offset(drift: int) -> None:
    manager = NonceManager(FakeClock(T0))
    manager.sync_with_server(T0 + 300)
    with pytest.raises(NonceError, match="limit 5000 ms"):
        manager.sync_with_server(T0 + drift)
    assert manager.offset_ms == 300
    assert manager.next() == T0 + 300


def test_sync_custom_limits() -> None:
    manager = NonceManager(FakeClock(T0), warn_drift_ms=10, max_drift_ms=20)
    assert manager.sync_with_server(T0 + 20) == 20
    with pytest.raises(NonceError):
        manager.sync_with_server(T0 + 21)


@pytest.mark.parametrize("bad", [0, -5, True, 1.7e12, "1700000000000"])
def test_sync_rejects_non_positive_or_non_int_time(bad: object) -> None:
    manager = NonceManager(FakeClock(T0))
    with pytest.raises(NonceError, match="positive integer"):
        manager.sync_with_server(bad)  # type: ignore[arg-type]  # reason: testing bad input


def test_manager_rejects_inconsistent_limits() -> None:
    with pytest.raises(NonceError):
        NonceManager(FakeClock(), warn_drift_ms=6000, max_drift_ms=5000)
    with pytest.raises(NonceError):
        NonceManager(FakeClock(), reserve_ms=0)


# --- persistence: reservations and restarts --------------------------------------------


def test_reservation_written_once_per_window() -> None:
    clock = FakeClock(T0)
    store = MemoryNonceStore()
    manager = NonceManager(clock, store, reserve_ms=10_000)
    assert manager.next() == T0
    assert store.reserved == T0 + 10_000
    assert store.saves == 1
    for _ in range(10_000):  # fill the window: no more writes
        manager.next()
    assert manager.last == T0 + 10_000
    assert store.saves == 1
    manager.next()  # crosses the reservation
    assert store.saves == 2
    assert store.reserved == T0 + 10_001 + 10_000


def test_reservation_moves_with_the_clock() -> None:
    clock = FakeClock(T0)
    store = MemoryNonceStore()
    manager = NonceManager(clock, store, reserve_ms=10_000)
    for step in range(100):  # 100 s of nonces, one a second
        clock.now = T0 + step * 1000
        manager.next()
    assert store.saves == 10
    assert store.reserved is not None
    assert store.reserved >= manager.last


def test_restart_starts_above_everything_used(tmp_path: Path) -> None:
    path = tmp_path / "state" / "nonce.json"
    clock = FakeClock(T0)
    first = NonceManager(clock, FileNonceStore(path))
    used = [first.next() for _ in range(50)]
    # kill -9: `first` is simply abandoned; the clock even went backwards meanwhile.
    clock.now = T0 - 3_600_000
    second = NonceManager(clock, FileNonceStore(path))
    assert second.last >= max(used)
    nonce = second.next()
    assert nonce > max(used)
    assert nonce > first.reserved  # above the whole reservation, not just the used ones


def test_restart_after_crash_right_after_reservation_write(tmp_path: Path) -> None:
    path = tmp_path / "nonce.json"
    clock = FakeClock(T0)
    manager = NonceManager(clock, FileNonceStore(path), reserve_ms=10_000)
    used = [manager.next() for _ in range(3)]
    # Cross the reservation with a store whose process "dies" just after writing it.
    crashing = NonceManager(clock, KilledAfterSave(path), reserve_ms=10_000)
    with pytest.raises(_Killed):
        crashing.next()
    would_have_been = max(used[-1], T0 + 10_000) + 1  # the nonce computed before the crash
    restarted = NonceManager(clock, FileNonceStore(path))
    nonce = restarted.next()
    assert nonce > would_have_been
    assert nonce > max(used)


def test_restart_with_clock_far_ahead_uses_the_clock(tmp_path: Path) -> None:
    path = tmp_path / "nonce.json"
    clock = FakeClock(T0)
    NonceManager(clock, FileNonceStore(path)).next()
    clock.now = T0 + 86_400_000
    assert NonceManager(clock, FileNonceStore(path)).next() == T0 + 86_400_000


def test_failed_reservation_write_hands_out_no_nonce(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    manager = NonceManager(FakeClock(T0), FileNonceStore(blocker / "nonce.json"))
    blocker.write_text("a file where the state directory should be")
    with pytest.raises(NonceError, match="cannot write nonce store"):
        manager.next()
    assert manager.last == 0
    assert manager.reserved == 0


class GatedStore(MemoryNonceStore):
    """A store whose writes wait for `gate` once it is closed (a slow disk), may fail on
    request, and check that no value is ever written below one written before."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()
        self.waiting = threading.Event()  # a write is held at the gate
        self.written = threading.Event()  # a write finished (cleared by the test)
        self.fail = False
        self.durable: list[int] = []

    def save(self, reserved: int) -> None:
        self.waiting.set()
        self.gate.wait()
        if self.fail:
            raise NonceError("cannot write nonce store (test)")
        assert not self.durable or reserved > self.durable[-1]
        super().save(reserved)
        self.durable.append(reserved)
        self.written.set()


def _wait(event: threading.Event) -> None:
    assert event.wait(30), "the background write never came"


def test_prefetch_renews_the_reservation_before_it_is_needed() -> None:
    clock, store = FakeClock(T0), GatedStore()
    manager = NonceManager(clock, store, reserve_ms=10_000, prefetch=True)
    assert manager.next() == T0 and store.durable == [T0 + 10_000]  # the first: in line
    clock.now = T0 + 4_999
    manager.next()  # more than half the reservation left: nothing written
    store.gate.clear()
    store.written.clear()
    clock.now = T0 + 5_001
    assert manager.next() == T0 + 5_001  # returns while the renewal waits at the gate
    _wait(store.waiting)
    assert manager.reserved == T0 + 10_000  # not durable yet: not counted
    clock.now = T0 + 7_000
    assert manager.next() == T0 + 7_000  # below the durable reservation: no wait
    store.gate.set()
    _wait(store.written)
    for _ in range(1000):  # the writer thread takes the lock after the write
        if manager.reserved == T0 + 15_001:
            break
        threading.Event().wait(0.01)
    assert manager.reserved == T0 + 15_001 and store.durable == [T0 + 10_000, T0 + 15_001]


def test_prefetch_never_hands_out_a_nonce_above_a_durable_reservation() -> None:
    clock, store = FakeClock(T0), GatedStore()
    manager = NonceManager(clock, store, reserve_ms=10_000, prefetch=True)
    manager.next()
    store.gate.clear()
    store.waiting.clear()
    clock.now = T0 + 6_000
    manager.next()  # asks for the renewal, which waits at the gate
    _wait(store.waiting)
    clock.now = T0 + 20_000  # past the reservation before the renewal is durable
    got: list[int] = []
    inline = threading.Thread(target=lambda: got.append(manager.next()))
    inline.start()
    inline.join(0.3)
    assert inline.is_alive() and got == []  # it waits for the store: no nonce yet
    store.gate.set()
    inline.join(30)
    assert got == [T0 + 20_000]
    assert store.durable[-1] >= T0 + 20_000  # durable before it was handed out
    assert store.durable == sorted(set(store.durable))


def test_a_failed_prefetch_is_logged_and_the_next_crossing_writes_in_line(
        caplog: pytest.LogCaptureFixture) -> None:
    clock, store = FakeClock(T0), GatedStore()
    manager = NonceManager(clock, store, reserve_ms=10_000, prefetch=True)
    manager.next()
    store.fail = True
    store.waiting.clear()
    clock.now = T0 + 6_000
    with caplog.at_level(logging.ERROR):
        manager.next()
        _wait(store.waiting)
        for _ in range(1000):
            if "writes it in line" in caplog.text:
                break
            threading.Event().wait(0.01)
    assert "cannot write nonce store (test)" in caplog.text
    assert manager.reserved == T0 + 10_000
    clock.now = T0 + 10_001
    with pytest.raises(NonceError):  # the store still fails: in line, no nonce
        manager.next()
    store.fail = False
    assert manager.next() == T0 + 10_001 and store.durable[-1] == T0 + 20_001


def test_store_far_ahead_of_clock_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        NonceManager(FakeClock(T0), MemoryNonceStore(T0 + 2 * 86_400_000))
    assert "more than 1 day ahead" in caplog.text


# --- FileNonceStore ---------------------------------------------------------------------


def test_file_store_missing_file_is_none(tmp_path: Path) -> None:
    assert FileNonceStore(tmp_path / "absent.json").load() is None


def test_file_store_round_trip_and_no_temp_files(tmp_path: Path) -> None:
    store = FileNonceStore(tmp_path / "n.json")
    store.save(T0)
    store.save(T0 + 7)
    assert store.load() == T0 + 7
    assert json.loads((tmp_path / "n.json").read_text()) == {"version": 1, "reserved": T0 + 7}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.json"]


def test_file_store_for_signer_path(tmp_path: Path) -> None:
    address = "0x" + "Ab" * 20
    store = FileNonceStore.for_signer(tmp_path / "state", address)
    assert store.path == tmp_path / "state" / f"nonce-0x{'ab' * 20}.json"


@pytest.mark.parametrize("address", ["0x1234", "ab" * 21, "0x" + "zz" * 20, ""])
def test_file_store_for_signer_rejects_bad_address(tmp_path: Path, address: str) -> None:
    with pytest.raises(NonceError, match="not a signer address"):
        FileNonceStore.for_signer(tmp_path, address)


@pytest.mark.parametrize(
    "content",
    [
        "",
        "not json",
        "[]",
        '{"version": 1}',
        '{"version": 1, "reserved": "1700000000000"}',
        '{"version": 1, "reserved": -5}',
        '{"version": 1, "reserved": 0}',
        '{"version": 1, "reserved": true}',
        '{"version": 1, "reserved": 1.7e12}',
        '{"version": 2, "reserved": 1700000000000}',
        '{"version": 1, "reserved": 1700000000000' + " " * 5000 + "}",
    ],
)
def test_corrupt_store_is_an_error_not_a_restart(tmp_path: Path, content: str) -> None:
    path = tmp_path / "nonce.json"
    path.write_text(content)
    with pytest.raises(NonceError, match="is corrupt") as info:
        NonceManager(FakeClock(T0), FileNonceStore(path))
    assert str(path) in str(info.value)


def test_unreadable_store_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "nonce.json"
    path.mkdir()  # a directory where the file should be
    with pytest.raises(NonceError, match="cannot read nonce store"):
        NonceManager(FakeClock(T0), FileNonceStore(path))


# --- property: any clock and call sequence gives strictly increasing nonces ------------

_steps = st.lists(
    st.one_of(
        st.tuples(st.just("clock"), st.integers(-10**7, 10**7)),
        st.tuples(st.just("next"), st.just(0)),
        st.tuples(st.just("sync"), st.integers(-8000, 8000)),
        st.tuples(st.just("restart"), st.just(0)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(steps=_steps, reserve_ms=st.integers(1, 20_000))
def test_property_nonces_strictly_increase(
    steps: list[tuple[str, int]], reserve_ms: int
) -> None:
    clock = FakeClock(T0)
    store = MemoryNonceStore()
    manager = NonceManager(clock, store, reserve_ms=reserve_ms)
    issued: list[int] = []
    for op, value in steps:
        if op == "clock":
            clock.now = max(1, clock.now + value)
        elif op == "next":
            issued.append(manager.next())
            assert store.reserved is not None
            assert issued[-1] <= store.reserved
        elif op == "sync":
            if abs(value) > 5000:
                with pytest.raises(NonceError):
                    manager.sync_with_server(clock.now + value)
            else:
                assert manager.sync_with_server(clock.now + value) == value
        else:
            manager = NonceManager(clock, store, reserve_ms=reserve_ms)
    assert all(a < b for a, b in itertools.pairwise(issued))
    assert all(n > 0 for n in issued)
