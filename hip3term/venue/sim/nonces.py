"""The exchange's nonce rule, per signer (pure; PROTOCOL.md section 6).

For each signer (the account when it signs with its own key, the agent address when an
API wallet signs) the 100 highest nonces used so far are kept. A new nonce is accepted
when it

1. lies strictly inside `(T - 2 days, T + 1 day)`, T being the exchange time in ms,
2. is not one of the kept nonces, and
3. is larger than the smallest kept nonce (once 100 are kept).

The texts of the refusals (the first is the exchange's own, seen in the field; the other
two are the simulator's, since the exchange's wording is not documented):

- `Invalid nonce: duplicate nonce N`
- `Invalid nonce: nonce too low N < M` (M = smallest of the 100 kept nonces)
- `Invalid nonce: nonce N is outside the allowed window (T - 2 days, T + 1 day) = (A, B)`
"""

from __future__ import annotations

import bisect

KEEP = 100
WINDOW_BEFORE_MS = 2 * 24 * 3600 * 1000
WINDOW_AFTER_MS = 24 * 3600 * 1000


class NonceBook:
    """The kept nonces of every signer; `check` then `record` (or `use`) per action."""

    def __init__(self, keep: int = KEEP) -> None:
        """Keep the `keep` highest nonces of each signer (100 on the exchange)."""
        self._keep = keep
        self._kept: dict[str, list[int]] = {}

    def check(self, signer: str, nonce: int, now_ms: int) -> str | None:
        """The refusal text for `nonce` from `signer` at exchange time `now_ms`, or None."""
        low, high = now_ms - WINDOW_BEFORE_MS, now_ms + WINDOW_AFTER_MS
        if not low < nonce < high:
            return (
                f"Invalid nonce: nonce {nonce} is outside the allowed window "
                f"(T - 2 days, T + 1 day) = ({low}, {high})"
            )
        kept = self._kept.get(signer, [])
        index = bisect.bisect_left(kept, nonce)
        if index < len(kept) and kept[index] == nonce:
            return f"Invalid nonce: duplicate nonce {nonce}"
        if len(kept) >= self._keep and nonce < kept[0]:
            return f"Invalid nonce: nonce too low {nonce} < {kept[0]}"
        return None

    def record(self, signer: str, nonce: int) -> None:
        """Remember an accepted nonce, dropping the smallest beyond the kept count."""
        kept = self._kept.setdefault(signer, [])
        bisect.insort(kept, nonce)
        if len(kept) > self._keep:
            del kept[0]

    def use(self, signer: str, nonce: int, now_ms: int) -> str | None:
        """`check`, and `record` when it passes; returns the refusal text or None."""
        refusal = self.check(signer, nonce, now_ms)
        if refusal is None:
            self.record(signer, nonce)
        return refusal

    def forget(self, signer: str) -> None:
        """Drop a signer's nonce state (the exchange prunes deregistered agents)."""
        self._kept.pop(signer, None)
