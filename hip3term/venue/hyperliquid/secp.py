"""Recoverable ECDSA signatures (secp256k1) made with the interpreter lock held.

coincurve calls libsecp256k1 through cffi, which releases the GIL around every C call.
Inside the engine process other threads wait for the GIL (the recorder, the journal's
SQLite worker, the snapshot pipe): one of them takes it while the ~20 us signature runs,
and the engine thread then waits for it to give the GIL back, up to the 1 ms switch
interval. Measured in the running node at ~2000 frames/s: a signature took 145-167 us at
the median there against 37 us alone. The signature is pure computation, so here the same
two libsecp256k1 functions coincurve uses are called through `ctypes.PyDLL` (which keeps
the GIL, as `signing` does for Keccak), on coincurve's own library and context: the
signature is the same (RFC 6979 nonces: deterministic) and the tests check it against
coincurve's for random keys and digests.

If the library or its symbols cannot be loaded, coincurve's own call is used.
The secret goes from coincurve's key object straight into the C call, as coincurve does.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any, Final

from coincurve import PrivateKey

from hip3term.errors import SigningError

__all__ = ["HOLDS_GIL", "sign_recoverable"]

_SIGNATURE_BYTES: Final = 65  # secp256k1_ecdsa_recoverable_signature: an opaque 65 bytes


def _load() -> tuple[Any, ctypes.c_void_p] | None:
    try:
        from coincurve import _libsecp256k1
        from coincurve.context import GLOBAL_CONTEXT

        lib = ctypes.PyDLL(_libsecp256k1.__file__)
        context = ctypes.c_void_p(int(_libsecp256k1.ffi.cast("uintptr_t", GLOBAL_CONTEXT.ctx)))
        for name in ("secp256k1_ecdsa_sign_recoverable",
                     "secp256k1_ecdsa_recoverable_signature_serialize_compact"):
            getattr(lib, name)  # both exported, or the fallback
    except (ImportError, OSError, AttributeError):
        return None
    return lib, context


_LOADED = _load()
HOLDS_GIL: Final = _LOADED is not None
"""True when signatures are made with the GIL held (False: coincurve's call)."""

_TLS = threading.local()


def _buffers() -> tuple[Any, Any, ctypes.c_int]:
    try:
        buffers: tuple[Any, Any, ctypes.c_int] = _TLS.buffers
    except AttributeError:
        buffers = _TLS.buffers = (ctypes.create_string_buffer(_SIGNATURE_BYTES),
                                  ctypes.create_string_buffer(64), ctypes.c_int())  # fmt: skip
    return buffers


def sign_recoverable(key: PrivateKey, digest: bytes) -> bytes:
    """Sign the 32-byte `digest` as it is (no hashing): r(32) ‖ s(32) ‖ recovery id(1),
    as `key.sign_recoverable(digest, hasher=None)` returns it.

    Raises:
        SigningError: the digest is not 32 bytes, or libsecp256k1 refused the key.
    """
    if len(digest) != 32:
        raise SigningError(f"a digest to sign is 32 bytes, got {len(digest)}")
    if _LOADED is None:
        return bytes(key.sign_recoverable(digest, hasher=None))
    lib, context = _LOADED
    signature, compact, recid = _buffers()
    if not lib.secp256k1_ecdsa_sign_recoverable(context, signature, digest, key.secret,
                                                None, None):  # fmt: skip
        raise SigningError("libsecp256k1 refused to sign with this key")
    lib.secp256k1_ecdsa_recoverable_signature_serialize_compact(
        context, compact, ctypes.byref(recid), signature)
    raw: bytes = compact.raw
    return raw + bytes((recid.value,))
