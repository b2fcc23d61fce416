"""A recording session: one feed client whose every frame goes to a recorder.

Used by `hip3term record`; the workstation's own sessions record through the same hooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from hip3term.config import Settings
from hip3term.feeds import FeedClient
from hip3term.feeds.health import FeedReconnecting, FeedStale, HealthEvent
from hip3term.feeds.settings import FeedClientSettings
from hip3term.recording.format import RecordingHeader
from hip3term.recording.recorder import Recorder
from hip3term.runtime.simproc import SimProcess

STATUS_EVERY_S = 5.0


def config_hash(settings: Settings) -> str:
    """A short hash of the effective configuration (secrets are redacted in the dump)."""
    return hashlib.sha256(settings.model_dump_json().encode()).hexdigest()[:16]


async def record_session(
    settings: Settings,
    *,
    seconds: float | None,
    out: Path | None,
    status: Callable[[str], None],
) -> str:
    """Record the configured market until `seconds` pass or SIGINT/SIGTERM arrives.

    Returns a one-paragraph summary (file, frames per channel, reconnects).
    """
    coin = settings.market.name
    url = settings.venue.ws_endpoint
    sim: SimProcess | None = None
    if url is None:
        sim = await SimProcess.start([coin], seed=settings.sim.seed, faults=settings.sim.faults,
                                     shocks_per_hour=settings.sim.shocks_per_hour)
        url = sim.url
    try:
        return await _record(settings, coin, url, seconds, out, status)
    finally:
        if sim is not None:
            await sim.aclose()


async def _record(
    settings: Settings, coin: str, url: str, seconds: float | None, out: Path | None,
    status: Callable[[str], None],
) -> str:
    directory = out.parent if out is not None and out.suffix == ".h3rec" else out
    header = RecordingHeader(
        market=coin, dex=settings.market.dex, venue=settings.venue.name, ws_url=url,
        config_hash=config_hash(settings), extra={"command": "record"},
    )
    recorder = Recorder.open(directory or settings.paths.recordings_dir, header)
    if out is not None and out.suffix == ".h3rec":
        os.rename(recorder.path, out)  # before any record: the fd keeps writing the file
        recorder.path = out
    counts: Counter[str] = Counter()

    def on_raw(raw: bytes | str, channel: str | None, exch_ms: int | None) -> None:
        counts[channel or "(none)"] += 1
        recorder.frame_in(raw, channel, exch_ms)

    def on_health(event: HealthEvent) -> None:
        if isinstance(event, FeedReconnecting | FeedStale):
            status(f"feed: {event}")
        recorder.mark(type(event).__name__, {"event": str(event)})

    client = FeedClient(
        url, coin, settings=FeedClientSettings.from_settings(settings.feeds),
        on_raw=on_raw, on_health=on_health, on_post_sent=recorder.post_out,
        on_control_sent=recorder.post_out,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    status(f"recording {coin} from {url} to {recorder.path}")
    started = loop.time()
    try:
        client.start()
        deadline = None if seconds is None else started + seconds
        while not stop.is_set():
            wait = STATUS_EVERY_S if deadline is None else min(STATUS_EVERY_S,
                                                               deadline - loop.time())
            if wait <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
            status(_status_line(counts, client.health().reconnects, loop.time() - started))
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await client.aclose()
        health = await recorder.aclose()
    frames = ", ".join(f"{ch} {n}" for ch, n in sorted(counts.items()))
    problems = "" if health.ok else f"; recorder problems: {health.last_error or ''} " \
        f"dropped {health.dropped}"
    return (f"recorded {sum(counts.values())} frames ({frames}) in "
            f"{loop.time() - started:.1f} s to {recorder.path}{problems}")


def _status_line(counts: Counter[str], reconnects: int, elapsed: float) -> str:
    total = sum(counts.values())
    return f"{elapsed:7.1f} s  frames {total}  reconnects {reconnects}"
