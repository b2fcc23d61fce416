"""Reconnect backoff (exponential, capped, jittered, reset) and the feed settings."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hip3term.config import FeedSettings
from hip3term.feeds import Backoff, FeedClientSettings


def test_ceilings_double_then_cap() -> None:
    backoff = Backoff(0.5, 30.0, jitter=0.0)
    delays = [backoff.next_delay() for _ in range(9)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert backoff.attempts == 9


def test_reset_starts_again_from_initial() -> None:
    backoff = Backoff(0.5, 30.0, jitter=0.0)
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()
    assert backoff.attempts == 0
    assert backoff.next_delay() == 0.5


def test_full_jitter_spreads_delays_over_zero_to_ceiling() -> None:
    backoff = Backoff(1.0, 30.0, jitter=1.0, rng=random.Random(7))
    samples = []
    for _ in range(400):
        backoff.reset()
        for _ in range(3):
            backoff.next_delay()
        samples.append(backoff.next_delay())  # the 4th delay: ceiling 8
    assert all(0.0 <= d <= 8.0 for d in samples)
    assert min(samples) < 1.0
    assert max(samples) > 7.0


def test_partial_jitter_keeps_delays_near_ceiling() -> None:
    backoff = Backoff(10.0, 10.0, jitter=0.2, rng=random.Random(3))
    samples = [backoff.next_delay() for _ in range(200)]
    assert all(8.0 <= d <= 10.0 for d in samples)
    assert len(set(samples)) > 100


def test_many_attempts_do_not_overflow() -> None:
    backoff = Backoff(0.5, 30.0, jitter=0.0)
    backoff.attempts = 10_000
    assert backoff.next_delay() == 30.0


@pytest.mark.parametrize(
    ("initial", "maximum", "jitter"),
    [(0.0, 1.0, 1.0), (-1.0, 1.0, 1.0), (2.0, 1.0, 1.0), (1.0, math.inf, 1.0),
     (1.0, 2.0, 1.5), (1.0, 2.0, -0.1), (math.nan, 2.0, 0.5)],
)
def test_bad_parameters_are_refused(initial: float, maximum: float, jitter: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        Backoff(initial, maximum, jitter)


@given(
    initial=st.floats(min_value=0.001, max_value=10.0),
    extra=st.floats(min_value=0.0, max_value=100.0),
    jitter=st.floats(min_value=0.0, max_value=1.0),
    attempts=st.integers(min_value=0, max_value=200),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_every_delay_is_within_jitter_band_and_cap(
    initial: float, extra: float, jitter: float, attempts: int, seed: int
) -> None:
    backoff = Backoff(initial, initial + extra, jitter, random.Random(seed))
    backoff.attempts = attempts
    ceiling = min(initial + extra, initial * 2.0 ** min(attempts, 60))
    delay = backoff.next_delay()
    assert ceiling * (1.0 - jitter) - 1e-9 <= delay <= ceiling + 1e-9
    assert delay <= initial + extra + 1e-9


def test_client_settings_from_config_section() -> None:
    feeds = FeedSettings()
    settings = FeedClientSettings.from_settings(feeds, open_timeout_s=3.0)
    assert settings.ping_interval_s == feeds.ping_interval_s
    assert settings.pong_timeout_s == feeds.pong_timeout_s
    assert settings.backoff_max_s == feeds.backoff_max_s
    assert settings.backoff_jitter == feeds.backoff_jitter
    assert settings.open_timeout_s == 3.0
    # thresholds by subscription type; 0 in the config means "never stale"
    assert settings.stale_after("l2Book") == feeds.stale_after("l2Book")
    assert settings.stale_after("trades") is None
    assert settings.stale_after("candle") is None


@pytest.mark.parametrize(
    "kwargs",
    [{"ping_interval_s": 0.0}, {"pong_timeout_s": -1.0}, {"backoff_jitter": 2.0},
     {"backoff_initial_s": 5.0, "backoff_max_s": 1.0}, {"stale_after_s": {"bbo": -1.0}},
     {"close_timeout_s": math.inf}],
)
def test_client_settings_refuse_bad_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must"):
        FeedClientSettings(**kwargs)  # type: ignore[arg-type]  # reason: bad values on purpose
