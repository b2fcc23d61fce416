"""User-signed actions (approveAgent, usdSend, withdraw3, ...): EIP-712 over the action itself.

Unlike L1 actions (`hip3term.venue.hyperliquid.signing`, a phantom agent over a msgpack
hash), a user-signed action is an EIP-712 struct signed directly (PROTOCOL.md 4.7):

- domain ``{name: "HyperliquidSignTransaction", version: "1",
  chainId: int(action["signatureChainId"], 16), verifyingContract: 0x0…0}``;
- primary type ``HyperliquidTransaction:<Name>`` whose fields are taken by name from
  the action (``hyperliquidChain`` first: "Mainnet" or "Testnet", the replay protection);
  keys of the action that are not fields (``type``, ``signatureChainId``) are not signed;
- ``digest = keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(message))``, signed with
  secp256k1 and sent as ``{"r", "s", "v"}`` like an L1 signature.

Only the account's own key may sign these (an agent cannot approve another agent). The
simulator uses `recover_approve_agent` to learn who approved an agent. Not on the hot
path: nothing here is cached beyond the per-type and per-chain hashes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from coincurve import PublicKey

from hip3term.errors import SigningError
from hip3term.keys import SecretKey, address_of_public_key
from hip3term.venue.hyperliquid.secp import sign_recoverable
from hip3term.venue.hyperliquid.signing import EIP712_DOMAIN_TYPE_HASH, Signature, keccak256

__all__ = [
    "APPROVE_AGENT_FIELDS",
    "APPROVE_AGENT_TYPE",
    "SIGNATURE_CHAIN_ID",
    "USD_SEND_FIELDS",
    "USD_SEND_TYPE",
    "WITHDRAW_FIELDS",
    "WITHDRAW_TYPE",
    "approve_agent_action",
    "approve_agent_body",
    "recover_approve_agent",
    "recover_user_signed",
    "sign_approve_agent",
    "sign_user_signed_action",
    "to_checksum_address",
    "user_signed_digest",
]

Fields = Sequence[tuple[str, str]]

SIGNATURE_CHAIN_ID: Final = "0x66eee"
"""The signatureChainId the official Python SDK puts in every user-signed action."""

APPROVE_AGENT_TYPE: Final = "HyperliquidTransaction:ApproveAgent"
APPROVE_AGENT_FIELDS: Final[Fields] = (
    ("hyperliquidChain", "string"),
    ("agentAddress", "address"),
    ("agentName", "string"),
    ("nonce", "uint64"),
)
USD_SEND_TYPE: Final = "HyperliquidTransaction:UsdSend"
USD_SEND_FIELDS: Final[Fields] = (
    ("hyperliquidChain", "string"),
    ("destination", "string"),
    ("amount", "string"),
    ("time", "uint64"),
)
WITHDRAW_TYPE: Final = "HyperliquidTransaction:Withdraw"
WITHDRAW_FIELDS: Final[Fields] = USD_SEND_FIELDS

_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_ADDRESS = re.compile(r"0[xX][0-9a-fA-F]{40}")
_HEX = re.compile(r"0[xX][0-9a-fA-F]+")
_BYTES32 = re.compile(r"0[xX][0-9a-fA-F]{64}")
_UINT = re.compile(r"uint(8|16|32|64|128|256)")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# --- EIP-712 hashing -------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _domain_separator(chain_id: int) -> bytes:
    return keccak256(
        EIP712_DOMAIN_TYPE_HASH
        + keccak256(b"HyperliquidSignTransaction")
        + keccak256(b"1")
        + chain_id.to_bytes(32, "big")
        + bytes(32)  # verifyingContract 0x0000…0000
    )


@functools.lru_cache(maxsize=64)
def _type_hash(primary_type: str, fields: tuple[tuple[str, str], ...]) -> bytes:
    for name, kind in fields:
        if not _NAME.fullmatch(name):
            raise SigningError(f"{name!r} is not a valid EIP-712 field name")
        if kind not in ("string", "address", "bool", "bytes32") and not _UINT.fullmatch(kind):
            raise SigningError(
                f"field {name!r} has type {kind!r}; supported: string, address, bool, "
                "bytes32, uint8..uint256"
            )
    members = ",".join(f"{kind} {name}" for name, kind in fields)
    return keccak256(f"{primary_type}({members})".encode())


def _encode_value(name: str, kind: str, value: object) -> bytes:
    if kind == "string":
        if not isinstance(value, str):
            raise SigningError(f"field {name!r} must be a string, got {value!r}")
        return keccak256(value.encode())
    if kind == "address":
        if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
            raise SigningError(f"field {name!r} must be 0x followed by 40 hex digits")
        return bytes(12) + bytes.fromhex(value[2:])
    if kind == "bool":
        if not isinstance(value, bool):
            raise SigningError(f"field {name!r} must be true or false, got {value!r}")
        return int(value).to_bytes(32, "big")
    if kind == "bytes32":
        is_hex = isinstance(value, str) and _BYTES32.fullmatch(value)
        raw = bytes.fromhex(value[2:]) if is_hex and isinstance(value, str) else value
        if not isinstance(raw, bytes) or len(raw) != 32:
            raise SigningError(f"field {name!r} must be 32 bytes (0x + 64 hex digits)")
        return raw
    bits = int(kind[4:])
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
        raise SigningError(f"field {name!r} must be an integer in [0, 2**{bits}), got {value!r}")
    return value.to_bytes(32, "big")


def _chain_id(action: Mapping[str, Any]) -> int:
    text = action.get("signatureChainId")
    if not isinstance(text, str) or not _HEX.fullmatch(text):
        raise SigningError(
            f"signatureChainId must be a hex string such as {SIGNATURE_CHAIN_ID!r}, got {text!r}"
        )
    return int(text, 16)


def user_signed_digest(action: Mapping[str, Any], primary_type: str, fields: Fields) -> bytes:
    """The 32-byte EIP-712 digest that the key signs for a user-signed action.

    Args:
        action: The action; must hold ``signatureChainId`` and every field by name.
        primary_type: E.g. ``"HyperliquidTransaction:UsdSend"``.
        fields: ``(name, type)`` pairs in the type's order, e.g. `USD_SEND_FIELDS`.

    Raises:
        SigningError: a field is missing or of the wrong type, or a type is unsupported.
    """
    fields = tuple(fields)
    parts = [_type_hash(primary_type, fields)]
    for name, kind in fields:
        if name not in action:
            raise SigningError(f"the {primary_type} action has no field {name!r}")
        parts.append(_encode_value(name, kind, action[name]))
    struct_hash = keccak256(b"".join(parts))
    return keccak256(b"\x19\x01" + _domain_separator(_chain_id(action)) + struct_hash)


def sign_user_signed_action(
    key: SecretKey, action: Mapping[str, Any], primary_type: str, fields: Fields
) -> Signature:
    """Sign a user-signed action exactly as given (no field is added or changed).

    The action must already carry ``signatureChainId`` and ``hyperliquidChain``.

    Returns:
        The signature; `.to_wire()` gives the body's ``signature`` object.

    Raises:
        SigningError: the action cannot be hashed (see `user_signed_digest`).
    """
    digest = user_signed_digest(action, primary_type, fields)
    raw = sign_recoverable(key.signer, digest)  # r(32) ‖ s(32) ‖ recid(1), GIL held
    return Signature(
        int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), 27 + raw[64]
    )


def recover_user_signed(
    action: Mapping[str, Any],
    signature: Signature | Mapping[str, object],
    primary_type: str,
    fields: Fields,
) -> str:
    """The address (lower-case 0x hex) whose key produced `signature` over this action.

    Any well-formed signature recovers to *some* address; a changed field recovers to a
    different, random-looking one.

    Raises:
        SigningError: the action cannot be hashed, or the signature is malformed.
    """
    sig = signature if isinstance(signature, Signature) else Signature.from_wire(signature)
    if not (0 < sig.r < _SECP256K1_N and 0 < sig.s < _SECP256K1_N and sig.v in (27, 28)):
        raise SigningError("signature values are out of range")
    digest = user_signed_digest(action, primary_type, fields)
    compact = sig.r.to_bytes(32, "big") + sig.s.to_bytes(32, "big") + bytes((sig.v - 27,))
    try:
        public = PublicKey.from_signature_and_message(compact, digest, hasher=None)
    except Exception as exc:  # coincurve raises a bare Exception when recovery fails
        raise SigningError(f"no public key can be recovered from this signature: {exc}") from None
    return address_of_public_key(public.format(compressed=False))


# --- approveAgent ----------------------------------------------------------------------


def to_checksum_address(address: str) -> str:
    """The EIP-55 mixed-case form of an address (what the official SDK posts).

    Raises:
        SigningError: `address` is not 0x followed by 40 hex digits.
    """
    if not isinstance(address, str) or not _ADDRESS.fullmatch(address):
        raise SigningError(f"{address!r} is not an address (0x followed by 40 hex digits)")
    body = address[2:].lower()
    nibbles = keccak256(body.encode()).hex()
    return "0x" + "".join(
        c.upper() if c.isalpha() and int(n, 16) >= 8 else c
        for c, n in zip(body, nibbles[:40], strict=True)
    )


def approve_agent_action(
    agent_address: str, agent_name: str, nonce: int, is_mainnet: bool
) -> dict[str, Any]:
    """The approveAgent action as the official Python SDK posts it.

    Keys in the SDK's order: ``type, agentAddress, agentName, nonce, signatureChainId,
    hyperliquidChain``; the agent address in EIP-55 form; ``agentName`` left out when
    empty (the signature still covers ``agentName: ""``, see `sign_approve_agent`).

    Args:
        agent_address: The agent (API wallet) to approve.
        agent_name: Its name ("" for an unnamed agent).
        nonce: The request nonce in ms; also the body's ``nonce``.
        is_mainnet: "Mainnet" or "Testnet" in ``hyperliquidChain``.

    Raises:
        SigningError: the address, name or nonce is malformed.
    """
    if not isinstance(agent_name, str):
        raise SigningError("the agent name must be a string")
    if isinstance(nonce, bool) or not isinstance(nonce, int) or not 0 <= nonce < 1 << 64:
        raise SigningError(f"the nonce must be an integer in [0, 2**64), got {nonce!r}")
    action: dict[str, Any] = {
        "type": "approveAgent",
        "agentAddress": to_checksum_address(agent_address),
        "agentName": agent_name,
        "nonce": nonce,
        "signatureChainId": SIGNATURE_CHAIN_ID,
        "hyperliquidChain": "Mainnet" if is_mainnet else "Testnet",
    }
    if not agent_name:
        del action["agentName"]
    return action


def _with_agent_name(action: Mapping[str, Any]) -> Mapping[str, Any]:
    # An approveAgent without agentName is signed (and verified) with agentName "".
    return action if "agentName" in action else {**action, "agentName": ""}


def sign_approve_agent(key: SecretKey, action: Mapping[str, Any]) -> Signature:
    """Sign an approveAgent action (a missing ``agentName`` is signed as "")."""
    return sign_user_signed_action(
        key, _with_agent_name(action), APPROVE_AGENT_TYPE, APPROVE_AGENT_FIELDS
    )


def recover_approve_agent(
    action: Mapping[str, Any], signature: Signature | Mapping[str, object]
) -> str:
    """The address that signed an approveAgent action (a missing ``agentName`` is "")."""
    return recover_user_signed(
        _with_agent_name(action), signature, APPROVE_AGENT_TYPE, APPROVE_AGENT_FIELDS
    )


def approve_agent_body(
    key: SecretKey, agent_address: str, agent_name: str, nonce: int, is_mainnet: bool
) -> dict[str, Any]:
    """The whole ``/exchange`` body (or WS post payload) approving `agent_address`.

    ``{"action", "nonce", "signature", "vaultAddress": null, "expiresAfter": null}`` as
    the official SDK sends it (user-signed actions never take expiresAfter).
    """
    action = approve_agent_action(agent_address, agent_name, nonce, is_mainnet)
    return {
        "action": action,
        "nonce": nonce,
        "signature": sign_approve_agent(key, action).to_wire(),
        "vaultAddress": None,
        "expiresAfter": None,
    }
