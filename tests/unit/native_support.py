"""The project's C modules (`_native.C_MODULES`) loaded from the build, whatever this
process runs (`HIP3TERM_PURE`), and only when the build was made from the C source on
disk; and a probe of a fresh interpreter in either mode."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from hip3term import _native

ROOT = Path(__file__).resolve().parents[2]


def built_c_module(name: str) -> ModuleType:
    """The built extension module `name` (one of `_native.C_MODULES`), loaded by path."""
    source = _native.source_path(name)
    built = [path for suffix in importlib.machinery.EXTENSION_SUFFIXES
             if (path := source.with_suffix(suffix)).exists()]  # fmt: skip
    assert built, f"{source.name} is not built: run `make` (it compiles the hot path)"
    record = json.loads(_native.MANIFEST.read_text())
    assert record.get(name) == _native.manifest([name])[name], (
        f"{source.name} changed since the build: run `make`")
    spec = importlib.util.spec_from_file_location(name, built[0])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def probe(pure: str, code: str) -> str:
    """What `code` prints in a fresh interpreter with `HIP3TERM_PURE=pure`."""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          env={**os.environ, _native.PURE_ENV: pure}, text=True, timeout=60,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def refused_in_the_source_run(name: str, checks: str) -> str:
    """In a fresh interpreter running the Python source (`HIP3TERM_PURE=1`): run `checks`
    (statements), then import the C module `name`; what its ModuleNotFoundError says."""
    return probe("1", f"{checks}try:\n    import {name}\nexcept ModuleNotFoundError as exc:\n"
                      "    print(exc)\n")
