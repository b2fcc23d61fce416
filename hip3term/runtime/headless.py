"""`hip3term run --headless`: the node with a status line and operator commands on stdin.

Every `status_every_s` seconds one status line goes to stdout (`status_line`): mode,
READY-TRADING (or the flags missing), the latch and its trip reason, the position with
its age and time-stop countdown, PnL, open orders, in-flight posts and queue depths, the
feed, the dead-man switch, and the strategy's last decision (in observe mode, the would-be
orders and the last one with its expected edge).

Operator commands, one per line on stdin (`OperatorConsole`), each journaled as an
operator action: `halt [reason]`, `flatten [reason]`, `cancel [reason]`, `pause
[reason]`, `resume <reason>` (without a reason it shows the trip reason and asks for
one on the next line), `status`, `quit [reason]`, `help`. End of file on stdin is not a
quit (a service manager may close it). SIGINT and SIGTERM stop the node gracefully
(cancel-all first when `risk.cancel_all_on_quit`); `duration_s` stops it after that long.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import signal
import stat
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from hip3term.config import Settings
from hip3term.core.events import LatchState
from hip3term.runtime.credentials import Credentials
from hip3term.runtime.launch import LaunchedNode, launch
from hip3term.runtime.node import ExtraTask
from hip3term.runtime.snapshot import NodeHandle, NodeSnapshot, OperatorCommand
from hip3term.strategy.base import Strategy

__all__ = ["HELP", "OperatorConsole", "run_headless", "status_line"]

STATUS_EVERY_S = 5.0
HELP = ("commands: halt [reason] | flatten [reason] | cancel [reason] | pause [reason] | "
        "resume <reason> | status | quit [reason] | help")  # fmt: skip
_WORDS = {
    "halt": OperatorCommand.HALT, "flatten": OperatorCommand.FLATTEN,
    "cancel": OperatorCommand.CANCEL, "pause": OperatorCommand.PAUSE,
    "resume": OperatorCommand.RESUME, "status": OperatorCommand.STATUS,
    "quit": OperatorCommand.QUIT, "exit": OperatorCommand.QUIT,
}  # fmt: skip


def _num(value: Decimal, places: int = 4) -> str:
    return f"{value:+.{places}f}"


def status_line(snap: NodeSnapshot) -> str:
    """One line saying where the node stands (see the module docstring)."""
    clock = time.strftime("%H:%M:%S", time.localtime(snap.taken_ms / 1000))
    ready = "READY" if snap.ready.ready else f"NOT-READY({','.join(snap.ready.missing)})"
    latch = snap.latch
    held = f" ({latch.reason})" if latch.reason and not latch.active else ""
    parts = [f"{clock} {snap.market} {snap.mode}", ready, f"latch {latch.state}{held}"]
    pos = snap.position(snap.market)
    if pos is None:
        parts.append("pos flat")
    else:
        stop = "" if pos.time_stop_in_s is None else f" stop {pos.time_stop_in_s:.0f}s"
        parts.append(f"pos {_num(pos.size, 3)}@{pos.entry_px} age {pos.age_s:.0f}s{stop}")
    pnl = snap.pnl
    win = "" if pnl.win_rate is None else f" win {pnl.win_rate:.0%}"
    parts.append(f"pnl {_num(pnl.total)} (real {_num(pnl.realized)} unreal "
                 f"{_num(pnl.unrealized)} fees {pnl.fees:.4f}) trades {pnl.trades}{win}")
    ex = snap.executor
    parts.append(f"orders {len(snap.orders)}")
    parts.append(f"inflight {ex.in_flight}/{ex.limit} queues c{ex.cancels} r{ex.reduce_only} "
                 f"n{ex.new}")  # fmt: skip
    feed = snap.feed
    if feed is not None:
        parts.append(f"feed {'up' if feed.connected else 'DOWN'} rc {feed.reconnects}")
    parts.append(f"dms {snap.dead_man.split(':')[0]}")
    if snap.observe:
        parts.append(f"would-be {len(snap.would_be)}" + (
            f" last {_would_be(snap)}" if snap.would_be else ""))
    if snap.strategy.last_signal:
        parts.append(f"last: {snap.strategy.last_signal}")
    return " | ".join(parts)


def _would_be(snap: NodeSnapshot) -> str:
    row = snap.would_be[-1]
    edge = "" if row.expected_edge_bps is None else f" {row.expected_edge_bps:+.1f}bps"
    return f"{row.tag or 'order'} {'buy' if row.side == 'B' else 'sell'} {row.sz}@{row.px}{edge}"


class OperatorConsole:
    """Turns lines typed on stdin into node commands (see the module docstring).

    Args:
        node: the running node.
        out: where answers go (a line each).
        who: the operator's name journaled with each action.
    """

    def __init__(self, node: NodeHandle, out: Callable[[str], None], who: str) -> None:
        self.node, self.out, self.who = node, out, who
        self._resume_pending = False

    def handle(self, line: str) -> None:
        """Carry out one line."""
        text = line.strip()
        if self._resume_pending:
            self._resume_pending = False
            if not text:
                self.out("resume abandoned: the latch stays as it is")
                return
            self._run(OperatorCommand.RESUME, text)
            return
        if not text:
            return
        word, _, rest = text.partition(" ")
        command = _WORDS.get(word.lower())
        if command is None:
            self.out(HELP if word.lower() in ("help", "?") else f"unknown command {word!r}; {HELP}")
            return
        if command is OperatorCommand.STATUS:
            self.out(status_line(self.node.snapshot()))
            return
        if command is OperatorCommand.RESUME and not rest.strip():
            latch = self.node.snapshot().latch
            if latch.state is LatchState.ACTIVE:
                self.out("the latch is ACTIVE: nothing to resume")
                return
            self.out(f"resume from {latch.state} ({latch.reason or 'no reason recorded'}): "
                     "type the reason for resuming (an empty line abandons)")
            self._resume_pending = True
            return
        self._run(command, rest.strip())

    def _run(self, command: OperatorCommand, reason: str) -> None:
        result = self.node.command(command, who=self.who, reason=reason)
        self.out(("ok: " if result.accepted else "refused: ") + result.message)


async def _read_lines(handle: Callable[[str], None]) -> None:
    # stdin through the event loop; a terminal's descriptor is put back to blocking after.
    # Only terminals, pipes and sockets can be watched by the loop: a regular file or
    # /dev/null (a service, CI) is read in a thread instead.
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    fd = sys.stdin.fileno()
    mode = os.fstat(fd).st_mode
    if not (os.isatty(fd) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        while line := await asyncio.to_thread(sys.stdin.readline):
            handle(line)
        return
    try:
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(os.dup(fd), "rb", 0))
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"hip3term: operator commands on stdin unavailable: {exc}\n")
        return
    try:
        while line := await reader.readline():
            handle(line.decode(errors="replace"))
    finally:
        transport.close()
        with contextlib.suppress(OSError):
            os.set_blocking(fd, True)


async def run_headless(settings: Settings, *, strategy: Strategy[Any], credentials: Credentials,
                       duration_s: float | None = None, status_every_s: float = STATUS_EVERY_S,
                       read_stdin: bool = True,
                       out: Callable[[str], None] | None = None) -> NodeSnapshot:  # fmt: skip
    """Run the node until quit, a signal or `duration_s`; returns the last snapshot.

    Raises:
        Hip3Error: a fatal problem (simulator, journal, market, nonce store).
    """
    write = out or (lambda text: print(text, flush=True))
    started = await launch(settings, strategy=strategy, credentials=credentials)
    write(f"hip3term run: {started.node.settings.market.name} on {started.node.ws_url} "
          f"({'observe: nothing is sent' if started.node.observe else 'trading'}); "
          f"{credentials.describe()}; strategy {strategy.name}; session "
          f"{started.node.session_id}; type 'help' for commands")
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, started.request_stop, f"signal {signum.name}")
    try:
        await started.run(extra_tasks=_tasks(started, duration_s, status_every_s, read_stdin,
                                             write))  # fmt: skip
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
    final = started.snapshot()
    write(f"stopped ({started.node.stop_reason or 'stopped'}): {status_line(final)}")
    return final


def _tasks(node: LaunchedNode, duration_s: float | None, every_s: float, read_stdin: bool,
           write: Callable[[str], None]) -> list[ExtraTask]:  # fmt: skip
    async def status() -> None:
        while True:
            await asyncio.sleep(every_s)
            write(status_line(node.snapshot()))

    async def deadline() -> None:
        assert duration_s is not None
        await asyncio.sleep(duration_s)
        node.request_stop(f"--duration {duration_s:g} s reached")

    console = OperatorConsole(node, write, _operator_name())
    tasks: list[ExtraTask] = [("status line", status)]
    if duration_s is not None:
        tasks.append(("duration", deadline))
    if read_stdin:
        tasks.append(("operator commands", lambda: _read_lines(console.handle)))
    return tasks


def _operator_name() -> str:
    try:
        return f"{getpass.getuser()}@stdin"
    except (KeyError, OSError):  # no user name for this uid (containers)
        return "operator@stdin"
