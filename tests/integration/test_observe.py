"""Observe mode against the simulator: the strategy runs, its intents become would-be orders
with their expected edge (journaled and in the status), and the simulator receives no
action at all."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from hip3term.recording.format import RecordKind
from hip3term.recording.reader import RecordingReader
from hip3term.runtime.credentials import Credentials
from hip3term.runtime.headless import status_line
from hip3term.runtime.node import TradingNode
from hip3term.strategy.loader import load_strategy
from hip3term.venue.sim.server import SimServer
from tests.integration.runtime_support import (
    ACCOUNT,
    eventually,
    live_sim,
    read_journal,
    running,
    settings_for,
    sim_open_orders,
    sim_position,
)

# Every dislocation through the oracle is a signal, and the touch is through it often.
EAGER = {"threshold_bps": 0, "taker_fee_bps": 0, "size_alpha": 0.5, "cooldown_s": 0.2}


def _count_actions(server: SimServer) -> list[Any]:
    # Keep every action the simulator is asked to execute (and still execute it).
    seen: list[Any] = []
    original: Callable[..., Any] = server.exchange.action_response

    def spy(payload: dict[str, Any], **kwargs: Any) -> Any:
        seen.append(payload)
        return original(payload, **kwargs)

    server.exchange.action_response = spy  # type: ignore[method-assign]  # reason: a spy
    return seen


def _posts_sent(recording: Path) -> list[Any]:
    return [orjson.loads(r.raw) for r in RecordingReader(recording)
            if r.kind == RecordKind.SENT and r.channel == "post"]


async def _observe(tmp_path: Path, account: str | None) -> None:
    async with live_sim() as server:
        actions = _count_actions(server)
        settings = settings_for(tmp_path, server.url, **{"strategy.params": EAGER,
                                                          "venue.observe": True})
        strategy = load_strategy("oracle_dislocation", EAGER)
        node = TradingNode(settings, strategy=strategy, credentials=Credentials(None, account),
                           ws_url=server.url)
        assert node.observe and node.executor is None and node.nonces is None
        async with running(node):
            await eventually(lambda: len(node.snapshot().would_be) >= 3, "would-be orders")
            snap = node.snapshot()
            assert "would-be" in status_line(snap) and snap.mode == "observe"
            assert snap.dead_man == "observe"
            assert all(row.tif == "Ioc" and row.expected_edge_bps is not None
                       for row in snap.would_be)
        assert actions == []
        assert sim_position(server.exchange) == 0 and not sim_open_orders(server.exchange)
    journal = await read_journal(settings.paths.journal)
    try:
        signals = list(await journal.signals(node.session_id))
        orders = list(await journal.orders(node.session_id))
        sessions = [s for s in await journal.sessions() if s.session_id == node.session_id]
    finally:
        await journal.aclose()
    would_be = [s for s in signals if s.decision == "would_be"]
    assert len(would_be) >= 3 and orders == []
    assert all(s.expected_edge_bps is not None and s.price and s.size for s in would_be)
    assert any(s.decision == "observed" for s in signals)  # the strategy's own signal log
    assert sessions[0].mode == "observe" and sessions[0].recording is not None
    posts = _posts_sent(Path(sessions[0].recording))
    assert posts and all(p["request"]["type"] == "info" for p in posts)
    assert not (settings.paths.state_dir / f"nonce-{ACCOUNT.address}.json").exists()


async def test_observe_with_account_sends_no_action(tmp_path: Path) -> None:
    await _observe(tmp_path, ACCOUNT.address)


async def test_observe_without_account_sends_no_action(tmp_path: Path) -> None:
    await _observe(tmp_path, None)
