"""The .h3rec format: header, records, blocks and file names (pure functions)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

import msgpack
import pytest

from hip3term.errors import RecordingError
from hip3term.recording.format import (
    BLOCK_HEADER,
    BLOCK_MARKER,
    FORMAT_VERSION,
    MAGIC,
    PREAMBLE,
    Record,
    RecordingHeader,
    RecordKind,
    block_crc,
    decode_header,
    decode_record,
    encode_block,
    encode_header,
    pack_record,
    recording_filename,
)

HEADER = RecordingHeader(
    market="xyz:COIN",
    dex="xyz",
    venue="testnet",
    ws_url="wss://api.hyperliquid-testnet.xyz/ws",
    config_hash="9f2c1a",
    session_id="s-1",
    hip3term_version="0.1.0",
    started_wall_ns=1_778_803_272_000_000_123,
    started_mono_ns=42,
    extra={"subscriptions": ["l2Book", "bbo"], "argv": ["record", "--market", "COIN"]},
)


def test_header_round_trip_keeps_every_field() -> None:
    data = encode_header(HEADER)
    header, end = decode_header(data + b"trailing block bytes", "f.h3rec")
    assert header == HEADER
    assert end == len(data)
    assert data.startswith(MAGIC)


def test_header_layout_is_the_documented_one() -> None:
    data = encode_header(HEADER)
    magic, version, length, crc = struct.unpack_from("<8sHII", data)
    body = data[18:]
    assert (magic, version, length) == (b"\x89H3R\r\n\x1a\n", 1, len(body))
    assert crc == zlib.crc32(body)
    fields = msgpack.unpackb(body)
    assert fields["market"] == "xyz:COIN"
    assert fields["started_wall_ns"] == 1_778_803_272_000_000_123
    assert fields["extra"]["subscriptions"] == ["l2Book", "bbo"]


def test_header_without_start_times_is_refused() -> None:
    with pytest.raises(ValueError, match="start times"):
        encode_header(RecordingHeader("xyz:COIN", "xyz", "sim", "ws://x", "0"))


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda d: b"", "not a hip3term recording"),
        (lambda d: b"PK\x03\x04" + d[4:], "not a hip3term recording"),
        (lambda d: d.replace(b"\r\n", b"\n", 1), "not a hip3term recording"),
        (lambda d: d[:8] + struct.pack("<H", 2) + d[10:], "version 2; this hip3term reads"),
        (lambda d: d[:-3], "truncated"),
        (lambda d: d[:-1] + bytes([d[-1] ^ 0x40]), "damaged"),
    ],
    ids=["empty", "zip", "text-mode", "version-2", "truncated", "bit-flip"],
)
def test_bad_headers_are_refused_with_the_reason(
    mangle: Callable[[bytes], bytes], message: str
) -> None:
    data = mangle(encode_header(HEADER))
    with pytest.raises(RecordingError, match=message) as caught:
        decode_header(data, "some/file.h3rec")
    assert "some/file.h3rec" in caught.value.message
    assert caught.value.exit_code == 2


def test_header_of_wrong_field_type_is_refused() -> None:
    fields = HEADER.to_map() | {"started_wall_ns": "yesterday"}
    body = msgpack.packb(fields)
    data = PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(body), zlib.crc32(body)) + body
    with pytest.raises(RecordingError, match="started_wall_ns"):
        decode_header(data, "f")


@pytest.mark.parametrize(
    "record",
    [
        Record(RecordKind.FRAME_IN, 1, 2, 1_778_803_273_189, "l2Book", b'{"channel":"l2Book"}'),
        Record(RecordKind.FRAME_IN, 10**18, 0, None, None, b"Websocket connection established."),
        Record(RecordKind.SENT, 5, 6, None, "post", b'{"method":"post","id":7}'),
        Record(RecordKind.MARK, 7, 8, None, "dropped", b'{"records":3}'),
        Record(RecordKind.FRAME_IN, 1, 2, None, "bbo", b""),
    ],
)
def test_record_round_trip(record: Record) -> None:
    packed = pack_record(*record)
    item = msgpack.unpackb(packed, raw=False, use_list=False)
    assert decode_record(item) == record


def test_text_frames_read_back_as_their_utf8_bytes() -> None:
    packed = pack_record(RecordKind.FRAME_IN, 1, 2, None, "trades", '{"px":"3.17"} é')
    item = msgpack.unpackb(packed, raw=False, use_list=False)
    assert decode_record(item) == Record(
        RecordKind.FRAME_IN, 1, 2, None, "trades", '{"px":"3.17"} é'.encode()
    )


@pytest.mark.parametrize(
    "item",
    [
        (0, 1, 2, None, "bbo"),  # five fields
        (0, 1, 2, None, "bbo", b"x", 9),  # seven
        (3, 1, 2, None, "bbo", b"x"),  # unknown kind
        (-1, 1, 2, None, "bbo", b"x"),
        (0, 1.5, 2, None, "bbo", b"x"),  # float time
        (0, 1, None, None, "bbo", b"x"),
        (0, 1, 2, "1778803273189", "bbo", b"x"),  # exchange time as text
        (0, 1, 2, None, 7, b"x"),  # channel not text
        (0, 1, 2, None, "bbo", None),  # no payload
        (0, 1, 2, None, "bbo", [1, 2]),
        [0, 1, 2, None, "bbo", b"x"],  # a list where the reader gives tuples
        {"kind": 0},
        "frame",
    ],
)
def test_malformed_records_are_recognised(item: object) -> None:
    assert decode_record(item) is None


def test_block_layout_and_crc() -> None:
    records = [pack_record(RecordKind.FRAME_IN, i, i, None, "bbo", b"x" * i) for i in range(5)]
    payload = b"".join(records)
    block = encode_block(payload, len(records))
    marker, length, count, crc = BLOCK_HEADER.unpack_from(block)
    assert (marker, length, count) == (BLOCK_MARKER, len(payload), 5)
    assert block[BLOCK_HEADER.size :] == payload
    assert crc == zlib.crc32(block[4:12] + payload)  # documented: counts then payload
    assert crc == block_crc(block[4:12], payload)
    unpacker = msgpack.Unpacker(raw=False, use_list=False)
    unpacker.feed(payload)
    assert [decode_record(item) for item in unpacker] == [
        Record(RecordKind.FRAME_IN, i, i, None, "bbo", b"x" * i) for i in range(5)
    ]


def test_recording_filename_is_utc_and_filesystem_safe() -> None:
    name = recording_filename(HEADER)
    # 1778803272 s after the epoch is 2026-05-15 00:01:12 UTC.
    assert name == "20260515-000112-xyz_COIN-testnet.h3rec"
    odd = RecordingHeader("a/b:c d", "", "ws://h:1/x", "u", "0", started_wall_ns=0)
    assert recording_filename(odd, "-2") == "19700101-000000-a_b_c_d-ws_h_1_x-2.h3rec"
