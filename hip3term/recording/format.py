"""The session recording format (`.h3rec`): pure encoding and decoding, no I/O.

A recording is one file per session holding every raw websocket frame received, every
message sent, and a few markers, each with the local wall-clock and monotonic times in
nanoseconds and, where the frame carries one, the exchange's time in milliseconds.
All integers in the fixed-size parts are little-endian.

File layout::

    file    := preamble header block*
    preamble:= MAGIC (8 bytes: 89 'H' '3' 'R' 0D 0A 1A 0A)
               version     u16   format version, 1 for this module
               header_len  u32   length of the msgpack header that follows
               header_crc  u32   zlib.crc32 of those header bytes
    header  := msgpack map with str keys:
               session_id, market ("xyz:COIN"), dex ("xyz"), venue ("sim", "testnet",
               "mainnet", or a name), ws_url, config_hash, hip3term_version,
               started_wall_ns, started_mono_ns, extra (a map, free-form)
    block   := BLOCK_MARKER (4 bytes: 'H' '3' 'B' 01)
               payload_len u32
               n_records   u32
               crc         u32   zlib.crc32 over payload_len, n_records (8 bytes) + payload
               payload     n_records msgpack arrays, back to back (msgpack is
                           self-delimiting, so records need no length prefix of their own)
    record  := [kind, wall_ns, mono_ns, exch_ms, channel, raw]
               kind     int     0 frame received, 1 message sent, 2 marker
               wall_ns  int     local wall-clock time (unix ns) when received / sent
               mono_ns  int     local monotonic clock (ns), for intervals
               exch_ms  int|nil the exchange's time carried by the frame (unix ms)
               channel  str|nil frame: its channel ("l2Book", "bbo", "trades", "post", ...);
                                sent: its method ("post", "subscribe", "ping");
                                marker: its event name ("dropped", "connected", ...)
               raw      bin|str frame/sent: the exact bytes (or text) on the wire;
                                marker: UTF-8 JSON of the marker's details

One block is what one flush wrote: the recorder buffers records in memory and a
background thread appends a block and fsyncs it at least every 100 ms. The block CRC
makes a torn tail detectable: after a crash (kill -9, power loss) a reader accepts every
block whose length and CRC check out and stops at the first one that does not (reporting
the byte offset), so a recording always reads back cleanly up to its last flush. A
damaged block in the middle of a file is skipped by searching for the next marker whose
block verifies. Hot-path cost is one msgpack pack per record; the CRC is computed once
per block in the writer thread (zlib releases the GIL on large buffers).

Readers of version 1 refuse other versions with a `RecordingError` naming both.
"""

from __future__ import annotations

import enum
import re
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

import msgpack

from hip3term.errors import RecordingError

__all__ = [
    "BLOCK_HEADER",
    "BLOCK_MARKER",
    "EXTENSION",
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_HEADER_BYTES",
    "PREAMBLE",
    "Record",
    "RecordKind",
    "RecordingHeader",
    "block_crc",
    "block_header",
    "decode_header",
    "decode_record",
    "encode_block",
    "encode_header",
    "pack_record",
    "recording_filename",
]

MAGIC: Final = b"\x89H3R\r\n\x1a\n"
"""First 8 bytes of every recording (a high byte and CR LF catch text-mode mangling)."""
FORMAT_VERSION: Final = 1
"""The format version this module writes and reads."""
EXTENSION: Final = ".h3rec"
"""File name extension of recordings."""
BLOCK_MARKER: Final = b"H3B\x01"
"""First 4 bytes of every block; lets a reader find the next block after damage."""
PREAMBLE: Final = struct.Struct("<8sHII")
"""MAGIC, version, header_len, header_crc."""
BLOCK_HEADER: Final = struct.Struct("<4sIII")
"""BLOCK_MARKER, payload_len, n_records, crc."""
_BLOCK_COUNTS: Final = struct.Struct("<II")

MAX_HEADER_BYTES: Final = 1 << 20
"""A header larger than this is refused as damage rather than read."""


class RecordKind(enum.IntEnum):
    """What a record holds."""

    FRAME_IN = 0
    """A frame received from the exchange."""
    SENT = 1
    """A message sent to the exchange (post, subscribe, ping)."""
    MARK = 2
    """A marker written by hip3term itself (dropped records, connection events)."""


_KINDS: Final = tuple(RecordKind)


class Record(NamedTuple):
    """One record of a recording, as a reader returns it."""

    kind: RecordKind
    wall_ns: int
    mono_ns: int
    exch_ms: int | None
    channel: str | None
    raw: bytes


@dataclass(frozen=True, slots=True)
class RecordingHeader:
    """What a recording is of; written once at the start of the file.

    Args:
        market: full market name, e.g. "xyz:COIN".
        dex: the HIP-3 dex ("xyz"; "" for the validator perps).
        venue: "sim", "testnet", "mainnet" or another name for a custom URL.
        ws_url: the websocket URL the frames came from.
        config_hash: hash of the effective configuration (hex), to tie results to it.
        session_id: the session's id (also used by the journal); generated when empty.
        hip3term_version: version of the program that wrote the file.
        started_wall_ns: wall-clock start (unix ns); None until the recorder opens.
        started_mono_ns: monotonic clock at the start; None until the recorder opens.
        extra: free-form details (subscriptions, command line); msgpack-encodable values.
    """

    market: str
    dex: str
    venue: str
    ws_url: str
    config_hash: str
    session_id: str = ""
    hip3term_version: str = ""
    started_wall_ns: int | None = None
    started_mono_ns: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_map(self) -> dict[str, Any]:
        """The header as the msgpack map stored in the file."""
        return {
            "session_id": self.session_id,
            "market": self.market,
            "dex": self.dex,
            "venue": self.venue,
            "ws_url": self.ws_url,
            "config_hash": self.config_hash,
            "hip3term_version": self.hip3term_version,
            "started_wall_ns": self.started_wall_ns,
            "started_mono_ns": self.started_mono_ns,
            "extra": dict(self.extra),
        }


_HEADER_TYPES: Final[Mapping[str, type]] = {
    "session_id": str, "market": str, "dex": str, "venue": str, "ws_url": str,
    "config_hash": str, "hip3term_version": str, "started_wall_ns": int,
    "started_mono_ns": int, "extra": dict,
}  # fmt: skip


def encode_header(header: RecordingHeader) -> bytes:
    """Preamble and header bytes of a new recording.

    Raises:
        ValueError: when the start times are not set, or the header is too large.
        TypeError: when `extra` holds a value msgpack cannot encode.
    """
    if header.started_wall_ns is None or header.started_mono_ns is None:
        raise ValueError("the header's start times must be set before it is written")
    body = msgpack.packb(header.to_map(), use_bin_type=True)
    if len(body) > MAX_HEADER_BYTES:
        raise ValueError(f"recording header of {len(body)} bytes is too large")
    return PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(body), zlib.crc32(body)) + body


def decode_header(data: bytes | memoryview, where: str) -> tuple[RecordingHeader, int]:
    """Read the preamble and header at the start of `data`.

    Args:
        data: the file's first bytes (at least the whole header).
        where: the file's name, for error messages.

    Returns:
        The header and the offset of the first block.

    Raises:
        RecordingError: not a recording, another format version, or a damaged header.
    """
    if len(data) < PREAMBLE.size or bytes(data[: len(MAGIC)]) != MAGIC:
        raise RecordingError(f"{where}: not a hip3term recording (no {EXTENSION} magic bytes)")
    _, version, length, crc = PREAMBLE.unpack_from(data, 0)
    if version != FORMAT_VERSION:
        raise RecordingError(
            f"{where}: recording format version {version}; this hip3term reads version "
            f"{FORMAT_VERSION} only"
        )
    end = PREAMBLE.size + length
    if length > MAX_HEADER_BYTES or end > len(data):
        raise RecordingError(f"{where}: the recording header is truncated")
    body = bytes(data[PREAMBLE.size : end])
    if zlib.crc32(body) != crc:
        raise RecordingError(f"{where}: the recording header is damaged (checksum mismatch)")
    try:
        fields = msgpack.unpackb(body, raw=False, strict_map_key=True)
    except ValueError as exc:  # msgpack's errors derive from ValueError
        raise RecordingError(f"{where}: the recording header is not msgpack: {exc}") from None
    return _header_from_map(fields, where), end


def _header_from_map(fields: object, where: str) -> RecordingHeader:
    if not isinstance(fields, dict):
        raise RecordingError(f"{where}: the recording header is not a map")
    for key, kind in _HEADER_TYPES.items():
        value = fields.get(key)
        if type(value) is not kind:
            raise RecordingError(
                f"{where}: recording header field {key!r} should be a {kind.__name__}, "
                f"got {type(value).__name__}"
            )
    return RecordingHeader(**{key: fields[key] for key in _HEADER_TYPES})


_PACKER = msgpack.Packer(use_bin_type=True)


def pack_record(
    kind: RecordKind,
    wall_ns: int,
    mono_ns: int,
    exch_ms: int | None,
    channel: str | None,
    raw: bytes | str,
) -> bytes:
    """One record's bytes (the recorder inlines this on its hot path)."""
    return _PACKER.pack((int(kind), wall_ns, mono_ns, exch_ms, channel, raw))


def decode_record(item: object) -> Record | None:
    """A record from one unpacked msgpack object; None when it is not a valid record."""
    if type(item) is not tuple or len(item) != 6:
        return None
    kind, wall_ns, mono_ns, exch_ms, channel, raw = item
    if (
        type(kind) is not int
        or not 0 <= kind < len(_KINDS)
        or type(wall_ns) is not int
        or type(mono_ns) is not int
        or (exch_ms is not None and type(exch_ms) is not int)
        or (channel is not None and type(channel) is not str)
    ):
        return None
    if type(raw) is str:
        raw = raw.encode()
    elif type(raw) is not bytes:
        return None
    return Record(_KINDS[kind], wall_ns, mono_ns, exch_ms, channel, raw)


def block_header(payload: bytes | bytearray, n_records: int) -> bytes:
    """The 16 bytes that precede a block's payload: marker, lengths and CRC."""
    counts = _BLOCK_COUNTS.pack(len(payload), n_records)
    crc = zlib.crc32(payload, zlib.crc32(counts))
    return BLOCK_MARKER + counts + crc.to_bytes(4, "little")


def encode_block(payload: bytes, n_records: int) -> bytes:
    """A whole block: its header, then the records' bytes."""
    return block_header(payload, n_records) + payload


def block_crc(counts: bytes | memoryview, payload: bytes | memoryview) -> int:
    """The CRC a block header should carry for these counts and payload bytes."""
    return zlib.crc32(payload, zlib.crc32(counts))


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def recording_filename(header: RecordingHeader, suffix: str = "") -> str:
    """`<UTC date>-<UTC time>-<market>-<venue><suffix>.h3rec`, safe on any file system.

    >>> h = RecordingHeader("xyz:COIN", "xyz", "sim", "ws://x", "0", started_wall_ns=0,
    ...                     started_mono_ns=0)
    >>> recording_filename(h)
    '19700101-000000-xyz_COIN-sim.h3rec'
    """
    started = datetime.fromtimestamp((header.started_wall_ns or 0) / 1e9, tz=UTC)
    market = _UNSAFE.sub("_", header.market) or "market"
    venue = _UNSAFE.sub("_", header.venue) or "venue"
    return f"{started:%Y%m%d-%H%M%S}-{market}-{venue}{suffix}{EXTENSION}"
