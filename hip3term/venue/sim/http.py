"""`POST /info` and `POST /exchange` on the simulator's port, next to the websocket.

Clients written for Hyperliquid often query and trade over HTTP and use the websocket for
subscriptions only (the official Python and Rust SDKs derive `ws://HOST:PORT/ws` from the
`http://HOST:PORT` base URL). So the simulator answers both on one port: a connection
whose first bytes are `POST ` is served as HTTP/1.1, anything else goes to the websocket
handshake.

HTTP answers follow the exchange: `/info` returns the info data itself (the `data` of a
websocket info post), `/exchange` the action response (`{"status": "ok"|"err", …}`);
a body that does not deserialize gets status 422 with the error text. One request per
connection (the response says `Connection: close`); no chunked bodies; bodies up to
1 MiB. Faults and the pending-post limit apply to the websocket only. Frames that an
action causes (orderUpdates, fills, trades) still go to the websocket subscribers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from websockets.asyncio.server import ServerConnection

if TYPE_CHECKING:
    from hip3term.venue.sim.exchange import SimExchange
    from hip3term.venue.sim.pushes import Push

__all__ = [
    "HttpAnswer",
    "HttpAwareConnection",
    "HttpHandler",
    "answer_http",
    "connection_class",
]

MAX_BODY = 1 << 20
HttpAnswer = tuple[int, bytes, str]
"""(status, body, content type)."""
HttpHandler = Callable[[str, Any], HttpAnswer]
"""Answers `(path, decoded JSON body)`."""

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 413: "Payload Too Large",
            422: "Unprocessable Entity"}  # fmt: skip


class HttpAwareConnection(ServerConnection):
    """A websockets server connection that serves `POST` requests itself.

    Subclasses set `http_handler`; see `SimServer.start`.
    """

    http_handler: HttpHandler | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._mode: str | None = None  # None until the first bytes: "http" or "ws"
        self._buffer = b""

    def data_received(self, data: bytes) -> None:
        """Route the first bytes: HTTP `POST` here, anything else to websockets."""
        if self._mode is None:
            self._buffer += data
            if len(self._buffer) < 5 and b"POST ".startswith(self._buffer):
                return  # not enough to tell yet
            self._mode = "http" if self._buffer.startswith(b"POST ") else "ws"
            data, self._buffer = self._buffer, b""
        if self._mode == "ws":
            super().data_received(data)
            return
        if self._mode == "done":
            return  # one request per connection
        self._buffer += data
        self._try_answer()

    def eof_received(self) -> None:
        """An HTTP client that half-closes gets the connection closed."""
        if self._mode in ("http", "done"):
            if self.transport is not None:
                self.transport.close()
            return
        super().eof_received()

    def _try_answer(self) -> None:
        head, sep, body = self._buffer.partition(b"\r\n\r\n")
        if not sep:
            if len(self._buffer) > MAX_BODY:
                self._reply(413, b"request headers too large\n", "text/plain")
            return
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:])
        }
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            length = -1
        if len(parts) != 3 or length < 0 or "chunked" in headers.get("transfer-encoding", ""):
            self._reply(400, b"a POST with a Content-Length is expected\n", "text/plain")
            return
        if length > MAX_BODY:
            self._reply(413, b"body too large\n", "text/plain")
            return
        if len(body) < length:
            return  # wait for the rest of the body
        self._reply(*self._answer(parts[1], body[:length]))

    def _answer(self, path: str, body: bytes) -> HttpAnswer:
        handler = type(self).http_handler
        if handler is None or path.split("?", 1)[0] not in ("/info", "/exchange"):
            return 404, b"Not Found\n", "text/plain"
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return 400, b"Failed to parse the request body as JSON\n", "text/plain"
        return handler(path.split("?", 1)[0], payload)

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self._mode = "done"
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        )
        transport = self.transport
        if isinstance(transport, asyncio.Transport):
            transport.write(head.encode("latin-1") + body)
            transport.close()


def connection_class(handler: HttpHandler) -> type[HttpAwareConnection]:
    """A connection class for `websockets.serve` whose HTTP requests go to `handler`."""

    class _Connection(HttpAwareConnection):
        pass

    _Connection.http_handler = handler
    return _Connection


def answer_http(exchange: SimExchange, path: str, payload: Any) -> tuple[HttpAnswer, list[Push]]:
    """The HTTP answer to `POST path` with a decoded JSON body, and the frames it caused."""
    pushes: list[Push] = []
    if not isinstance(payload, dict):
        return (422, b"Failed to deserialize the JSON body into the target type\n",
                "text/plain"), pushes  # fmt: skip
    if path == "/info":
        response = exchange.info_response(payload)
    else:
        response, pushes = exchange.action_response(payload)
    if response["type"] == "error":
        return (422, str(response["payload"]).encode() + b"\n", "text/plain"), pushes
    body = response["payload"]["data"] if path == "/info" else response["payload"]
    return (200, orjson.dumps(body), "application/json"), pushes
