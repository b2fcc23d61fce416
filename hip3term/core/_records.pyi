# The C helper of records.py (_records.c).
from typing import Any, TypeVar

_T = TypeVar("_T", bound=tuple[Any, ...])

def new(cls: type[_T], /, *items: object) -> _T: ...
