"""L1 action signing for Hyperliquid: action hash, phantom agent, EIP-712, secp256k1.

The procedure is PROTOCOL.md 4.4, the same as the official SDKs':

1. ``preimage = msgpack(action) ‖ nonce (8 bytes, big-endian) ‖ vault ‖ [expiresAfter]``
   where the action is packed exactly as given (a dict's insertion order is the key
   order the exchange hashes), vault is ``00`` or ``01`` + the 20 address bytes, and
   expiresAfter, only when set, is ``00`` + 8 big-endian bytes;
2. ``connectionId = keccak256(preimage)``;
3. the phantom agent ``{source: "a" (mainnet) | "b" (testnet), connectionId}`` is an
   EIP-712 struct ``Agent`` in the domain ``Exchange``/``1``/chain 1337/address zero;
4. ``digest = keccak256(0x1901 ‖ domainSeparator ‖ structHash(agent))`` is signed with
   secp256k1 and sent as ``{"r": hex(r), "s": hex(s), "v": 27|28}`` (no zero padding, like
   the Python SDK).

Signing is on the hot path (one signature per order batch), so the EIP-712 constants are
computed once at import, and Keccak-256 runs on pycryptodome's C implementation driven
directly (a per-thread state, no Python hash object per call). Everything here is pure:
no I/O, no clock.
"""

from __future__ import annotations

import ctypes
import importlib.util
import re
import threading
from collections.abc import Mapping
from typing import Any, NamedTuple

import msgpack
from coincurve import PublicKey
from Crypto.Hash import keccak as _pycryptodome_keccak

from hip3term.errors import SigningError
from hip3term.keys import SecretKey, address_of_public_key
from hip3term.venue.hyperliquid.secp import sign_recoverable

__all__ = [
    "AGENT_TYPE_HASH",
    "DOMAIN_SEPARATOR",
    "EIP712_DOMAIN_TYPE_HASH",
    "Signature",
    "action_hash",
    "action_preimage",
    "agent_digest",
    "keccak256",
    "l1_digest",
    "phantom_agent",
    "recover_signer",
    "sign_connection_id",
    "sign_l1_action",
    "signed_body",
]

_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_EMPTY_KECCAK = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
_ADDRESS = re.compile(r"0[xX][0-9a-fA-F]{40}")
_HEX_INT = re.compile(r"(0[xX])?[0-9a-fA-F]{1,64}")


# --- Keccak-256 and the EIP-712 constants (PROTOCOL.md 4.4, step 7) ---------------------


def _portable_keccak(data: bytes) -> bytes:
    return bytes(_pycryptodome_keccak.new(digest_bits=256, data=data).digest())


EIP712_DOMAIN_TYPE_HASH = _portable_keccak(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
AGENT_TYPE_HASH = _portable_keccak(b"Agent(string source,bytes32 connectionId)")
DOMAIN_SEPARATOR = _portable_keccak(
    EIP712_DOMAIN_TYPE_HASH
    + _portable_keccak(b"Exchange")
    + _portable_keccak(b"1")
    + (1337).to_bytes(32, "big")
    + bytes(32)  # verifyingContract 0x0000…0000, left-padded to 32 bytes
)
# structHash(Agent) = keccak(typeHash ‖ keccak(source) ‖ connectionId): its first 64 bytes
# depend only on the network; the signed digest is keccak(0x1901 ‖ domainSeparator ‖ it).
_AGENT_PREFIX_MAINNET = AGENT_TYPE_HASH + _portable_keccak(b"a")
_AGENT_PREFIX_TESTNET = AGENT_TYPE_HASH + _portable_keccak(b"b")
_DIGEST_PREFIX = b"\x19\x01" + DOMAIN_SEPARATOR


def _portable_chain(preimage: bytes, agent_prefix: bytes) -> bytes:
    connection_id = _portable_keccak(preimage)
    struct_hash = _portable_keccak(agent_prefix + connection_id)
    return _portable_keccak(_DIGEST_PREFIX + struct_hash)


# The hot path drives pycryptodome's own C Keccak directly through ctypes (one sponge per
# thread, reset between hashes) instead of building a Python hash object per hash: about
# 3x faster per hash. It is used only if it reproduces the public API's results at import.


class _Sponge:
    """One Keccak-256 state of pycryptodome's C library and its output buffer."""

    __slots__ = ("lib", "out", "ptr")

    def __init__(self) -> None:
        self.lib = _LIB  # kept for __del__, which may run after module teardown
        self.ptr = ctypes.c_void_p()
        # capacity 64 bytes (Keccak-256), 24 rounds
        if self.lib.keccak_init(ctypes.byref(self.ptr), ctypes.c_size_t(64), ctypes.c_ubyte(24)):
            self.ptr = ctypes.c_void_p()
            raise SigningError("cannot allocate a Keccak state")
        self.out = ctypes.create_string_buffer(32)

    def __del__(self) -> None:
        if self.ptr:
            self.lib.keccak_destroy(self.ptr)


def _load_library() -> Any:
    try:
        spec = importlib.util.find_spec("Crypto.Hash._keccak")
        if spec is None or spec.origin is None:
            return None
        # PyDLL keeps the GIL across these sub-microsecond calls (cheaper than releasing it).
        # Every argument below is an explicit ctypes value, so no argtypes are declared.
        return ctypes.PyDLL(spec.origin)
    except (ImportError, OSError):
        return None


_LIB = _load_library()
_TLS = threading.local()
_SIZE_32 = ctypes.c_size_t(32)
_SIZE_96 = ctypes.c_size_t(96)
_SIZE_66 = ctypes.c_size_t(66)
_PAD_KECCAK = ctypes.c_ubyte(0x01)  # Ethereum Keccak padding (SHA3-256 would be 0x06)


def _sponge() -> _Sponge:
    try:
        sponge: _Sponge = _TLS.sponge
    except AttributeError:
        sponge = _TLS.sponge = _Sponge()
    return sponge


def _direct_keccak(data: bytes) -> bytes:
    sponge = _sponge()
    ptr, out, lib = sponge.ptr, sponge.out, _LIB
    if (
        lib.keccak_reset(ptr)
        | lib.keccak_absorb(ptr, data, ctypes.c_size_t(len(data)))
        | lib.keccak_digest(ptr, out, _SIZE_32, _PAD_KECCAK)
    ):
        raise SigningError("Keccak-256 failed in pycryptodome's C library")
    return out.raw


def _direct_chain(preimage: bytes, agent_prefix: bytes) -> bytes:
    # _portable_chain's three hashes on one sponge, with the fixed input sizes prebuilt
    sponge = _sponge()
    ptr, out, lib = sponge.ptr, sponge.out, _LIB
    status = (
        lib.keccak_reset(ptr)
        | lib.keccak_absorb(ptr, preimage, ctypes.c_size_t(len(preimage)))
        | lib.keccak_digest(ptr, out, _SIZE_32, _PAD_KECCAK)
    )
    status |= (
        lib.keccak_reset(ptr)
        | lib.keccak_absorb(ptr, agent_prefix + out.raw, _SIZE_96)
        | lib.keccak_digest(ptr, out, _SIZE_32, _PAD_KECCAK)
    )
    status |= (
        lib.keccak_reset(ptr)
        | lib.keccak_absorb(ptr, _DIGEST_PREFIX + out.raw, _SIZE_66)
        | lib.keccak_digest(ptr, out, _SIZE_32, _PAD_KECCAK)
    )
    if status:
        raise SigningError("Keccak-256 failed in pycryptodome's C library")
    return out.raw


def _direct_path_works() -> bool:
    if _LIB is None:
        return False
    probe = b"hip3term" * 40  # longer than one 136-byte Keccak block
    try:
        return (
            _direct_keccak(b"") == _EMPTY_KECCAK
            and _direct_keccak(probe) == _portable_keccak(probe)
            and _direct_chain(probe, _AGENT_PREFIX_TESTNET)
            == _portable_chain(probe, _AGENT_PREFIX_TESTNET)
        )
    except (SigningError, OSError, AttributeError, TypeError, ctypes.ArgumentError):
        return False


_keccak, _chain = (
    (_direct_keccak, _direct_chain) if _direct_path_works() else (_portable_keccak, _portable_chain)
)


def keccak256(data: bytes) -> bytes:
    """Ethereum Keccak-256 of `data` (not SHA3-256: the padding differs)."""
    return _keccak(data)


# --- Signatures ------------------------------------------------------------------------


class Signature(NamedTuple):
    """A recoverable secp256k1 signature as the exchange receives it.

    Attributes:
        r: The r value.
        s: The s value (low-s, as libsecp256k1 always produces).
        v: 27 or 28 (27 + the recovery id).
    """

    r: int
    s: int
    v: int

    def to_wire(self) -> dict[str, str | int]:
        """The JSON form: r and s as unpadded lower-case hex (Python SDK), v as an int."""
        return {"r": hex(self.r), "s": hex(self.s), "v": self.v}

    def to_bytes65(self) -> bytes:
        """The 65-byte form r(32) ‖ s(32) ‖ v(1), as the Rust SDK prints it."""
        return self.r.to_bytes(32, "big") + self.s.to_bytes(32, "big") + bytes((self.v,))

    @classmethod
    def from_wire(cls, wire: object) -> Signature:
        """Parse `{"r": hex, "s": hex, "v": 27|28}`; r and s may be zero-padded or not.

        Raises:
            SigningError: the mapping is not a well-formed signature.
        """
        if not isinstance(wire, Mapping):
            raise SigningError("a signature must be an object {r, s, v}")
        r = _parse_scalar(wire.get("r"), "r")
        s = _parse_scalar(wire.get("s"), "s")
        v = wire.get("v")
        if not isinstance(v, int) or isinstance(v, bool) or v not in (27, 28):
            raise SigningError(f"signature v must be the integer 27 or 28, got {v!r}")
        return cls(r, s, v)


def _parse_scalar(value: object, name: str) -> int:
    if not isinstance(value, str) or not _HEX_INT.fullmatch(value):
        raise SigningError(f"signature {name} must be a hex string of at most 64 digits")
    number = int(value, 16)
    if not 0 < number < _SECP256K1_N:
        raise SigningError(f"signature {name} is outside the secp256k1 range")
    return number


# --- Hashing ---------------------------------------------------------------------------


def _vault_bytes(vault_address: str) -> bytes:
    if not isinstance(vault_address, str) or not _ADDRESS.fullmatch(vault_address):
        raise SigningError(
            f"vault address must be 0x followed by 40 hex digits, got {vault_address!r}"
        )
    return b"\x01" + bytes.fromhex(vault_address[2:])


def action_preimage(
    action: Mapping[str, Any],
    nonce: int,
    vault_address: str | None,
    expires_after: int | None,
) -> bytes:
    """The bytes whose Keccak-256 is the connectionId (PROTOCOL.md 4.4 steps 1-4).

    Args:
        action: The action, packed exactly as given: insertion order is key order.
        nonce: The request nonce (ms), 0 ≤ nonce < 2**64.
        vault_address: The vault or sub-account the request acts for, or None.
        expires_after: The expiry time in ms, or None (then nothing is appended).

    Raises:
        SigningError: the action holds something msgpack cannot pack, or a number or the
            vault address is out of range.
    """
    try:
        data = msgpack.packb(action)
    except (TypeError, ValueError, OverflowError) as exc:
        raise SigningError(f"the action cannot be packed with msgpack: {exc}") from None
    if isinstance(nonce, bool) or isinstance(expires_after, bool):
        raise SigningError("nonce and expiresAfter must be integers, not booleans")
    try:
        data += nonce.to_bytes(8, "big")
        data += b"\x00" if vault_address is None else _vault_bytes(vault_address)
        if expires_after is not None:
            data += b"\x00" + expires_after.to_bytes(8, "big")
    except (OverflowError, AttributeError):
        raise SigningError(
            f"nonce ({nonce!r}) and expiresAfter ({expires_after!r}) must be integers in [0, 2**64)"
        ) from None
    return data


def action_hash(
    action: Mapping[str, Any],
    nonce: int,
    vault_address: str | None,
    expires_after: int | None,
) -> bytes:
    """The 32-byte connectionId of an L1 action (keccak256 of `action_preimage`)."""
    return _keccak(action_preimage(action, nonce, vault_address, expires_after))


def phantom_agent(connection_id: bytes, is_mainnet: bool) -> dict[str, str | bytes]:
    """The EIP-712 message that is actually signed: `{"source", "connectionId"}`."""
    return {"source": "a" if is_mainnet else "b", "connectionId": connection_id}


def agent_digest(connection_id: bytes, is_mainnet: bool) -> bytes:
    """The 32-byte EIP-712 digest of the phantom agent for `connection_id`."""
    if len(connection_id) != 32:
        raise SigningError(f"a connectionId is 32 bytes, got {len(connection_id)}")
    prefix = _AGENT_PREFIX_MAINNET if is_mainnet else _AGENT_PREFIX_TESTNET
    return _keccak(_DIGEST_PREFIX + _keccak(prefix + connection_id))


def l1_digest(
    action: Mapping[str, Any],
    nonce: int,
    vault_address: str | None,
    expires_after: int | None,
    is_mainnet: bool,
) -> bytes:
    """The 32-byte digest that the key signs for an L1 action."""
    return _chain(
        action_preimage(action, nonce, vault_address, expires_after),
        _AGENT_PREFIX_MAINNET if is_mainnet else _AGENT_PREFIX_TESTNET,
    )


def _sign_digest(key: SecretKey, digest: bytes) -> Signature:
    # (sign_l1_action repeats these lines inline: one call less on the hot path)
    raw = sign_recoverable(key.signer, digest)  # r(32) ‖ s(32) ‖ recid(1), GIL held
    return Signature(
        int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), 27 + raw[64]
    )


def sign_l1_action(
    key: SecretKey,
    action: Mapping[str, Any],
    nonce: int,
    vault_address: str | None,
    expires_after: int | None,
    is_mainnet: bool,
) -> Signature:
    """Sign an L1 action the way the exchange verifies it.

    Args:
        key: The signing key (the account's or an approved agent's).
        action: The action, signed exactly as given (key order and strings matter).
        nonce: The request nonce in ms; it must also be sent as the body's `nonce`.
        vault_address: The vault or sub-account acted for (hashed and sent), or None.
        expires_after: Expiry in ms (hashed and sent), or None.
        is_mainnet: True for mainnet (source "a"), False for testnet (source "b").

    Returns:
        The signature; `.to_wire()` gives the body's `signature` object.

    Raises:
        SigningError: the action or a number cannot be hashed.
    """
    digest = _chain(
        action_preimage(action, nonce, vault_address, expires_after),
        _AGENT_PREFIX_MAINNET if is_mainnet else _AGENT_PREFIX_TESTNET,
    )
    raw = sign_recoverable(key.signer, digest)  # r(32) ‖ s(32) ‖ recid(1), GIL held
    return Signature(
        int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), 27 + raw[64]
    )


def sign_connection_id(key: SecretKey, connection_id: bytes, is_mainnet: bool) -> Signature:
    """Sign a phantom agent for an already computed 32-byte connectionId."""
    return _sign_digest(key, agent_digest(connection_id, is_mainnet))


def recover_signer(
    action: Mapping[str, Any],
    nonce: int,
    signature: Signature | Mapping[str, object],
    vault_address: str | None,
    expires_after: int | None,
    is_mainnet: bool,
) -> str:
    """The address (lower-case 0x hex) whose key produced `signature` for this action.

    Any well-formed signature recovers to *some* address: a wrong action, nonce, vault or
    network gives a different, random-looking one (the exchange's "User or API Wallet
    0x… does not exist").

    Args:
        action: The action as sent.
        nonce: The body's nonce.
        signature: A `Signature` or the wire object `{"r", "s", "v"}` (r and s as hex,
            zero-padded or not; v 27 or 28).
        vault_address: The body's vaultAddress, or None.
        expires_after: The body's expiresAfter, or None.
        is_mainnet: True for mainnet, False for testnet.

    Raises:
        SigningError: the signature is malformed or recovers no public key.
    """
    sig = signature if isinstance(signature, Signature) else Signature.from_wire(signature)
    if not (0 < sig.r < _SECP256K1_N and 0 < sig.s < _SECP256K1_N and sig.v in (27, 28)):
        raise SigningError("signature values are out of range")
    digest = l1_digest(action, nonce, vault_address, expires_after, is_mainnet)
    compact = sig.r.to_bytes(32, "big") + sig.s.to_bytes(32, "big") + bytes((sig.v - 27,))
    try:
        public = PublicKey.from_signature_and_message(compact, digest, hasher=None)
    except Exception as exc:  # coincurve raises a bare Exception when recovery fails
        raise SigningError(f"no public key can be recovered from this signature: {exc}") from None
    return address_of_public_key(public.format(compressed=False))


def signed_body(
    key: SecretKey,
    action: Mapping[str, Any],
    nonce: int,
    vault_address: str | None,
    expires_after: int | None,
    is_mainnet: bool,
) -> dict[str, Any]:
    """The `/exchange` request body for an L1 action (PROTOCOL.md 4.1).

    Keys in the exchange's order: action, nonce, signature, vaultAddress, expiresAfter;
    the last two are always present (null when unused). The vault address is lower-cased
    (the hash reads its bytes, so the signature is the same either way).
    """
    if vault_address is not None:
        _vault_bytes(vault_address)  # validate before lower-casing
        vault_address = vault_address.lower()
    signature = sign_l1_action(key, action, nonce, vault_address, expires_after, is_mainnet)
    return {
        "action": action,
        "nonce": nonce,
        "signature": signature.to_wire(),
        "vaultAddress": vault_address,
        "expiresAfter": expires_after,
    }
