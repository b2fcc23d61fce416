"""Purged time-series K-fold: folds never leak across purge and embargo, blocks are
contiguous in time, nothing more than needed is dropped."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hip3term.errors import ConfigError
from hip3term.ml.cv import check_purge, purged_kfold

S = 1_000_000_000


def _check_fold_invariants(times: np.ndarray, n_folds: int, purge_s: float,
                           embargo_s: float) -> None:
    folds = purged_kfold(times, n_folds, purge_s=purge_s, embargo_s=embargo_s)
    assert len(folds) == n_folds
    seen = np.concatenate([f.validation for f in folds])
    assert sorted(seen.tolist()) == list(range(len(times)))  # each sample validates once
    order = np.argsort(times, kind="stable")
    position = np.empty(len(times), dtype=np.int64)
    position[order] = np.arange(len(times))
    previous_end = None
    for fold in folds:
        val_t, train_t = times[fold.validation], times[fold.train]
        # contiguous in time: one run of the time order, no other sample strictly inside
        run = np.sort(position[fold.validation])
        assert np.array_equal(run, np.arange(run[0], run[0] + len(run)))
        others = np.setdiff1d(np.arange(len(times)), fold.validation)
        inside = (times[others] > val_t.min()) & (times[others] < val_t.max())
        assert not inside.any()
        assert fold.start_ns == val_t.min() and fold.end_ns == val_t.max()
        if previous_end is not None:
            assert fold.start_ns >= previous_end  # blocks follow each other in time
        previous_end = fold.end_ns
        # no leak: no training sample within purge before or embargo after any validation one
        gap = train_t[:, None] - val_t[None, :]
        leaks = (gap >= -round(purge_s * S)) & (gap <= round(embargo_s * S))
        assert not leaks.any()
        assert not np.intersect1d(fold.train, fold.validation).size
        # nothing more is dropped: every other sample outside the window trains
        window = (times >= val_t.min() - round(purge_s * S)) & (
            times <= val_t.max() + round(embargo_s * S))
        expected = np.setdiff1d(np.flatnonzero(~window), fold.validation)
        assert np.array_equal(fold.train, expected)
        dropped = len(times) - len(fold.train) - len(fold.validation)
        assert fold.purged + fold.embargoed == dropped


@settings(max_examples=200, deadline=None)
@given(
    seconds=st.lists(st.integers(0, 600), min_size=6, max_size=120),
    n_folds=st.integers(2, 6),
    purge_s=st.floats(0, 60),
    embargo_s=st.floats(0, 60),
)
def test_folds_never_leak_and_blocks_are_contiguous(seconds: list[int], n_folds: int,
                                                    purge_s: float, embargo_s: float) -> None:
    if len(seconds) < n_folds:
        return
    _check_fold_invariants(np.array(seconds, dtype=np.int64) * S, n_folds, purge_s, embargo_s)


def test_folds_handle_unsorted_times_with_ties() -> None:
    rng = np.random.default_rng(3)
    times = rng.integers(0, 50, size=200) * S  # many ties, random order
    _check_fold_invariants(times, 5, 10.0, 10.0)


def test_fold_of_a_regular_grid_drops_exactly_the_purge_and_embargo() -> None:
    times = np.arange(100) * S  # one sample a second, 5 blocks of 20
    fold = purged_kfold(times, 5, purge_s=10, embargo_s=5)[2]
    assert fold.validation.tolist() == list(range(40, 60))
    assert fold.train.tolist() == list(range(30)) + list(range(65, 100))
    assert (fold.purged, fold.embargoed) == (10, 5)
    first, last = purged_kfold(times, 5, purge_s=10, embargo_s=5)[::4]
    assert first.train.tolist() == list(range(25, 100))
    assert last.train.tolist() == list(range(70))


def test_purged_kfold_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="cannot make"):
        purged_kfold([1, 2, 3], 5, purge_s=1, embargo_s=1)
    with pytest.raises(ValueError, match="at least 2"):
        purged_kfold(list(range(10)), 1, purge_s=1, embargo_s=1)
    with pytest.raises(ValueError, match="negative"):
        purged_kfold(list(range(10)), 2, purge_s=-1, embargo_s=1)


@pytest.mark.parametrize(("purge", "embargo", "flag"), [(5.0, 10.0, "--purge"),
                                                        (10.0, 9.99, "--embargo")])
def test_check_purge_refuses_less_than_the_horizon(purge: float, embargo: float,
                                                   flag: str) -> None:
    with pytest.raises(ConfigError, match=flag) as caught:
        check_purge(10.0, purge, embargo)
    assert "horizon 10s" in caught.value.message and caught.value.exit_code == 2


def test_check_purge_accepts_the_horizon_and_more() -> None:
    check_purge(10.0, 10.0, 10.0)
    check_purge(10.0, 30.0, 12.5)
