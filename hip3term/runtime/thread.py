"""Run a node on its own thread and event loop; hand the UI a thread-safe `NodeHandle`.

Why a thread: the TUI's repaints take milliseconds of the interpreter (a Textual
`DataTable` repaint measured 14-23 ms, DESIGN.md section 5). On a loop shared with the
engine every repaint would be event-loop lag for the feed and the executor. On its own
thread and loop the engine only ever waits for the GIL, and `sys.setswitchinterval`
bounds that wait (CPython hands the GIL over after at most that interval when another
thread asks for it; the default 5 ms is too coarse for a 2 ms lag target, so `start()`
sets `switch_interval_s`, 1 ms by default; `benchmarks/bench_tui_lag.py` measures it).

How the two sides talk:

- snapshots: the engine loop builds a `NodeSnapshot` every `publish_interval_s` (100 ms)
  and after every command, and stores the reference; `snapshot()`/`latest` only read
  that reference (immutable data, a single atomic attribute read), so the UI never waits
  for the engine and the engine never waits for the UI;
- commands: `command()` (blocking) and `command_async()` (awaitable from another loop)
  marshal the call onto the engine loop with `asyncio.run_coroutine_threadsafe`;
- stop: `request_stop()` is `call_soon_threadsafe(node.request_stop, reason)` (before the
  node exists it cancels its construction); `join(timeout)` waits for the thread;
- failure: an exception that ends the node is kept in `failure` (and logged); `finished`
  turns true; the UI shows it and exits cleanly.

The node is built on the engine thread by `factory` (an async callable), so every asyncio
object it creates belongs to the engine loop. It must satisfy `RunnableNode`: the
`NodeHandle` methods (called on the engine loop only) plus `async run()`, which returns
once the node has stopped.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol, TypeVar

from hip3term.runtime.snapshot import CommandResult, NodeSnapshot, OperatorCommand

__all__ = ["EngineThread", "NodeFactory", "RunnableNode", "new_event_loop"]

_log = logging.getLogger("hip3term.runtime.thread")
T = TypeVar("T")


class RunnableNode(Protocol):
    """A node the engine thread can run (the `NodeHandle` methods plus `run`)."""

    def snapshot(self) -> NodeSnapshot:
        """The node's state now."""
        ...

    def command(self, command: OperatorCommand, *, who: str = "operator",
                reason: str = "") -> CommandResult:  # fmt: skip
        """Carry out an operator command."""
        ...

    def request_stop(self, reason: str = "operator quit") -> None:
        """Ask for a graceful shutdown."""
        ...

    async def run(self) -> None:
        """Run until stopped (returns after the shutdown completed)."""
        ...


NodeFactory = Callable[[], Awaitable[RunnableNode]]


def new_event_loop(use_uvloop: bool = True) -> asyncio.AbstractEventLoop:
    """A new event loop: uvloop's when installed and asked for, else asyncio's."""
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
            return loop
    return asyncio.new_event_loop()


class EngineThread:
    """A node on its own thread and loop, driven through thread-safe methods.

    Args:
        factory: builds the node on the engine loop (e.g. starts the simulator, connects).
        publish_interval_s: how often a fresh snapshot is published.
        use_uvloop: run the engine loop on uvloop when it is installed.
        switch_interval_s: value for `sys.setswitchinterval` at `start()` (None: leave it).
        command_timeout_s: how long `command()` waits for the engine loop.
        name: the thread's name.
    """

    DEFAULT_SWITCH_S = 0.001
    """`sys.setswitchinterval` set by `start()` unless told otherwise (see the module doc)."""

    def __init__(self, factory: NodeFactory, *, publish_interval_s: float = 0.1,
                 use_uvloop: bool = True, switch_interval_s: float | None = DEFAULT_SWITCH_S,
                 command_timeout_s: float = 5.0,
                 name: str = "hip3term-engine") -> None:  # fmt: skip
        self._factory = factory
        self.publish_interval_s = publish_interval_s
        self.use_uvloop = use_uvloop
        self.switch_interval_s = switch_interval_s
        self.command_timeout_s = command_timeout_s
        self._thread = threading.Thread(target=self._thread_main, name=name, daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main_task: asyncio.Task[None] | None = None
        self._node: RunnableNode | None = None
        self._latest: NodeSnapshot | None = None
        self._failure: BaseException | None = None
        self._started = threading.Event()
        self._stop_reason: str | None = None
        self._lock = threading.Lock()
        self.snapshot_errors = 0

    # ------------------------------------------------------------ state, any thread

    @property
    def latest(self) -> NodeSnapshot | None:
        """The last published snapshot (None until the node has published one)."""
        return self._latest

    @property
    def failure(self) -> BaseException | None:
        """The exception that ended the engine, None while it runs or after a clean stop."""
        return self._failure

    @property
    def started(self) -> bool:
        """True once `start()` was called."""
        return self._thread.ident is not None

    @property
    def finished(self) -> bool:
        """True once the engine thread has ended (stopped or failed)."""
        return self.started and not self._thread.is_alive()

    @property
    def stop_requested(self) -> bool:
        """True once `request_stop` was called."""
        return self._stop_reason is not None

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The engine loop while it runs (for probes and benchmarks), else None."""
        return self._loop

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the engine thread (the node is built there). Call once."""
        if self.switch_interval_s is not None:
            sys.setswitchinterval(self.switch_interval_s)
        self._thread.start()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the first snapshot is published or the engine ended; True if ready."""
        self._started.wait(timeout)
        return self._latest is not None

    def request_stop(self, reason: str = "operator quit") -> None:
        """Ask the node to stop gracefully (idempotent; safe before or after it ran)."""
        with self._lock:
            first = self._stop_reason is None
            self._stop_reason = self._stop_reason or reason
            loop = self._loop
        if not first or loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed in between
            loop.call_soon_threadsafe(self._stop_on_loop)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the engine thread to end; True when it has."""
        if not self.started:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # ------------------------------------------------------------ NodeHandle

    def snapshot(self) -> NodeSnapshot:
        """The last published snapshot.

        Raises:
            RuntimeError: nothing was published yet.
        """
        latest = self._latest
        if latest is None:
            raise RuntimeError("the node has not published a snapshot yet")
        return latest

    def command(self, command: OperatorCommand, *, who: str = "operator",
                reason: str = "") -> CommandResult:  # fmt: skip
        """Run an operator command on the engine loop and wait for its result."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("command() would deadlock on the engine thread itself")
        future = self._submit(self._command_on_loop(command, who, reason))
        return command_result(future, self.command_timeout_s)

    async def command_async(self, command: OperatorCommand, *, who: str = "operator",
                            reason: str = "") -> CommandResult:  # fmt: skip
        """`command()` for a caller on another event loop (the TUI): never blocks it."""
        future = self._submit(self._command_on_loop(command, who, reason))
        return await command_result_async(future, self.command_timeout_s)

    def call(self, func: Callable[[RunnableNode], T], timeout: float | None = None) -> T:
        """Run `func(node)` on the engine loop and return its result (tests, probes)."""
        async def on_loop() -> T:
            if self._node is None:
                raise RuntimeError("the node is not built yet")
            return func(self._node)

        future = self._submit(on_loop())
        if future is None:
            raise RuntimeError("the engine is not running")
        return future.result(self.command_timeout_s if timeout is None else timeout)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule a coroutine on the engine loop (benchmarks' probes, tests).

        Raises:
            RuntimeError: the engine loop is not running.
        """
        future = self._submit(coro)
        if future is None:
            raise RuntimeError("the engine is not running")
        return future

    # ------------------------------------------------------------ engine thread

    def _submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T] | None:
        loop = self._loop
        if loop is None or loop.is_closed() or self.finished:
            coro.close()
            return None
        try:
            return asyncio.run_coroutine_threadsafe(coro, loop)
        except RuntimeError:  # closed in between
            coro.close()
            return None

    async def _command_on_loop(self, command: OperatorCommand, who: str,
                               reason: str) -> CommandResult:  # fmt: skip
        if self._node is None:
            return CommandResult(False, "the node is still starting")
        result = self._node.command(command, who=who, reason=reason)
        self._publish()  # the operator sees the effect on the next frame, not 100 ms later
        return result

    def _stop_on_loop(self) -> None:
        reason = self._stop_reason or "stop requested"
        if self._node is not None:
            self._node.request_stop(reason)
        elif self._main_task is not None:
            self._main_task.cancel()  # still building: abandon the start

    def _thread_main(self) -> None:
        loop = new_event_loop(self.use_uvloop)
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        except asyncio.CancelledError:
            _log.info("engine start abandoned: %s", self._stop_reason)
        except BaseException as exc:  # reason: any end of the engine is reported to the UI
            self._failure = exc
            _log.exception("the engine stopped with an error")
        finally:
            self._started.set()
            with self._lock:
                self._loop = None
            _close_loop(loop)

    async def _main(self) -> None:
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._main_task = asyncio.current_task()
            stop_first = self._stop_reason is not None
        if stop_first:
            return
        node = await self._factory()
        self._node = node
        self._publish()
        self._started.set()
        if self._stop_reason is not None:
            node.request_stop(self._stop_reason)
        publisher = asyncio.create_task(self._publish_forever(), name="snapshot-publisher")
        try:
            await node.run()
        finally:
            publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await publisher
            self._publish()

    async def _publish_forever(self) -> None:
        while True:
            await asyncio.sleep(self.publish_interval_s)
            self._publish()

    def _publish(self) -> None:
        if self._node is None:
            return
        try:
            self._latest = self._node.snapshot()
        except Exception:
            self.snapshot_errors += 1
            if self.snapshot_errors <= 3:
                _log.exception("the node's snapshot failed")


def command_result(future: concurrent.futures.Future[CommandResult] | None,
                   timeout_s: float) -> CommandResult:  # fmt: skip
    """Wait for a command's result on another thread; an engine that is gone or does not
    answer in time is a refused command, never an exception."""
    if future is None:
        return CommandResult(False, "the engine is not running")
    try:
        return future.result(timeout_s)
    except concurrent.futures.TimeoutError:
        return CommandResult(False, f"the engine did not answer within {timeout_s:g} s")


async def command_result_async(future: concurrent.futures.Future[CommandResult] | None,
                               timeout_s: float) -> CommandResult:  # fmt: skip
    """`command_result` for a caller on an event loop (the TUI): never blocks it."""
    if future is None:
        return CommandResult(False, "the engine is not running")
    try:
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout_s)
    except TimeoutError:
        return CommandResult(False, f"the engine did not answer within {timeout_s:g} s")


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    try:
        tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()
