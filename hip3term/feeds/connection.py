"""Opening and closing the websocket, and naming why a connection ended."""

from __future__ import annotations

import asyncio
from typing import Literal
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidURI

from hip3term.feeds.posts import FeedError
from hip3term.feeds.settings import FeedClientSettings

__all__ = ["close_connection", "describe", "open_connection"]


async def open_connection(url: str, settings: FeedClientSettings) -> ClientConnection:
    """Open a websocket to `url`: no protocol-level pings (the feed pings the exchange's
    way), no compression, the system proxy for remote hosts only.

    Raises:
        FeedError: `url` is not a websocket URL (retrying cannot help).
        Exception: anything else the opening raises (refused, DNS, handshake, timeout).
    """
    try:
        return await connect(
            url, open_timeout=settings.open_timeout_s, ping_interval=None,
            close_timeout=settings.close_timeout_s, compression=None,
            max_size=settings.max_frame_bytes, proxy=_proxy_for(url))
    except InvalidURI as exc:
        raise FeedError(f"not a websocket URL: {url!r} ({exc})") from exc


async def close_connection(ws: ClientConnection, timeout_s: float) -> None:
    """Close cleanly within `timeout_s`, else drop the connection. Never raises, except
    `CancelledError` (the socket is aborted first)."""
    try:
        async with asyncio.timeout(timeout_s):
            await ws.close()
    except Exception:  # a close that fails or hangs: the abort below drops it
        pass
    finally:
        ws.transport.abort()  # a no-op once closed


def describe(exc: BaseException) -> str:
    """A short reason for a failed or closed connection, e.g. "closed (1006)"."""
    if isinstance(exc, ConnectionClosed):
        frame = exc.rcvd or exc.sent
        if frame is None:
            return "connection lost (no close frame)"
        return f"closed ({frame.code}{': ' + frame.reason if frame.reason else ''})"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _proxy_for(url: str) -> Literal[True] | None:
    # The system proxy is honoured for the real venues, never for loopback.
    host = urlsplit(url).hostname or ""
    return None if host in ("localhost", "::1") or host.startswith("127.") else True
