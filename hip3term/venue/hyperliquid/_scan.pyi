# The C scanners of the compact market frames (_scan.c); compact.py's _*_fields_re are
# their reference, in Python.
BookFields = tuple[str, int, bytes, int, str | None, str | None, int | None,
                   bytes, int, str | None, str | None, int | None, int]
BboFields = tuple[str, int, str, str, int, str, str, int]
CtxFields = tuple[str, str, str, str, str, str, str, str, str, str, str, str]

def book(raw: bytes, /) -> BookFields | None: ...
def bbo(raw: bytes, /) -> BboFields | None: ...
def ctx(raw: bytes, /) -> CtxFields | None: ...
