"""`hip3term run --headless` as a subprocess: it trades the embedded simulator with the taker
and journals the fills, takes operator commands on stdin, exits cleanly on SIGTERM with
every order canceled first, and refuses to start without what a live venue needs."""

from __future__ import annotations

import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from hip3term.config import Settings, load_settings
from hip3term.errors import ConfigError
from hip3term.runtime.credentials import SIM_FUNDING, resolve_credentials
from hip3term.runtime.node import TradingNode
from hip3term.runtime.snapshot import OperatorCommand
from hip3term.venue.hyperliquid.actions import LimitType, order_action, order_wire
from hip3term.venue.hyperliquid.signing import signed_body
from hip3term.venue.sim.exchange import SimExchange
from tests.integration.runtime_support import (
    ACCOUNT,
    Churn,
    Headless,
    credentials,
    env_without_keys,
    eventually,
    live_sim,
    node_config,
    read_journal,
    running,
    settings_for,
    sim_open_orders,
)

EAGER = "threshold_bps = 0\ntaker_fee_bps = 0\nsize_alpha = 0.5\ncooldown_s = 0.5\n"


async def test_headless_trades_the_embedded_simulator_and_takes_commands(tmp_path: Path) -> None:
    # The eager taker loses its fees on most round trips: the loss latch is set out of
    # reach so that the pause below is the only thing that stops it.
    config = node_config(tmp_path, params=EAGER,
                         risk="time_stop_s = 2\nmax_consecutive_losses = 1000\n")
    run = await Headless.start(tmp_path, config)
    try:
        await run.line_with("| READY |", "trading")
        # at least one round trip of the taker (several may end between two status lines)
        await run.line_matching(r" trades [1-9]\d* ")
        await run.send("status")
        await run.send("pause smoke test")
        await run.line_with("ok: pause")
        await run.line_with("latch paused (", "smoke test)")
        await run.send("resume")
        await run.line_with("type the reason")
        await run.send("checked by the test")
        await run.line_with("ok: resumed from paused")
        await run.send("quit end of test")
        assert await run.finish() == 0
    finally:
        run.kill()
    assert any(line.startswith("stopped (quit by") for line in run.lines)
    journal = await read_journal(tmp_path / "state" / "journal.sqlite")
    try:
        (session,) = await journal.sessions()
        sid = session.session_id
        fills, orders = await journal.fills(sid), await journal.orders(sid)
        signals, actions = await journal.signals(sid), await journal.operator_actions(sid)
        risk = await journal.risk_events(sid)
    finally:
        await journal.aclose()
    assert session.ended_ms is not None and session.mode == "live"
    assert len(fills) >= 2 and {f.side for f in fills} == {"B", "A"}
    assert {o.cloid for o in orders} >= {f.cloid for f in fills if f.cloid}
    traded = [s for s in signals if s.decision == "traded" and s.kind == "entry"]
    assert traded and all(s.expected_edge_bps is not None for s in traded)
    assert [(a.action, a.reason) for a in actions] == [
        ("pause", "smoke test"), ("resume", "checked by the test"), ("quit", "end of test")]
    kinds = [r.kind for r in risk]
    assert "latch_engaged" in kinds and "latch_resumed" in kinds and "dead_man_refused" in kinds
    assert session.recording is not None
    _check_files(Path(session.recording), tmp_path / "state" / "sim.log")


def _check_files(recording: Path, sim_log: Path) -> None:
    assert recording.stat().st_size > 10_000  # every frame of the session
    assert "hip3term sim: stopped" in sim_log.read_text()  # the child simulator was stopped


def _rest_far_bid(exchange: SimExchange) -> None:
    # The account's own GTC bid 10 % under the book: it rests until canceled.
    book = exchange.info_response({"type": "l2Book", "coin": "xyz:COIN"})
    best_bid = Decimal(book["payload"]["data"]["levels"][0][0]["px"])
    info = exchange.directory.lookup("xyz:COIN")
    px = info.round_price(best_bid * Decimal("0.9"), is_buy=True, aggressive=False)
    wire = order_wire(info.asset_id, True, px, Decimal("0.1"), False, LimitType("Gtc"), None)
    body = signed_body(ACCOUNT, order_action([wire]), exchange.now_ms(), None, None, True)
    answer, _ = exchange.action_response(body)
    assert answer["payload"]["status"] == "ok", answer


async def test_sigterm_cancels_every_order_first(tmp_path: Path) -> None:
    async with live_sim() as server:
        _rest_far_bid(server.exchange)
        assert len(sim_open_orders(server.exchange)) == 1
        run = await Headless.start(tmp_path, node_config(tmp_path, ws_url=server.url), key=True)
        try:
            await run.line_with("| READY |", "| orders 1 |")
            run.proc.send_signal(signal.SIGTERM)
            assert await run.finish() == 0
        finally:
            run.kill()
        assert sim_open_orders(server.exchange) == []
    assert any(line.startswith("stopped (signal SIGTERM)") for line in run.lines)


def _refused(tmp_path: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hip3term", "run", "--headless", "--config",
         str(node_config(tmp_path)), *args], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=60, check=False)


def test_live_without_a_key_exits_2_before_connecting(tmp_path: Path) -> None:
    done = _refused(tmp_path, "--venue", "testnet", "--live", env=env_without_keys())
    assert done.returncode == 2
    assert "needs the agent key" in done.stderr and "HIP3TERM_AGENT_KEY" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "state").exists()


def test_mainnet_live_needs_a_typed_confirmation(tmp_path: Path) -> None:
    env = {**env_without_keys(key=True), "HIP3TERM_ACCOUNT__ADDRESS": ACCOUNT.address}
    done = _refused(tmp_path, "--venue", "mainnet", "--live", env=env)
    assert done.returncode == 2
    assert "typed confirmation" in done.stderr and "--yes-i-mean-mainnet" in done.stderr
    assert not (tmp_path / "state").exists()


def _settings(**overrides: object) -> Settings:
    return load_settings(overrides=dict(overrides), env={})


def test_credentials_for_the_embedded_simulator_are_generated_and_funded() -> None:
    made = resolve_credentials(_settings(), observe=False, embedded_sim=True, env={})
    assert made.key is not None and made.account == made.key.address
    assert made.fund == ((made.account, SIM_FUNDING),) and made.source.startswith("generated")
    other = resolve_credentials(_settings(), observe=False, embedded_sim=True, env={})
    assert other.key is not None and other.account != made.account  # fresh every session


def test_credentials_use_the_configured_key_and_account() -> None:
    env = {"HIP3TERM_AGENT_KEY": ACCOUNT.secret_bytes().hex()}
    owner = "0x" + "ab" * 20
    got = resolve_credentials(_settings(**{"account.address": owner}), observe=False,
                              embedded_sim=True, env=env)
    assert got.key is not None and got.key.address == ACCOUNT.address
    assert got.account == owner and got.fund == ((owner, SIM_FUNDING),)
    remote = resolve_credentials(_settings(**{"venue.name": "testnet", "venue.live": True,
                                              "account.address": owner}),
                                 observe=False, embedded_sim=False, env=env)
    assert remote.account == owner and remote.fund == ()


def test_credentials_refuse_what_a_venue_needs() -> None:
    env = {"HIP3TERM_AGENT_KEY": ACCOUNT.secret_bytes().hex()}
    with pytest.raises(ConfigError, match="needs the agent key"):
        resolve_credentials(_settings(**{"venue.ws_url": "ws://127.0.0.1:1/ws"}),
                            observe=False, embedded_sim=False, env={})
    with pytest.raises(ConfigError, match=r"needs account\.address"):
        resolve_credentials(_settings(**{"venue.name": "mainnet", "venue.live": True}),
                            observe=False, embedded_sim=False, env=env)
    watch = resolve_credentials(_settings(**{"venue.name": "mainnet"}), observe=True,
                                embedded_sim=False, env={})
    assert watch.key is None and watch.account is None  # observe needs nothing


async def test_every_fill_is_journaled_when_frames_are_lost(tmp_path: Path) -> None:
    # A tenth of the simulator's frames are broken: fill frames among them never reach
    # the node, which notices, reconciles, reads those fills back and journals them.
    async with live_sim(faults="malformed=0.1") as server:
        ex = server.exchange
        node = TradingNode(settings_for(tmp_path, server.url, **{
            "risk.max_cumulative_loss": 1000, "risk.max_consecutive_losses": 1000,
            "risk.reject_storm_count": 1000, "feeds.info_timeout_s": 2}),
            strategy=Churn(), credentials=credentials(), ws_url=server.url)
        async with running(node):
            await eventually(lambda: len(ex.user_fills(ACCOUNT.address)) >= 16, "16 fills",
                             timeout=40)
            node.command(OperatorCommand.PAUSE, who="tester", reason="enough")
            tids = {f["tid"] for f in ex.user_fills(ACCOUNT.address)}
            await eventually(lambda: all(node.engine.log.is_journaled(t) for t in tids),
                             "every fill journaled", timeout=25)  # lost ones read back
        assert server.fault_counters()["malformed"] > 0
    journal = await read_journal(node.settings.paths.journal)
    try:
        journaled = [f.tid for f in await journal.fills(node.session_id)]
    finally:
        await journal.aclose()
    assert set(journaled) >= tids and len(journaled) == len(set(journaled))  # once each
