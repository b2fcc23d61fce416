"""Compile the hot path with mypyc, in place: `python scripts/build_native.py [--jobs N]`.

`make` runs this after installing (the modules are `hip3term._native.MODULES`). It
type-checks them with the project's mypy configuration, writes C under `build/native`
(from scratch each time), compiles one extension module per source module beside it (and
the modules written in C, `_native.C_MODULES`) and records the sources' hashes in
`hip3term/_native.json`, which is what lets the package
trust the extension modules (`hip3term._native`). `--clean` removes the extension modules
and the record instead: the package is pure Python again.

Needs a C compiler and the Python headers; without them it fails with the compiler's
message, and the package keeps running its Python source.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.machinery
import io
import json
import os
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="parallel C compiles (default: the CPU count)")
    parser.add_argument("--clean", action="store_true",
                        help="remove the compiled modules and their record")
    args = parser.parse_args()
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    os.environ["HIP3TERM_PURE"] = "1"  # the build reads the sources, never stale builds
    from hip3term import _native

    _native.MANIFEST.unlink(missing_ok=True)  # trusted again only once the build is whole
    removed = _remove_compiled()  # also a module no longer in the list
    if args.clean:
        print(f"build_native: {removed} compiled modules removed; hip3term runs its Python "
              "source")
        return 0

    import shutil

    from mypyc.build import mypycify
    from setuptools import Extension, setup

    started = time.perf_counter()
    # from scratch: mypyc's separate compilation reuses C of unchanged modules whose
    # export tables no longer match the changed ones
    shutil.rmtree(ROOT / "build" / "native", ignore_errors=True)
    sources = [str(_native.source_path(name).relative_to(ROOT)) for name in _native.MODULES]
    record = _native.manifest()  # hashed before the compile: what was compiled
    said = io.StringIO()  # mypyc's notes (e.g. a generator it turns into a list)
    try:
        with contextlib.redirect_stdout(said), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # setuptools on pyproject.toml: not ours to build
            extensions = mypycify(sources, opt_level="3", separate=True,
                                  target_dir="build/native")
            extensions += [Extension(name, [str(_native.source_path(name).relative_to(ROOT))],
                                     extra_compile_args=["-O2"])
                           for name in _native.C_MODULES]  # fmt: skip
            setup(name="hip3term-native", packages=[], ext_modules=extensions,
                  script_args=["--quiet", "build_ext", "--inplace", "--parallel",
                               str(args.jobs), "--build-temp", "build/native/temp"])
    except BaseException:
        print(said.getvalue(), end="", file=sys.stderr)
        _remove_compiled()
        print("build_native: failed (above); hip3term runs its Python source",
              file=sys.stderr)
        raise
    _native.MANIFEST.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    print(f"build_native: {len(sources)} modules compiled with mypyc and "
          f"{len(_native.C_MODULES)} in C in {time.perf_counter() - started:.0f} s")
    return 0


def _remove_compiled() -> int:
    # Every mypyc library under the packages and the extension module beside it that
    # loads it (`<module>__mypyc<suffix>` and `<module><suffix>`), and the C modules.
    from hip3term import _native

    removed = 0
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        for package in ("hip3term", "plugins"):
            for library in (ROOT / package).rglob(f"*__mypyc{suffix}"):
                shim = library.with_name(library.name.replace(f"__mypyc{suffix}", suffix))
                library.unlink()
                shim.unlink(missing_ok=True)
                removed += 1
        for name in _native.C_MODULES:
            built = _native.source_path(name).with_suffix(suffix)
            if built.exists():
                built.unlink()
                removed += 1
    return removed


if __name__ == "__main__":
    sys.exit(main())
