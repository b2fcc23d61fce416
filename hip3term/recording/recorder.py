"""The session recorder: every raw frame in and message out, appended off the hot path.

The feed client calls `frame_in` for every frame it receives and `post_out` for every
message it sends. Those calls never block and never raise: they take the local times,
pack one msgpack record (about half a microsecond for a 1.6 KB book frame) and append it
to an in-memory queue. A background thread wakes every `flush_interval_s` (50 ms by
default, never more than 100 ms), writes what was queued as one CRC-checked block (see
`hip3term.recording.format`) and fsyncs it. So a crash loses at most the last interval,
and what was flushed reads back cleanly.

If the disk fails (full, removed, I/O error), the writer keeps the unwritten records,
truncates any partial block, counts the error and retries at the next interval. Records
keep queueing in memory up to `max_pending_bytes` (64 MiB by default); beyond that new
records are dropped and counted, and a `dropped` marker with the count is recorded as
soon as there is room again. `health()` is a cheap snapshot of all of this for the TUI.

Threads: `frame_in`, `post_out` and `mark` belong to one thread (the event loop's);
`health` may be read from anywhere; `flush` and `close` block, so the event loop uses
`aflush` and `aclose`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import msgpack
import orjson

from hip3term import __version__
from hip3term.core.clock import Clock, LiveClock
from hip3term.recording.format import (
    RecordingHeader,
    RecordKind,
    block_header,
    encode_header,
    recording_filename,
)

__all__ = ["Recorder", "RecorderHealth"]

_log = logging.getLogger(__name__)

_FRAME_IN: Final = int(RecordKind.FRAME_IN)
_SENT: Final = int(RecordKind.SENT)
_MARK: Final = int(RecordKind.MARK)
MAX_FLUSH_INTERVAL_S: Final = 0.1
MAX_BLOCK_RECORDS: Final = 4096
"""Records per block at most, so that a reader never holds more than a few MB at once."""
_Part = bytes | bytearray
_IOV_PARTS: Final = 512  # below IOV_MAX (1024 on Linux)
_fdatasync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)


@dataclass(frozen=True, slots=True)
class RecorderHealth:
    """A snapshot of the recorder's counters.

    Attributes:
        path: the recording file.
        frames_in: frames accepted by `frame_in`.
        sent: messages accepted by `post_out`.
        marks: markers recorded (including `dropped` markers).
        records_appended: records queued in memory so far (all kinds).
        records_written: records written and fsynced.
        bytes_appended: record bytes queued so far.
        bytes_written: record bytes written and fsynced (block headers not counted).
        flushes: blocks written and fsynced.
        last_flush_wall_ns: wall time of the last successful flush, None before it.
        errors: failed write or fsync attempts.
        last_error: the last failure's text, None if none.
        dropped: records refused because the buffer was full or the recorder closed.
        closed: True once `close` began.
    """

    path: Path
    frames_in: int
    sent: int
    marks: int
    records_appended: int
    records_written: int
    bytes_appended: int
    bytes_written: int
    flushes: int
    last_flush_wall_ns: int | None
    errors: int
    last_error: str | None
    dropped: int
    closed: bool

    @property
    def pending_records(self) -> int:
        """Records queued or retried but not yet on disk."""
        return self.records_appended - self.records_written

    @property
    def ok(self) -> bool:
        """True when nothing was dropped and the last write attempt did not fail."""
        return self.dropped == 0 and self.last_error is None


class Recorder:
    """Appends records to one recording file; build it with `Recorder.open`."""

    def __init__(
        self,
        path: Path,
        fd: int,
        header: RecordingHeader,
        offset: int,
        *,
        clock: Clock | None,
        flush_interval_s: float,
        max_pending_bytes: int,
    ) -> None:
        if not 0 < flush_interval_s <= MAX_FLUSH_INTERVAL_S:
            raise ValueError(f"flush_interval_s must be in (0, {MAX_FLUSH_INTERVAL_S}]")
        self.path = path
        self.header = header
        self._fd = fd
        self._offset = offset  # end of the last durable block (writer thread only)
        self._interval = flush_interval_s
        self._max_pending = max_pending_bytes
        self._wall: Callable[[], int] = clock.now_ns if clock else time.time_ns
        self._mono: Callable[[], int] = clock.monotonic_ns if clock else time.monotonic_ns
        self._pack = msgpack.Packer(use_bin_type=True).pack
        # The hot path appends packed records to a deque: append and popleft are atomic,
        # so the two threads share it without a lock (a lock costs as much as the pack).
        self._queue: collections.deque[bytes] = collections.deque()
        self._append = self._queue.append
        # Counters owned by the caller's thread (hot path).
        self._frames_in = self._sent = self._marks = self._dropped = 0
        self._appended_bytes = 0
        # Written by the writer thread only: appending beyond this many bytes means more
        # than max_pending_bytes wait in memory (one comparison on the hot path).
        self._limit = max_pending_bytes
        self._unreported_drops = 0
        self._refusing = False  # closed, over the memory cap, or drops to report
        self._closed = False
        # Counters owned by the writer thread.
        self._written_records = self._written_bytes = self._flushes = self._errors = 0
        self._last_flush_ns: int | None = None
        self._last_error: str | None = None
        self._retry: list[_Part] = []  # encoded blocks a failed write left
        self._retry_records = self._retry_bytes = 0
        self._wake = threading.Event()
        self._done = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="hip3term-recorder", daemon=True)

    @classmethod
    def open(
        cls,
        directory: str | os.PathLike[str],
        header: RecordingHeader,
        *,
        clock: Clock | None = None,
        flush_interval_s: float = 0.05,
        max_pending_bytes: int = 64 << 20,
    ) -> Recorder:
        """Create `<directory>/<UTC date>-<time>-<market>-<venue>.h3rec` and start recording.

        The header is written and fsynced before this returns; the start times, session
        id and version are filled in when the header leaves them unset.

        Args:
            directory: where recordings go (created if missing), e.g. `recordings/`.
            header: what is recorded; see `RecordingHeader`.
            clock: the source of wall and monotonic time (the machine's clocks if None).
            flush_interval_s: how often queued records are written and fsynced (≤ 0.1 s).
            max_pending_bytes: memory kept for unwritten records before new ones are dropped.

        Raises:
            OSError: the directory or file cannot be created or written.
            TypeError: `header.extra` holds a value msgpack cannot encode.
        """
        stamp = clock or LiveClock()
        wall, mono = header.started_wall_ns, header.started_mono_ns
        header = replace(
            header,
            session_id=header.session_id or uuid.uuid4().hex,
            hip3term_version=header.hip3term_version or __version__,
            started_wall_ns=stamp.now_ns() if wall is None else wall,
            started_mono_ns=stamp.monotonic_ns() if mono is None else mono,
        )
        data = encode_header(header)  # before the file exists: a bad `extra` leaves none
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        path, fd = _create_unique(folder, header)
        try:
            _pwrite_all(fd, [data], 0)
            _fdatasync(fd)
            _fsync_directory(folder)
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        recorder = cls(
            path, fd, header, len(data), clock=clock, flush_interval_s=flush_interval_s,
            max_pending_bytes=max_pending_bytes,
        )  # fmt: skip
        recorder._thread.start()
        return recorder

    # ------------------------------------------------------------------ hot path

    def frame_in(
        self,
        raw: bytes | str,
        channel: str | None = None,
        exch_ms: int | None = None,
        wall_ns: int | None = None,
        mono_ns: int | None = None,
    ) -> None:
        """Record a frame received. Never blocks, never raises; about 1 µs.

        Args:
            raw: the frame exactly as received (bytes, or str for a decoded text frame).
            channel: its channel if the caller knows it ("l2Book", "post", ...); None if
                not (readers can still find it from `raw`).
            exch_ms: the exchange time the frame carries (unix ms), if any.
            wall_ns: receive time (unix ns) if the caller took it; now if None.
            mono_ns: monotonic receive time if the caller took it; now if None.
        """
        if self._refusing and not self._admit():
            return
        try:
            record = self._pack((
                _FRAME_IN,
                self._wall() if wall_ns is None else wall_ns,
                self._mono() if mono_ns is None else mono_ns,
                exch_ms, channel, raw,
            ))  # fmt: skip
        except Exception:  # a value msgpack cannot encode: count it, never fail the feed
            self._dropped += 1
            return
        self._append(record)
        self._frames_in += 1
        size = self._appended_bytes + len(record)
        self._appended_bytes = size
        if size > self._limit:
            self._refusing = True

    def post_out(
        self,
        raw: bytes | str,
        method: str = "post",
        wall_ns: int | None = None,
        mono_ns: int | None = None,
    ) -> None:
        """Record a message sent on the socket (a post, subscribe, ping). Never blocks.

        Args:
            raw: the message exactly as sent.
            method: its `method` field ("post", "subscribe", "unsubscribe", "ping").
            wall_ns: send time (unix ns) if the caller took it; now if None.
            mono_ns: monotonic send time if the caller took it; now if None.
        """
        wall = self._wall() if wall_ns is None else wall_ns
        mono = self._mono() if mono_ns is None else mono_ns
        if self._put(_SENT, wall, mono, method, raw):
            self._sent += 1

    def mark(self, event: str, details: Mapping[str, Any] | None = None) -> None:
        """Record a marker of hip3term's own (e.g. "connected", "reconnecting").

        Args:
            event: the marker's name, stored as its channel.
            details: JSON-encodable details, stored as UTF-8 JSON.
        """
        try:
            raw = orjson.dumps(dict(details or {}))
        except TypeError:
            raw = orjson.dumps({"unencodable_details": repr(details)[:200]})
        if self._put(_MARK, self._wall(), self._mono(), event, raw):
            self._marks += 1

    def _put(self, kind: int, wall: int, mono: int, channel: str, raw: bytes | str) -> bool:
        if self._refusing and not self._admit():
            return False
        try:
            record = self._pack((kind, wall, mono, None, channel, raw))
        except Exception:  # a value msgpack cannot encode: count it, never fail the caller
            self._dropped += 1
            return False
        self._append(record)
        self._appended_bytes += len(record)
        if self._appended_bytes > self._limit:
            self._refusing = True
        return True

    def _appended_records(self) -> int:
        # Read from other threads too: the three counts are each owned by the hot path.
        return self._frames_in + self._sent + self._marks

    def _admit(self) -> bool:
        # The slow path: closed, over the memory cap, or drops waiting to be reported.
        if self._closed or self._appended_bytes > self._limit:
            if not self._closed and self._unreported_drops == 0:
                _log.warning(
                    "recorder %s: %d bytes not yet on disk (limit %d); dropping records "
                    "until the disk catches up (last error: %s)",
                    self.path.name, self._appended_bytes - self._written_bytes,
                    self._max_pending, self._last_error,
                )  # fmt: skip
            self._dropped += 1
            if not self._closed:
                self._unreported_drops += 1
            return False
        self._refusing = False
        if self._unreported_drops:
            count, self._unreported_drops = self._unreported_drops, 0
            _log.warning("recorder %s: recording again; %d records dropped", self.path, count)
            self.mark("dropped", {"records": count})
        return True

    # ------------------------------------------------------------------ control

    def health(self) -> RecorderHealth:
        """A snapshot of the counters; cheap, callable from any thread."""
        return RecorderHealth(
            self.path, self._frames_in, self._sent, self._marks, self._appended_records(),
            self._written_records, self._appended_bytes, self._written_bytes, self._flushes,
            self._last_flush_ns, self._errors, self._last_error, self._dropped, self._closed,
        )  # fmt: skip

    def flush(self, timeout: float | None = 5.0) -> bool:
        """Block until every record appended before this call is written and fsynced.

        Not for the event loop (use `aflush`).

        Returns:
            True when they are on disk; False if the timeout passed first (disk failing).
        """
        target = self._appended_records()
        self._wake.set()
        with self._done:
            self._done.wait_for(
                lambda: self._written_records >= target or not self._thread.is_alive(),
                timeout,
            )
        return self._written_records >= target

    async def aflush(self, wait_s: float | None = 5.0) -> bool:
        """`flush` from the event loop (waits in a thread for at most `wait_s`).

        Cancel-safe: cancelling only stops the wait; the records stay queued.
        """
        return await asyncio.to_thread(self.flush, wait_s)

    def close(self, timeout: float | None = 10.0) -> RecorderHealth:
        """Stop accepting records, write and fsync what is queued, close the file.

        Idempotent. Not for the event loop (use `aclose`).

        Returns:
            The final health; `pending_records` > 0 means records could not be written.
        """
        self._stop_accepting()
        return self._finish(timeout)

    async def aclose(self, wait_s: float | None = 10.0) -> RecorderHealth:
        """`close` from the event loop: refuses records at once, then waits in a thread.

        Shielded: if the caller is cancelled, the final write still completes.
        """
        self._stop_accepting()
        return await asyncio.shield(asyncio.to_thread(self._finish, wait_s))

    def _stop_accepting(self) -> None:
        self._closed = True
        self._refusing = True

    def _finish(self, timeout: float | None) -> RecorderHealth:
        with self._done:
            self._stopping = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if not self._thread.is_alive() and self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        return self.health()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Recorder({str(self.path)!r}, records={self._appended_records()})"

    # ------------------------------------------------------------------ writer thread

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            stopping = self._stopping
            self._write_pending()
            if stopping:
                break
        with self._done:
            self._done.notify_all()

    def _write_pending(self) -> None:
        popleft = self._queue.popleft
        items = [popleft() for _ in range(len(self._queue))]
        parts = self._retry
        record_bytes = 0
        for start in range(0, len(items), MAX_BLOCK_RECORDS):
            chunk = items[start : start + MAX_BLOCK_RECORDS]
            payload = b"".join(chunk)
            parts += (block_header(payload, len(chunk)), payload)  # crc32 releases the GIL
            record_bytes += len(payload)
        if not parts:
            return
        try:
            written = _pwrite_all(self._fd, parts, self._offset)
            _fdatasync(self._fd)
        except Exception as exc:  # OSError mostly; the thread must survive anything
            self._on_write_error(exc, parts, len(items), record_bytes)
            return
        self._offset += written
        self._retry = []
        with self._done:
            self._written_records += len(items) + self._retry_records
            self._written_bytes += record_bytes + self._retry_bytes
            self._limit = self._written_bytes + self._max_pending
            self._retry_records = self._retry_bytes = 0
            self._flushes += 1
            self._last_flush_ns = self._wall()
            self._last_error = None
            self._done.notify_all()

    def _on_write_error(
        self, exc: Exception, parts: list[_Part], records: int, record_bytes: int
    ) -> None:
        # Keep the blocks for the next attempt and cut off whatever part of them reached
        # the file, so the file always ends on a whole block.
        self._retry = parts
        self._retry_records += records
        self._retry_bytes += record_bytes
        if self._errors == 0 or self._last_error is None:
            _log.error("recorder %s: write failed, will retry: %s", self.path, exc)
        with self._done:
            self._errors += 1
            self._last_error = f"{type(exc).__name__}: {exc}"
            self._done.notify_all()
        with contextlib.suppress(OSError):  # if it fails, the block CRC still marks the end
            os.ftruncate(self._fd, self._offset)


def _create_unique(folder: Path, header: RecordingHeader) -> tuple[Path, int]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for attempt in range(1, 1000):
        path = folder / recording_filename(header, "" if attempt == 1 else f"-{attempt}")
        try:
            return path, os.open(path, flags, 0o644)
        except FileExistsError:
            continue
    raise FileExistsError(f"too many recordings named like {path.name} in {folder}")


def _pwrite_all(fd: int, parts: list[_Part], offset: int) -> int:
    # Writes every part at `offset`, in order; returns the bytes written. pwritev is one
    # system call per _IOV_PARTS parts (it may write less than asked: the rest follows).
    total = 0
    for start in range(0, len(parts), _IOV_PARTS):
        group = parts[start : start + _IOV_PARTS]
        size = sum(map(len, group))
        done = os.pwritev(fd, group, offset + total) if hasattr(os, "pwritev") else 0
        if done < size:
            rest = memoryview(b"".join(group))[done:]
            while rest:
                n = os.pwrite(fd, rest, offset + total + done)
                rest = rest[n:]
                done += n
        total += size
    return total


def _fsync_directory(folder: Path) -> None:
    # Make the new file's directory entry durable too (POSIX only; harmless elsewhere).
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
