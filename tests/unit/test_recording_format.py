"""The .h3rec format: header, records, blocks and file names (pure functions), and the
reader's handling of records (which must read every record as `decode_record` does)."""

from __future__ import annotations

import struct
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
from hip3term.recording.reader import RecordingReader

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


# -- the reader reads records as decode_record does ------------------------------------

FIELD = (st.integers(-3, 2**64 - 1) | st.booleans() | st.none() | st.text(max_size=3)
         | st.floats(allow_nan=False) | st.binary(max_size=4) | st.lists(st.integers(0, 3),
                                                                          max_size=2))
USUAL = st.tuples(st.integers(-1, 3), st.integers(0, 2**63), st.integers(0, 2**63),
                  st.none() | st.integers(0, 2**43), st.none() | st.text(max_size=8),
                  st.binary(max_size=20) | st.text(max_size=5))


@st.composite
def _one_field_odd(draw: st.DrawFn) -> tuple[Any, ...]:
    record = list(draw(USUAL))
    record[draw(st.integers(0, 5))] = draw(FIELD)
    return tuple(record)


# Usual records, records with one field of any type, and any object at all.
RECORD_ITEMS = USUAL | _one_field_odd() | st.lists(st.integers(0, 2) | FIELD, max_size=7) | FIELD


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(RECORD_ITEMS, max_size=8), max_size=4))
def test_reader_reads_every_record_as_decode_record_does(blocks: list[list[Any]]) -> None:
    data = encode_header(HEADER)
    expected: list[Record | None] = []
    for items in blocks:
        packed = [msgpack.packb(item, use_bin_type=True) for item in items]
        data += encode_block(b"".join(packed), len(items))
        expected += [decode_record(msgpack.unpackb(p, raw=False, use_list=False))
                     for p in packed]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.h3rec"
        path.write_bytes(data)
        reader = RecordingReader(path)
        records = list(reader)
    assert records == [r for r in expected if r is not None]
    assert all(type(r) is Record and type(r.kind) is RecordKind for r in records)
    assert [r.kind for r in records] == [r.kind for r in expected if r is not None]
    assert (reader.records_read, reader.malformed_records) == (
        len(records), expected.count(None))


ODD_FIELDS: list[Any] = [True, False, 1.5, -1, 3, 2**64 - 1, None, "7", b"7", (), [1], {}]


def test_reader_refuses_each_odd_field_as_decode_record_does() -> None:
    base = (0, 1_778_803_273_000_000_000, 42, 1_778_803_273_189, "bbo", b'{"channel":"bbo"}')
    items = [(*base[:i], value, *base[i + 1:]) for i in range(6) for value in ODD_FIELDS]
    expected = [decode_record(msgpack.unpackb(msgpack.packb(item, use_bin_type=True),
                                              raw=False, use_list=False)) for item in items]
    assert 0 < expected.count(None) < len(items)  # some are records, some are not
    payload = b"".join(msgpack.packb(item, use_bin_type=True) for item in items)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.h3rec"
        path.write_bytes(encode_header(HEADER) + encode_block(payload, len(items)))
        assert list(RecordingReader(path)) == [r for r in expected if r is not None]
