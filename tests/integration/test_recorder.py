"""The session recorder end to end: files on disk, crashes, torn tails, failing disks, CLI."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer
from typer.testing import CliRunner

from hip3term.cli import recordings_cmd
from hip3term.core.clock import SimClock
from hip3term.errors import RecordingError
from hip3term.recording.format import Record, RecordingHeader, RecordKind
from hip3term.recording.reader import RecordingReader, read_header, summarize
from hip3term.recording.recorder import Recorder
from hip3term.venue.hyperliquid.parse import parse_frame
from hip3term.venue.hyperliquid.wire import ParseError

FIXTURES = Path(__file__).parent.parent / "fixtures"
HEADER = RecordingHeader(
    market="xyz:COIN", dex="xyz", venue="sim", ws_url="ws://127.0.0.1:1/ws", config_hash="c0ffee"
)


def real_messages() -> list[dict[str, Any]]:
    """The real exchange frames of tests/fixtures/real_ws_frames.jsonl, decoded."""
    lines = (FIXTURES / "real_ws_frames.jsonl").read_text().splitlines()
    return [orjson.loads(line)["msg"] for line in lines]


def exchange_time(msg: dict[str, Any]) -> int | None:
    data = msg.get("data")
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]
    time_ms = data.get("time") if isinstance(data, dict) else None
    return time_ms if isinstance(time_ms, int) else None


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[Recorder]:
    rec = Recorder.open(tmp_path / "recordings", HEADER)
    yield rec
    rec.close()


def wait_for(condition: Callable[[], bool], what: str, limit_s: float = 20.0) -> None:
    # Waits on behaviour (never asserts on how long it took); the limit only stops a hang.
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.005)


# ------------------------------------------------------------------ round trip


def test_many_real_frames_round_trip_with_every_field(recorder: Recorder) -> None:
    messages = real_messages()
    expected: list[Record] = []
    for i in range(3000):
        msg = messages[i % len(messages)]
        raw = orjson.dumps(msg)
        if i % 7 == 3:  # the caller took its own receive times
            wall, mono = 1_778_803_272_000_000_000 + i, 5_000 + i
            recorder.frame_in(raw, msg["channel"], exchange_time(msg), wall, mono)
        else:
            recorder.frame_in(raw, msg["channel"], exchange_time(msg))
            wall = mono = -1  # filled from the recorder's clock: compared below
        expected.append(
            Record(RecordKind.FRAME_IN, wall, mono, exchange_time(msg), msg["channel"], raw)
        )
        if i % 500 == 0:
            post = b'{"method":"post","id":%d,"request":{"type":"info"}}' % i
            recorder.post_out(post)
            expected.append(Record(RecordKind.SENT, -1, -1, None, "post", post))
    recorder.frame_in("Websocket connection established.")  # a text frame, no channel
    expected.append(
        Record(RecordKind.FRAME_IN, -1, -1, None, None, b"Websocket connection established.")
    )
    recorder.mark("reconnecting", {"attempt": 2, "delay_s": 0.5})
    expected.append(Record(RecordKind.MARK, -1, -1, None, "reconnecting", b""))
    health = recorder.close()

    got = list(RecordingReader(recorder.path))
    assert len(got) == len(expected) == health.records_written
    for record, want in zip(got, expected, strict=True):
        assert (record.kind, record.exch_ms, record.channel) == (
            want.kind, want.exch_ms, want.channel,
        )  # fmt: skip
        if want.kind is RecordKind.MARK:
            assert orjson.loads(record.raw) == {"attempt": 2, "delay_s": 0.5}
        else:
            assert record.raw == want.raw
        if want.wall_ns != -1:
            assert (record.wall_ns, record.mono_ns) == (want.wall_ns, want.mono_ns)
    own = [r for r, w in zip(got, expected, strict=True) if w.wall_ns == -1]
    monos = [r.mono_ns for r in own]
    assert monos == sorted(monos)  # the recorder's own monotonic stamps never go back
    assert all(r.wall_ns >= recorder.header.started_wall_ns for r in own)  # type: ignore[operator]
    assert health.frames_in == 3001 and health.sent == 6 and health.marks == 1
    assert health.dropped == 0 and health.errors == 0


def test_big_records_and_multi_block_flushes_round_trip(recorder: Recorder) -> None:
    raws = [bytes([i % 256]) * (i % 50) for i in range(10_000)]  # > 2 blocks in one flush
    raws[5000:5000] = [b"\x7f" * 3_000_000, b"\x01" * 300_000]  # a few big post replies
    for raw in raws:
        recorder.frame_in(raw, "post")
    recorder.close()
    reader = RecordingReader(recorder.path)
    assert [r.raw for r in reader] == raws
    assert reader.blocks_read >= 3 and not reader.truncated_tail


def test_header_holds_market_venue_config_version_and_start(tmp_path: Path) -> None:
    clock = SimClock(1_778_803_272_000)
    header = RecordingHeader(
        market="xyz:TSLA", dex="xyz", venue="testnet", ws_url="wss://example.invalid/ws",
        config_hash="ab12", session_id="session-7", extra={"subscriptions": ["bbo"]},
    )  # fmt: skip
    with Recorder.open(tmp_path, header, clock=clock) as rec:
        clock.advance(250)
        rec.frame_in(b"{}", "bbo")
    assert rec.path.parent == tmp_path
    assert rec.path.name == "20260515-000112-xyz_TSLA-testnet.h3rec"
    stored = read_header(rec.path)
    assert stored == rec.header
    assert (stored.market, stored.dex, stored.venue) == ("xyz:TSLA", "xyz", "testnet")
    assert (stored.ws_url, stored.config_hash) == ("wss://example.invalid/ws", "ab12")
    assert stored.session_id == "session-7"
    assert stored.hip3term_version == __import__("hip3term").__version__
    assert stored.started_wall_ns == 1_778_803_272_000_000_000
    assert stored.started_mono_ns == 1_778_803_272_000_000_000
    assert stored.extra == {"subscriptions": ["bbo"]}
    (record,) = RecordingReader(rec.path)
    assert record.wall_ns == record.mono_ns == 1_778_803_272_250_000_000


def test_two_sessions_in_the_same_second_get_two_files(tmp_path: Path) -> None:
    clock = SimClock(1_778_803_272_000)
    with (
        Recorder.open(tmp_path, HEADER, clock=clock) as first,
        Recorder.open(tmp_path, HEADER, clock=clock) as second,
    ):
        assert first.path != second.path
        assert first.header.session_id != second.header.session_id
    assert second.path.name == "20260515-000112-xyz_COIN-sim-2.h3rec"


def test_records_are_on_disk_once_flush_returns(recorder: Recorder) -> None:
    for i in range(1000):
        recorder.frame_in(b'{"channel":"bbo","n":%d}' % i, "bbo")
    assert recorder.flush()
    on_disk = [r.raw for r in RecordingReader(recorder.path)]  # the recorder is still open
    assert on_disk == [b'{"channel":"bbo","n":%d}' % i for i in range(1000)]
    health = recorder.health()
    assert health.records_written == 1000 and health.flushes >= 1
    assert health.last_flush_wall_ns is not None


def test_the_writer_thread_flushes_without_being_asked(recorder: Recorder) -> None:
    recorder.frame_in(b'{"channel":"bbo"}', "bbo")
    wait_for(lambda: recorder.health().records_written == 1, "the periodic flush")
    assert [r.raw for r in RecordingReader(recorder.path)] == [b'{"channel":"bbo"}']


def test_flush_interval_over_100_ms_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="flush_interval_s"):
        Recorder.open(tmp_path, HEADER, flush_interval_s=0.5)


def test_after_close_records_are_counted_as_dropped_not_raised(recorder: Recorder) -> None:
    recorder.frame_in(b"a", "bbo")
    recorder.close()
    recorder.frame_in(b"b", "bbo")
    recorder.post_out(b"c")
    recorder.close()  # idempotent
    assert recorder.health().dropped == 2
    assert [r.raw for r in RecordingReader(recorder.path)] == [b"a"]


def test_unencodable_input_is_counted_never_raised(recorder: Recorder) -> None:
    recorder.frame_in(object(), "bbo")  # type: ignore[arg-type]
    recorder.frame_in(b"fine", "bbo")
    recorder.close()
    assert recorder.health().dropped == 1
    assert [r.raw for r in RecordingReader(recorder.path)] == [b"fine"]


async def test_asyncio_use_flush_and_close_from_the_loop(tmp_path: Path) -> None:
    rec = Recorder.open(tmp_path, HEADER)
    for i in range(100):
        rec.frame_in(b"%d" % i, "trades", i)
    assert await rec.aflush()
    rec.frame_in(b"last", "trades")
    health = await rec.aclose()
    assert health.records_written == 101 and health.closed
    assert [r.raw for r in RecordingReader(rec.path)][-1] == b"last"


# ------------------------------------------------------------------ crashes and damage

CHILD = r"""
import sys, time
from hip3term.recording.format import RecordingHeader
from hip3term.recording.recorder import Recorder
header = RecordingHeader("xyz:COIN", "xyz", "sim", "ws://127.0.0.1:1/ws", "kill-test")
rec = Recorder.open(sys.argv[1], header, flush_interval_s=0.02)
print("path", rec.path, flush=True)
flushes, i = 0, 0
while True:
    rec.frame_in(b'{"channel":"bbo","data":{"seq":%d}}' % i + b" " * (i % 300), "bbo", i)
    i += 1
    if i % 64 == 0:
        health = rec.health()
        if health.flushes != flushes:
            flushes = health.flushes
            print("flushed", health.records_written, flush=True)
        time.sleep(0.0002)
"""


def test_a_recorder_killed_with_sigkill_reads_back_up_to_its_last_flush(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        path = Path(child.stdout.readline().split(" ", 1)[1].strip())
        flushed: list[int] = []
        while len(flushed) < 8:
            line = child.stdout.readline()
            assert line.startswith("flushed "), line
            flushed.append(int(line.split()[1]))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    reader = RecordingReader(path)
    records = list(reader)
    assert len(records) >= flushed[-1] > 0
    for seq, record in enumerate(records):  # every record whole, in order, none partial
        assert record.raw == b'{"channel":"bbo","data":{"seq":%d}}' % seq + b" " * (seq % 300)
        assert (record.kind, record.channel, record.exch_ms) == (RecordKind.FRAME_IN, "bbo", seq)
    assert reader.malformed_records == 0 and reader.corrupt_blocks == 0
    if reader.truncated_tail:  # killed mid-write: the tail starts after the last good block
        assert reader.tail_offset is not None and reader.tail_offset < path.stat().st_size


def _three_blocks(tmp_path: Path) -> tuple[Path, list[int], list[list[bytes]]]:
    # A recording of three blocks (one per flush); returns its block boundaries.
    rec = Recorder.open(tmp_path / "src", HEADER)
    boundaries = [rec.path.stat().st_size]
    blocks: list[list[bytes]] = []
    for size in (3, 4, 5):
        raws = [orjson.dumps({"channel": "trades", "i": len(blocks), "j": j}) for j in range(size)]
        for raw in raws:
            rec.frame_in(raw, "trades", 1_790_119_150_922)
        assert rec.flush()
        boundaries.append(rec.path.stat().st_size)
        blocks.append(raws)
    rec.close()
    return rec.path, boundaries, blocks


def test_a_torn_tail_is_detected_at_every_byte_offset(tmp_path: Path) -> None:
    path, boundaries, blocks = _three_blocks(tmp_path)
    data = path.read_bytes()
    cut_file = tmp_path / "cut.h3rec"
    for cut in range(boundaries[1], len(data) + 1):
        cut_file.write_bytes(data[:cut])
        reader = RecordingReader(cut_file)
        raws = [r.raw for r in reader]
        whole = sum(1 for end in boundaries[1:] if end <= cut)
        assert raws == [raw for block in blocks[:whole] for raw in block], cut
        at_boundary = cut in boundaries
        assert reader.truncated_tail is not at_boundary, cut
        assert reader.tail_offset == (None if at_boundary else boundaries[whole]), cut
        assert reader.malformed_records == reader.corrupt_blocks == 0


@pytest.mark.parametrize("offset_in_block", [0, 5, 13, 40], ids=["marker", "length", "crc", "data"])
def test_a_damaged_middle_block_is_skipped_and_reading_goes_on(
    tmp_path: Path, offset_in_block: int
) -> None:
    path, boundaries, blocks = _three_blocks(tmp_path)
    data = bytearray(path.read_bytes())
    data[boundaries[1] + offset_in_block] ^= 0x5A
    path.write_bytes(bytes(data))
    reader = RecordingReader(path)
    assert [r.raw for r in reader] == blocks[0] + blocks[2]
    assert (reader.corrupt_blocks, reader.skipped_bytes) == (1, boundaries[2] - boundaries[1])
    assert not reader.truncated_tail


def test_garbage_after_the_last_block_is_a_torn_tail(tmp_path: Path) -> None:
    path, boundaries, blocks = _three_blocks(tmp_path)
    with path.open("ab") as file:
        file.write(b"\x00" * 4096)  # what a crash can leave on some file systems
    reader = RecordingReader(path)
    assert [r.raw for r in reader] == [raw for block in blocks for raw in block]
    assert reader.truncated_tail and reader.tail_offset == boundaries[-1]


def test_missing_and_foreign_files_raise_recording_error(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="no such file"):
        RecordingReader(tmp_path / "absent.h3rec")
    with pytest.raises(RecordingError, match="is a directory"):
        RecordingReader(tmp_path)
    json_file = tmp_path / "frames.jsonl"
    shutil.copy(FIXTURES / "real_ws_frames.jsonl", json_file)
    with pytest.raises(RecordingError, match="not a hip3term recording"):
        RecordingReader(json_file)


# ------------------------------------------------------------------ failing disk


def _failing_pwritev(partial: bool) -> Callable[..., int]:
    real_pwrite = os.pwrite

    def pwritev(fd: int, parts: list[bytes], offset: int) -> int:
        if partial:  # part of the block reaches the file before the disk fills up
            real_pwrite(fd, b"".join(parts)[:11], offset)
        raise OSError(errno.ENOSPC, "No space left on device")

    return pwritev


@pytest.mark.parametrize("partial", [False, True], ids=["nothing-written", "partial-block"])
def test_a_failing_disk_is_counted_and_the_records_kept_until_it_recovers(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch, partial: bool
) -> None:
    recorder.frame_in(b"before", "bbo")
    assert recorder.flush()
    monkeypatch.setattr(os, "pwritev", _failing_pwritev(partial))
    monkeypatch.delattr(os, "pwrite")  # the fallback path must not write either
    for i in range(50):
        recorder.frame_in(b"during %d" % i, "bbo")  # never raises, never blocks
    wait_for(lambda: recorder.health().errors >= 2, "failed write attempts")
    health = recorder.health()
    assert "No space left on device" in (health.last_error or "")
    assert health.records_written == 1 and health.pending_records == 50
    monkeypatch.undo()
    assert recorder.flush()
    reader = RecordingReader(recorder.path)
    assert [r.raw for r in reader] == [b"before"] + [b"during %d" % i for i in range(50)]
    assert not reader.truncated_tail and reader.corrupt_blocks == 0
    assert recorder.health().last_error is None


def test_memory_cap_drops_are_counted_warned_and_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder.open(tmp_path, HEADER, max_pending_bytes=2_000)
    monkeypatch.setattr(os, "pwritev", _failing_pwritev(False))
    monkeypatch.delattr(os, "pwrite")
    with caplog.at_level(logging.WARNING, logger="hip3term.recording.recorder"):
        for i in range(200):
            rec.frame_in(b'{"channel":"bbo","seq":%03d}' % i, "bbo")
    assert any("dropping records" in r.getMessage() for r in caplog.records)
    dropped = rec.health().dropped
    assert 0 < dropped < 200
    monkeypatch.undo()
    assert rec.flush()
    rec.frame_in(b"after", "bbo")  # room again: the drop count goes into the recording
    rec.close()
    frames = [r for r in RecordingReader(rec.path) if r.kind is RecordKind.FRAME_IN]
    assert len(frames) == 201 - dropped
    assert frames[-1].raw == b"after"
    info = summarize(rec.path)
    assert info.dropped_records == dropped == 201 - len(frames)
    assert info.marks == {"dropped": 1}


# ------------------------------------------------------------------ summary and CLI


def _cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Test root."""

    recordings_cmd.register(app)
    return app


def test_recordings_info_json_counts_every_frame_per_channel(recorder: Recorder) -> None:
    messages = real_messages()
    written: Counter[str] = Counter()
    recorder.frame_in("Websocket connection established.")
    for i in range(2000):
        msg = messages[(i * 7) % len(messages)]
        # Some frames are recorded without their channel: the summary finds it in the frame.
        recorder.frame_in(orjson.dumps(msg), msg["channel"] if i % 3 else None)
        written[msg["channel"]] += 1
    for _ in range(4):
        recorder.post_out(b'{"method":"post","id":1}')
    recorder.post_out(b'{"method":"ping"}', "ping")
    recorder.close()
    result = CliRunner().invoke(_cli(), ["recordings", "info", str(recorder.path), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["frames"] == dict(written)
    assert info["frames_without_channel"] == 1
    assert info["frames_total"] == 2001
    assert info["sent"] == {"post": 4, "ping": 1} and info["posts"] == 4
    assert info["header"]["market"] == "xyz:COIN" and info["header"]["venue"] == "sim"
    assert info["damage"]["truncated_tail"] is False
    assert info["time_span"]["first_wall_ns"] <= info["time_span"]["last_wall_ns"]


def test_malformed_frames_are_counted_by_parse_error_kind(recorder: Recorder) -> None:
    frames = [orjson.dumps(msg) for msg in real_messages()]
    frames += [b"{oops", b"[1, 2]", b'{"channel":"l2Book","data":{"coin":"X","time":1}}']
    frames += [b'{"channel":"bbo","data":{"coin":"X","time":1,"bbo":[{"px":1.5}]}}']
    for raw in frames:
        recorder.frame_in(raw)
    recorder.close()
    expected: Counter[str] = Counter()
    for raw in frames:  # the parser's own verdict on each frame
        result = parse_frame(raw)
        if isinstance(result, ParseError):
            expected[str(result.kind)] += 1
    assert expected["not_json"] == 1 and sum(expected.values()) >= 4
    info = summarize(recorder.path)
    assert info.malformed_frames == dict(expected)
    assert info.frames_parsed
    quick = summarize(recorder.path, parse=False)
    assert quick.malformed_frames == {} and not quick.frames_parsed


def test_gaps_and_exchange_time_regressions(recorder: Recorder) -> None:
    s = 1_000_000_000
    t0 = 1_778_803_272 * s
    for second, exch in [(0, 100), (1, 200), (15, 150), (16, 300), (17, 400)]:
        recorder.frame_in(b"{}", "bbo", exch, t0 + second * s, second * s)
    for second in (0, 5, 9):
        recorder.frame_in(b"{}", "l2Book", None, t0 + second * s, second * s)
    recorder.close()
    info = summarize(recorder.path, parse=False)
    assert [(g.channel, g.start_wall_ns, g.end_wall_ns, g.seconds) for g in info.gaps] == [
        ("bbo", t0 + 1 * s, t0 + 15 * s, 14.0)
    ]
    assert info.exchange_time_regressions == {"bbo": 1}
    assert info.duration_s == 17.0
    strict = summarize(recorder.path, gap_thresholds_s=4.0, parse=False)
    assert [(g.channel, g.seconds) for g in strict.gaps] == [("bbo", 14.0), ("l2Book", 5.0)]


def test_recordings_list_shows_each_file(tmp_path: Path) -> None:
    with Recorder.open(tmp_path, HEADER) as rec:
        for _ in range(3):
            rec.frame_in(b'{"channel":"bbo"}', "bbo")
    (tmp_path / "junk.h3rec").write_bytes(b"not a recording")
    (tmp_path / "notes.txt").write_text("ignored")
    result = CliRunner().invoke(_cli(), ["recordings", "list", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["NAME", "SIZE", "DURATION", "FRAMES", "MARKET", "VENUE"]
    row = next(line for line in lines if line.startswith(rec.path.name)).split()
    assert row[-3:] == ["3", "xyz:COIN", "sim"]
    junk = next(line for line in lines if line.startswith("junk.h3rec"))
    assert "not a hip3term recording" in junk
    assert not any("notes.txt" in line for line in lines)


@pytest.mark.parametrize(
    "args", [["info", "absent.h3rec"], ["info", "notes.txt"], ["list", "--dir", "nope"]]
)
def test_recordings_commands_refuse_bad_files_with_exit_status_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("not a recording")
    result = CliRunner().invoke(_cli(), ["recordings", *args])
    assert isinstance(result.exception, RecordingError)
    assert result.exception.exit_code == 2
