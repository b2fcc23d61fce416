"""Signatures made with the GIL held (`secp`) are coincurve's signatures, byte for byte."""

from __future__ import annotations

import threading

import pytest
from coincurve import PrivateKey, PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from hip3term.errors import SigningError
from hip3term.venue.hyperliquid import secp

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

secrets = st.integers(min_value=1, max_value=N - 1).map(lambda k: k.to_bytes(32, "big"))


def test_the_gil_holding_path_is_the_one_in_use() -> None:
    assert secp.HOLDS_GIL  # coincurve's library exports both functions on this platform


@settings(max_examples=300, deadline=None)
@given(secret=secrets, digest=st.binary(min_size=32, max_size=32))
def test_same_signature_as_coincurve(secret: bytes, digest: bytes) -> None:
    key = PrivateKey(secret)
    raw = secp.sign_recoverable(key, digest)
    assert raw == key.sign_recoverable(digest, hasher=None)
    recovered = PublicKey.from_signature_and_message(raw, digest, hasher=None)
    assert recovered.format() == key.public_key.format()


def test_the_fallback_gives_the_same_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    key, digest = PrivateKey(b"\x07" * 32), bytes(range(32))
    held = secp.sign_recoverable(key, digest)
    monkeypatch.setattr(secp, "_LOADED", None)
    assert secp.sign_recoverable(key, digest) == held


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_a_digest_must_be_32_bytes(size: int) -> None:
    with pytest.raises(SigningError, match="32 bytes"):
        secp.sign_recoverable(PrivateKey(b"\x07" * 32), bytes(size))


def test_threads_sign_with_their_own_buffers() -> None:
    keys = [PrivateKey(bytes([i + 1]) * 32) for i in range(4)]
    digests = [bytes([i]) * 32 for i in range(50)]
    expected = {(k, d): keys[k].sign_recoverable(digests[d], hasher=None)
                for k in range(4) for d in range(50)}  # fmt: skip
    wrong: list[tuple[int, int]] = []

    def work(k: int) -> None:
        for _ in range(20):
            wrong.extend((k, d) for d in range(50)
                         if secp.sign_recoverable(keys[k], digests[d]) != expected[k, d])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
