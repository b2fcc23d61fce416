"""`new_tuple(cls, *items)`: a named tuple (a tuple subclass with `__slots__ = ()`) built
from its items without the named tuple's Python-level constructor.

It is `tuple.__new__(cls, items)`, which is what the generated `__new__` of a
`typing.NamedTuple` ends in, without its argument handling: in C (`_records.c`, built
with the compiled hot path) about a sixth of what `tuple.__new__` costs when compiled
code calls it, which the market state and the features do a few times on every update.
The Python source's run (`HIP3TERM_PURE=1`, or no build) uses `tuple.__new__` itself.

As with `tuple.__new__`, the number of items is not checked against the fields: callers
write them out. A compiled module calling it binds it to a `Final` name of its own (a C
static there; another module's name would be looked up on every call).
"""

from __future__ import annotations

from typing import Any, Final, TypeVar

try:  # the C helper, when built and trusted (`hip3term._native`)
    from hip3term.core import _records
except ImportError:
    _records = None  # type: ignore[assignment]

__all__ = ["new_tuple"]

_T = TypeVar("_T", bound=tuple[Any, ...])


def _new_tuple(cls: type[_T], /, *items: object) -> _T:
    return tuple.__new__(cls, items)


new_tuple: Final = _new_tuple if _records is None else _records.new
"""`new_tuple(cls, *items)` is `tuple.__new__(cls, items)` (see the module docstring)."""
