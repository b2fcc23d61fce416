# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# the hot path mypyc compiles (hip3term/_native.py lists it: hip3term modules and the shipped
# strategies' plugins/*/strategy.py); its record says the build is whole
NATIVE := hip3term/_native.json
NATIVE_SRC := $(addsuffix .py,$(subst .,/,$(shell sed -n 's/^    "\(\(hip3term\|plugins\)\.[.a-z_]*\)",$$/\1/p' hip3term/_native.py)))
# and the modules written in C (_native.C_MODULES)
NATIVE_SRC += $(shell find hip3term -name '*.c')

.PHONY: run test native pure lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# compile the hot path with mypyc (about a minute on 2 cores; again when one of its sources
# changes: until then the package runs its Python source, never a stale build)
$(NATIVE): $(STAMP) $(NATIVE_SRC) hip3term/_native.py scripts/build_native.py
	$(BIN)/python scripts/build_native.py

native: $(NATIVE)

## make pure: remove the compiled modules (the package runs its Python source)
pure:
	$(BIN)/python scripts/build_native.py --clean

## make run: create .venv, install, compile, start the workstation on the embedded simulator
run: $(STAMP) $(NATIVE)
	$(BIN)/hip3term run --market COIN

## make test: create .venv, install with test extras, compile, then ruff, mypy --strict, pytest
test: $(STAMP) $(NATIVE) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check hip3term plugins tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) $(NATIVE)
	$(BIN)/pytest -q

bench: $(STAMP) $(NATIVE)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	test ! -x $(BIN)/python || $(BIN)/python scripts/build_native.py --clean
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
