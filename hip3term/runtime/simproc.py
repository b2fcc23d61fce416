"""The embedded simulator as a child process (`hip3term sim`), for `run` and `record`.

The child is started with port 0; its first stdout line, `hip3term sim: serving URL`,
tells where it listens. Its stderr is passed through to a log file (or discarded) so its
logging never draws over a terminal UI. `aclose()` ends it with SIGTERM, then SIGKILL.

The child dies with its parent: it runs with the hidden `--exit-with-parent` flag and a
pipe on its stdin whose write end only the parent holds, so when the parent exits (even
by kill -9) the child reads end of file and stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from types import TracebackType

from hip3term.errors import Hip3Error

_BANNER = "hip3term sim: serving "


class SimulatorError(Hip3Error):
    """The embedded simulator could not be started."""

    title = "simulator error"
    exit_code = 1


class SimProcess:
    """A `hip3term sim` child process on 127.0.0.1; use `await SimProcess.start(...)`."""

    def __init__(self, proc: asyncio.subprocess.Process, url: str, banner: list[str]) -> None:
        self.proc = proc
        self.url = url
        self.banner = banner
        # keep reading stdout so the child never blocks on a full pipe
        self._drain = asyncio.get_running_loop().create_task(_drain(proc), name="sim-stdout")

    @classmethod
    async def start(
        cls,
        coins: Sequence[str],
        *,
        seed: int = 1,
        fund: Sequence[tuple[str, Decimal]] = (),
        faults: str = "",
        shocks_per_hour: float | None = None,
        extra_args: Sequence[str] = (),
        log_path: Path | None = None,
        exit_with_parent: bool = True,
        timeout: float = 20.0,  # noqa: ASYNC109  # reason: a plain start-up deadline
    ) -> SimProcess:
        """Start the simulator and wait until it prints its URL.

        Args:
            coins: markets to simulate ("COIN" or "xyz:COIN").
            seed: seed of the synthetic markets.
            fund: accounts to fund, as (address, USDC).
            faults: a `--faults` spec ("" for none).
            shocks_per_hour: dislocation shocks an hour (the simulator's default if None).
            extra_args: more `hip3term sim` options.
            log_path: file for the child's stderr (discarded when None).
            exit_with_parent: the child stops when this process exits (stdin pipe).
            timeout: seconds to wait for the URL.

        Raises:
            SimulatorError: the child exited or printed no URL in time.
        """
        args = [sys.executable, "-m", "hip3term", "sim", "--port", "0", "--seed", str(seed)]
        for coin in coins:
            args += ["--market", coin]
        for address, usdc in fund:
            args += ["--fund", f"{address}={usdc}"]
        if faults:
            args += ["--faults", faults]
        if shocks_per_hour is not None:
            args += ["--shocks-per-hour", str(shocks_per_hour)]
        args += list(extra_args)
        if exit_with_parent:
            args.append("--exit-with-parent")
        stderr = open(log_path, "ab") if log_path else None  # noqa: SIM115, ASYNC230
        try:
            proc = await asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.PIPE if exit_with_parent else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr if stderr else asyncio.subprocess.DEVNULL,
            )
        finally:
            if stderr:
                stderr.close()
        try:
            url, banner = await asyncio.wait_for(_read_banner(proc), timeout)
        except (TimeoutError, SimulatorError) as exc:
            await _stop(proc)
            raise SimulatorError(f"the embedded simulator did not start: {exc}") from None
        return cls(proc, url, banner)

    async def aclose(self) -> None:
        """Stop the child (SIGTERM, then SIGKILL after 5 s). Safe to call twice."""
        await _stop(self.proc)
        self._drain.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._drain

    async def __aenter__(self) -> SimProcess:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.shield(self.aclose())


async def _read_banner(proc: asyncio.subprocess.Process) -> tuple[str, list[str]]:
    assert proc.stdout is not None
    lines: list[str] = []
    url = ""
    while True:
        raw = await proc.stdout.readline()
        if not raw:
            raise SimulatorError(f"it exited with status {await proc.wait()}")
        line = raw.decode(errors="replace").rstrip()
        lines.append(line)
        if line.startswith(_BANNER):
            url = line[len(_BANNER):].strip()
        if line.startswith("Ctrl-C") and url:
            return url, lines


async def _drain(proc: asyncio.subprocess.Process) -> None:
    assert proc.stdout is not None
    with contextlib.suppress(Exception):
        while await proc.stdout.read(65536):
            pass


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), 5.0)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
