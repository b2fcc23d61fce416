"""`hip3term run --market COIN` in a real pseudo-terminal, as `make run` starts it.

The whole default path: the CLI, the TUI in this process's child, the engine in its own
process (`tui.engine = "process"`), the embedded simulator in another. The test reads
the terminal's output the way a person looks at the screen, presses `h`, then `q` and
`y`, and checks the program exits 0 and leaves no process of the session behind.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

_ESCAPES = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78]")


class _Terminal:
    # A pseudo-terminal of 160x48 around one process; `text` is what it printed so far
    # with the escape sequences taken out (good enough to find words on the screen).
    def __init__(self, argv: list[str], cwd: Path) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 48, 160, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "48"}
        env.pop("HIP3TERM_CONFIG", None)
        self.process = subprocess.Popen(argv, cwd=cwd, stdin=slave, stdout=slave, stderr=slave,
                                        env=env, start_new_session=True)  # fmt: skip
        os.close(slave)
        self.master, self.raw = master, b""

    @property
    def text(self) -> str:
        return _ESCAPES.sub(b"", self.raw).decode("utf-8", "replace")

    def pump(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.master], [], [], min(left, 0.1))
            if ready:
                try:
                    self.raw += os.read(self.master, 65536)
                except OSError:  # the process closed the terminal
                    return

    def wait_for(self, word: str, seconds: float, since: int = 0) -> int:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.pump(0.2)
            at = self.text.find(word, since)
            if at >= 0:
                return at
            if self.process.poll() is not None:
                break
        raise AssertionError(f"{word!r} never appeared on the screen; last output:\n"
                             f"{self.text[-2000:]}")  # fmt: skip

    def press(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        os.close(self.master)


def _session_processes(marker: str) -> list[str]:
    # Every process whose command line or working directory points into the scratch dir.
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(entry / "cwd")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and (marker in cmdline or cwd.startswith(marker)):
            found.append(f"{entry.name}: {cmdline}")
    return found


def _nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_run_opens_the_workstation_halts_and_quits_cleanly(tmp_path: Path) -> None:
    hip3term = Path(sys.executable).with_name("hip3term")
    term = _Terminal([str(hip3term), "run", "--market", "COIN"], tmp_path)
    try:
        term.wait_for("READY", 60)
        term.wait_for("xyz:COIN", 10)
        running = _session_processes(str(tmp_path))
        assert len(running) >= 3, running  # the TUI, the engine process, the simulator
        engine = [line for line in running if "multiprocessing.spawn" in line]
        assert engine, running
        # tui.yield_cpu = 5: the screen's process gave way, the engine kept its priority
        assert _nice(term.process.pid) == 5
        assert _nice(int(engine[0].split(":")[0])) == 0
        before = len(term.text)
        term.press("h")
        term.wait_for("TRIPPED", 10, since=before)
        term.press("q")
        term.wait_for("Quit hip3term?", 10)
        term.press("y")
        deadline = time.monotonic() + 60
        while term.process.poll() is None and time.monotonic() < deadline:
            term.pump(0.2)
        assert term.process.poll() == 0, term.text[-2000:]
    finally:
        term.close()
    assert "Traceback" not in term.text
    deadline = time.monotonic() + 15
    while (left := _session_processes(str(tmp_path))) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"processes left behind: {left}"
    log = (tmp_path / "state" / "hip3term.log").read_text()
    assert "latch_tripped: operator" in log
