"""The gate's dataset: signal rule, debounce, features, after-fee markout labels, hashes.

Also holds `write_sim_recording`, the fast way to make a simulator recording for the ML
tests: the simulator's synthetic market stepped under a `SimClock` (100 ms blocks), its
public frames written with the `Recorder` as the server would push them (l2Book every
0.5 s, bbo when it changes, trades as they happen, activeAssetCtx every second).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hip3term.book.features import Feature, Features, OracleFeatures
from hip3term.core.clock import SimClock
from hip3term.errors import RecordingError
from hip3term.ml.dataset import (
    DatasetSpec,
    SignalDataset,
    build_dataset,
    file_sha256,
    recordings_hash,
    taker_signal,
)
from hip3term.ml.gate import FEATURE_NAMES, SCHEMA_HASH
from hip3term.recording.format import RecordingHeader
from hip3term.recording.recorder import Recorder
from hip3term.venue.hyperliquid.markets import AssetDirectory
from hip3term.venue.sim.exchange import DEX, SimExchange, load_package_json, market_spec
from hip3term.venue.sim.market import SyntheticMarket, SyntheticParams
from hip3term.venue.sim.matching import MatchingEngine
from plugins.oracle_dislocation import OracleDislocation, OracleDislocationParams

COIN = "xyz:COIN"
START_MS = 1_785_000_000_000
HEADER = RecordingHeader(market=COIN, dex="xyz", venue="sim", ws_url="sim://test",
                         config_hash="test")


def sim_directory() -> AssetDirectory:
    """The simulator's market directory (the real `xyz` meta it ships)."""
    return AssetDirectory.from_responses(load_package_json("perp_dexs.json"),
                                         {DEX: load_package_json("meta_xyz.json")})


def write_sim_recording(directory: Path, *, seed: int, minutes: float,
                        shocks_per_hour: float = 200.0,
                        gaps: Sequence[tuple[float, float]] = ()) -> Path:
    """A recording of the synthetic `xyz:COIN`; each seed starts 2 hours after the last.
    Nothing is recorded within `gaps` (seconds from the start, [from, to)): the feed
    went quiet while the market moved on."""
    clock = SimClock(START_MS + seed * 7_200_000)
    start = clock.now_ms()
    meta = load_package_json("meta_xyz.json")
    directory_ = sim_directory()
    spec = market_spec(directory_.lookup(COIN))
    engine = MatchingEngine([spec], clock)
    driver = SyntheticMarket(engine, spec, seed, clock=clock, start_px=Decimal(190),
                             params=SyntheticParams(shocks_per_hour=shocks_per_hour))
    exchange = SimExchange(clock=clock, engine=engine, drivers=[driver], directory=directory_,
                           meta=meta, perp_dexs=load_package_json("perp_dexs.json"))
    last_bbo: Any = None
    with Recorder.open(directory, HEADER, clock=clock) as recorder:
        for _ in range(round(minutes * 600)):
            clock.advance(100)
            now = clock.now_ms()
            pushes = exchange.step(now)
            if any(a * 1000 <= now - start < b * 1000 for a, b in gaps):
                continue
            for push in pushes:
                if push.channel == "trades":
                    recorder.frame_in(_frame("trades", push.data), "trades",
                                      push.data[-1]["time"])
            if now % 500 == 0:
                book = exchange.l2_book(COIN, None, None, 20)
                recorder.frame_in(_frame("l2Book", book), "l2Book", now)
            levels = exchange.bbo_levels(COIN)
            if levels != last_bbo:
                last_bbo = levels
                recorder.frame_in(_frame("bbo", {"coin": COIN, "time": now, "bbo": levels}),
                                  "bbo", now)
            if now % 1000 == 0:
                recorder.frame_in(_frame("activeAssetCtx", exchange.active_asset_ctx(COIN)),
                                  "activeAssetCtx")
        return recorder.path


def _frame(channel: str, data: Any) -> bytes:
    return orjson.dumps({"channel": channel, "data": data})


# -- hand-made recordings --------------------------------------------------------------------


def _bbo(t_ms: int, bid: str, ask: str) -> bytes:
    return _frame("bbo", {"coin": COIN, "time": t_ms, "bbo": [
        {"px": bid, "sz": "2", "n": 1}, {"px": ask, "sz": "1", "n": 1}]})


def _ctx(oracle: str, mark: str) -> bytes:
    return _frame("activeAssetCtx", {"coin": COIN, "ctx": {
        "funding": "0.0", "openInterest": "100.0", "prevDayPx": "100.0", "dayNtlVlm": "0.0",
        "premium": "0.0", "oraclePx": oracle, "markPx": mark, "midPx": None,
        "impactPxs": None, "dayBaseVlm": "0.0"}})


def _write(directory: Path, frames: list[tuple[float, bytes]]) -> Path:
    clock = SimClock(START_MS)
    with Recorder.open(directory, HEADER, clock=clock) as recorder:
        for at_s, raw in frames:
            ns = START_MS * 1_000_000 + round(at_s * 1e9)
            recorder.frame_in(raw, None, None, wall_ns=ns, mono_ns=ns)
        return recorder.path


def _ctx_every_second(until_s: float) -> list[tuple[float, bytes]]:
    return [(k + 0.75, _ctx("100", "100.05")) for k in range(int(until_s))]


def episode_frames() -> list[tuple[float, bytes]]:
    """Oracle 100. Buy episode at 1.0 s (a lapse of 0.5 s at 2.0 s bridged), a new buy
    episode at 6.0 s (lapse from 4.0 s: 2 s), a sell at 6.5 s (side flip); exits read at
    11, 16 and 16.5 s."""
    books = [(0.0, "99.90", "100.00"), (1.0, "99.50", "99.60"), (1.5, "99.49", "99.59"),
             (2.0, "99.90", "100.00"), (2.5, "99.50", "99.60"), (4.0, "99.90", "100.00"),
             (6.0, "99.50", "99.60"), (6.5, "100.30", "100.40"), (7.0, "99.90", "100.00"),
             (10.0, "100.10", "100.20"), (11.0, "100.20", "100.30"), (15.0, "99.70", "99.80"),
             (16.2, "99.60", "99.70")]
    frames = [(t, _bbo(round(t * 1000), bid, ask)) for t, bid, ask in books]
    return sorted(frames + _ctx_every_second(17.0), key=lambda f: f[0])


def test_dataset_hand_recording_one_signal_per_episode_with_after_fee_markouts(
        tmp_path: Path) -> None:
    path = _write(tmp_path, episode_frames())
    data = build_dataset([path], DatasetSpec(horizon_s=10.0, fees_bps=18.0, rearm_s=1.0))
    seconds = (data.t_ns - START_MS * 1_000_000) / 1e9
    assert seconds.tolist() == [1.0, 6.0, 6.5]
    assert data.features[:, 0].tolist() == [1.0, 1.0, -1.0]
    expected = [
        (100.20 / 99.60 - 1) * 1e4 - 18,  # buy at 99.60, bid 100.20 at 11.0 s (a frame then)
        (99.70 / 99.60 - 1) * 1e4 - 18,  # buy at 99.60, bid 99.70 of the 15.0 s frame at 16 s
        -(99.70 / 100.30 - 1) * 1e4 - 18,  # sell at 100.30, ask 99.70 of the 16.2 s frame
    ]
    assert data.markout_bps.tolist() == pytest.approx(expected, abs=1e-9)
    assert data.label.tolist() == [1, 0, 1]
    assert data.entry_px.tolist() == [99.60, 99.60, 100.30]
    # the exits themselves are dislocations (a 20 bps sell at 11 s, a 20 bps buy at 15 s)
    # whose horizons run past the recording's end: found, but without a label
    assert data.meta["signals"] == 5 and data.meta["unlabelled"] == 2


def test_dataset_hand_recording_features_at_the_signal(tmp_path: Path) -> None:
    data = build_dataset([_write(tmp_path, episode_frames())], DatasetSpec(fees_bps=18.0))
    row = dict(zip(FEATURE_NAMES, data.features[0].tolist(), strict=True))
    assert row["dislocation_bps"] == pytest.approx(40.0)
    assert row["spread_bps"] == pytest.approx(0.10 / 99.55 * 1e4)
    assert row["imbalance_side"] == pytest.approx(1 / 3)  # bid 2 vs ask 1, a buy
    assert row["oracle_age_s"] == pytest.approx(0.25)  # first oracle at 0.75 s
    assert row["mark_oracle_side_bps"] == pytest.approx(5.0)
    assert row["rv_1s_bps"] == pytest.approx(abs(math.log(99.55 / 99.95)) * 1e4)
    assert math.isnan(row["rv_10s_bps"]) and math.isnan(row["rv_60s_bps"])  # warming up
    assert math.isnan(row["trade_flow_side"])  # no trades frame yet
    moment = datetime.fromtimestamp(START_MS / 1000 + 1, tz=UTC)
    assert row["hour_utc"] == pytest.approx(moment.hour + moment.minute / 60
                                            + moment.second / 3600)
    sell = dict(zip(FEATURE_NAMES, data.features[2].tolist(), strict=True))
    assert sell["imbalance_side"] == pytest.approx(-1 / 3)
    assert sell["mark_oracle_side_bps"] == pytest.approx(-5.0)
    assert sell["dislocation_bps"] == pytest.approx(30.0)


def test_dataset_longer_rearm_merges_episodes_and_threshold_filters(tmp_path: Path) -> None:
    path = _write(tmp_path, episode_frames())
    merged = build_dataset([path], DatasetSpec(fees_bps=18.0, rearm_s=3.0))
    assert merged.features[:, 0].tolist() == [1.0, -1.0]  # 6.0 s joins the first episode
    assert (merged.t_ns[1] - START_MS * 1_000_000) / 1e9 == 6.5
    strict = build_dataset([path], DatasetSpec(fees_bps=18.0, threshold_bps=15.0))
    assert strict.features[:, 0].tolist() == [1.0, 1.0]  # the 30 bps sell: edge 12 < 15


def test_dataset_mid_exit(tmp_path: Path) -> None:
    data = build_dataset([_write(tmp_path, episode_frames())],
                         DatasetSpec(fees_bps=18.0, exit_price="mid"))
    assert data.markout_bps[0] == pytest.approx((100.25 / 99.60 - 1) * 1e4 - 18)


def test_dataset_without_horizon_or_with_stale_book_is_unlabelled(tmp_path: Path) -> None:
    short = [(0.0, _bbo(0, "99.90", "100.00")), (0.75, _ctx("100", "100")),
             (1.0, _bbo(1000, "99.50", "99.60")), (5.0, _ctx("100", "100"))]
    data = build_dataset([_write(tmp_path / "a", short)], DatasetSpec(fees_bps=18.0))
    assert len(data) == 0 and data.meta["signals"] == 1 and data.meta["unlabelled"] == 1
    silent_book = short[:3] + _ctx_every_second(27.0)[1:]  # no book for 26 s
    data = build_dataset([_write(tmp_path / "b", silent_book)],
                         DatasetSpec(fees_bps=18.0, horizon_s=25.0))
    assert len(data) == 0 and data.meta["unlabelled"] == 1


# -- the rule is the taker's ------------------------------------------------------------------

_maybe = st.one_of(st.none(), st.floats(-60, 60, allow_nan=False))


def _features(buy: float | None, sell: float | None) -> Features:
    def f(value: float | None) -> Feature[float]:
        return Feature.invalid("stale") if value is None else Feature(value)

    return Features(at_ns=0, mid=Feature(Decimal(100)), microprice=f(100.0),
                    spread_bps=f(1.0), imbalance=f(0.0), buy_dislocation_bps=f(buy),
                    sell_dislocation_bps=f(sell), mark_oracle_bps=f(0.0),
                    oracle_age_s=f(1.0), rv_1s_bps=f(0.0), rv_10s_bps=f(0.0),
                    rv_60s_bps=f(0.0), trade_flow=f(0.0))


@settings(max_examples=300, deadline=None)
@given(buy=_maybe, sell=_maybe, fee=st.floats(0, 20), threshold=st.floats(0, 30))
def test_taker_signal_matches_the_plugin(buy: float | None, sell: float | None, fee: float,
                                         threshold: float) -> None:
    taker = OracleDislocation(OracleDislocationParams(taker_fee_bps=fee,
                                                      threshold_bps=threshold))
    features = _features(buy, sell)
    # the plugin reads the oracle features alone (typed: compiled, it takes nothing else)
    oracle = OracleFeatures(features.buy_dislocation_bps, features.sell_dislocation_bps,
                            features.mark_oracle_bps, features.oracle_age_s)
    theirs = taker._signal(oracle, fee)
    ours = taker_signal(features, 2 * fee, threshold)
    assert (None if theirs is None else theirs[:2]) == ours


# -- simulator recordings, hashes, files ------------------------------------------------------


@pytest.fixture(scope="module")
def sim_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sim_recording(tmp_path_factory.mktemp("sim"), seed=5, minutes=10)


def test_dataset_from_simulator_signals_follow_the_rule(sim_recording: Path) -> None:
    spec = DatasetSpec(fees_bps=1.8, threshold_bps=0.5, rearm_s=1.0)
    data = build_dataset([sim_recording], spec)
    assert len(data) > 30
    assert np.all(data.features[:, 1] - spec.fees_bps > spec.threshold_bps)
    assert np.array_equal(data.label, (data.markout_bps > 0).astype(np.int8))
    assert np.all(np.diff(data.t_ns) >= 0)
    for side in (1.0, -1.0):  # one signal per episode: same-side signals > rearm apart
        times = data.t_ns[data.features[:, 0] == side]
        assert np.all(np.diff(times) > spec.rearm_s * 1e9)
    assert data.meta["feature_schema"]["hash"] == SCHEMA_HASH
    assert data.feature_names == FEATURE_NAMES


def test_dataset_save_load_round_trip(sim_recording: Path, tmp_path: Path) -> None:
    data = build_dataset([sim_recording], DatasetSpec(fees_bps=1.8))
    saved = data.save(tmp_path / "ds")
    assert saved.suffix == ".npz"
    back = SignalDataset.load(saved)
    for name in ("features", "markout_bps", "label", "t_ns", "recording", "entry_px"):
        assert np.array_equal(getattr(back, name), getattr(data, name), equal_nan=True)
    assert back.meta == data.meta and back.feature_names == data.feature_names
    assert back.spec == DatasetSpec(fees_bps=1.8)


def test_data_hash_is_of_contents_and_order_free(sim_recording: Path, tmp_path: Path) -> None:
    other = _write(tmp_path, episode_frames())
    one = build_dataset([sim_recording, other], DatasetSpec(fees_bps=1.8))
    two = build_dataset([other, sim_recording], DatasetSpec(fees_bps=1.8))
    assert one.data_hash == two.data_hash == recordings_hash(
        [file_sha256(sim_recording), file_sha256(other)])
    assert np.array_equal(one.t_ns, two.t_ns)
    copy = tmp_path / "copy.h3rec"
    copy.write_bytes(other.read_bytes()[:-1])  # one byte less: other contents
    assert build_dataset([copy], DatasetSpec()).data_hash != build_dataset(
        [other], DatasetSpec()).data_hash


def test_dataset_refuses_missing_recording_and_bad_spec(tmp_path: Path) -> None:
    with pytest.raises(RecordingError):
        build_dataset([tmp_path / "nope.h3rec"])
    with pytest.raises(RecordingError):
        build_dataset([])
    with pytest.raises(ValueError, match="horizon_s"):
        DatasetSpec(horizon_s=0)
