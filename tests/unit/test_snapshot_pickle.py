"""A snapshot crosses the process boundary pickled: field by field, equal on arrival."""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Iterator

from hip3term.runtime import snapshot as snapshot_module
from tests.tui.fakes import make_snapshot, tripped


def _objects(value: object) -> Iterator[object]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        yield value
        for f in dataclasses.fields(value):
            yield from _objects(getattr(value, f.name))
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _objects(item)


def test_a_snapshot_round_trips_equal_with_every_field() -> None:
    for snap in (make_snapshot(), tripped(make_snapshot())):
        back = pickle.loads(pickle.dumps(snap, protocol=pickle.HIGHEST_PROTOCOL))
        assert back == snap
        sent, arrived = list(_objects(snap)), list(_objects(back))
        assert [type(o) for o in arrived] == [type(o) for o in sent]
        assert len(sent) > 20  # the book's levels, events, rows: the whole tree was walked


def test_the_snapshot_module_s_classes_pickle_by_their_fields() -> None:
    snap = make_snapshot()
    mine = [o for o in _objects(snap) if type(o).__module__ == snapshot_module.__name__]
    assert len(mine) > 20
    for obj in mine:
        rebuild, (cls, values) = obj.__reduce__()  # type: ignore[misc]
        assert rebuild is snapshot_module._rebuilt and cls is type(obj)
        assert values == tuple(getattr(obj, f.name) for f in dataclasses.fields(obj))
