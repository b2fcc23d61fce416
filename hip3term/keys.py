"""Private keys: a redacting wrapper and the ways to load one.

A `SecretKey` never shows its material: repr, str and format give the address only. The
raw bytes are handed out by `secret_bytes()` to the signer and nowhere else.
"""

from __future__ import annotations

import os

from coincurve import PrivateKey
from Crypto.Hash import keccak

from hip3term.errors import KeyLoadError

_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def address_of_public_key(uncompressed: bytes) -> str:
    """Ethereum address (lower-case 0x hex) of a 65-byte uncompressed public key."""
    digest = keccak.new(digest_bits=256, data=uncompressed[1:]).digest()
    return "0x" + digest[-20:].hex()


class SecretKey:
    """A secp256k1 private key whose material never appears in repr, str or logs."""

    __slots__ = ("_address", "_key")

    def __init__(self, raw: bytes) -> None:
        if len(raw) != 32 or not 0 < int.from_bytes(raw, "big") < _SECP256K1_N:
            raise KeyLoadError("a private key must be 32 bytes in the secp256k1 range")
        self._key = PrivateKey(raw)
        self._address = address_of_public_key(self._key.public_key.format(compressed=False))

    @classmethod
    def from_hex(cls, text: str, *, source: str = "the key") -> SecretKey:
        """Parse a 64-hex-digit key (with or without 0x); errors never echo the input."""
        body = text.strip()
        if body[:2] in ("0x", "0X"):
            body = body[2:]
        if len(body) != 64:
            raise KeyLoadError(
                f"{source} must be 64 hexadecimal digits (optionally prefixed by 0x); "
                f"got {len(body)} characters"
            )
        try:
            raw = bytes.fromhex(body)
        except ValueError:
            raise KeyLoadError(f"{source} is not hexadecimal") from None
        return cls(raw)

    @property
    def address(self) -> str:
        """The key's Ethereum address, lower-case 0x hex."""
        return self._address

    @property
    def signer(self) -> PrivateKey:
        """The coincurve key object used by the signer (hot path)."""
        return self._key

    def secret_bytes(self) -> bytes:
        """The raw 32 key bytes (for keystore encryption only)."""
        return self._key.secret

    def __repr__(self) -> str:
        return f"SecretKey(address={self._address}, secret=<redacted>)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("SecretKey cannot be pickled")


def load_key_from_env(var: str) -> SecretKey:
    """Load a hex private key from the environment variable `var`."""
    value = os.environ.get(var)
    if value is None or not value.strip():
        raise KeyLoadError(f"environment variable {var} is not set (it should hold a hex key)")
    return SecretKey.from_hex(value, source=f"environment variable {var}")
