"""Soak: the headless node trading the simulator under faults, then consistency checks.

    .venv/bin/python benchmarks/soak_headless.py [--minutes 10] [--faults SPEC] [--seed S]

Runs the simulator (live clock, loopback, the given faults; by default
`drop=30s,malformed=0.01,unanswered=0.02`: the connection dropped every 30 s, 1 % of the
frames broken, 2 % of the posts executed but never answered) and a `TradingNode` with the
oracle-dislocation taker set to trade often (threshold 0, fees 0, 10 s time stop, wide
loss limits so the latch does not end the soak early), printing the headless status line
every 15 s. After `--minutes` the strategy is paused, the node waits until it is READY
and quiet (nothing queued or in flight, no order of unknown fate, no resting order), and
these checks are printed:

- positions: the node's positions equal the simulator's clearinghouseState;
- in flight: zero posts in flight (executor) and zero pending posts (feed);
- nonces: every nonce the node signed (journaled `action_posted`) is unique and increasing,
  and the exchange refused none (no `Invalid nonce` anywhere);
- fills: every fill the simulator made for the account is in the journal (by tid).

Exit status 0 when every check passes, 1 otherwise. Files go to a temporary directory
(or `--workdir`).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from hip3term.config import load_settings
from hip3term.core.clock import LiveClock
from hip3term.keys import new_key
from hip3term.persistence.db import open_journal
from hip3term.runtime.credentials import Credentials
from hip3term.runtime.headless import status_line
from hip3term.runtime.node import TradingNode
from hip3term.runtime.snapshot import OperatorCommand
from hip3term.strategy.loader import load_strategy
from hip3term.venue.sim.exchange import SimExchange
from hip3term.venue.sim.faults import FaultSpec
from hip3term.venue.sim.server import ServerConfig, SimServer

DEFAULT_FAULTS = "drop=30s,malformed=0.01,unanswered=0.02"
PARAMS = {"threshold_bps": 0, "taker_fee_bps": 0, "size_alpha": 0.3, "cooldown_s": 2}
_NONCE = re.compile(r"nonce=(\d+)")


def _settings(workdir: Path, url: str) -> Any:
    return load_settings(overrides={
        "venue.ws_url": url, "strategy.params": PARAMS,
        "paths.state_dir": str(workdir / "state"),
        "paths.journal": str(workdir / "state" / "journal.sqlite"),
        "paths.recordings_dir": str(workdir / "recordings"),
        "risk.time_stop_s": 10, "risk.max_cumulative_loss": 1000,
        "risk.max_consecutive_losses": 1000, "risk.max_flatten_failures": 1000,
        "risk.reject_storm_count": 1000,
    }, env={})  # fmt: skip


def _sim_positions(exchange: SimExchange, user: str) -> dict[str, Decimal]:
    data = exchange.info_response({"type": "clearinghouseState", "user": user, "dex": "xyz"})
    return {p["position"]["coin"]: Decimal(p["position"]["szi"])
            for p in data["payload"]["data"]["assetPositions"]
            if Decimal(p["position"]["szi"]) != 0}  # fmt: skip


def _node_positions(node: TradingNode) -> dict[str, Decimal]:
    return {p.market: p.size for p in node.engine.tracker.positions()}


def _quiet(node: TradingNode) -> bool:
    if node.executor is None:
        return False
    status = node.executor.status()
    live = node.engine.tracker.exchange_orders()
    return (node.engine.ready.ready and status.in_flight == 0 and status.reserved == 0
            and status.queued_cancels + status.queued_reduce_only + status.queued_new == 0
            and status.unresolved == 0 and not live
            and node.feed.health().pending_posts == 0)  # fmt: skip


async def _wait(predicate: Any, timeout_s: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if predicate():
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    return None


def _after(seconds: float | None) -> str:
    return "never" if seconds is None else f"after {seconds:.1f} s"


async def _finish(node: TradingNode, exchange: SimExchange, user: str,
                  checks: dict[str, tuple[bool, str]]) -> None:  # fmt: skip
    node.command(OperatorCommand.PAUSE, who="soak", reason="soak over: checks")
    quiet_s = await _wait(lambda: _quiet(node), 60.0)
    waited = await _wait(lambda: _node_positions(node) == _sim_positions(exchange, user), 75.0)
    mine, theirs = _node_positions(node), _sim_positions(exchange, user)
    checks["positions"] = (mine == theirs, f"node {mine or 'flat'} vs simulator "
                           f"{theirs or 'flat'} (equal {_after(waited)})")  # fmt: skip
    assert node.executor is not None
    status = node.executor.status()
    pending = node.feed.health().pending_posts
    checks["in flight"] = (status.in_flight == 0 and pending == 0,
                           f"executor in flight {status.in_flight}, feed pending posts "
                           f"{pending} (quiet {_after(quiet_s)})")  # fmt: skip
    sim_tids = {f["tid"] for f in exchange.user_fills(user, limit=100_000)}
    journaled = await _wait(lambda: all(node.engine.log.is_journaled(t) for t in sim_tids), 75.0)
    print(f"every fill journaled {_after(journaled)} of quiet", flush=True)
    node.request_stop("soak finished")


async def _journal_checks(path: Path, session_id: str, exchange: SimExchange, user: str,
                          checks: dict[str, tuple[bool, str]]) -> dict[str, int]:  # fmt: skip
    journal = await open_journal(path)
    try:
        fills = list(await journal.fills(session_id))
        events = list(await journal.order_events(session_id))
        risks = list(await journal.risk_events(session_id))
    finally:
        await journal.aclose()
    nonces = [int(m.group(1)) for e in events if e.event == "action_posted"
              and (m := _NONCE.search(e.detail or ""))]  # fmt: skip
    refused = [r.reason for r in risks if "nonce" in r.reason.lower() and r.kind in (
        "nonce_rejected", "action_rejected")]
    unique = len(set(nonces)) == len(nonces) and nonces == sorted(nonces)
    increasing = nonces == sorted(nonces)
    checks["nonces"] = (unique and not refused, f"{len(nonces)} signed actions, "
                        f"{len(set(nonces))} distinct nonces, increasing: {increasing}, "
                        f"refused by the exchange: {len(refused)}")  # fmt: skip
    sim_tids = {f["tid"] for f in exchange.user_fills(user, limit=100_000)}
    journaled = {f.tid for f in fills}
    missing = sim_tids - journaled
    checks["fills"] = (not missing, f"{len(sim_tids)} simulator fills, {len(journaled)} "
                       f"journaled, missing {sorted(missing)[:10]}")  # fmt: skip
    trips = [r.reason for r in risks if r.kind == "latch_tripped"]
    return {"fills": len(sim_tids), "actions": len(nonces), "latch trips": len(trips)}


async def soak(minutes: float, faults: str, seed: int, workdir: Path) -> bool:
    """Run the soak; print the checks; True when all pass."""
    key = new_key()
    exchange = SimExchange.create(("COIN",), seed=seed, clock=LiveClock(),
                                  fund={key.address: Decimal(10_000)})
    server = SimServer(exchange, ServerConfig(faults=FaultSpec.parse(faults), seed=seed))
    await server.start()
    settings = _settings(workdir, server.url)
    node = TradingNode(settings, strategy=load_strategy("oracle_dislocation", PARAMS),
                       credentials=Credentials(key, key.address), ws_url=server.url)
    checks: dict[str, tuple[bool, str]] = {}

    async def driver() -> None:
        await asyncio.sleep(minutes * 60)
        await _finish(node, exchange, key.address, checks)

    async def status() -> None:
        while True:
            await asyncio.sleep(15)
            print(status_line(node.snapshot()), flush=True)

    print(f"soak: {minutes:g} min on {server.url}, faults {faults or 'none'}, seed {seed}, "
          f"files in {workdir}", flush=True)
    try:
        await node.run(extra_tasks=[("soak driver", driver), ("status line", status)])
        stats = await _journal_checks(settings.paths.journal, node.session_id, exchange,
                                      key.address, checks)  # fmt: skip
    finally:
        await server.stop()
    snap = node.snapshot()
    feed = snap.feed
    print(f"faults injected: {server.fault_counters()}")
    print(f"feed: {feed.reconnects if feed else '?'} reconnects, "
          f"{feed.malformed if feed else '?'} malformed frames; executor: "
          f"{snap.executor.sent} posts, {snap.executor.timeouts} timeouts, "
          f"{snap.executor.resolved} orders resolved by cloid; {stats}; "
          f"PnL {snap.pnl.total:.4f} over {snap.pnl.trades} round trips")
    for name, (ok, detail) in checks.items():
        print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}")
    expected = {"positions", "in flight", "nonces", "fills"}
    return set(checks) == expected and all(ok for ok, _ in checks.values())


def main() -> None:
    """Parse the options, run the soak, exit 0 when every check passes."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to trade")
    parser.add_argument("--faults", default=DEFAULT_FAULTS, help="simulator fault spec")
    parser.add_argument("--seed", type=int, default=7, help="seed of the simulated market")
    parser.add_argument("--workdir", type=Path, default=None, help="where files go")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="hip3term-soak-"))
    ok = asyncio.run(soak(args.minutes, args.faults, args.seed, workdir))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
