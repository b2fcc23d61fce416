"""The compiled hot path: which modules mypyc compiles, and the guard that keeps them honest.

The per-frame and per-order path (parser, market state, features, engine, gates' callers,
executor, tracker, replay venue, exchange and clock, and the shipped strategies' callbacks)
is plain typed Python, checked by `mypy --strict`; `scripts/build_native.py` (run by `make`)
compiles the modules named in `MODULES` with mypyc into extension modules beside their
sources (1.7-1.8x faster replays, README). The Python source stays the reference: the same
tests pass either way.

A compiled module must never run stale code. The build writes `_native.json`, the SHA-256
of every compiled module's source; when this package is imported, `install()` compares
it with the sources on disk. If the build is missing, any source has changed since, or
`HIP3TERM_PURE=1` is set, every module in `MODULES` is imported from its `.py` file (all or
nothing: a compiled module calls the others' compiled code directly, so a mix is never
safe). `STATUS` says which and why (`hip3term --version`, the replay benchmark).

Hot records. A compiled dataclass still gets its `__init__` from `dataclasses`: Python
code, which for a frozen one calls `object.__setattr__` once per field (0.6-1 us to build a
record of three or four fields). The frozen records built once per frame, tick, risk check
or signal (`Verdict`, `AssetContext`, `MarketHealth`, `RiskInputs`, `Position`,
`FlattenStep`, `Features`) have `init=False` and a written `__init__` making the same
calls, which mypyc compiles to direct stores (0.1 us); still frozen, equal and hashed as
before (in the Python source it is the same code as the generated one). `AssetContext` also compares
by identity (`eq=False`): each context received is a new record, which is all the engine's
tick key asks, without comparing eight fields in Python. tests/unit/test_native.py holds
each of them to that.

The shipped strategies. `plugins/<name>/strategy.py` of the two shipped plugins is compiled
too (their callbacks run on every frame: -4 % of a replay's instructions). A compiled
`Strategy` subclass is a native class deriving the interpreted `Strategy`: the base's
class attributes (declared `ClassVar`) stay class values and the callbacks plain methods,
so the loader, the host and the replay benchmark (which swaps callbacks on the class) see
what they saw. Their pydantic parameter models live in `params.py` beside them, not
compiled (mypyc does not compile a class with a metaclass, and the C it writes for a
`BaseModel` subclass does not build). Other plugins run interpreted, as before. An
operator's plugin may still extend a shipped strategy in Python: the classes are marked
`mypyc_attr(allow_interpreted_subclasses=True)` (from `mypy-extensions`, a dependency), so
the compiled code calls a subclass's overrides. A compiled strategy does check its
arguments' types (a callback wants a real `StrategyContext`).
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType
from typing import Final

__all__ = ["C_MODULES", "MODULES", "STATUS", "install", "manifest", "source_path"]

MODULES: Final = (
    "hip3term.book.features",
    "hip3term.book.inputs",
    "hip3term.book.market_state",
    "hip3term.core.events",
    "hip3term.core.numeric",
    "hip3term.execution.executor",
    "hip3term.execution.flatten",
    "hip3term.execution.orders",
    "hip3term.execution.scheduler",
    "hip3term.feeds.dedupe",
    "hip3term.positions.tracker",
    "hip3term.replay.clock",
    "hip3term.replay.exchange",
    "hip3term.replay.report",
    "hip3term.replay.ticker",
    "hip3term.replay.venue",
    "hip3term.risk.latch",
    "hip3term.runtime.engine",
    "hip3term.runtime.fillgap",
    "hip3term.runtime.host",
    "hip3term.strategy.context",
    "hip3term.venue.hyperliquid.compact",
    "hip3term.venue.hyperliquid.parse",
    "hip3term.venue.sim.matching",
    "plugins.maker.strategy",
    "plugins.oracle_dislocation.strategy",
)
"""The modules mypyc compiles (`scripts/build_native.py`)."""

C_MODULES: Final = ("hip3term.core._records", "hip3term.venue.hyperliquid._scan")
"""Extension modules written in C (`<module>.c` beside the package's sources), built with
the others and trusted or refused with them: in the Python source's run they cannot be
imported, and their importers use their Python reference instead (see `compact`)."""

PURE_ENV: Final = "HIP3TERM_PURE"
_ROOT: Final = Path(__file__).resolve().parent.parent
MANIFEST: Final = Path(__file__).with_name("_native.json")

STATUS = "not checked"
"""`compiled`, or `pure (<why>)`, once `install()` ran (at this package's import)."""


def source_path(module: str) -> Path:
    """The source of a module in `MODULES` (`.py`) or `C_MODULES` (`.c`)."""
    suffix = ".c" if module in C_MODULES else ".py"
    return _ROOT.joinpath(*module.split(".")).with_suffix(suffix)


def manifest(modules: Sequence[str] = MODULES + C_MODULES) -> dict[str, str]:
    """The SHA-256 of each module's source, as the build records it."""
    return {name: hashlib.sha256(source_path(name).read_bytes()).hexdigest()
            for name in modules}  # fmt: skip


def _why_pure() -> str | None:
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        return f"{PURE_ENV} is set"
    try:
        built = json.loads(MANIFEST.read_text())
    except FileNotFoundError:
        return "not built (make builds it)"
    except (OSError, ValueError) as exc:
        return f"unreadable {MANIFEST.name}: {exc}"
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    for name in MODULES + C_MODULES:
        base = source_path(name).with_suffix("")
        if not any(base.with_name(base.name + suffix).exists() for suffix in suffixes):
            return f"{name} is not compiled (make builds it)"
    try:
        if built != manifest():
            return "sources changed since the build (make rebuilds it)"
    except OSError as exc:
        return f"unreadable source: {exc}"
    return None


class _SourceFinder:
    # Imports the modules of MODULES from their .py files (ahead of the path finder,
    # which would take the extension module beside them), and refuses C_MODULES.
    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:  # fmt: skip
        if fullname in C_MODULES:
            raise ModuleNotFoundError(f"{fullname} is not used: {STATUS}", name=fullname)
        if fullname not in MODULES:
            return None
        return importlib.util.spec_from_file_location(fullname, source_path(fullname))


def install() -> str:
    """Decide compiled or pure for this process (once; see the module docstring)."""
    global STATUS
    if STATUS != "not checked":
        return STATUS
    why = _why_pure()
    if why is None:
        STATUS = "compiled"
    else:
        STATUS = f"pure ({why})"
        sys.meta_path.insert(0, _SourceFinder())
    return STATUS
