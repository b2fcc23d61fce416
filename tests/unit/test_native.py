"""The compiled hot path's guard (`hip3term._native`): the build is used only when it is
whole and was made from the sources on disk; otherwise every listed module is imported from
its `.py` file. (That the two give the same replays: tests/integration/test_replay.py.)"""

from __future__ import annotations

import importlib.machinery
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hip3term import _native

ROOT = Path(__file__).resolve().parents[2]
PROBE = ("import importlib, json, sys; from hip3term import _native; "
         "print(json.dumps([_native.STATUS, "
         "[importlib.import_module(m).__file__ for m in _native.MODULES]]))")  # fmt: skip


def probe(**env: str) -> tuple[str, list[str]]:
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    status, files = json.loads(done.stdout)
    return status, files


def test_the_built_modules_are_the_ones_imported() -> None:
    status, files = probe(**{_native.PURE_ENV: "0"})
    assert status == "compiled", "run `make` (it compiles the hot path) before the tests"
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    assert len(files) == len(_native.MODULES) >= 20
    assert all(file.endswith(suffixes) for file in files), files


def test_pure_env_imports_every_listed_module_from_its_source() -> None:
    status, files = probe(**{_native.PURE_ENV: "1"})
    assert status == f"pure ({_native.PURE_ENV} is set)"
    assert files == [str(_native.source_path(m)) for m in _native.MODULES]


def test_a_build_of_other_sources_or_no_build_is_not_trusted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.delenv(_native.PURE_ENV, raising=False)
    record = tmp_path / "_native.json"
    monkeypatch.setattr(_native, "MANIFEST", record)
    assert _native._why_pure() == "not built (make builds it)"
    built = _native.manifest()
    record.write_text(json.dumps(built))
    assert _native._why_pure() is None  # the build matches the sources on disk
    edited = {**built, _native.MODULES[3]: "0" * 64}  # one source changed since the build
    record.write_text(json.dumps(edited))
    assert _native._why_pure() == "sources changed since the build (make rebuilds it)"
    record.write_text("{not json")
    assert (_native._why_pure() or "").startswith("unreadable _native.json")


def test_version_says_which_path_runs() -> None:
    done = subprocess.run([sys.executable, "-m", "hip3term", "--version"], cwd=ROOT,
                          env={**os.environ, _native.PURE_ENV: "1"}, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(f"(hot path: pure ({_native.PURE_ENV} is set))")
