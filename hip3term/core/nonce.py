"""Nonces for signed actions: strictly increasing, close to the exchange's time, never reused.

Exchange rule (PROTOCOL.md section 6): the exchange keeps the 100 highest nonces per
signer; a new nonce must beat the smallest of them, must never have been used, and must
lie in (T - 2 days, T + 1 day) where T is the block time in ms. Hence one nonce per signed
action, taken from one `NonceManager` per signer (agent) address:

    nonce = max(last + 1, clock() + offset)

- *Monotonic and unique*: the `max` with `last + 1` holds even when the clock stands still
  or goes backwards, and a `threading.Lock` makes it hold across threads.
- *Close to the exchange's time*: `offset` is set by `sync_with_server` from the
  exchange's clock, so nonces follow the server's time (fast-forwarding when the server is
  ahead). A drift over `warn_drift_ms` (2 s) logs a warning; over `max_drift_ms` (5 s) it
  raises `NonceError` and the offset is *not* applied (see `sync_with_server` for why).
- *Never from 0*: the first nonce is the clock's current time (or above the store's mark).
- *Never reused across restarts, even after kill -9*: a `NonceStore` persists a
  *reservation* high-water mark. Before handing out a nonce above the current reservation
  the manager persists `reserved = nonce + reserve_ms` (10 s by default) and only then
  returns the nonce; every nonce ever handed out is therefore at most the stored
  reservation. At start-up the manager begins strictly above the stored reservation, so
  a restart never reuses a nonce, whatever happened to the process, and a store write
  happens at most once per reservation window (about every 10 s of nonce time; every
  10 000 nonces when the counter runs ahead of the clock). The price is that a restart
  may skip up to `reserve_ms` of nonce space, which the exchange's 1-day window absorbs.

Cost: `FileNonceStore.save` writes a ~40-byte file, fsyncs it, renames it over the old
one and fsyncs the directory (measured here: 0.6 ms median, 4 ms p99, 11 ms worst).
By default it runs inside `next()` on the rare call that crosses the reservation, i.e. on
the caller's thread. With `prefetch=True` (the live node: the caller is the executor's
event loop, where a millisecond is an order's whole budget) the manager renews the
reservation on its own thread once half of it is used, so `next()` finds it renewed and
never waits for the disk, unless nonces run through the other half before the write is
done (then it waits, as without prefetch). Either way a nonce is handed out only below a
reservation already durable, and the store never receives a lower value after a higher.

Standard library only. One store file per signer address:
`FileNonceStore.for_signer(Path("state"), address)` is `state/nonce-<address>.json`. Two
processes must never share a signer (nor its store): the exchange would see duplicates.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from hip3term.errors import NonceError

DEFAULT_RESERVE_MS = 10_000
EXCHANGE_FUTURE_WINDOW_MS = 86_400_000  # the exchange refuses nonces over T + 1 day
_STORE_VERSION = 1
_STORE_MAX_BYTES = 4096

_log = logging.getLogger(__name__)


def system_clock_ms() -> int:
    """The system's wall clock in unix milliseconds (the default source for nonces)."""
    return time.time_ns() // 1_000_000


class NonceStore(Protocol):
    """Durable storage for a signer's nonce reservation (a single integer)."""

    def load(self) -> int | None:
        """The stored reservation, or None when nothing was ever stored.

        Raises:
            NonceError: the stored record exists but cannot be read or is corrupt.
        """
        ...

    def save(self, reserved: int) -> None:
        """Persist `reserved` durably before returning (it must survive kill -9).

        Raises:
            NonceError: the value could not be persisted.
        """
        ...


class MemoryNonceStore:
    """A `NonceStore` in memory: for replay, the simulator and tests (not durable)."""

    def __init__(self, reserved: int | None = None) -> None:
        self.reserved = reserved
        self.saves = 0

    def load(self) -> int | None:
        """The value last saved (or given at construction)."""
        return self.reserved

    def save(self, reserved: int) -> None:
        """Keep `reserved` and count the call."""
        self.reserved = reserved
        self.saves += 1


class FileNonceStore:
    """A `NonceStore` in a small JSON file, replaced atomically and fsynced on every save.

    The file holds `{"version": 1, "reserved": <int>}`. A missing file means "never used";
    an unreadable or corrupt file is an error, never a silent restart from the clock.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_signer(cls, state_dir: Path, address: str) -> FileNonceStore:
        """The store of signer `address` (0x + 40 hex digits) in `state_dir`."""
        body = address.lower()
        if len(body) != 42 or not body.startswith("0x") or not _is_hex(body[2:]):
            raise NonceError(f"nonce store: {address!r} is not a signer address (0x + 40 hex)")
        return cls(state_dir / f"nonce-{body}.json")

    def load(self) -> int | None:
        """Read the reservation; None when the file does not exist."""
        try:
            with self.path.open("rb") as handle:
                raw = handle.read(_STORE_MAX_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise NonceError(f"cannot read nonce store {self.path}: {exc}") from None
        try:
            document = json.loads(raw)
        except ValueError:
            document = None
        reserved = document.get("reserved") if isinstance(document, dict) else None
        valid = (
            len(raw) <= _STORE_MAX_BYTES
            and isinstance(document, dict)
            and document.get("version") == _STORE_VERSION
            and type(reserved) is int
            and reserved > 0
        )
        if not valid:
            raise NonceError(
                f"nonce store {self.path} is corrupt (expected "
                '{"version": 1, "reserved": <positive integer>}). It is the only record of '
                "the nonces this signer already used, so hip3term will not guess: restore "
                "it, or delete it only if the signer has been idle for longer than the "
                "reservation window (then every used nonce is below the clock)."
            )
        assert isinstance(reserved, int)  # by the check above
        return reserved

    def save(self, reserved: int) -> None:
        """Write the reservation durably: temp file, fsync, atomic rename, fsync directory."""
        data = json.dumps({"version": _STORE_VERSION, "reserved": reserved}).encode()
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            _fsync_directory(directory)
        except OSError as exc:
            raise NonceError(f"cannot write nonce store {self.path}: {exc}") from None


class NonceManager:
    """Hands out one strictly increasing nonce per signed action, for one signer.

    Args:
        clock: the local clock in unix milliseconds (injected; `system_clock_ms` live).
        store: where the reservation high-water mark is persisted; None keeps nothing
            (replay, simulator, tests), so restarts are then not protected.
        warn_drift_ms: `sync_with_server` logs a warning above this drift.
        max_drift_ms: `sync_with_server` raises `NonceError` above this drift.
        reserve_ms: how far beyond a nonce the persisted reservation reaches; larger
            means fewer disk writes and a bigger jump after a restart.
        prefetch: renew the reservation on a background thread when half of it is used
            (see the module docstring), so `next()` rarely waits for the store.
        logger: where drift warnings go (this module's logger by default).

    Raises:
        NonceError: the store is corrupt or unreadable, or the settings are inconsistent.
    """

    def __init__(
        self,
        clock: Callable[[], int],
        store: NonceStore | None = None,
        *,
        warn_drift_ms: int = 2000,
        max_drift_ms: int = 5000,
        reserve_ms: int = DEFAULT_RESERVE_MS,
        prefetch: bool = False,
        logger: logging.Logger | None = None,
    ) -> None:
        if not 0 <= warn_drift_ms <= max_drift_ms:
            raise NonceError("nonce manager: need 0 <= warn_drift_ms <= max_drift_ms")
        if reserve_ms < 1:
            raise NonceError("nonce manager: reserve_ms must be at least 1")
        self._clock = clock
        self._store = store
        self._warn_drift_ms = warn_drift_ms
        self._max_drift_ms = max_drift_ms
        self._reserve_ms = reserve_ms
        self._log = logger or _log
        self._lock = threading.Lock()
        self._offset = 0
        floor = store.load() if store is not None else None
        # Every nonce handed out before a restart is <= the stored reservation: start above.
        self._last = floor or 0
        self._reserved = floor or 0  # durable: no nonce handed out goes above it
        self._written = floor or 0  # the highest value given to the store
        self._write_lock = threading.Lock()  # one store write at a time (taken after _lock)
        self._prefetch: queue.SimpleQueue[int] | None = queue.SimpleQueue() if prefetch else None
        self._prefetching = False  # a background write is asked for or under way
        self._prefetcher_thread: threading.Thread | None = None
        if floor is not None and floor - clock() > EXCHANGE_FUTURE_WINDOW_MS:
            self._log.warning(
                "nonce store reservation %d is more than 1 day ahead of the local clock; "
                "the exchange will refuse these nonces until the clock catches up",
                floor,
            )

    @property
    def last(self) -> int:
        """The last nonce handed out (or the restart floor before the first one)."""
        return self._last

    @property
    def offset_ms(self) -> int:
        """Server time minus local clock, as set by the last accepted `sync_with_server`."""
        return self._offset

    @property
    def reserved(self) -> int:
        """The persisted reservation: no nonce handed out so far exceeds it (0: no store)."""
        return self._reserved

    def peek(self) -> int:
        """The nonce `next()` would return now, without consuming it or touching the store."""
        with self._lock:
            return max(self._last + 1, self._clock() + self._offset)

    def next(self) -> int:
        """Consume and return the next nonce (thread-safe).

        Returns:
            `max(last + 1, clock() + offset)`: strictly greater than every nonce returned
            before by this manager or, through the store, by any earlier process.

        Raises:
            NonceError: the reservation had to grow and the store could not persist it;
                no nonce is handed out then.
        """
        with self._lock:
            nonce = max(self._last + 1, self._clock() + self._offset)
            if self._store is not None:
                if nonce > self._reserved:
                    reserved = nonce + self._reserve_ms
                    self._write(reserved)  # durable before the nonce leaves this method
                    self._reserved = reserved
                elif (self._prefetch is not None and not self._prefetching
                        and self._reserved - nonce < self._reserve_ms // 2):
                    self._prefetching = True
                    self._ask_prefetch(nonce + self._reserve_ms)
            self._last = nonce
            return nonce

    def _write(self, reserved: int) -> None:
        # Give `reserved` to the store unless a higher value went already (never lower).
        assert self._store is not None  # the callers check
        with self._write_lock:
            if reserved > self._written:
                self._store.save(reserved)
                self._written = reserved

    def _ask_prefetch(self, reserved: int) -> None:
        assert self._prefetch is not None  # the caller checks
        if self._prefetcher_thread is None:  # started on first use, then waits on its queue
            self._prefetcher_thread = threading.Thread(target=self._prefetcher,
                                                       name="nonce-reservation", daemon=True)
            self._prefetcher_thread.start()
        self._prefetch.put(reserved)

    def _prefetcher(self) -> None:
        # The background writer (daemon: a write cut short by the process's end leaves
        # the store at its last durable value, which no nonce handed out exceeds).
        assert self._prefetch is not None
        while True:
            reserved = self._prefetch.get()
            try:
                self._write(reserved)
            except NonceError as exc:
                self._log.error("%s; the next nonce past the reservation writes it in line",
                                exc)  # fmt: skip
                with self._lock:
                    self._prefetching = False
                continue
            with self._lock:
                self._reserved = max(self._reserved, reserved)
                self._prefetching = False

    def sync_with_server(self, server_time_ms: int) -> int:
        """Align nonces with the exchange's clock and report the drift.

        Sets `offset = server_time_ms - clock()`, so that later nonces follow the server's
        time: if the server is ahead, nonces fast-forward; if it is behind, nonces keep
        increasing by one until the server's time passes them (never backwards).

        Past `max_drift_ms` the offset is NOT applied and `NonceError` is raised: a drift
        that large means either the local clock or the reported time is wrong (a unit
        mix-up such as seconds or nanoseconds, a bad proxy), and applying a wrong forward
        offset would be permanent, because the store's high-water mark can never go back.
        Nonces keep following the local clock; the caller should stop trading and have the
        operator fix the clock (NTP).

        Args:
            server_time_ms: the exchange's time in unix ms (e.g. a response's `time`).

        Returns:
            The drift in ms: server time minus local clock (positive: local is behind).

        Raises:
            NonceError: `server_time_ms` is not a positive int, or the drift exceeds
                `max_drift_ms`.
        """
        if type(server_time_ms) is not int or server_time_ms <= 0:
            raise NonceError(
                f"server time must be a positive integer of ms, not {server_time_ms!r}"
            )
        with self._lock:
            drift = server_time_ms - self._clock()
            if abs(drift) > self._max_drift_ms:
                raise NonceError(
                    f"the local clock is {_describe(drift)} the exchange's by {abs(drift)} ms "
                    f"(limit {self._max_drift_ms} ms); the offset was not applied. Fix the "
                    "system clock (e.g. enable NTP) before trading."
                )
            self._offset = drift
        if abs(drift) > self._warn_drift_ms:
            self._log.warning(
                "local clock is %s the exchange's by %d ms (warning above %d ms); nonces "
                "now follow the exchange's time",
                _describe(drift),
                abs(drift),
                self._warn_drift_ms,
            )
        return drift


def _describe(drift: int) -> str:
    return "behind" if drift > 0 else "ahead of"


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return True


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; some platforms cannot open a directory.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
