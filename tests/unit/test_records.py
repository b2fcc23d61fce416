"""`core.records.new_tuple`: the C helper (`_records.new`, loaded from the build whatever
this process runs) makes the very object `tuple.__new__` makes, and refuses what it cannot
make; the build uses it and the Python source cannot import it."""

from __future__ import annotations

import gc
import sys
from typing import Any, NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hip3term import _native
from hip3term.book.features import Feature, OracleFeatures, finite_feature
from hip3term.core import records
from tests.unit.native_support import built_c_module, probe, refused_in_the_source_run

NAME = "hip3term.core._records"
RECORDS = built_c_module(NAME)


class Pair(NamedTuple):
    left: Any
    right: Any = None


class Stored(tuple[Any, ...]):  # a tuple subclass with a __dict__: storage of its own
    pass


def _same(made: Any, reference: Any) -> None:
    assert type(made) is type(reference)
    assert made == reference and tuple(made) == tuple(reference)
    assert repr(made) == repr(reference) and hash(made) == hash(reference)
    assert len(made) == len(reference)
    assert gc.is_tracked(made) == gc.is_tracked(reference)


@given(st.lists(st.one_of(st.none(), st.integers(), st.floats(allow_nan=False),
                          st.text(), st.decimals(allow_nan=False)),
                min_size=2, max_size=2))  # fmt: skip
def test_a_named_tuple_made_in_c_is_the_one_tuple_new_makes(items: list[Any]) -> None:
    for cls in (Pair, Feature):
        _same(RECORDS.new(cls, *items), tuple.__new__(cls, items))
    _same(RECORDS.new(tuple, *items), tuple(items))
    made = RECORDS.new(Pair, *items)
    assert (made.left, made.right) == tuple(items)


def test_the_features_made_in_c_read_as_features() -> None:
    valid = RECORDS.new(Feature, 1.5, "")
    assert valid == Feature(1.5) and valid.valid and valid.value == 1.5
    assert valid._replace(value=2.0) == Feature(2.0)
    invalid = RECORDS.new(Feature, None, "book stale")
    assert invalid == Feature.invalid("book stale") and not invalid.valid
    four = RECORDS.new(OracleFeatures, valid, valid, invalid, Feature(3.0))
    assert four == OracleFeatures(valid, valid, invalid, Feature(3.0))
    assert four.mark_oracle_bps is invalid and four._asdict()["oracle_age_s"].value == 3
    buy, sell, *_ = four
    assert buy is valid and sell is valid
    assert RECORDS.new(tuple) == () and RECORDS.new(Pair, 1, 2)._fields == ("left", "right")


def test_the_items_are_held_once_and_let_go_with_the_tuple() -> None:
    item = object()
    before = sys.getrefcount(item)
    made = [RECORDS.new(Pair, item, item) for _ in range(100)]
    assert sys.getrefcount(item) == before + 200
    del made
    assert sys.getrefcount(item) == before


def test_what_it_refuses() -> None:
    with pytest.raises(TypeError, match="needs the class"):
        RECORDS.new()
    with pytest.raises(TypeError, match="needs a subclass of tuple, not <class 'int'>"):
        RECORDS.new(int, 1)
    with pytest.raises(TypeError, match="needs a subclass of tuple"):
        RECORDS.new(Pair(1, 2), 1, 2)  # an instance, not a class
    with pytest.raises(TypeError, match="without storage of its own"):
        RECORDS.new(Stored, 1, 2)
    assert tuple.__new__(Stored, (1, 2)) == (1, 2)  # which tuple.__new__ would make


def test_the_python_reference_makes_the_same() -> None:
    made = records._new_tuple(Pair, 1, "x")
    _same(made, tuple.__new__(Pair, (1, "x")))
    assert finite_feature(2.5, "unused") == Feature(2.5)
    assert finite_feature(float("inf"), "not finite") == Feature.invalid("not finite")


def test_the_build_makes_records_in_c() -> None:
    assert probe("0", "from hip3term.core import records\n"
                      "from hip3term.book import features, market_state\n"
                      "assert records.new_tuple is records._records.new\n"
                      "assert features._new_tuple is market_state._new_tuple is records.new_tuple\n"
                      "print(records._records.__file__)") == str(RECORDS.__file__)


def test_the_python_source_uses_tuple_new_and_cannot_import_the_helper() -> None:
    said = refused_in_the_source_run(NAME, "from hip3term.core import records\n"
                                           "assert records._records is None\n"
                                           "assert records.new_tuple is records._new_tuple\n")
    assert said == f"{NAME} is not used: pure ({_native.PURE_ENV} is set)"
