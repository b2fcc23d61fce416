from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import pytest

from hip3term.errors import ConfigError
from hip3term.venue.sim import faults
from hip3term.venue.sim.faults import (
    COUNTER_NAMES,
    FAULTS_HELP,
    FaultInjector,
    FaultSpec,
    Window,
)

RECORDING = Path(__file__).parent.parent / "fixtures" / "recordings" / "xyz_aapl_frames.jsonl"


def _real_frames() -> list[bytes]:
    """The frames of the fixture recording, as the server would send them."""
    frames: list[bytes] = []
    for line in RECORDING.read_text().splitlines():
        frame = json.loads(line)["frame"]
        text = frame if isinstance(frame, str) else json.dumps(frame, separators=(",", ":"))
        frames.append(text.encode())
    return frames


FRAMES = _real_frames()
BOOK = next(f for f in FRAMES if b'"l2Book"' in f)
GREETING = b"Websocket connection established."


# --- parsing -----------------------------------------------------------------------------


def test_parse_full_example_gives_every_field() -> None:
    spec = FaultSpec.parse(
        "drop=30s,stall=5s/60s,delay=50ms,dup=0.01,malformed=0.02,unanswered=0.05,"
        "reject_storm=10s/120s"
    )
    assert spec == FaultSpec(
        drop_every_ms=30_000,
        stall=Window(5_000, 60_000),
        delay_ms=50,
        delay_jitter_ms=0,
        dup_rate=0.01,
        malformed_rate=0.02,
        unanswered_rate=0.05,
        reject_storm=Window(10_000, 120_000),
    )


def test_parse_accepts_units_percentages_jitter_and_spaces() -> None:
    spec = FaultSpec.parse(" drop = 2m , delay=1.5s+-250ms, dup=1% ,unanswered=12.5% ")
    assert spec.drop_every_ms == 120_000
    assert (spec.delay_ms, spec.delay_jitter_ms) == (1_500, 250)
    assert spec.dup_rate == 0.01
    assert spec.unanswered_rate == 0.125


@pytest.mark.parametrize("text", ["", "   "])
def test_parse_blank_is_the_empty_spec(text: str) -> None:
    spec = FaultSpec.parse(text)
    assert spec == FaultSpec()
    assert spec.is_empty
    assert str(spec) == ""


@pytest.mark.parametrize(
    "text",
    [
        "drop=30s,stall=5s/60s,delay=50ms,dup=0.01,malformed=0.02,unanswered=0.05,"
        "reject_storm=10s/120s",
        "delay=1500ms+-250ms,dup=12.5%",
        "stall=250ms/1m,reject_storm=1s/90s",
    ],
)
def test_spec_text_round_trips(text: str) -> None:
    spec = FaultSpec.parse(text)
    assert not spec.is_empty
    assert FaultSpec.parse(str(spec)) == spec


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("bogus=1", ["'bogus=1'", "drop=PERIOD", "reject_storm=DURATION/PERIOD"]),
        ("drop", ["'drop'", "value is missing", "drop=PERIOD"]),
        ("drop=30", ["'drop=30'", "unit", "drop=PERIOD"]),
        ("drop=0s", ["'drop=0s'", "longer than zero"]),
        ("drop=0.5ms", ["'drop=0.5ms'", "whole number of milliseconds"]),
        ("drop=-5s", ["'drop=-5s'", "not a duration"]),
        ("stall=5s", ["'stall=5s'", "duration and a period", "stall=DURATION/PERIOD"]),
        ("stall=60s/5s", ["'stall=60s/5s'", "shorter than the period"]),
        ("reject_storm=10s/10s", ["'reject_storm=10s/10s'", "shorter than the period"]),
        ("delay=10ms+-20ms", ["'delay=10ms+-20ms'", "jitter is larger"]),
        ("dup=1.5", ["'dup=1.5'", "more than 1", "dup=RATE"]),
        ("dup=150%", ["'dup=150%'", "more than 1"]),
        ("malformed=abc", ["'malformed=abc'", "fraction or a percentage"]),
        ("unanswered=-0.1", ["'unanswered=-0.1'", "fraction or a percentage"]),
        ("dup=nan", ["'dup=nan'", "fraction or a percentage"]),
        ("drop=1s,drop=2s", ["'drop'", "twice"]),
        ("drop=1s,,dup=0.1", ["empty item"]),
        ("drop=1s,", ["empty item"]),
        ("dup=0.6,malformed=0.6", ["at most 1"]),
    ],
)
def test_parse_invalid_raises_config_error_naming_item_and_forms(
    text: str, fragments: list[str]
) -> None:
    with pytest.raises(ConfigError) as info:
        FaultSpec.parse(text)
    assert info.value.exit_code == 2
    for fragment in fragments:
        assert fragment in info.value.message


def test_help_text_is_the_module_docstring_syntax() -> None:
    def words(text: str) -> str:
        return " ".join(text.split())

    assert faults.__doc__ is not None
    assert words(FAULTS_HELP) in words(faults.__doc__)
    for name in ("drop=", "stall=", "delay=", "dup=", "malformed=", "unanswered=", "reject_storm="):
        assert name in FAULTS_HELP


# --- the empty spec ----------------------------------------------------------------------


def test_empty_spec_injects_nothing_and_draws_no_randomness() -> None:
    rng = random.Random(7)
    before = rng.getstate()
    injector = FaultInjector(FaultSpec(), rng, start_ms=0)
    for now in range(0, 3_600_000, 997):
        assert not injector.should_drop(now)
        assert not injector.stalled(now)
        assert not injector.reject_storm(now)
    for frame in FRAMES * 200:
        assert injector.outgoing(frame) == [frame]
        assert injector.delay_s() == 0.0
        assert not injector.leave_unanswered()
    assert rng.getstate() == before
    assert dict(injector.counters) == dict.fromkeys(COUNTER_NAMES, 0)


# --- periodic faults ---------------------------------------------------------------------


def test_should_drop_is_true_once_per_period() -> None:
    injector = FaultInjector(FaultSpec.parse("drop=10s"), random.Random(1), start_ms=1_000)
    assert not any(injector.should_drop(t) for t in range(1_000, 11_000, 100))
    assert injector.should_drop(11_000)
    assert not injector.should_drop(11_000)
    assert not any(injector.should_drop(t) for t in range(11_001, 21_000, 100))
    assert injector.should_drop(21_000)
    # a long gap: one drop, not one per missed period
    assert injector.should_drop(55_000)
    assert not injector.should_drop(55_001)
    assert not injector.should_drop(60_999)
    assert injector.should_drop(61_000)
    assert injector.counters["drop"] == 4


def test_stall_windows_open_one_period_after_start() -> None:
    injector = FaultInjector(FaultSpec.parse("stall=2s/10s"), random.Random(1), start_ms=500)
    assert not injector.stalled(500)
    assert not injector.stalled(10_499)
    assert injector.stalled(10_500)
    assert injector.stall_until_ms(11_000) == 12_500
    assert injector.stalled(12_499)
    assert not injector.stalled(12_500)
    assert injector.stall_until_ms(15_000) is None
    assert injector.stalled(20_500)
    assert not injector.stalled(0)  # before the start
    assert injector.counters["stall"] == 2  # windows, not calls


def test_reject_storm_rejects_every_order_in_its_windows_and_counts_them() -> None:
    injector = FaultInjector(FaultSpec.parse("reject_storm=1s/5s"), random.Random(1), start_ms=0)
    calls = [(t, injector.reject_storm(t)) for t in range(0, 20_000, 250)]
    rejected = [t for t, storm in calls if storm]
    assert rejected == [t for t in range(0, 20_000, 250) if t >= 5_000 and t % 5_000 < 1_000]
    assert injector.counters["reject_storm"] == 3
    assert injector.counters["reject_storm.orders"] == len(rejected) == 12
    assert faults.REJECT_STORM_ERROR == "Insufficient margin to place order."


def test_windows_and_drops_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hip3term.sim.faults")
    injector = FaultInjector(
        FaultSpec.parse("drop=5s,stall=1s/4s,reject_storm=1s/3s"), random.Random(1), start_ms=0
    )
    injector.should_drop(5_000)
    injector.stalled(4_000)
    injector.reject_storm(3_000)
    records = [r for r in caplog.records if r.name == "hip3term.sim.faults"]
    text = "\n".join(r.getMessage() for r in records)
    assert "fault injection on: drop=5s,stall=1s/4s,reject_storm=1s/3s" in text
    assert "dropping the connection" in text
    assert "stalling all frames for 1000 ms" in text
    assert "reject storm" in text


# --- per-frame and per-post faults -------------------------------------------------------


def test_fixed_delay_is_exact() -> None:
    injector = FaultInjector(FaultSpec.parse("delay=50ms"), random.Random(3), start_ms=0)
    assert {injector.delay_s() for _ in range(100)} == {0.05}
    assert injector.counters["delay"] == 100


def test_jittered_delay_stays_in_range_and_averages_the_base() -> None:
    injector = FaultInjector(FaultSpec.parse("delay=50ms+-20ms"), random.Random(3), start_ms=0)
    delays = [injector.delay_s() for _ in range(10_000)]
    assert all(0.030 <= d <= 0.070 for d in delays)
    assert min(delays) < 0.032 and max(delays) > 0.068  # the jitter really spreads
    assert abs(sum(delays) / len(delays) - 0.050) < 0.001  # ~9 standard errors


def test_dup_rate_is_respected() -> None:
    injector = FaultInjector(FaultSpec.parse("dup=0.1"), random.Random(11), start_ms=0)
    outs = [injector.outgoing(BOOK) for _ in range(20_000)]
    doubled = sum(out == [BOOK, BOOK] for out in outs)
    assert all(out in ([BOOK], [BOOK, BOOK]) for out in outs)
    assert 1_700 < doubled < 2_300  # expected 2000, sd 42
    assert injector.counters["dup"] == doubled


def test_malformed_frames_are_broken_valid_utf8_and_of_every_kind() -> None:
    injector = FaultInjector(FaultSpec.parse("malformed=0.25"), random.Random(5), start_ms=0)
    broken = 0
    for _ in range(1_000):
        for frame in FRAMES:
            out = injector.outgoing(frame)
            assert len(out) == 1
            if out == [frame]:
                continue
            broken += 1
            bad = out[0]
            bad.decode("utf-8")  # can go out as a text message
            try:
                parsed = json.loads(bad)
            except ValueError:
                continue
            assert frame != GREETING
            assert parsed != json.loads(frame)
    counts = injector.counters
    assert counts["malformed"] == broken
    assert 1_300 < broken < 1_700  # 6000 frames at 0.25: expected 1500, sd 34
    kinds = [counts[f"malformed.{k}"] for k in ("truncated", "wrong_type", "missing_key")]
    kinds.append(counts["malformed.garbage"])
    assert sum(kinds) == broken
    assert all(k > 50 for k in kinds)


def test_a_non_json_frame_is_only_truncated_or_garbled() -> None:
    injector = FaultInjector(FaultSpec.parse("malformed=1"), random.Random(9), start_ms=0)
    for _ in range(500):
        (bad,) = injector.outgoing(GREETING)
        assert bad != GREETING
        with pytest.raises(ValueError):
            json.loads(bad)
    assert injector.counters["malformed.wrong_type"] == 0
    assert injector.counters["malformed.missing_key"] == 0


def test_unanswered_rate_is_respected() -> None:
    injector = FaultInjector(FaultSpec.parse("unanswered=5%"), random.Random(13), start_ms=0)
    unanswered = sum(injector.leave_unanswered() for _ in range(20_000))
    assert 800 < unanswered < 1_200  # expected 1000, sd 31
    assert injector.counters["unanswered"] == unanswered


def test_counters_are_read_only() -> None:
    injector = FaultInjector(FaultSpec.parse("dup=0.5"), random.Random(1), start_ms=0)
    with pytest.raises(TypeError):
        injector.counters["dup"] = 3  # type: ignore[index]


# --- determinism -------------------------------------------------------------------------


def _session(seed: int) -> tuple[list[object], dict[str, int]]:
    spec = FaultSpec.parse(
        "drop=7s,stall=1s/5s,delay=20ms+-10ms,dup=0.05,malformed=0.05,unanswered=0.1,"
        "reject_storm=2s/9s"
    )
    injector = FaultInjector(spec, random.Random(seed), start_ms=1_000)
    trace: list[object] = []
    for step in range(3_000):
        now = 1_000 + step * 13
        frame = FRAMES[step % len(FRAMES)]
        trace.extend(
            [
                injector.should_drop(now),
                injector.stalled(now),
                injector.delay_s(),
                injector.outgoing(frame),
                injector.leave_unanswered(),
                injector.reject_storm(now),
            ]
        )
    return trace, dict(injector.counters)


def test_same_seed_and_calls_give_the_same_faults() -> None:
    assert _session(42) == _session(42)


def test_another_seed_gives_other_faults() -> None:
    assert _session(42)[0] != _session(43)[0]
