"""kill -9 and restart: a second `hip3term run --headless` recovers the position and the open
order from the exchange and the held latch from the journal, and never reuses a nonce."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from hip3term.venue.hyperliquid.actions import LimitType, order_action, order_wire
from hip3term.venue.hyperliquid.signing import signed_body
from hip3term.venue.sim.exchange import SimExchange
from tests.integration.runtime_support import (
    ACCOUNT,
    Headless,
    eventually,
    live_sim,
    node_config,
    read_journal,
    sim_open_orders,
    sim_position,
)

_NONCE = re.compile(r"nonce=(\d+)")


def _seed_account(exchange: SimExchange) -> None:
    # A long position of 0.1 and a GTC bid 10 % under the book, made by the account itself.
    book = exchange.info_response({"type": "l2Book", "coin": "xyz:COIN"})["payload"]["data"]
    info = exchange.directory.lookup("xyz:COIN")
    ask, bid = Decimal(book["levels"][1][0]["px"]), Decimal(book["levels"][0][0]["px"])
    orders = [
        order_wire(info.asset_id, True, info.round_price(ask * Decimal("1.01"), is_buy=True,
                   aggressive=True), Decimal("0.1"), False, LimitType("Ioc"), None),
        order_wire(info.asset_id, True, info.round_price(bid * Decimal("0.9"), is_buy=True,
                   aggressive=False), Decimal("0.1"), False, LimitType("Gtc"), None),
    ]
    for nonce, wire in enumerate(orders, start=exchange.now_ms() - 60_000):
        body = signed_body(ACCOUNT, order_action([wire]), nonce, None, None, True)
        answer, _ = exchange.action_response(body)
        assert answer["payload"]["status"] == "ok", answer


async def test_kill_9_and_restart_recovers_and_never_reuses_a_nonce(tmp_path: Path) -> None:
    async with live_sim() as server:
        ex = server.exchange
        _seed_account(ex)
        assert sim_position(ex) == Decimal("0.1") and len(sim_open_orders(ex)) == 1
        # The taker neither enters (1000 bps needed) nor exits early (100 bps): it leaves
        # the position alone; the time stop does too.
        config = node_config(tmp_path, ws_url=server.url, risk="time_stop_s = 3600\n",
                             params="threshold_bps = 1000\nexit_on_close_bps = -100\n")
        first = await Headless.start(tmp_path, config, key=True)
        try:
            await first.line_with("| READY |", "pos +0.100@", "| orders 1 |", "dms refused")
            await first.send("pause before the crash")
            await first.line_with("latch paused (", "before the crash)")
            await _saved_paused(tmp_path / "state" / "journal.sqlite")
        finally:
            first.kill()  # SIGKILL: no shutdown at all
        assert await first.proc.wait() == -9
        assert len(sim_open_orders(ex)) == 1  # nothing canceled it
        second = await Headless.start(tmp_path, config, key=True)
        try:
            line = await second.line_with("| READY |", "| orders 1 |", "dms refused")
            assert "pos +0.100@" in line and "latch paused (" in line
            await second.send("cancel after the restart")
            await second.line_with("ok: cancel")
            await eventually(lambda: not sim_open_orders(ex), "the recovered order canceled")
            await second.send("quit done")
            assert await second.finish() == 0
        finally:
            second.kill()
        assert sim_position(ex) == Decimal("0.1")  # quitting cancels, it does not flatten
    await _check_journal(tmp_path / "state" / "journal.sqlite")


async def _saved_paused(path: Path) -> None:
    # Until the running node's state saver has journaled the paused latch.
    journal = await read_journal(path)
    try:
        for _ in range(100):
            row = await journal.latest_strategy_state("oracle_dislocation")
            if row is not None and row.state["latch"]["state"] == "paused":
                return
            await asyncio.sleep(0.1)
    finally:
        await journal.aclose()
    raise AssertionError("the paused latch was never saved")


async def _check_journal(path: Path) -> None:
    journal = await read_journal(path)
    try:
        sessions = sorted(await journal.sessions(), key=lambda s: s.started_ms)
        assert len(sessions) == 2
        events: list[Any] = []
        risks: list[list[Any]] = []
        for session in sessions:
            events += await journal.order_events(session.session_id)
            risks.append(list(await journal.risk_events(session.session_id)))
    finally:
        await journal.aclose()
    assert sessions[0].ended_ms is None and sessions[1].ended_ms is not None  # killed, quit
    nonces = [int(m.group(1)) for e in events if e.event == "action_posted"
              and (m := _NONCE.search(e.detail or ""))]
    assert len(nonces) >= 3  # dead-man switch twice, the cancel
    assert nonces == sorted(nonces) and len(set(nonces)) == len(nonces)
    first, second = risks
    assert not any(r.kind in ("nonce_rejected", "action_rejected") for r in first + second)
    refusals = [r.reason for r in first + second if r.kind == "dead_man_refused"]
    assert len(refusals) == 2 and all("enough volume traded" in r for r in refusals)
    restored = [r for r in second if r.kind == "state_restored"]
    assert restored and restored[0].detail["session_id"] == sessions[0].session_id
    assert any(r.kind == "latch_engaged" and "held before the restart" in r.reason
               for r in second)
    assert any(r.kind == "position_corrected" for r in second)  # adopted from the exchange
    discovered = [e for e in events if e.event == "discovered"]
    assert len(discovered) == 2  # the open order, adopted by each session
