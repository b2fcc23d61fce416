"""Watchdog decisions (pings, pongs, staleness, unacknowledged subscriptions) on given times."""

from __future__ import annotations

import pytest

from hip3term.feeds.subscriptions import SubscriptionSet, already_subscribed
from hip3term.feeds.watchdog import MAX_ACK_RESENDS, Watchdog

S = 1_000_000_000


def no_frames(channel: str) -> int | None:
    return None


def test_ping_due_every_interval_from_connection_start() -> None:
    dog = Watchdog(30.0, 10.0)
    dog.start(100 * S)
    assert not dog.ping_due(129 * S)
    assert dog.ping_due(130 * S)
    assert not dog.ping_due(131 * S)
    assert dog.ping_due(160 * S)


def test_pong_gives_round_trip_of_oldest_ping() -> None:
    dog = Watchdog(1.0, 10.0)
    dog.start(0)
    assert dog.ping_due(S)
    assert dog.ping_due(2 * S)
    assert dog.on_pong(2 * S + 5_000_000) == S + 5_000_000
    assert dog.on_pong(2 * S + 6_000_000) == 6_000_000
    assert dog.on_pong(3 * S) is None  # no ping outstanding


def test_missing_pong_ends_connection_after_timeout() -> None:
    dog = Watchdog(30.0, 10.0)
    dog.start(0)
    dog.ping_due(30 * S)
    assert dog.check(40 * S, no_frames) is None
    problem = dog.check(40 * S + 1, no_frames)
    assert problem is not None
    assert problem.reason == "no pong within 10 s"
    assert problem.stale is None


def test_answered_ping_keeps_connection() -> None:
    dog = Watchdog(30.0, 10.0)
    dog.start(0)
    dog.ping_due(30 * S)
    dog.on_pong(31 * S)
    assert dog.check(50 * S, no_frames) is None


def test_channel_stale_after_threshold_since_last_frame() -> None:
    dog = Watchdog(30.0, 10.0, [("l2Book", 20.0), ("bbo", 5.0)])
    dog.start(0)
    last = {"l2Book": 10 * S, "bbo": 12 * S}
    assert dog.check(17 * S, last.get) is None
    problem = dog.check(17 * S + 1, last.get)
    assert problem is not None
    assert problem.stale is not None
    assert problem.stale.channel == "bbo"
    assert problem.stale.threshold_s == 5.0
    assert problem.stale.age_s == pytest.approx(5.0, abs=1e-6)
    assert problem.reason == "bbo stale (5.0 s without a frame)"


def test_stale_age_counts_from_connection_start_when_no_frame() -> None:
    dog = Watchdog(30.0, 10.0, [("l2Book", 20.0)])
    dog.start(100 * S)
    old = {"l2Book": 1 * S}  # a frame of the previous connection
    assert dog.check(120 * S, old.get) is None
    assert dog.check(120 * S + 1, old.get) is not None


def test_duplicate_channel_keeps_smallest_threshold() -> None:
    dog = Watchdog(30.0, 10.0, [("l2Book", 20.0), ("l2Book", 8.0)])
    assert dog.threshold_s("l2Book") == 8.0
    assert dog.threshold_s("trades") is None


def test_tick_is_a_quarter_of_the_shortest_limit_within_bounds() -> None:
    assert Watchdog(30.0, 10.0, [("bbo", 2.0)]).tick_s == 0.5
    assert Watchdog(30.0, 10.0, ack_timeout_s=5.0).tick_s == 1.0
    assert Watchdog(0.01, 0.01).tick_s == 0.01


def test_unacknowledged_subscriptions_resent_then_connection_renewed() -> None:
    dog = Watchdog(30.0, 100.0, ack_timeout_s=5.0)
    dog.start(0)
    assert not dog.resend_acks(5 * S, all_acknowledged=False)
    assert dog.resend_acks(5 * S + 1, all_acknowledged=False)
    assert not dog.resend_acks(6 * S, all_acknowledged=False)
    times = [5 * S + 1]
    for _ in range(MAX_ACK_RESENDS - 1):
        times.append(times[-1] + 5 * S + 1)
        assert dog.resend_acks(times[-1], all_acknowledged=False)
    last = times[-1]
    assert not dog.resend_acks(last + 10 * S, all_acknowledged=False)
    assert dog.check(last + 5 * S, no_frames, all_acknowledged=False) is None
    problem = dog.check(last + 5 * S + 1, no_frames, all_acknowledged=False)
    assert problem is not None
    assert "not acknowledged" in problem.reason


def test_acknowledged_subscriptions_never_resent() -> None:
    dog = Watchdog(30.0, 100.0, ack_timeout_s=5.0)
    dog.start(0)
    assert not dog.resend_acks(60 * S, all_acknowledged=True)
    assert dog.check(60 * S, no_frames, all_acknowledged=True) is None


def test_subscription_set_tracks_acks_per_connection() -> None:
    subs = SubscriptionSet([{"type": "l2Book", "coin": "xyz:COIN"},
                            {"type": "userEvents", "user": "0xabc"}])
    assert subs.channels == ("l2Book", "user")
    assert subs.acknowledge({"type": "userEvents", "user": "0xABC"}) is not None
    assert subs.acknowledge({"type": "userEvents", "user": "0xabc"}) is None  # already
    assert subs.subscribed("user")
    assert not subs.all_acknowledged
    assert [s["type"] for s in subs.pending()] == ["l2Book"]
    assert subs.reset() == ["user"]
    assert not subs.subscribed("user")


def test_already_subscribed_text_gives_the_echo() -> None:
    text = ('Already subscribed: {"type":"l2Book","coin":"SOL","nSigFigs":null,'
            '"mantissa":null,"fast":false}')  # the real error text
    assert already_subscribed(text) == {"type": "l2Book", "coin": "SOL", "nSigFigs": None,
                                        "mantissa": None, "fast": False}
    assert already_subscribed('Already unsubscribed: {"type":"trades"}') is None
    assert already_subscribed("Already subscribed: not json") is None
