"""Run the node in a child process; hand the TUI a `NodeHandle` that reads its snapshots.

Why a process: on an engine *thread* the engine and the TUI share one interpreter lock.
Textual's compositor takes ~10 ms of CPU per 10 Hz update, and while it runs the engine
gets the lock only every switch interval (1 ms), so the engine loop's lag reached p99
4-5 ms and max 12-22 ms with the TUI on (`benchmarks/bench_tui_lag.py`; target p99 2 ms,
max 10 ms). In a child process the engine has an interpreter of its own; all it pays for
the TUI is pickling one snapshot per publish interval (a few kB).

The child runs the same `EngineThread` as the in-process mode (the node on its own loop,
a snapshot every `publish_interval_s`) and its main thread is a small pump: it sends each
new snapshot to the parent and carries the parent's commands to the engine loop. The
parent's reader thread keeps the latest snapshot (`latest`), resolves command futures,
and notes the child's end (`finished`, `failure`).

Messages on the pipe (pickled tuples): parent -> child `("key", raw)` once (the signing
key's 32 bytes, only when there is a key: `SecretKey` refuses to be pickled, so the key
never travels inside the arguments of the spawned process), `("command", id, command,
who, reason)`, `("stop", reason)`; child -> parent `("snapshot", NodeSnapshot)`,
`("result", id, CommandResult)`, `("failure", kind, message)`, `("finished",)`.

The child ignores SIGINT and SIGHUP (the terminal belongs to the TUI, whose ^C is a key;
when the terminal closes the TUI ends and the pipe's end stops the engine cleanly), sends its
log records and its stderr to `log_path`, and stops the node when the parent goes away
(end of file on the pipe).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import gc
import itertools
import logging
import multiprocessing
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from hip3term.config import Settings
from hip3term.runtime.credentials import Credentials
from hip3term.runtime.snapshot import CommandResult, NodeSnapshot, OperatorCommand
from hip3term.runtime.thread import EngineThread, command_result, command_result_async

__all__ = ["EngineProcess", "EngineProcessError", "NodeSpec"]

_log = logging.getLogger("hip3term.runtime.process")
_POLL_S = 0.01  # the child's pump: how often it looks for a new snapshot

ChildMain = Callable[[Connection, "NodeSpec", float], None]
"""The child's entry point: (pipe end, spec, publish interval)."""


class EngineProcessError(RuntimeError):
    """The child's engine ended with an error; `kind` is the original exception's type."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class NodeSpec:
    """What the child needs to build the node: everything but the key's material.

    Attributes:
        settings: the run's settings (the strategy is loaded from `settings.strategy`).
        account: the account address queries use.
        fund: (address, USDC) the embedded simulator credits at start.
        key_source: where the key came from (for the log), "none" without a key.
        log_path: where the child's log records and stderr go (None: dropped).
    """

    settings: Settings
    account: str | None
    fund: tuple[tuple[str, Any], ...] = ()
    key_source: str = "none"
    log_path: Path | None = None

    @classmethod
    def of(cls, settings: Settings, credentials: Credentials,
           log_path: Path | None = None) -> NodeSpec:  # fmt: skip
        """The spec of a run with these settings and credentials (the key stays out)."""
        return cls(settings, credentials.account, credentials.fund, credentials.source,
                   log_path)  # fmt: skip


class EngineProcess:
    """The node in a child process, driven like an `EngineThread` (see the module doc).

    Args:
        spec: what the child builds (settings, account; the key is sent separately).
        key_bytes: the signing key's raw bytes, or None for a run that signs nothing.
        publish_interval_s: how often the child publishes a snapshot.
        command_timeout_s: how long a command waits for the engine's answer.
        target: the child's entry point, `child_main` or a picklable wrapper of it (the
            benchmark's adds a lag probe with `functools.partial(child_main, on_engine=)`).
    """

    def __init__(self, spec: NodeSpec, key_bytes: bytes | None, *, publish_interval_s: float = 0.1,
                 command_timeout_s: float = 5.0,
                 target: ChildMain | None = None) -> None:  # fmt: skip
        self.spec = spec
        self.target = child_main if target is None else target
        self.publish_interval_s = publish_interval_s
        self.command_timeout_s = command_timeout_s
        self._key_bytes = key_bytes
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._reader: threading.Thread | None = None
        self._latest: NodeSnapshot | None = None
        self._failure: BaseException | None = None
        self._stop_reason: str | None = None
        self._ended = threading.Event()
        self._first = threading.Event()
        self._send_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pending: dict[int, concurrent.futures.Future[CommandResult]] = {}

    def __repr__(self) -> str:
        return f"EngineProcess(pid={self.pid}, finished={self.finished})"

    # ------------------------------------------------------------ state, any thread

    @property
    def pid(self) -> int | None:
        """The child's process id once started."""
        return None if self._process is None else self._process.pid

    @property
    def latest(self) -> NodeSnapshot | None:
        """The last snapshot received (None until the child published one)."""
        return self._latest

    @property
    def failure(self) -> BaseException | None:
        """Why the engine ended (`EngineProcessError`), None while it runs or after a clean stop."""
        return self._failure

    @property
    def started(self) -> bool:
        """True once `start()` was called."""
        return self._process is not None

    @property
    def finished(self) -> bool:
        """True once the child's engine has ended (stopped, failed or the child died)."""
        return self._ended.is_set()

    @property
    def stop_requested(self) -> bool:
        """True once `request_stop` was called."""
        return self._stop_reason is not None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Spawn the child and hand it the key. Call once."""
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe(duplex=True)
        process = ctx.Process(target=self.target, args=(child, self.spec, self.publish_interval_s),
                              name="hip3term-engine", daemon=True)  # fmt: skip
        with _stdio_with_descriptors():
            process.start()
        child.close()
        self._process, self._conn = process, parent
        if self._key_bytes is not None:
            self._send(("key", self._key_bytes))
            self._key_bytes = None
        self._reader = threading.Thread(target=self._read_forever, name="hip3term-engine-pipe",
                                        daemon=True)  # fmt: skip
        self._reader.start()
        if self._stop_reason is not None:
            self._send(("stop", self._stop_reason))

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the first snapshot arrived or the engine ended; True if ready."""
        self._first.wait(timeout)
        return self._latest is not None

    def request_stop(self, reason: str = "operator quit") -> None:
        """Ask the node to stop gracefully (idempotent; before `start` it stops at once)."""
        if self._stop_reason is not None:
            return
        self._stop_reason = reason
        if self._conn is not None:
            self._send(("stop", reason))

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the child to exit; True when it has (`terminate` is the caller's
        last resort when it has not)."""
        if self._process is None:
            return True
        self._process.join(timeout)
        if self._process.is_alive():
            return False
        if self._reader is not None:
            self._reader.join(1.0)
        self._ended.set()
        return True

    def terminate(self) -> None:
        """Kill the child (the last resort when it does not stop)."""
        if self._process is not None and self._process.is_alive():
            self._process.terminate()

    # ------------------------------------------------------------ NodeHandle

    def snapshot(self) -> NodeSnapshot:
        """The last snapshot received.

        Raises:
            RuntimeError: none arrived yet.
        """
        latest = self._latest
        if latest is None:
            raise RuntimeError("the node has not published a snapshot yet")
        return latest

    def command(self, command: OperatorCommand, *, who: str = "operator",
                reason: str = "") -> CommandResult:  # fmt: skip
        """Carry out an operator command in the child and wait for its result."""
        return command_result(self._command(command, who, reason), self.command_timeout_s)

    async def command_async(self, command: OperatorCommand, *, who: str = "operator",
                            reason: str = "") -> CommandResult:  # fmt: skip
        """`command()` for a caller on an event loop (the TUI): never blocks it."""
        future = self._command(command, who, reason)
        return await command_result_async(future, self.command_timeout_s)

    # ------------------------------------------------------------ parent side

    def _command(self, command: OperatorCommand, who: str,
                 reason: str) -> concurrent.futures.Future[CommandResult] | None:  # fmt: skip
        if self._conn is None or self.finished:
            return None
        ident = next(self._ids)
        future: concurrent.futures.Future[CommandResult] = concurrent.futures.Future()
        self._pending[ident] = future
        if not self._send(("command", ident, command, who, reason)):
            self._pending.pop(ident, None)
            return None
        return future

    def _send(self, message: tuple[Any, ...]) -> bool:
        conn = self._conn
        if conn is None:
            return False
        try:
            with self._send_lock:
                conn.send(message)
        except (OSError, ValueError):  # the child is gone
            return False
        return True

    def _read_forever(self) -> None:
        conn = self._conn
        assert conn is not None
        try:
            while True:
                message = conn.recv()
                kind = message[0]
                if kind == "snapshot":
                    self._latest = message[1]
                    self._first.set()
                elif kind == "result":
                    future = self._pending.pop(message[1], None)
                    if future is not None and not future.done():
                        future.set_result(message[2])
                elif kind == "failure":
                    self._failure = EngineProcessError(message[1], message[2])
                elif kind == "finished":
                    break
        except (EOFError, OSError):
            if self._failure is None and self._stop_reason is None:
                self._failure = EngineProcessError("ChildExited", "the engine process ended "
                                              "without saying why (see the log)")  # fmt: skip
        except Exception as exc:  # reason: a broken message must not leave the UI waiting
            self._failure = EngineProcessError(type(exc).__name__, f"engine pipe: {exc}")
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_result(CommandResult(False, "the engine stopped"))
            self._pending.clear()
            self._first.set()
            self._ended.set()


@contextlib.contextmanager
def _stdio_with_descriptors() -> Iterator[None]:
    # A running Textual app replaces sys.stdout/sys.stderr with objects whose fileno() is
    # -1; spawning (multiprocessing's resource tracker) hands those descriptors on and
    # refuses -1. The interpreter's own streams are put back for the spawn.
    saved = sys.stdout, sys.stderr
    try:
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            try:
                ok = stream.fileno() >= 0
            except (AttributeError, OSError, ValueError):
                ok = False
            original = getattr(sys, f"__{name}__")
            if not ok and original is not None:
                setattr(sys, name, original)
        yield
    finally:
        sys.stdout, sys.stderr = saved


# ---------------------------------------------------------------- child side


def child_main(conn: Connection, spec: NodeSpec, publish_interval_s: float, *,
               on_engine: Callable[[EngineThread], None] | None = None) -> None:  # fmt: skip
    """The child process: build and run the node on an engine thread; pump the pipe.

    `on_engine(engine)` (benchmarks) is called with the started `EngineThread`.
    """
    # The terminal belongs to the TUI: ^C is its key, and when the terminal goes away
    # (SIGHUP to the whole foreground group) the TUI process ends, the pipe reaches its
    # end and the engine stops cleanly (cancel-all per config) instead of dying mid-way.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    _child_logging(spec.log_path)
    try:
        engine = _child_engine(conn, spec, publish_interval_s)
    except BaseException as exc:  # reason: every start failure is reported to the TUI
        _log.exception("the engine process could not start")
        with contextlib.suppress(OSError, ValueError):
            conn.send(("failure", type(exc).__name__, str(exc)))
            conn.send(("finished",))
        return
    if on_engine is not None:
        on_engine(engine)
    _Pump(conn, engine).run()


def _child_logging(log_path: Path | None) -> None:
    # Nothing the child prints may reach the terminal the TUI draws on.
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.INFO)
    if log_path is None:
        root.addHandler(logging.NullHandler())
        target = os.devnull
    else:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: "
                                               "%(message)s"))  # fmt: skip
        root.addHandler(handler)
        target = str(log_path)
    for noisy in ("websockets", "hip3term.feeds", "hip3term.sim"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(fd)
    os.close(null)


def _child_engine(conn: Connection, spec: NodeSpec, publish_interval_s: float) -> EngineThread:
    from hip3term.keys import SecretKey
    from hip3term.runtime.launch import launch
    from hip3term.strategy.loader import load_strategy

    key = None
    if spec.key_source != "none":
        message = conn.recv()
        if message[0] != "key":
            raise RuntimeError("the engine process expected its key first")
        key = SecretKey(message[1])
        del message
    credentials = Credentials(key, spec.account, spec.fund, spec.key_source)
    settings = spec.settings
    strategy = load_strategy(settings.strategy.name, settings.strategy.params)

    async def factory() -> Any:
        return await launch(settings, strategy=strategy, credentials=credentials)

    engine = EngineThread(factory, publish_interval_s=publish_interval_s)
    engine.start()
    return engine


class _Pump:
    # The child's main thread: snapshots out, commands in (onto the engine loop), the end.
    def __init__(self, conn: Connection, engine: EngineThread) -> None:
        self.conn, self.engine = conn, engine
        self.unsent = 0
        self.results: list[tuple[int, concurrent.futures.Future[CommandResult]]] = []

    def run(self) -> None:
        engine, sent, frozen = self.engine, None, False
        try:
            while not engine.finished:
                latest = engine.latest
                if latest is not None and latest is not sent:
                    self._send_snapshot(latest)
                    sent = latest
                    if not frozen and latest.ready.ready:
                        # Start-up is over (imports, node, connection): a full collection
                        # would scan all of it and stop the engine for tens of ms; frozen,
                        # the collector scans only what comes later.
                        gc.freeze()
                        frozen = True
                self._send_results()
                if self.conn.poll(_POLL_S):
                    self._receive(self.conn.recv())
        except (EOFError, OSError):
            engine.request_stop("the TUI went away")
            engine.join(30)
            return
        engine.join(5)
        with contextlib.suppress(OSError, ValueError):
            self._send_results()
            if engine.latest is not None and engine.latest is not sent:
                self._send_snapshot(engine.latest)
            if engine.failure is not None:
                failure = engine.failure
                self.conn.send(("failure", type(failure).__name__, str(failure)))
            self.conn.send(("finished",))

    def _send_snapshot(self, snapshot: NodeSnapshot) -> None:
        # A snapshot that cannot be pickled is a bug to log, not a reason to stop
        # trading: the TUI keeps the previous one (and shows its age).
        try:
            payload = pickle.dumps(("snapshot", snapshot), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            self.unsent += 1
            if self.unsent <= 3:
                _log.exception("engine process: a snapshot could not be pickled")
            return
        self.conn.send_bytes(payload)

    def _receive(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "stop":
            self.engine.request_stop(message[1])
        elif kind == "command":
            _, ident, command, who, reason = message
            # the same path as the in-process TUI's (the result, then a fresh snapshot)
            coro = self.engine.command_async(command, who=who, reason=reason)
            try:
                self.results.append((ident, self.engine.submit(coro)))
            except RuntimeError:  # the engine loop is gone
                coro.close()
                self.conn.send(("result", ident, CommandResult(False, "the engine is not "
                                                                      "running")))

    def _send_results(self) -> None:
        done = [(i, f) for i, f in self.results if f.done()]
        if not done:
            return
        self.results = [(i, f) for i, f in self.results if not f.done()]
        for ident, future in done:
            try:
                result = future.result()
            except Exception as exc:  # reason: the TUI shows a failed command, never hangs
                result = CommandResult(False, f"command failed: {exc}")
            self.conn.send(("result", ident, result))


if __name__ == "__main__":  # pragma: no cover - not a script
    sys.exit("hip3term.runtime.process is a library module")
