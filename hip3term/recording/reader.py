"""Reading recordings back: lazily, record by record, stopping cleanly at a torn tail.

`RecordingReader(path)` checks the header at once (a missing file, a file that is not a
recording or one of another format version raises `RecordingError`) and then yields
`Record`s block by block. Only blocks whose length and CRC check out are read; a damaged
block in the middle is skipped (counted in `corrupt_blocks` / `skipped_bytes`) and the
damage that runs to the end of the file, typically the block being written when the
process was killed, ends the iteration with `truncated_tail = True` and `tail_offset` at
the first byte not read. Objects in a verified block that are not valid records are
counted in `malformed_records` and skipped.

`summarize(path)` reads a whole recording into a `RecordingInfo`: duration, time span,
frames per channel, messages sent, gaps, exchange-time regressions and malformed frames
(classified by the project's parser, `hip3term.venue.hyperliquid.parse.parse_frame`).
"""

from __future__ import annotations

import mmap
import os
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import msgpack
import orjson

from hip3term.errors import RecordingError
from hip3term.recording.format import (
    BLOCK_HEADER,
    BLOCK_MARKER,
    FORMAT_VERSION,
    MAX_HEADER_BYTES,
    PREAMBLE,
    Record,
    RecordingHeader,
    RecordKind,
    block_crc,
    decode_header,
    decode_record,
)

__all__ = [
    "DEFAULT_GAP_THRESHOLDS_S",
    "Gap",
    "RecordingInfo",
    "RecordingReader",
    "read_header",
    "summarize",
]

DEFAULT_GAP_THRESHOLDS_S: Final[Mapping[str, float]] = {
    "l2Book": 10.0, "bbo": 10.0, "activeAssetCtx": 10.0, "trades": 60.0,
}  # fmt: skip
"""Silence on a channel longer than this (seconds) is reported as a gap."""
NOT_STREAMS: Final = frozenset({"post", "pong", "subscriptionResponse", "error"})
"""Channels that answer requests; a single `gap_s` threshold does not apply to them."""
MAX_LISTED_GAPS: Final = 1000

_KIND_OF: Final = {int(kind): kind for kind in RecordKind}
_CHANNEL_TYPES: Final = frozenset({str, type(None)})
_EXCH_TYPES: Final = frozenset({int, type(None)})
_new_record: Final = tuple.__new__


def describe_damage(*, truncated_tail: bool, tail_offset: int | None, corrupt_blocks: int,
                    skipped_bytes: int, malformed_records: int) -> str | None:  # fmt: skip
    """A recording's damage in words, e.g. "torn tail from byte 999026 (ignored)"; None
    for a whole recording."""
    parts = []
    if truncated_tail:
        parts.append(f"torn tail from byte {tail_offset} (ignored)")
    if corrupt_blocks:
        parts.append(f"{corrupt_blocks} corrupt blocks ({skipped_bytes} bytes skipped)")
    if malformed_records:
        parts.append(f"{malformed_records} malformed records")
    return "; ".join(parts) or None


class RecordingReader:
    """Reads one recording lazily; iterate it for `Record`s (each iteration re-reads).

    After (or during) an iteration the attributes describe what was read:
    `records_read`, `blocks_read`, `malformed_records`, `corrupt_blocks`,
    `skipped_bytes`, `truncated_tail` and `tail_offset` (None when the file ends on a
    whole block).

    Args:
        path: the `.h3rec` file.

    Raises:
        RecordingError: the file is missing, unreadable, not a recording, or of another
            format version.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.header, self._start = _read_header(self.path)
        self.records_read = self.blocks_read = self.malformed_records = 0
        self.corrupt_blocks = self.skipped_bytes = 0
        self.truncated_tail = False
        self.tail_offset: int | None = None

    @property
    def damage(self) -> str | None:
        """What the last iteration found damaged, in words (None: nothing)."""
        return describe_damage(truncated_tail=self.truncated_tail, tail_offset=self.tail_offset,
                               corrupt_blocks=self.corrupt_blocks,
                               skipped_bytes=self.skipped_bytes,
                               malformed_records=self.malformed_records)  # fmt: skip

    def __iter__(self) -> Iterator[Record]:
        self.records_read = self.blocks_read = self.malformed_records = 0
        self.corrupt_blocks = self.skipped_bytes = 0
        self.truncated_tail = False
        self.tail_offset = None
        try:
            with open(self.path, "rb") as file:
                size = os.fstat(file.fileno()).st_size
                if size <= self._start:
                    return
                with mmap.mmap(file.fileno(), size, access=mmap.ACCESS_READ) as mm:
                    yield from self._records(mm, size)
        except OSError as exc:
            raise RecordingError(f"{self.path}: cannot read: {exc.strerror or exc}") from None

    def _records(self, mm: mmap.mmap, size: int) -> Iterator[Record]:
        for n_records, payload in self._blocks(mm, size):
            self.blocks_read += 1
            unpacker = msgpack.Unpacker(
                None, raw=False, use_list=False, max_buffer_size=max(len(payload), 1)
            )
            unpacker.feed(payload)
            seen = 0
            try:
                for item in unpacker:
                    seen += 1
                    # The usual record checked in line (as decode_record would), and made
                    # without NamedTuple's Python-level __new__; any other goes the long way.
                    if type(item) is tuple and len(item) == 6:
                        kind, wall_ns, mono_ns, exch_ms, channel, raw = item
                        if (type(kind) is int and type(wall_ns) is int and type(mono_ns) is int
                                and type(raw) is bytes and type(channel) in _CHANNEL_TYPES
                                and type(exch_ms) in _EXCH_TYPES
                                and (known := _KIND_OF.get(kind)) is not None):
                            self.records_read += 1
                            yield _new_record(Record, (known, wall_ns, mono_ns, exch_ms,
                                                       channel, raw))
                            continue
                    record = decode_record(item)
                    if record is None:
                        self.malformed_records += 1
                        continue
                    self.records_read += 1
                    yield record
            except ValueError:  # msgpack's errors derive from ValueError; skip the rest
                self.malformed_records += 1
            if seen < n_records:
                self.malformed_records += n_records - seen

    def _blocks(self, mm: mmap.mmap, size: int) -> Iterator[tuple[int, bytes]]:
        pos = self._start
        while pos < size:
            block = _block_at(mm, pos, size)
            if block is None:
                found = _next_block(mm, pos, size)
                if found is None:
                    self.truncated_tail, self.tail_offset = True, pos
                    return
                self.corrupt_blocks += 1
                self.skipped_bytes += found - pos
                pos = found
                continue
            pos, n_records, payload = block
            yield n_records, payload

    def __repr__(self) -> str:
        return f"RecordingReader({str(self.path)!r})"


def read_header(path: str | os.PathLike[str]) -> RecordingHeader:
    """The header of a recording.

    Raises:
        RecordingError: as `RecordingReader`.
    """
    return _read_header(Path(path))[0]


def _read_header(path: Path) -> tuple[RecordingHeader, int]:
    try:
        with open(path, "rb") as file:
            start = file.read(PREAMBLE.size)
            if len(start) == PREAMBLE.size:
                length = PREAMBLE.unpack(start)[2]
                start += file.read(min(length, MAX_HEADER_BYTES))
    except FileNotFoundError:
        raise RecordingError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise RecordingError(f"{path}: is a directory, not a recording") from None
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return decode_header(start, str(path))


def _block_at(mm: mmap.mmap, pos: int, size: int) -> tuple[int, int, bytes] | None:
    # (end, n_records, payload) of a whole, verified block at `pos`, else None.
    body = pos + BLOCK_HEADER.size
    if body > size:
        return None
    marker, length, n_records, crc = BLOCK_HEADER.unpack_from(mm, pos)
    end = body + length
    if marker != BLOCK_MARKER or end > size:
        return None
    payload = mm[body:end]
    if block_crc(mm[pos + 4 : pos + 12], payload) != crc:
        return None
    return end, n_records, payload


def _next_block(mm: mmap.mmap, pos: int, size: int) -> int | None:
    # The offset of the next verified block after damage at `pos`, None if there is none.
    found = mm.find(BLOCK_MARKER, pos + 1)
    while found != -1:
        if _block_at(mm, found, size) is not None:
            return found
        found = mm.find(BLOCK_MARKER, found + 1)
    return None


# ---------------------------------------------------------------------- summary


@dataclass(frozen=True, slots=True)
class Gap:
    """A silence on one channel longer than its threshold (times from the recording)."""

    channel: str
    start_wall_ns: int
    end_wall_ns: int
    seconds: float


@dataclass(frozen=True, slots=True)
class RecordingInfo:
    """What `summarize` found in a recording.

    Frames whose channel the feed client did not record and the parser could not tell
    are counted in `frames_without_channel` (the plain-text greeting is one), not in
    `frames`. `malformed_frames` maps a parse-error kind to its count (empty when
    `frames_parsed` is False). `dropped_records` sums the recorder's own `dropped` markers.
    """

    path: Path
    size_bytes: int
    header: RecordingHeader
    records: int
    frames_total: int
    frames: dict[str, int]
    frames_without_channel: int
    sent: dict[str, int]
    marks: dict[str, int]
    dropped_records: int
    first_wall_ns: int | None
    last_wall_ns: int | None
    gaps: tuple[Gap, ...]
    gap_count: int
    gap_thresholds_s: dict[str, float]
    exchange_time_regressions: dict[str, int]
    frames_parsed: bool
    malformed_frames: dict[str, int]
    malformed_records: int
    corrupt_blocks: int
    skipped_bytes: int
    truncated_tail: bool
    tail_offset: int | None

    @property
    def duration_s(self) -> float:
        """Seconds from the earliest record to the latest (0 when empty)."""
        if self.first_wall_ns is None or self.last_wall_ns is None:
            return 0.0
        return (self.last_wall_ns - self.first_wall_ns) / 1e9

    @property
    def posts(self) -> int:
        """`post` messages sent (info requests and actions)."""
        return self.sent.get("post", 0)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; `frames` maps channel name to count."""
        return {
            "file": str(self.path),
            "size_bytes": self.size_bytes,
            "format_version": FORMAT_VERSION,
            "header": self.header.to_map(),
            "duration_s": round(self.duration_s, 6),
            "time_span": {
                "first_utc": _utc(self.first_wall_ns),
                "last_utc": _utc(self.last_wall_ns),
                "first_wall_ns": self.first_wall_ns,
                "last_wall_ns": self.last_wall_ns,
            },
            "records": self.records,
            "frames_total": self.frames_total,
            "frames": dict(self.frames),
            "frames_without_channel": self.frames_without_channel,
            "sent": dict(self.sent),
            "posts": self.posts,
            "marks": dict(self.marks),
            "dropped_records": self.dropped_records,
            "gap_thresholds_s": dict(self.gap_thresholds_s),
            "gap_count": self.gap_count,
            "gaps": [_gap_json(gap) for gap in self.gaps],
            "exchange_time_regressions": dict(self.exchange_time_regressions),
            "frames_parsed": self.frames_parsed,
            "malformed_frames": dict(self.malformed_frames),
            "malformed_frames_total": sum(self.malformed_frames.values()),
            "damage": {
                "malformed_records": self.malformed_records,
                "corrupt_blocks": self.corrupt_blocks,
                "skipped_bytes": self.skipped_bytes,
                "truncated_tail": self.truncated_tail,
                "tail_offset": self.tail_offset,
            },
        }


def _utc(wall_ns: int | None) -> str | None:
    if wall_ns is None:
        return None
    moment = datetime.fromtimestamp(wall_ns // 1000 / 1e6, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _gap_json(gap: Gap) -> dict[str, Any]:
    return {
        "channel": gap.channel,
        "start_utc": _utc(gap.start_wall_ns),
        "end_utc": _utc(gap.end_wall_ns),
        "start_wall_ns": gap.start_wall_ns,
        "end_wall_ns": gap.end_wall_ns,
        "seconds": round(gap.seconds, 6),
    }


# A classifier takes a frame and returns (channel, exchange time ms, parse-error kind).
_Classify = Callable[[bytes], tuple[str | None, int | None, str | None]]


def _parser_classifier(full: bool) -> _Classify | None:
    # The project's parser, when it is installed; None otherwise (summaries still work).
    try:
        from hip3term.venue.hyperliquid import compact, parse, wire
    except ImportError:
        return None

    def classify(raw: bytes) -> tuple[str | None, int | None, str | None]:
        result = parse.parse_frame(raw)
        if isinstance(result, wire.ParseError):
            return result.channel, None, str(result.kind)
        return result.channel, result.exchange_time_ms, None

    def peek(raw: bytes) -> tuple[str | None, int | None, str | None]:
        found = compact.peek_frame(raw)
        return found.channel, found.time_ms, None

    return classify if full else peek


@dataclass
class _Tally:
    thresholds: Mapping[str, float] | float
    frames: Counter[str] = field(default_factory=Counter)
    sent: Counter[str] = field(default_factory=Counter)
    marks: Counter[str] = field(default_factory=Counter)
    malformed: Counter[str] = field(default_factory=Counter)
    regressions: Counter[str] = field(default_factory=Counter)
    gaps: list[Gap] = field(default_factory=list)
    gap_count: int = 0
    used_thresholds: dict[str, float] = field(default_factory=dict)
    records: int = 0
    frames_total: int = 0
    unlabelled: int = 0
    dropped: int = 0
    first_wall: int | None = None
    last_wall: int | None = None
    last_seen: dict[str, tuple[int, int]] = field(default_factory=dict)  # wall, mono
    last_exch: dict[str, int] = field(default_factory=dict)

    def threshold(self, channel: str) -> float | None:
        if isinstance(self.thresholds, float | int):
            return None if channel in NOT_STREAMS else float(self.thresholds)
        return self.thresholds.get(channel)

    def frame(self, record: Record, channel: str | None, exch_ms: int | None) -> None:
        self.frames_total += 1
        if channel is None:
            self.unlabelled += 1
            return
        self.frames[channel] += 1
        previous = self.last_seen.get(channel)
        self.last_seen[channel] = (record.wall_ns, record.mono_ns)
        limit = self.threshold(channel)
        if limit is not None:
            self.used_thresholds[channel] = limit
        if previous is not None and limit is not None:
            seconds = (record.mono_ns - previous[1]) / 1e9
            if seconds > limit:
                self.gap_count += 1
                if len(self.gaps) < MAX_LISTED_GAPS:
                    self.gaps.append(Gap(channel, previous[0], record.wall_ns, seconds))
        if exch_ms is not None:
            last = self.last_exch.get(channel)
            if last is not None and exch_ms < last:
                self.regressions[channel] += 1
            self.last_exch[channel] = exch_ms

    def mark(self, record: Record) -> None:
        name = record.channel or ""
        self.marks[name] += 1
        if name == "dropped":
            try:
                count = orjson.loads(record.raw).get("records", 0)
            except (orjson.JSONDecodeError, AttributeError):
                count = 0
            self.dropped += count if type(count) is int else 0


def summarize(
    path: str | os.PathLike[str],
    *,
    gap_thresholds_s: Mapping[str, float] | float | None = None,
    parse: bool = True,
) -> RecordingInfo:
    """Read a whole recording and describe it.

    Args:
        path: the `.h3rec` file.
        gap_thresholds_s: silence (seconds) after which a channel has a gap: a mapping per
            channel, or one number for every streaming channel; `DEFAULT_GAP_THRESHOLDS_S`
            when None.
        parse: classify every frame with the project's parser to count malformed frames
            (about 5-10 µs per frame); False only peeks at frames without a recorded
            channel.

    Raises:
        RecordingError: as `RecordingReader`.
    """
    reader = RecordingReader(path)
    tally = _Tally(DEFAULT_GAP_THRESHOLDS_S if gap_thresholds_s is None else gap_thresholds_s)
    classify = _parser_classifier(full=parse)
    for record in reader:
        tally.records += 1
        if tally.first_wall is None or record.wall_ns < tally.first_wall:
            tally.first_wall = record.wall_ns
        if tally.last_wall is None or record.wall_ns > tally.last_wall:
            tally.last_wall = record.wall_ns
        if record.kind is RecordKind.FRAME_IN:
            channel, exch_ms = record.channel, record.exch_ms
            if classify is not None and (parse or channel is None):
                found_channel, found_exch, error = classify(record.raw)
                channel = channel or found_channel
                exch_ms = exch_ms if exch_ms is not None else found_exch
                if error is not None:
                    tally.malformed[error] += 1
            tally.frame(record, channel, exch_ms)
        elif record.kind is RecordKind.SENT:
            tally.sent[record.channel or ""] += 1
        else:
            tally.mark(record)
    return _info(reader, tally, parsed=parse and classify is not None)


def _info(reader: RecordingReader, tally: _Tally, parsed: bool) -> RecordingInfo:
    try:
        size = reader.path.stat().st_size
    except OSError:
        size = 0
    return RecordingInfo(
        path=reader.path,
        size_bytes=size,
        header=reader.header,
        records=tally.records,
        frames_total=tally.frames_total,
        frames=dict(tally.frames),
        frames_without_channel=tally.unlabelled,
        sent=dict(tally.sent),
        marks=dict(tally.marks),
        dropped_records=tally.dropped,
        first_wall_ns=tally.first_wall,
        last_wall_ns=tally.last_wall,
        gaps=tuple(tally.gaps),
        gap_count=tally.gap_count,
        gap_thresholds_s=tally.used_thresholds,
        exchange_time_regressions=dict(tally.regressions),
        frames_parsed=parsed,
        malformed_frames=dict(tally.malformed),
        malformed_records=reader.malformed_records,
        corrupt_blocks=reader.corrupt_blocks,
        skipped_bytes=reader.skipped_bytes,
        truncated_tail=reader.truncated_tail,
        tail_offset=reader.tail_offset,
    )
