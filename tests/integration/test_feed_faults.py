"""FeedClient against the simulator with faults: it survives every one without a restart.

Short thresholds (ping 0.2 s, stale 0.5 s, backoff up to 0.2 s) keep the suite fast;
assertions wait on conditions with generous timeouts, never on exact timing.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace

import pytest

from hip3term.feeds import (
    Disconnected,
    FeedDisconnected,
    FeedReconnecting,
    FeedStale,
    FeedSubscribed,
    PostRejected,
    PostTimeout,
)
from hip3term.venue.hyperliquid.wire import Bbo, L2Book, Trades, UserFills
from tests.integration.test_feed_client import (
    ACCOUNT_KEY,
    FAST,
    WAIT_S,
    Consumer,
    ServerFactory,
    eventually,
    live_server,
)

__all__ = ["live_server"]  # the fixture, imported to be used here


def _features_valid(consumer: Consumer) -> bool:
    return consumer.state.features(consumer.clock.monotonic_ns()).mid.valid


async def test_reconnects_and_resubscribes_after_drops(live_server: ServerFactory) -> None:
    server = await live_server(faults="drop=700ms")
    consumer = Consumer()
    async with consumer.client(server.url, user=ACCOUNT_KEY.address) as client:
        await eventually(lambda: client.health().connections >= 3)
        await client.wait_ready(WAIT_S)
        await eventually(lambda: _features_valid(consumer))
        health = client.health()
    subscribed = consumer.health_of_type(FeedSubscribed)
    # every subscription acknowledged again on every connection that got ready
    assert len(subscribed) >= 2 * len(client.subscriptions)
    assert len(consumer.health_of_type(FeedReconnecting)) >= 2
    assert all(e.delay_s <= FAST.backoff_max_s for e in consumer.health_of_type(
        FeedReconnecting))
    assert health.reconnects >= 2
    # a connection lost while subscribed is a gap of each subscribed channel
    assert health.channels["l2Book"].gaps >= 1
    # the userFills snapshot came again after the resubscribe (dedupe keeps it)
    assert sum(1 for e in consumer.of_type(UserFills) if e.is_snapshot) >= 2


@pytest.mark.parametrize(("healthy_reset_s", "growing"), [(0.2, False), (60.0, True)])
async def test_backoff_resets_only_after_a_healthy_connection(
    live_server: ServerFactory, healthy_reset_s: float, growing: bool
) -> None:
    server = await live_server(faults="drop=600ms")
    consumer = Consumer()
    settings = replace(FAST, healthy_reset_s=healthy_reset_s)
    async with consumer.client(server.url, settings=settings):
        await eventually(lambda: len(consumer.health_of_type(FeedReconnecting)) >= 3)
    attempts = [e.attempt for e in consumer.health_of_type(FeedReconnecting)][:3]
    # each connection lasts about 0.6 s: longer than 0.2 s (reset), shorter than 60 s
    assert attempts == ([1, 2, 3] if growing else [1, 1, 1])


async def test_stall_is_detected_as_stale_and_recovered(live_server: ServerFactory) -> None:
    server = await live_server(faults="stall=1500ms/2s")
    consumer = Consumer()
    settings = replace(FAST, pong_timeout_s=5.0, stale_after_s={"l2Book": 0.5, "bbo": 0.0})
    async with consumer.client(server.url, settings=settings) as client:
        await eventually(lambda: bool(consumer.health_of_type(FeedStale)))
        await eventually(lambda: client.health().connections >= 2)
        await client.wait_ready(WAIT_S)
        await eventually(lambda: _features_valid(consumer))
        health = client.health()
    stale = consumer.health_of_type(FeedStale)[0]
    assert stale.channel == "l2Book"
    assert stale.age_s > 0.5
    assert stale.threshold_s == 0.5
    assert any("l2Book stale" in e.reason for e in consumer.health_of_type(FeedDisconnected))
    assert health.channels["l2Book"].gaps >= 1
    assert health.channels["l2Book"].stale_after_s == 0.5
    assert health.channels["bbo"].stale_after_s is None


async def test_missing_pong_ends_the_connection(live_server: ServerFactory) -> None:
    server = await live_server(faults="stall=1500ms/2s")
    consumer = Consumer()
    settings = replace(FAST, ping_interval_s=0.1, pong_timeout_s=0.4)
    async with consumer.client(server.url, settings=settings) as client:
        await eventually(lambda: any("no pong within 0.4 s" in e.reason for e in
                                     consumer.health_of_type(FeedDisconnected)))
        await client.wait_ready(WAIT_S)
    assert not consumer.health_of_type(FeedStale)  # no channel has a threshold here


async def test_malformed_and_duplicated_frames_are_counted_and_survived(
    live_server: ServerFactory,
) -> None:
    server = await live_server(faults="dup=0.3,malformed=0.2")
    consumer = Consumer()
    async with consumer.client(server.url) as client:
        await client.wait_ready(WAIT_S)
        await eventually(lambda: client.health().total("duplicates") >= 3
                         and client.health().total("malformed") >= 3)
        await eventually(lambda: _features_valid(consumer))
        health = client.health()
        injected = server.fault_counters()
    assert health.connected
    assert health.connections == 1
    assert injected["dup"] >= 1
    assert injected["malformed"] >= 1
    kinds = {kind for ch in health.channels.values() for kind in ch.malformed}
    assert kinds  # by ParseErrorKind value, e.g. "not_json", "bad_type"
    # no l2Book or bbo frame was delivered twice in a row
    for kind in (L2Book, Bbo):
        delivered = consumer.of_type(kind)
        pairs = itertools.pairwise(delivered)
        assert not any(a == b for a, b in pairs), kind
    tids = [t.tid for e in consumer.of_type(Trades) for t in e.trades]
    assert len(tids) == len(set(tids))


async def test_unanswered_posts_time_out_and_do_not_leak(live_server: ServerFactory) -> None:
    server = await live_server(faults="unanswered=1.0")
    async with Consumer().client(server.url) as client:
        await client.wait_ready(WAIT_S)
        for _ in range(3):
            with pytest.raises(PostTimeout) as caught:
                await client.post_info({"type": "meta", "dex": "xyz"}, timeout=0.2)
            assert caught.value.sent
        assert client.health().pending_posts == 0
        assert client.connected


async def test_some_posts_answered_others_time_out(live_server: ServerFactory) -> None:
    server = await live_server(faults="unanswered=0.5", seed=11)
    async with Consumer().client(server.url) as client:
        await client.wait_ready(WAIT_S)
        outcomes = await asyncio.gather(
            *(client.post_info({"type": "meta", "dex": "xyz"}, timeout=1.0) for _ in range(12)),
            return_exceptions=True)
        assert client.health().pending_posts == 0
    timeouts = [o for o in outcomes if isinstance(o, PostTimeout)]
    answers = [o for o in outcomes if not isinstance(o, BaseException)]
    assert timeouts
    assert answers
    assert len(timeouts) + len(answers) == 12


async def test_pending_posts_fail_with_disconnected_on_a_drop(
    live_server: ServerFactory,
) -> None:
    server = await live_server(faults="unanswered=1.0,drop=800ms")
    async with Consumer().client(server.url) as client:
        await client.wait_ready(WAIT_S)
        with pytest.raises(Disconnected) as caught:
            await client.post_info({"type": "meta", "dex": "xyz"}, timeout=WAIT_S)
        assert caught.value.sent
        assert client.health().pending_posts == 0
        await client.wait_ready(WAIT_S)  # and the feed came back


async def test_too_many_pending_posts_fails_the_matching_post(
    live_server: ServerFactory,
) -> None:
    server = await live_server(faults="unanswered=1.0", max_pending_posts=2,
                               unanswered_hold_s=30.0)
    async with Consumer().client(server.url) as client:
        await client.wait_ready(WAIT_S)
        held = [asyncio.create_task(client.post_info({"type": "meta"}, timeout=WAIT_S))
                for _ in range(2)]
        await eventually(lambda: client.health().pending_posts == 2)
        with pytest.raises(PostRejected, match="too many pending post requests") as caught:
            await client.post_info({"type": "meta"}, timeout=WAIT_S)
        assert caught.value.post_id == 3
        for task in held:
            task.cancel()
        await asyncio.gather(*held, return_exceptions=True)
        assert client.health().pending_posts == 0


async def test_aclose_fails_pending_posts(live_server: ServerFactory) -> None:
    server = await live_server(faults="unanswered=1.0")
    client = Consumer().client(server.url)
    client.start()
    await client.wait_ready(WAIT_S)
    pending = asyncio.create_task(client.post_info({"type": "meta"}, timeout=WAIT_S))
    await eventually(lambda: client.health().pending_posts == 1)
    await client.aclose()
    with pytest.raises(Disconnected):
        await pending
    assert client.health().pending_posts == 0
