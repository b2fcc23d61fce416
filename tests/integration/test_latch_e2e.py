"""The hard-stop latch end to end: a node trading the simulator trips on each trigger we can
provoke, and afterwards the simulator shows no open order and a flat position; only an
explicit resume lets orders through again."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from hip3term.core.events import LatchState
from hip3term.runtime.node import TradingNode
from hip3term.runtime.snapshot import OperatorCommand
from hip3term.strategy.loader import load_strategy
from tests.integration.runtime_support import (
    ACCOUNT,
    Churn,
    TakeAndRest,
    TakeOnce,
    by_kind,
    credentials,
    eventually,
    live_sim,
    read_journal,
    running,
    settings_for,
    sim_open_orders,
    sim_position,
)

ZERO = Decimal(0)


async def _journal(node: TradingNode) -> tuple[list[Any], list[Any], list[Any]]:
    journal = await read_journal(node.settings.paths.journal)
    try:
        sid = node.session_id
        return (list(await journal.risk_events(sid)), list(await journal.operator_actions(sid)),
                list(await journal.order_events(sid)))
    finally:
        await journal.aclose()


async def test_operator_halt_cancels_flattens_and_holds_until_resume(tmp_path: Path) -> None:
    async with live_sim() as server:
        strategy = TakeAndRest()
        node = TradingNode(settings_for(tmp_path, server.url), strategy=strategy,
                           credentials=credentials(), ws_url=server.url)
        ex = server.exchange
        async with running(node):
            await eventually(lambda: sim_position(ex) > 0 and len(sim_open_orders(ex)) == 1,
                             "a position and a resting order on the simulator")
            result = node.command(OperatorCommand.HALT, who="tester", reason="e2e halt")
            assert result.accepted
            assert node.engine.latch.state is LatchState.TRIPPED
            await eventually(lambda: sim_position(ex) == 0 and not sim_open_orders(ex),
                             "flat and no open order after the halt")
            placed = strategy.placed
            await eventually(lambda: strategy.placed > placed + 3, "the strategy trying again")
            assert sim_position(ex) == 0 and not sim_open_orders(ex)  # denied by the latch
            refused = node.command(OperatorCommand.RESUME, who="tester", reason="")
            assert not refused.accepted and "reason" in refused.message
            assert node.engine.latch.state is LatchState.TRIPPED
            resumed = node.command(OperatorCommand.RESUME, who="tester", reason="checked")
            assert resumed.accepted
            await eventually(lambda: sim_position(ex) > 0, "trading again after the resume")
    risk, actions, orders = await _journal(node)
    trip = by_kind(risk, "latch_tripped")[0]
    assert "operator" in trip.reason and "e2e halt" in trip.reason
    assert "checked" in by_kind(risk, "latch_resumed")[0].reason
    assert [(a.action, a.reason) for a in actions] == [("halt", "e2e halt"),
                                                       ("resume", "checked")]
    assert any(o.event == "denied" and o.status == "hard_stop" for o in orders)


async def _trips(tmp_path: Path, strategy: Any, trigger: str, *, faults: str = "",
                 wait_s: float = 15.0, **risk: Any) -> list[Any]:
    # Run `strategy` until the latch trips with `trigger`; then the simulator must show
    # the account flat with no open order. Returns the session's risk events.
    overrides = {f"risk.{name}": value for name, value in risk.items()}
    async with live_sim(faults=faults) as server:
        node = TradingNode(settings_for(tmp_path, server.url, **overrides), strategy=strategy,
                           credentials=credentials(), ws_url=server.url)
        ex = server.exchange
        async with running(node):
            await eventually(lambda: node.engine.latch.state is LatchState.TRIPPED,
                             f"the latch tripping on {trigger}", timeout=wait_s)
            assert str(node.engine.latch.trip_trigger) == trigger, node.engine.latch.trip_detail
            await eventually(lambda: sim_position(ex) == 0 and not sim_open_orders(ex),
                             "flat and no open order after the trip", timeout=wait_s)
            assert node.engine.latch.state is LatchState.TRIPPED  # held: no resume asked
    risk_events, _, _ = await _journal(node)
    trips = by_kind(risk_events, "latch_tripped")
    assert len(trips) == 1 and trips[0].reason.startswith(trigger)
    assert trips[0].severity == "critical"
    return risk_events


async def test_cumulative_loss_trips(tmp_path: Path) -> None:
    await _trips(tmp_path, Churn(), "cumulative_loss", max_cumulative_loss=Decimal("0.01"))


async def test_consecutive_losses_trip(tmp_path: Path) -> None:
    strategy = Churn()
    await _trips(tmp_path, strategy, "consecutive_losses", max_consecutive_losses=1,
                 max_cumulative_loss=1000)
    assert strategy.placed >= 4  # two round trips at least


async def test_stale_market_data_trips(tmp_path: Path) -> None:
    # From 2 s after the connection opens the simulator holds every frame for 1.5 s.
    await _trips(tmp_path, TakeOnce(), "market_data_stale", faults="stall=1.5s/2s",
                 market_data_stale_s=0.8)


async def test_oracle_mark_divergence_trips(tmp_path: Path) -> None:
    # A limit of 0.001 bp: the simulator's mark (between the oracle and the book) is off
    # the oracle by more than that nearly always.
    await _trips(tmp_path, TakeOnce(), "oracle_mark_divergence",
                 max_oracle_mark_divergence_bps=Decimal("0.001"))


async def test_reject_storm_trips(tmp_path: Path) -> None:
    # From 2 s after the connection opens every order is refused for 1.5 s.
    await _trips(tmp_path, Churn(), "reject_storm", faults="reject_storm=1.5s/2s",
                 reject_storm_count=3, reject_storm_window_s=5, max_consecutive_losses=100,
                 max_cumulative_loss=1000)


async def test_flatten_failures_trip(tmp_path: Path) -> None:
    # The position is taken at once; its time stop falls inside the reject storm (4 s to
    # 7 s after the connection opens, then 8-11 s, ...), so flattens fail (one a second)
    # until the storm pauses for a second.
    risk_events = await _trips(tmp_path, TakeOnce(), "flatten_failures",
                               faults="reject_storm=3s/4s", time_stop_s=4.2, wait_s=25.0,
                               max_flatten_failures=1, reject_storm_count=1000)
    assert len(by_kind(risk_events, "flatten_failed")) >= 2


async def test_websocket_down_trips(tmp_path: Path) -> None:
    strategy = TakeOnce()
    async with live_sim() as server:
        ex, port = server.exchange, server.port
        settings = settings_for(tmp_path, server.url, **{"risk.ws_down_s": 0.5,
                                                          "risk.market_data_stale_s": 60})
        node = TradingNode(settings, strategy=strategy, credentials=credentials(),
                           ws_url=server.url)
        async with running(node):
            await eventually(lambda: sim_position(ex) > 0, "a position")
            await server.stop()
            await eventually(lambda: node.engine.latch.state is LatchState.TRIPPED,
                             "the latch tripping while the websocket is down")
            assert str(node.engine.latch.trip_trigger) == "ws_down"
            async with live_sim(exchange=ex, port=port):
                await eventually(lambda: sim_position(ex) == 0 and not sim_open_orders(ex),
                                 "flat and no open order once reconnected")
    risk_events, _, _ = await _journal(node)
    assert by_kind(risk_events, "latch_tripped")[0].reason.startswith("ws_down")


async def test_time_stop_flattens_a_taker_position(tmp_path: Path) -> None:
    async with live_sim() as server:
        node = TradingNode(settings_for(tmp_path, server.url, **{"risk.time_stop_s": 1.0}),
                           strategy=TakeOnce(), credentials=credentials(), ws_url=server.url)
        ex = server.exchange
        async with running(node):
            await eventually(lambda: sim_position(ex) > 0, "a position")
            await eventually(lambda: sim_position(ex) == 0, "flattened by the time stop")
            await eventually(lambda: not node.engine.flattener.flattening,
                             "the flatten episode completed")
            assert node.engine.latch.state is LatchState.ACTIVE
    risk_events, _, _ = await _journal(node)
    started = by_kind(risk_events, "flatten_started")
    assert len(started) == 1 and started[0].reason.endswith("time_stop")
    assert by_kind(risk_events, "flatten_completed")
    journal = await read_journal(node.settings.paths.journal)
    try:
        fills = list(await journal.fills(node.session_id))
    finally:
        await journal.aclose()
    assert [f.side for f in fills] == ["B", "A"] and fills[0].size == fills[1].size
    held_ms = fills[1].time_ms - fills[0].time_ms
    assert 1000 <= held_ms < 3000


async def test_dead_man_switch_is_armed_refreshed_and_cleared_where_allowed(
    tmp_path: Path,
) -> None:
    quiet = {"threshold_bps": 1000}  # the taker never trades here
    async with live_sim() as server:
        ex = server.exchange
        ex.accounts.add_volume(ACCOUNT.address, Decimal(2_000_000))  # past the $1M gate
        settings = settings_for(tmp_path, server.url, **{"risk.dead_man_switch_s": 6,
                                                          "strategy.params": quiet})
        node = TradingNode(settings, strategy=load_strategy("oracle_dislocation", quiet),
                           credentials=credentials(), ws_url=server.url)
        async with running(node):
            await eventually(lambda: ACCOUNT.address in ex.scheduled_cancels, "armed")
            first = ex.scheduled_cancels[ACCOUNT.address]
            assert 0 < first - ex.now_ms() <= 6_000  # set 6 s ahead, moments ago
            await eventually(lambda: node.snapshot().dead_man.startswith("armed until"),
                             "the node saw it armed")
            await eventually(lambda: ex.scheduled_cancels.get(ACCOUNT.address, 0) > first,
                             "refreshed (every 3 s) before it fires", timeout=8.0)
        assert ACCOUNT.address not in ex.scheduled_cancels  # cleared at the graceful exit
    risk_events, _, orders = await _journal(node)
    assert not by_kind(risk_events, "dead_man_refused")
    assert [o.status for o in orders if o.event == "action_posted"].count("scheduleCancel") >= 3
