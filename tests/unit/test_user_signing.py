"""User-signed actions against the official vectors of PROTOCOL.md 4.6.1 and 4.6.2."""

from __future__ import annotations

import random
from typing import Any

import pytest
from eth_account.messages import encode_typed_data
from eth_utils.address import to_checksum_address as eth_checksum
from eth_utils.crypto import keccak as eth_keccak

from hip3term.errors import SigningError
from hip3term.keys import SecretKey
from hip3term.venue.hyperliquid.signing import Signature
from hip3term.venue.hyperliquid.user_signing import (
    APPROVE_AGENT_FIELDS,
    APPROVE_AGENT_TYPE,
    USD_SEND_FIELDS,
    USD_SEND_TYPE,
    WITHDRAW_FIELDS,
    WITHDRAW_TYPE,
    approve_agent_action,
    approve_agent_body,
    recover_approve_agent,
    recover_user_signed,
    sign_approve_agent,
    sign_user_signed_action,
    to_checksum_address,
    user_signed_digest,
)

PY_KEY = SecretKey.from_hex("0x0123456789012345678901234567890123456789012345678901234567890123")
RS_KEY = SecretKey.from_hex("e908f86dbb4d55ac876378565aafeabc187f6690f046459397b17d9b9a19688e")

# Python SDK tests/signing_test.py (PROTOCOL.md 4.6.1): testnet, signatureChainId 0x66eee
PY_MESSAGE = {
    "destination": "0x5e9ee1089755c3435139848e47e6635505d5a13a",
    "amount": "1",
    "time": 1687816341423,
    "signatureChainId": "0x66eee",
    "hyperliquidChain": "Testnet",
}
PY_VECTORS = [
    (
        USD_SEND_TYPE,
        USD_SEND_FIELDS,
        Signature(
            0x637B37DD731507CDD24F46532CA8BA6EEC616952C56218BAEFF04144E4A77073,
            0x11A6A24900E6E314136D2592E2F8D502CD89B7C15B198E1BEE043C9589F9FAD7,
            27,
        ),
    ),
    (
        WITHDRAW_TYPE,
        WITHDRAW_FIELDS,
        Signature(
            0x8363524C799E90CE9BC41022F7C39B4E9BDBA786E5F9C72B20E43E1462C37CF9,
            0x58B1411A775938B83E29182E8EF74975F9054C8E97EBF5EC2DC8D51BFC893881,
            28,
        ),
    ),
]

# Rust SDK (PROTOCOL.md 4.6.2): chain 421614 = 0x66eee, testnet, mixed-case destination
RS_MESSAGE = {
    "signatureChainId": "0x66eee",
    "hyperliquidChain": "Testnet",
    "destination": "0x0D1d9635D0640821d15e323ac8AdADfA9c111414",
    "amount": "1",
    "time": 1690393044548,
}
RS_VECTORS = [
    (
        USD_SEND_TYPE,
        USD_SEND_FIELDS,
        "0x214d507bbdaebba52fa60928f904a8b2df73673e3baba6133d66fe846c7ef70451e82453a6d8db124e7e"
        "d6e60fa00d4b7c46e4d96cb2bd61fd81b6e8953cc9d21b",
    ),
    (
        WITHDRAW_TYPE,
        WITHDRAW_FIELDS,
        "0xb3172e33d2262dac2b4cb135ce3c167fda55dafa6c62213564ab728b9f9ba76b769a938e9f6d603dae71"
        "54c83bf5a4c3ebab81779dc2db25463a3ed663c82ae41c",
    ),
]

# Rust SDK ApproveBuilderFee (PROTOCOL.md 4.6.2): the only official vector with an
# `address` field, the type approveAgent uses for agentAddress.
BUILDER_FEE_TYPE = "HyperliquidTransaction:ApproveBuilderFee"
BUILDER_FEE_FIELDS = (
    ("hyperliquidChain", "string"),
    ("maxFeeRate", "string"),
    ("builder", "address"),
    ("nonce", "uint64"),
)
BUILDER_FEE_VECTORS = [
    (
        "Mainnet",
        "0x343c9078af7c3d6683abefd0ca3b2960de5b669b716863e6dc49090853a4a3cd6c016301239461091a8c"
        "a3ea5ac783362526c4d9e9e624ffc563aea93d6ac2391b",
    ),
    (
        "Testnet",
        "0x2ada43eeebeba9cfe13faf95aa84e5b8c4885c3a07cbf4536f2df5edd340d4eb1ed0e24f60a80d199a84"
        "2258d5fa737a18d486f7d4e656268b434d226f2811d71c",
    ),
]

AGENT = "0x1719884eb866cb12b2287399b15f7db5e7d775ea"  # an address from PROTOCOL.md 4.6.1


@pytest.mark.parametrize(("primary_type", "fields", "expected"), PY_VECTORS)
def test_python_sdk_vectors_exact(
    primary_type: str, fields: tuple[tuple[str, str], ...], expected: Signature
) -> None:
    signature = sign_user_signed_action(PY_KEY, PY_MESSAGE, primary_type, fields)
    assert signature == expected
    assert signature.to_wire() == {"r": hex(expected.r), "s": hex(expected.s), "v": expected.v}
    assert recover_user_signed(PY_MESSAGE, signature.to_wire(), primary_type, fields) == (
        PY_KEY.address
    )


@pytest.mark.parametrize(("primary_type", "fields", "expected"), RS_VECTORS)
def test_rust_sdk_vectors_exact_with_mixed_case_destination(
    primary_type: str, fields: tuple[tuple[str, str], ...], expected: str
) -> None:
    signature = sign_user_signed_action(RS_KEY, RS_MESSAGE, primary_type, fields)
    assert "0x" + signature.to_bytes65().hex() == expected
    assert recover_user_signed(RS_MESSAGE, signature, primary_type, fields) == RS_KEY.address
    # the destination is a string: lower-casing it changes what is signed
    lowered = {**RS_MESSAGE, "destination": str(RS_MESSAGE["destination"]).lower()}
    assert recover_user_signed(lowered, signature, primary_type, fields) != RS_KEY.address


@pytest.mark.parametrize(("chain", "expected"), BUILDER_FEE_VECTORS)
def test_rust_sdk_approve_builder_fee_vectors_exact(chain: str, expected: str) -> None:
    action = {
        "signatureChainId": "0x66eee",
        "hyperliquidChain": chain,
        "maxFeeRate": "0.001%",
        "builder": "0x1234567890123456789012345678901234567890",
        "nonce": 1583838,
    }
    signature = sign_user_signed_action(RS_KEY, action, BUILDER_FEE_TYPE, BUILDER_FEE_FIELDS)
    assert "0x" + signature.to_bytes65().hex() == expected


def test_changed_field_recovers_another_address() -> None:
    _, fields, expected = PY_VECTORS[0]
    tampered = {**PY_MESSAGE, "amount": "2"}
    assert recover_user_signed(tampered, expected, USD_SEND_TYPE, fields) != PY_KEY.address
    mainnet = {**PY_MESSAGE, "hyperliquidChain": "Mainnet"}
    assert recover_user_signed(mainnet, expected, USD_SEND_TYPE, fields) != PY_KEY.address


def test_keys_outside_the_fields_are_not_signed() -> None:
    _, fields, expected = PY_VECTORS[0]
    with_type = {"type": "usdSend", **PY_MESSAGE}
    assert sign_user_signed_action(PY_KEY, with_type, USD_SEND_TYPE, fields) == expected


# --- approveAgent ------------------------------------------------------------------------


def test_approve_agent_action_has_the_sdk_shape() -> None:
    action = approve_agent_action(AGENT, "bot", 1700000000000, is_mainnet=True)
    assert list(action) == [
        "type",
        "agentAddress",
        "agentName",
        "nonce",
        "signatureChainId",
        "hyperliquidChain",
    ]
    assert action["type"] == "approveAgent"
    assert action["agentAddress"] == eth_checksum(AGENT)
    assert action["agentName"] == "bot"
    assert action["nonce"] == 1700000000000
    assert action["signatureChainId"] == "0x66eee"
    assert action["hyperliquidChain"] == "Mainnet"
    assert approve_agent_action(AGENT, "bot", 1, is_mainnet=False)["hyperliquidChain"] == "Testnet"


def test_unnamed_agent_posts_no_name_but_signs_an_empty_one() -> None:
    action = approve_agent_action(AGENT, "", 1700000000000, is_mainnet=False)
    assert "agentName" not in action
    signature = sign_approve_agent(PY_KEY, action)
    assert recover_approve_agent(action, signature.to_wire()) == PY_KEY.address
    named_empty = {**action, "agentName": ""}
    assert (
        recover_user_signed(named_empty, signature, APPROVE_AGENT_TYPE, APPROVE_AGENT_FIELDS)
        == PY_KEY.address
    )
    named_other = {**action, "agentName": "x"}
    assert recover_approve_agent(named_other, signature) != PY_KEY.address


@pytest.mark.parametrize(("name", "is_mainnet"), [("", True), ("", False), ("desk-1", True)])
def test_approve_agent_round_trip(name: str, is_mainnet: bool) -> None:
    body = approve_agent_body(RS_KEY, AGENT, name, 1700000000123, is_mainnet)
    assert body["nonce"] == body["action"]["nonce"] == 1700000000123
    assert body["vaultAddress"] is None
    assert body["expiresAfter"] is None
    assert recover_approve_agent(body["action"], body["signature"]) == RS_KEY.address
    # a different agent in the same signature is signed by nobody we know
    other = {**body["action"], "agentAddress": eth_checksum(PY_KEY.address)}
    assert recover_approve_agent(other, body["signature"]) != RS_KEY.address


def _eth_account_digest(action: dict[str, Any], primary_type: str, fields: Any) -> bytes:
    # eth-account's independent EIP-712 implementation, as the official SDK uses it
    signable = encode_typed_data(
        full_message={
            "domain": {
                "name": "HyperliquidSignTransaction",
                "version": "1",
                "chainId": int(action["signatureChainId"], 16),
                "verifyingContract": "0x0000000000000000000000000000000000000000",
            },
            "types": {
                primary_type: [{"name": n, "type": t} for n, t in fields],
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
            },
            "primaryType": primary_type,
            "message": action,
        }
    )
    return bytes(eth_keccak(b"\x19" + signable.version + signable.header + signable.body))


@pytest.mark.parametrize("seed", range(20))
def test_approve_agent_digest_matches_eth_account(seed: int) -> None:
    rng = random.Random(seed)
    agent = "0x" + rng.randbytes(20).hex()
    name = rng.choice(["", "a", "market maker", "naïve-agent"])
    action = approve_agent_action(agent, name, rng.randrange(1 << 44), rng.random() < 0.5)
    full = {**action, "agentName": name}
    ours = user_signed_digest(full, APPROVE_AGENT_TYPE, APPROVE_AGENT_FIELDS)
    assert ours == _eth_account_digest(full, APPROVE_AGENT_TYPE, APPROVE_AGENT_FIELDS)


@pytest.mark.parametrize("seed", range(20))
def test_checksum_address_matches_eth_utils(seed: int) -> None:
    address = "0x" + random.Random(seed).randbytes(20).hex()
    assert to_checksum_address(address) == eth_checksum(address)
    assert to_checksum_address(address.upper().replace("0X", "0x")) == eth_checksum(address)


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"time": None}, "integer"),
        ({"time": "1687816341423"}, "integer"),
        ({"time": True}, "integer"),
        ({"time": -1}, "integer"),
        ({"time": 1 << 64}, "integer"),
        ({"amount": 1}, "string"),
        ({"signatureChainId": 421614}, "signatureChainId"),
        ({"signatureChainId": "66eee"}, "signatureChainId"),
    ],
)
def test_malformed_fields_raise_signing_error(change: dict[str, Any], fragment: str) -> None:
    with pytest.raises(SigningError, match=fragment):
        sign_user_signed_action(PY_KEY, {**PY_MESSAGE, **change}, USD_SEND_TYPE, USD_SEND_FIELDS)


def test_missing_field_raises_signing_error() -> None:
    message = {k: v for k, v in PY_MESSAGE.items() if k != "time"}
    with pytest.raises(SigningError, match="no field 'time'"):
        sign_user_signed_action(PY_KEY, message, USD_SEND_TYPE, USD_SEND_FIELDS)


def test_bad_address_and_unsupported_type_raise_signing_error() -> None:
    with pytest.raises(SigningError, match="40 hex digits"):
        approve_agent_action("0x1234", "", 1, is_mainnet=True)
    bad_agent = {**approve_agent_action(AGENT, "", 1, True), "agentAddress": "0xnothex"}
    with pytest.raises(SigningError, match="40 hex digits"):
        sign_approve_agent(PY_KEY, bad_agent)
    with pytest.raises(SigningError, match="supported"):
        sign_user_signed_action(PY_KEY, PY_MESSAGE, USD_SEND_TYPE, [("amount", "string[]")])


@pytest.mark.parametrize(
    "wire",
    [
        {"r": "0x1", "s": "0x1", "v": 29},
        {"r": "zz", "s": "0x1", "v": 27},
        {"r": "0x1", "v": 27},
        {"r": "0x0", "s": "0x1", "v": 27},
    ],
)
def test_malformed_signature_raises_signing_error(wire: dict[str, object]) -> None:
    with pytest.raises(SigningError):
        recover_user_signed(PY_MESSAGE, wire, USD_SEND_TYPE, USD_SEND_FIELDS)
