"""Fuzzing `parse_frame`: it never raises, and a broken field gives a sensible ParseError.

Inputs are random bytes and text, random JSON under every channel, and mutations of the
real frames of tests/fixtures (a key dropped, a value of another JSON type, a decimal
string corrupted or swapped for a float/null/list, the bytes truncated or garbage
inserted). INTERNAL (a parser bug) is never an acceptable answer.
"""

from __future__ import annotations

import copy
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, get_args

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from hip3term.venue.hyperliquid import wire
from hip3term.venue.hyperliquid.parse import CHANNELS, parse_frame
from hip3term.venue.hyperliquid.wire import ParseError, ParseErrorKind

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
K = ParseErrorKind
EVENT_TYPES = (*get_args(wire.Event), ParseError)
FUZZ = settings(max_examples=150, deadline=None)  # no deadline: never depend on timing

Path_ = tuple[str | int, ...]


def _frames() -> list[dict[str, Any]]:
    frames = []
    for name in ("real_ws_frames.jsonl", "real_account_frames.jsonl"):
        for line in (FIXTURES / name).read_bytes().splitlines():
            msg = orjson.loads(line)["msg"]
            if isinstance(msg, dict) and "channel" in msg:
                frames.append(msg)
    frames.append(orjson.loads((FIXTURES / "ws_user_fill_liquidation.json").read_bytes()))
    return frames


FRAMES = _frames()
DECIMAL_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
# Fields a frame may lack (or carry as null) and still be read.
OPTIONAL = {"cloid", "twapId", "builderFee", "liquidation", "isSnapshot", "midPx", "premium",
            "impactPxs", "dayNtlVlm", "dayBaseVlm", "reduceOnly", "liquidatedUser", "dex",
            "nSamples"}
# Extra fields the exchange sends that hip3term does not read (the testnet fast book).
IGNORED = {"fast"}
POST_ENVELOPE = {("data",), ("data", "id"), ("data", "response"), ("data", "response", "type")}
POST_DROP_ENVELOPE = POST_ENVELOPE | {("data", "response", "payload")}


def _paths(value: Any, prefix: Path_ = ()) -> list[Path_]:
    items = value.items() if isinstance(value, dict) else (
        enumerate(value) if isinstance(value, list) else ())
    out: list[Path_] = []
    for key, child in items:
        out.append((*prefix, key))
        out.extend(_paths(child, (*prefix, key)))
    return out


def _at(value: Any, path: Path_) -> Any:
    for key in path:
        value = value[key]
    return value


def _check(result: object) -> None:
    assert isinstance(result, EVENT_TYPES), result
    if isinstance(result, ParseError):
        assert result.kind is not K.INTERNAL, result


def _raw_subtree(frame: dict[str, Any], path: Path_) -> bool:
    # Content the parser keeps as raw JSON: an ack's echoed subscription, info data.
    channel = frame["channel"]
    return ((channel == "subscriptionResponse" and path[:2] == ("data", "subscription")
             and len(path) > 2)
            or (channel == "post" and path[:4] == ("data", "response", "payload", "data")
                and len(path) > 4))


def _parse_mutated(frame: dict[str, Any], path: Path_, new: Any = None, drop: bool = False
                   ) -> object:
    mutated = copy.deepcopy(frame)
    parent = _at(mutated, path[:-1])
    if drop:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    result = parse_frame(orjson.dumps(mutated))
    _check(result)
    return result


def _assert_kind(result: object, expected: ParseErrorKind | None) -> None:
    if expected is None:
        assert not isinstance(result, ParseError), result
    else:
        assert isinstance(result, ParseError) and result.kind is expected, result


# -- anything at all -------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes_never_raise(raw: bytes) -> None:
    _check(parse_frame(raw))


@FUZZ
@given(st.text(max_size=300))
def test_random_text_never_raises(text: str) -> None:
    _check(parse_frame(text))


KEYS = sorted({str(p[-1]) for frame in FRAMES for p in _paths(frame) if isinstance(p[-1], str)})
JSON_LEAVES = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
               | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
               | st.from_regex(DECIMAL_TEXT, fullmatch=True))
JSON_VALUES = st.recursive(JSON_LEAVES, lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4),
                                             children, max_size=6), max_leaves=25)


@FUZZ
@given(st.sampled_from(sorted(CHANNELS)), JSON_VALUES)
def test_random_json_under_every_channel_never_raises(channel: str, data: Any) -> None:
    _check(parse_frame(orjson.dumps({"channel": channel, "data": data})))


# -- mutated real frames ---------------------------------------------------------------


def _expect_after_drop(frame: dict[str, Any], path: Path_) -> ParseErrorKind | None:
    channel = frame["channel"]
    if path == ("channel",):
        return K.BAD_ENVELOPE
    if channel == "candle":
        return K.UNKNOWN_CHANNEL
    if _raw_subtree(frame, path) or path[-1] in IGNORED:
        return None
    if path == ("data",) or (channel == "post" and path in POST_DROP_ENVELOPE):
        return K.BAD_ENVELOPE
    if channel == "user" and path == ("data", "fills"):
        return K.UNKNOWN_VARIANT
    return None if path[-1] in OPTIONAL else K.MISSING_FIELD


@FUZZ
@given(st.data())
def test_dropped_key_fails_as_missing_unless_optional(data: st.DataObject) -> None:
    frame = data.draw(st.sampled_from(FRAMES))
    keys = [p for p in _paths(frame) if isinstance(p[-1], str)]
    path = data.draw(st.sampled_from(keys))
    _assert_kind(_parse_mutated(frame, path, drop=True), _expect_after_drop(frame, path))


OTHER_TYPES: list[Any] = [None, True, 7, 2.5, "x", [1], {"k": 1}]


def _expect_after_retype(frame: dict[str, Any], path: Path_, new: Any) -> ParseErrorKind | None:
    channel = frame["channel"]
    if path == ("channel",):
        return K.BAD_ENVELOPE
    if channel == "candle":
        return K.UNKNOWN_CHANNEL
    if _raw_subtree(frame, path) or path[-1] in IGNORED:
        return None
    if channel == "post" and path in POST_ENVELOPE:
        return K.BAD_ENVELOPE
    null_side = channel == "bbo" and path[:2] == ("data", "bbo") and len(path) == 3
    if new is None and (path[-1] in OPTIONAL or null_side):
        return None
    return K.BAD_TYPE


@FUZZ
@given(st.data())
def test_value_of_another_json_type_fails_as_bad_type(data: st.DataObject) -> None:
    frame = data.draw(st.sampled_from(FRAMES))
    paths = [p for p in _paths(frame) if _at(frame, p) is not None]
    path = data.draw(st.sampled_from(paths))
    old = _at(frame, path)
    new = data.draw(st.sampled_from([v for v in OTHER_TYPES if type(v) is not type(old)]))
    _assert_kind(_parse_mutated(frame, path, new), _expect_after_retype(frame, path, new))


def _decimal_paths(frame: dict[str, Any]) -> list[Path_]:
    return [p for p in _paths(frame) if isinstance(_at(frame, p), str)
            and DECIMAL_TEXT.fullmatch(_at(frame, p)) and not _raw_subtree(frame, p)]


FRAMES_WITH_NUMBERS = [f for f in FRAMES if _decimal_paths(f) and f["channel"] != "candle"]


@FUZZ
@given(st.data())
def test_decimal_string_swapped_for_float_null_or_list_fails(data: st.DataObject) -> None:
    frame = data.draw(st.sampled_from(FRAMES_WITH_NUMBERS))
    path = data.draw(st.sampled_from(_decimal_paths(frame)))
    text = _at(frame, path)
    new = data.draw(st.sampled_from([float(text), None, [text], int(Decimal(text))]))
    expected = None if new is None and path[-1] in OPTIONAL else K.BAD_TYPE
    _assert_kind(_parse_mutated(frame, path, new), expected)


@FUZZ
@given(st.data())
def test_corrupted_decimal_string_fails_as_bad_number(data: st.DataObject) -> None:
    frame = data.draw(st.sampled_from(FRAMES_WITH_NUMBERS))
    path = data.draw(st.sampled_from(_decimal_paths(frame)))
    text = _at(frame, path)
    where = data.draw(st.integers(0, len(text)))
    junk = data.draw(st.sampled_from(["x", " ", "_", ",", "+", "e", "..", "\u0663"]))
    result = _parse_mutated(frame, path, text[:where] + junk + text[where:])
    _assert_kind(result, K.BAD_NUMBER)


@FUZZ
@given(st.data())
def test_truncated_frame_is_not_json(data: st.DataObject) -> None:
    raw = orjson.dumps(data.draw(st.sampled_from(FRAMES)))
    result = parse_frame(raw[: data.draw(st.integers(0, len(raw) - 1))])
    _assert_kind(result, K.NOT_JSON)


@FUZZ
@given(st.data())
def test_garbage_inserted_into_a_frame_never_raises(data: st.DataObject) -> None:
    raw = orjson.dumps(data.draw(st.sampled_from(FRAMES)))
    where = data.draw(st.integers(0, len(raw)))
    _check(parse_frame(raw[:where] + data.draw(st.binary(min_size=1, max_size=8)) + raw[where:]))


# -- the fast book path agrees with the exact one --------------------------------------

DECIMALS = st.from_regex(r"[0-9]{1,6}(\.[0-9]{1,6})?", fullmatch=True)
LEVELS = st.lists(st.fixed_dictionaries({"px": DECIMALS, "sz": DECIMALS,
                                         "n": st.integers(0, 10**6)}), max_size=5)
NOT_DECIMAL = (st.floats(allow_nan=False) | st.integers(-(2**63), 2**63) | st.none()
               | st.booleans() | st.lists(st.integers(0, 9), max_size=2)
               | st.text(max_size=6).filter(lambda s: not DECIMAL_TEXT.fullmatch(s))
               | st.from_regex(r"-[0-9]{1,3}(\.[0-9])?", fullmatch=True))
NOT_COUNT = (st.floats(allow_nan=False) | st.text(max_size=4) | st.none() | st.booleans()
             | st.integers(-(2**63), -1))


def _book_frame(bids: list[dict[str, Any]], asks: list[dict[str, Any]]) -> bytes:
    data = {"coin": "xyz:COIN", "time": 1790232237073, "levels": [bids, asks]}
    return orjson.dumps({"channel": "l2Book", "data": data})


@FUZZ
@given(LEVELS, LEVELS)
def test_any_well_formed_book_gives_exactly_its_levels(bids: list[dict[str, Any]],
                                                       asks: list[dict[str, Any]]) -> None:
    book = parse_frame(_book_frame(bids, asks))
    assert isinstance(book, wire.L2Book)
    for ladder, raw in ((book.bids, bids), (book.asks, asks)):
        assert list(ladder) == [wire.Level(Decimal(r["px"]), Decimal(r["sz"]), r["n"])
                                for r in raw]


def _expected_kind(key: str, value: Any, missing: bool) -> ParseErrorKind:
    if missing:
        return K.MISSING_FIELD
    if key == "n":
        return K.BAD_NUMBER if type(value) is int else K.BAD_TYPE
    return K.BAD_NUMBER if type(value) is str else K.BAD_TYPE


@FUZZ
@given(st.data(), LEVELS.filter(bool), LEVELS)
def test_one_bad_field_in_a_book_is_named_exactly(data: st.DataObject,
                                                  bids: list[dict[str, Any]],
                                                  asks: list[dict[str, Any]]) -> None:
    side = data.draw(st.sampled_from([0, 1] if asks else [0]))
    levels = (bids, asks)[side]
    index = data.draw(st.integers(0, len(levels) - 1))
    key = data.draw(st.sampled_from(["px", "sz", "n"]))
    missing = data.draw(st.booleans())
    value = None if missing else data.draw(NOT_COUNT if key == "n" else NOT_DECIMAL)
    if missing:
        del levels[index][key]
    else:
        levels[index][key] = value
    result = parse_frame(_book_frame(bids, asks))
    assert isinstance(result, ParseError), result
    assert result.kind is _expected_kind(key, value, missing), result
    assert result.detail.startswith(f"levels[{side}][{index}].{key}:"), result
