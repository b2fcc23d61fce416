"""Purged time-series K-fold cross-validation (purge before, embargo after each block).

Samples are ordered by time and cut into K contiguous validation blocks of (almost) equal
counts. For the fold of block k, training uses every other sample except those whose time
lies in `[first validation time - purge, last validation time + embargo]` (closed):

- *purge* (before the block): a sample at t is labelled with the market up to
  t + horizon, so a training sample less than a horizon before the block has seen
  validation-period prices. The purge must be at least the label horizon;
- *embargo* (after the block): features look back in time (volatility over 60 s, the
  oracle's age...), so a training sample just after the block was built from the
  validation period's market. The embargo must be at least the horizon too.

Samples sharing a timestamp with a block's edge are excluded with it (the interval is
closed), so ties cannot leak either. `check_purge` refuses settings smaller than the
horizon with a clear error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hip3term.errors import ConfigError

__all__ = ["Fold", "check_purge", "purged_kfold"]

_NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Fold:
    """One fold: indices into the samples as given (not sorted), and what was removed.

    Attributes:
        index: the fold number, 0-based, in time order of the validation blocks.
        train: indices of the training samples (ascending).
        validation: indices of the validation samples (ascending).
        start_ns: time of the first validation sample.
        end_ns: time of the last validation sample.
        purged: samples dropped from training before the block.
        embargoed: samples dropped from training after the block.
    """

    index: int
    train: npt.NDArray[np.int64]
    validation: npt.NDArray[np.int64]
    start_ns: int
    end_ns: int
    purged: int
    embargoed: int


def check_purge(horizon_s: float, purge_s: float, embargo_s: float) -> None:
    """Refuse a purge or an embargo shorter than the label horizon.

    Raises:
        ConfigError: naming the setting, its value and the least allowed.
    """
    for flag, value in (("--purge", purge_s), ("--embargo", embargo_s)):
        if not math.isfinite(value) or value < horizon_s:
            raise ConfigError(
                f"{flag} {value:g}s is shorter than the label horizon {horizon_s:g}s: a "
                f"training signal that close to a validation block shares its future "
                f"prices (leakage); use {flag} {horizon_s:g}s or more")


def purged_kfold(times_ns: npt.ArrayLike, n_folds: int = 5, *, purge_s: float,
                 embargo_s: float) -> list[Fold]:
    """The K folds of samples taken at `times_ns` (unix ns, any order).

    Raises:
        ValueError: fewer samples than folds, fewer than 2 folds, or a negative purge or
            embargo.
    """
    times = np.asarray(times_ns, dtype=np.int64)
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    if len(times) < n_folds:
        raise ValueError(f"{len(times)} samples cannot make {n_folds} folds")
    if purge_s < 0 or embargo_s < 0:
        raise ValueError("purge_s and embargo_s must not be negative")
    order = np.argsort(times, kind="stable")
    purge_ns, embargo_ns = round(purge_s * _NS_PER_S), round(embargo_s * _NS_PER_S)
    folds: list[Fold] = []
    for index, block in enumerate(np.array_split(order, n_folds)):
        start, end = int(times[block[0]]), int(times[block[-1]])
        in_block = np.zeros(len(times), dtype=bool)
        in_block[block] = True
        before = ~in_block & (times >= start - purge_ns) & (times <= end)
        after = ~in_block & (times > end) & (times <= end + embargo_ns)
        train = np.flatnonzero(~in_block & ~before & ~after)
        folds.append(Fold(index, train.astype(np.int64), np.sort(block).astype(np.int64),
                          start, end, int(before.sum()), int(after.sum())))
    return folds
