"""`hip3term --help` lists every command with one whole line each."""

from __future__ import annotations

import subprocess
import sys

EXPECTED = (
    "run", "sim", "record", "recordings", "replay", "report", "train", "plugins", "config",
    "keys", "sign",
)


def test_help_lists_each_command_on_one_untruncated_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hip3term", "--help"], capture_output=True, text=True,
        timeout=60, env={"COLUMNS": "80", "PATH": "/usr/bin:/bin"}, check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("Commands:", 1)[1].strip().splitlines()
    names = [line.split()[0] for line in lines]
    assert sorted(names) == sorted(EXPECTED)
    for line in lines:
        assert len(line.split(maxsplit=1)) == 2, f"no description: {line!r}"
        assert not line.rstrip().endswith("..."), f"truncated: {line!r}"
