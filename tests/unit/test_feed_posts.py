"""The pending-post table and the throttled log (no socket)."""

from __future__ import annotations

import logging

import pytest

from hip3term.feeds import Disconnected, PostRejected, PostTimeout
from hip3term.feeds.health import LogThrottle
from hip3term.feeds.posts import PendingPosts
from hip3term.venue.hyperliquid.wire import PostError, PostInfo


async def test_ids_increase_and_answers_complete_their_post() -> None:
    posts = PendingPosts()
    (first, answer1), (second, answer2) = posts.open(), posts.open()
    assert (first, second) == (1, 2)
    assert posts.resolve(PostInfo(second, "meta", {"universe": []}))
    assert answer2.result() == PostInfo(2, "meta", {"universe": []})
    assert not answer1.done()
    assert len(posts) == 2  # the caller discards once it has read the answer
    posts.discard(second)
    assert len(posts) == 1


async def test_answer_for_no_pending_post_is_counted_late() -> None:
    posts = PendingPosts()
    post_id, _ = posts.open()
    posts.discard(post_id)  # e.g. timed out
    assert not posts.resolve(PostError(post_id, "too late"))
    assert not posts.resolve(PostError(99, "unknown id"))
    assert posts.late_answers == 2


async def test_fail_all_reports_whether_each_post_was_written() -> None:
    posts = PendingPosts()
    written, answer_written = posts.open()
    unwritten, answer_unwritten = posts.open()
    posts.mark_sent(written)
    assert posts.fail_all("closed (1006)") == 2
    with pytest.raises(Disconnected, match=r"post 1 \(sent\) lost: closed \(1006\)") as sent:
        answer_written.result()
    assert sent.value.sent
    with pytest.raises(Disconnected) as not_sent:
        answer_unwritten.result()
    assert not not_sent.value.sent
    assert not_sent.value.post_id == unwritten


async def test_fail_one_post() -> None:
    posts = PendingPosts()
    post_id, answer = posts.open()
    assert posts.fail(post_id, PostRejected(post_id, "too many pending post requests id=1"))
    with pytest.raises(PostRejected):
        answer.result()
    assert not posts.fail(post_id, PostRejected(post_id, "again"))  # already done


def test_post_timeout_message_says_if_it_was_sent() -> None:
    assert str(PostTimeout(7, 5.0, True)) == "post 7 (sent) got no answer within 5 s"
    assert not PostTimeout(7, 0.5, False).sent


def test_log_throttle_holds_back_repeats_and_counts_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    throttle = LogThrottle(logging.getLogger("test.throttle"), every_ns=10)
    with caplog.at_level(logging.WARNING, logger="test.throttle"):
        assert throttle.log(0, "k", logging.WARNING, "bad %s", "frame")
        assert not throttle.log(5, "k", logging.WARNING, "bad %s", "frame")
        assert not throttle.log(9, "k", logging.WARNING, "bad %s", "frame")
        assert throttle.log(3, "other", logging.WARNING, "other key")
        assert throttle.log(10, "k", logging.WARNING, "bad %s", "frame")
    assert [r.getMessage() for r in caplog.records] == [
        "bad frame", "other key", "bad frame (2 similar held back)"]
