"""Posts multiplexed on the feed's websocket: their errors and the table of pending ones.

FeedError
├── NotConnected       no socket: nothing was sent
└── PostFailed         a post did not get a usable answer (`post_id`, `sent`)
    ├── PostTimeout    no answer in time; if `sent`, the outcome is unknown (resolve
    │                  an order by its cloid before resending anything)
    ├── Disconnected   the connection dropped (or the client closed) while it was pending;
    │                  if `sent`, the outcome is unknown as for a timeout
    ├── PostRejected   the server refused it unprocessed ("too many pending post
    │                  requests id=N", or an `error` answer to an info post)
    └── PostUnreadable the answer could not be parsed; the outcome is unknown

`sent` tells whether the socket write had succeeded before the failure: a post never
written can be retried safely, one written may have executed.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from hip3term.errors import Hip3Error
from hip3term.venue.hyperliquid.wire import PostResponse

__all__ = [
    "Disconnected",
    "FeedError",
    "NotConnected",
    "PendingPosts",
    "PostFailed",
    "PostRejected",
    "PostTimeout",
    "PostUnreadable",
]


class FeedError(Hip3Error):
    """A failure of the feed connection or of a request made over it."""

    title = "feed error"


class NotConnected(FeedError):  # noqa: N818  # reason: name fixed by the executor API
    """The feed has no open connection; nothing was sent."""

    title = "not connected"


class PostFailed(FeedError):  # noqa: N818  # reason: name fixed by the executor API
    """A post got no usable answer.

    Attributes:
        post_id: the post's request id.
        sent: whether the socket write had succeeded (if so the outcome is unknown,
            except for `PostRejected`, which the server did not process).
    """

    title = "post failed"

    def __init__(self, message: str, post_id: int, sent: bool) -> None:
        super().__init__(message)
        self.post_id = post_id
        self.sent = sent


class PostTimeout(PostFailed):
    """No answer within the timeout.

    Attributes:
        timeout_s: the timeout that expired.
    """

    title = "post timeout"

    def __init__(self, post_id: int, timeout_s: float, sent: bool) -> None:
        state = "sent" if sent else "not sent"
        super().__init__(f"post {post_id} ({state}) got no answer within {timeout_s:g} s",
                         post_id, sent)
        self.timeout_s = timeout_s


class Disconnected(PostFailed):
    """The connection dropped while the post was pending (or before it was written)."""

    title = "disconnected"

    def __init__(self, post_id: int, sent: bool, reason: str) -> None:
        state = "sent" if sent else "not sent"
        super().__init__(f"post {post_id} ({state}) lost: {reason}", post_id, sent)
        self.reason = reason


class PostRejected(PostFailed):
    """The server refused the post without processing it.

    Attributes:
        text: the server's text.
    """

    title = "post rejected"

    def __init__(self, post_id: int, text: str) -> None:
        super().__init__(f"post {post_id} rejected: {text}", post_id, True)
        self.text = text


class PostUnreadable(PostFailed):
    """The answer to the post could not be read (its outcome is unknown).

    Attributes:
        detail: what was wrong with the answer.
    """

    title = "post answer unreadable"

    def __init__(self, post_id: int, detail: str) -> None:
        super().__init__(f"answer to post {post_id} unreadable: {detail}", post_id, True)
        self.detail = detail


class PendingPosts:
    """Posts waiting for their answer, by request id (ids increase from 1, never reused).

    Owned by one event loop; not thread-safe.
    """

    __slots__ = ("_ids", "_pending", "_sent", "late_answers")

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[PostResponse]] = {}
        self._sent: set[int] = set()
        self.late_answers = 0
        """Answers that came for no pending post (after a timeout, or unknown ids)."""

    def __len__(self) -> int:
        return len(self._pending)

    def open(self) -> tuple[int, asyncio.Future[PostResponse]]:
        """Register a new post: its id and the future its answer will complete."""
        post_id = next(self._ids)
        future: asyncio.Future[PostResponse] = asyncio.get_running_loop().create_future()
        self._pending[post_id] = future
        return post_id, future

    def mark_sent(self, post_id: int) -> None:
        """Note that the post's socket write succeeded."""
        if post_id in self._pending:
            self._sent.add(post_id)

    def discard(self, post_id: int) -> None:
        """Forget a post (answered, timed out or failed)."""
        self._pending.pop(post_id, None)
        self._sent.discard(post_id)

    def resolve(self, answer: PostResponse) -> bool:
        """Complete the post the answer belongs to; False when no post waits for it."""
        future = self._pending.get(answer.id)
        if future is None or future.done():
            self.late_answers += 1
            return False
        future.set_result(answer)
        return True

    def fail(self, post_id: int, error: PostFailed) -> bool:
        """Fail one pending post; False when no post waits under that id."""
        future = self._pending.get(post_id)
        if future is None or future.done():
            self.late_answers += 1
            return False
        future.set_exception(error)
        return True

    # reason for the noqa: a per-request timeout is this API's contract
    async def send(
        self, ws: ClientConnection, request: Mapping[str, Any],
        timeout: float,  # noqa: ASYNC109
        written: Callable[[bytes], None], on_sent: Callable[[int], None] | None,
    ) -> PostResponse:
        """Send `{"method":"post","id":N,"request":request}` on `ws` and wait for its answer.

        `written(raw)` and then `on_sent(post_id)` are called right after the socket
        write succeeds. See `FeedClient.post` for the errors raised.
        """
        post_id, answer = self.open()
        sent = False
        try:
            raw = orjson.dumps({"method": "post", "id": post_id, "request": request})
            async with asyncio.timeout(timeout):
                try:
                    await ws.send(raw, text=True)
                except ConnectionClosed as exc:
                    raise Disconnected(post_id, False, "connection closed") from exc
                sent = True
                self.mark_sent(post_id)
                written(raw)
                if on_sent is not None:
                    on_sent(post_id)
                return await answer
        except TimeoutError:
            raise PostTimeout(post_id, timeout, sent) from None
        finally:
            self.discard(post_id)

    def fail_all(self, reason: str) -> int:
        """Fail every pending post with `Disconnected`; returns how many."""
        failed = 0
        for post_id, future in list(self._pending.items()):
            if not future.done():
                future.set_exception(Disconnected(post_id, post_id in self._sent, reason))
                failed += 1
        return failed
