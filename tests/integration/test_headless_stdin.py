"""`hip3term run --headless` as a service runs it: stdin is /dev/null or a file of commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _run(tmp_path: Path, stdin: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hip3term", "run", "--headless", "--duration", "4"],
        stdin=stdin, capture_output=True, text=True, timeout=90, cwd=tmp_path, check=False,
    )


def test_stdin_from_dev_null_is_no_error(tmp_path: Path) -> None:
    result = _run(tmp_path, subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "stopped (--duration 4 s reached)" in result.stdout + result.stderr


def test_commands_from_a_regular_file_are_obeyed(tmp_path: Path) -> None:
    commands = tmp_path / "commands.txt"
    commands.write_text("pause testing a file\nquit\n")
    with commands.open() as stdin:
        result = _run(tmp_path, stdin)
    output = result.stdout + result.stderr
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in output
    assert "quit by" in output
