"""The C scanners of the compact market frames (`_scan.c`) answer as their patterns.

`compact` reads the usual l2Book, bbo and activeAssetCtx frames with one strict pattern
each; the compiled build scans them in C instead (`_scan.book`, `.bbo`, `.ctx`), and the
patterns' readers in Python (`compact._book_fields_re`, ...) are the reference: the same
fields (same types, same text) or the same refusal, for every input. Here: real frames,
generated ones, and every one-byte deletion, replacement and insertion of a few frames
(each scanner is also given the other channels' frames). The scanners are loaded from the
build whatever this process runs (`HIP3TERM_PURE`), and only when the build was made from
the C source on disk. (test_parse_fast.py compares the whole parser, with whichever reader
this process uses, against its exact readers.)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hip3term import _native
from hip3term.venue.hyperliquid import compact
from tests.unit.native_support import built_c_module, probe, refused_in_the_source_run

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
NAME = "hip3term.venue.hyperliquid._scan"


SCAN = built_c_module(NAME)
PAIRS: dict[str, tuple[Callable[[bytes], Any], Callable[[bytes], Any]]] = {
    "l2Book": (SCAN.book, compact._book_fields_re),
    "bbo": (SCAN.bbo, compact._bbo_fields_re),
    "activeAssetCtx": (SCAN.ctx, compact._ctx_fields_re),
}


def _alike(raw: bytes) -> dict[str, bool]:
    # Every scanner answers as its pattern; which of them accepted `raw`.
    accepted = {}
    for channel, (scan, pattern) in PAIRS.items():
        got, want = scan(raw), pattern(raw)
        assert got == want, (channel, raw)
        assert [type(v) for v in got or ()] == [type(v) for v in want or ()], (channel, raw)
        accepted[channel] = got is not None
    return accepted


def _real(channel: str) -> list[bytes]:
    lines = (FIXTURES / "real_ws_frames.jsonl").read_bytes().splitlines()
    msgs = [orjson.loads(line)["msg"] for line in lines if line.strip()]
    return [orjson.dumps(m) for m in msgs if isinstance(m, dict) and m.get("channel") == channel]


# Frames in the exchange's compact form, written out (orjson writes the same).
def _row(px: str, sz: str, n: str) -> str:
    return f'{{"px":"{px}","sz":"{sz}","n":{n}}}'


def _book(bids: list[str], asks: list[str], tail: str = "", coin: str = "xyz:COIN",
          time: str = "1785000029700") -> bytes:  # fmt: skip
    return (f'{{"channel":"l2Book","data":{{"coin":"{coin}","time":{time},"levels":'
            f'[[{",".join(bids)}],[{",".join(asks)}]]{tail}}}}}').encode()


def _bbo(bid: str, ask: str, coin: str = "xyz:COIN", time: str = "1785000029700") -> bytes:
    return (f'{{"channel":"bbo","data":{{"coin":"{coin}","time":{time},'
            f'"bbo":[{bid},{ask}]}}}}').encode()


CTX_KEYS = ("funding", "openInterest", "prevDayPx", "dayNtlVlm", "premium", "oraclePx",
            "markPx", "midPx", "impactPxs", "dayBaseVlm")


def _ctx(values: list[str], coin: str = "xyz:COIN") -> bytes:
    # values: the 11 numbers' text (impactPxs takes two)
    texts = iter(values)
    fields = [f'"{key}":["{next(texts)}","{next(texts)}"]' if key == "impactPxs"
              else f'"{key}":"{next(texts)}"' for key in CTX_KEYS]  # fmt: skip
    return (f'{{"channel":"activeAssetCtx","data":{{"coin":"{coin}",'
            f'"ctx":{{{",".join(fields)}}}}}}}').encode()


ROWS = [_row("189.84", "2.941", "1"), _row("189.83", "12", "0"), _row("7", "0.5", "31")]
BASES = [
    _book(ROWS, ROWS[::-1]),
    _book(ROWS[:1], [], ',"fast":true'),
    _book([], ROWS[1:], ',"fast":false', coin="BTC", time="0"),
    _bbo(ROWS[0], ROWS[2]),
    _ctx(["-0.0000075574", "30010.103", "190", "1917.41842", "-0.0005291423", "189.93",
          "189.89", "189.815", "189.746", "189.913", "10.103"]),
]
# bytes a change may bring: digits, the grammar's punctuation, letters of its words, a
# backslash, a control byte and non-ASCII
ALPHABET = b'019.-",{}[]: ate\\\x00\x80'


def test_real_frames_scan_as_their_patterns() -> None:
    for channel in PAIRS:
        frames = _real(channel)
        assert frames, channel
        accepted = [_alike(raw)[channel] for raw in frames]
        if channel != "activeAssetCtx":  # the real contexts of the fixtures have nulls
            assert any(accepted), channel


def test_every_one_byte_change_of_a_frame_scans_as_its_pattern() -> None:
    accepted = refused = 0
    for base in BASES:
        assert sum(_alike(base).values()) == 1, base  # each base is read by its scanner
        for i in range(len(base) + 1):
            changed = [base[:i] + bytes([b]) + base[i:] for b in ALPHABET]  # inserted
            if i < len(base):
                changed.append(base[:i] + base[i + 1:])  # deleted
                changed += [base[:i] + bytes([b]) + base[i + 1:]  # replaced
                            for b in ALPHABET if b != base[i]]
            for raw in changed:
                if any(_alike(raw).values()):
                    accepted += 1
                else:
                    refused += 1
    # both answers are common: a digit more or less is still a frame, most changes are not
    assert accepted > 500 and refused > 5000, (accepted, refused)


NUMBER_TEXT = st.text("0123456789.-", max_size=22) | st.sampled_from(
    ["0", "00", "01", "9" * 18, "9" * 19, "1" + "0" * 17, "1" + "0" * 18, "-0", "0.0", "1.",
     ".1", "1..2", "1.2.3", "-", ""])
FIELD = NUMBER_TEXT | st.text(max_size=4)
COIN_TEXT = st.text(max_size=6) | st.sampled_from(["xyz:COIN", "a\\b", 'a"b', "é", "\x7f", ""])


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_generated_frames_scan_as_their_patterns(data: st.DataObject) -> None:
    def row() -> str:
        return _row(data.draw(FIELD), data.draw(FIELD), data.draw(NUMBER_TEXT))

    kind = data.draw(st.sampled_from(["book", "bbo", "ctx"]))
    coin = data.draw(COIN_TEXT)
    if kind == "book":
        bids = [row() for _ in range(data.draw(st.integers(0, 3)))]
        asks = [row() for _ in range(data.draw(st.integers(0, 3)))]
        tail = data.draw(st.sampled_from(["", ',"fast":true', ',"fast":false', ',"fast":1',
                                          ',"fast":true,"fast":true', " "]))
        raw = _book(bids, asks, tail, coin, data.draw(NUMBER_TEXT))
    elif kind == "bbo":
        raw = _bbo(row(), row(), coin, data.draw(NUMBER_TEXT))
    else:
        raw = _ctx([data.draw(FIELD) for _ in range(11)], coin)
    _alike(raw)


def test_the_limits_of_the_integers_and_the_fields_read() -> None:
    top = _row("1.50", "0002", "9" * 18)
    fields = SCAN.book(_book([top, ROWS[0]], [], time="9" * 18))
    assert fields == ("xyz:COIN", 10**18 - 1,
                      f"[{top},{ROWS[0]}]".encode(), 2, "1.50", "0002", 10**18 - 1,
                      b"[]", 0, None, None, None, len('{"channel":"l2Book","data":{"coin":'
                                                     '"xyz:COIN","time":999999999999999999,'))
    # past 18 digits orjson would not keep every integer an int: left to the exact reader
    assert SCAN.book(_book([_row("1", "1", "1" + "0" * 18)], [])) is None
    assert SCAN.bbo(_bbo(ROWS[0], ROWS[1], time="1" + "0" * 18)) is None
    assert SCAN.book(_book([_row("1", "1", "01")], [])) is None
    assert SCAN.ctx(_ctx(["-1"] * 11)) is None  # only funding and premium may be negative
    signed = ["-1", "1", "1", "1", "-2.5", "1", "1", "1", "1", "1", "1"]
    assert SCAN.ctx(_ctx(signed)) == ("xyz:COIN", *signed)


def test_only_bytes_are_scanned() -> None:
    for scan, _pattern in PAIRS.values():
        with pytest.raises(TypeError, match="expected bytes, got bytearray"):
            scan(bytearray(BASES[0]))


def test_the_build_reads_with_the_scanners() -> None:
    assert probe("0", "from hip3term.venue.hyperliquid import compact\n"
                       "assert compact._book_fields is compact._scan.book\n"
                       "assert compact._ctx_fields is compact._scan.ctx\n"
                       "print(compact._scan.__file__)") == str(SCAN.__file__)


def test_the_python_source_reads_with_the_patterns_and_cannot_import_the_scanners() -> None:
    checks = ("from hip3term.venue.hyperliquid import compact\n"
              "assert compact._scan is None\n"
              "assert compact._book_fields is compact._book_fields_re\n"
              "assert compact._bbo_fields is compact._bbo_fields_re\n")
    said = refused_in_the_source_run(NAME, checks)
    assert said == f"{NAME} is not used: pure ({_native.PURE_ENV} is set)"
