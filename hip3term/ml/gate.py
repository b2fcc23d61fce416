"""The hot-path signal gate: the feature schema, a LightGBM tree evaluator and the bundle.

Imports only the standard library, `hip3term.book` and `hip3term.errors` (no numpy, no
LightGBM, nothing of the engine), so the oracle-dislocation plugin may import it.

**Features.** `signal_row(features, side, wall_ns)` turns the market's `Features` at a
signal and the signal's side into the model's input row. The dataset builder
(`ml.dataset`) calls the same function on the same `MarketState` features, so training
and the gate can never disagree on what a feature means. The schema (names, order and the
definitions below, with `FEATURE_VERSION`) has a hash, `SCHEMA_HASH`; a bundle trained
under another schema is refused. Change a definition here → bump `FEATURE_VERSION`.
Invalid features are NaN (LightGBM's missing value).

**Evaluator.** `TreeEnsemble` reads a LightGBM text model (`Booster.model_to_string()`)
and evaluates it in pure Python: each tree is compiled once into nested `if` statements,
so one prediction is a few comparisons per tree (LightGBM's own `Booster.predict` on one
row costs hundreds of µs in call overhead). It reproduces LightGBM's numerical decisions
exactly: `value <= threshold` goes left; a missing value (NaN, or zero for
`missing_type=Zero`) follows the node's default direction; with `missing_type=None` a
NaN is treated as 0.0. The raw score is the sum of the leaf values in tree order (as
LightGBM sums them) and the probability `1 / (1 + exp(-sigmoid * raw))`. Categorical
splits, linear trees and multi-class models are refused.

**Bundle.** One JSON file (`gate.json`, written by `hip3term train`) holding the model
string, the feature schema and its hash, the data hash, the dataset's settings (horizon,
fees, threshold), the cross-validated metrics and the threshold sweep. `Gate.load(path)`
takes the file or the directory holding it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from hip3term.book.features import Features
from hip3term.errors import Hip3Error

__all__ = [
    "BUNDLE_FILE",
    "BUNDLE_FORMAT",
    "FEATURE_DEFINITIONS",
    "FEATURE_NAMES",
    "FEATURE_VERSION",
    "SCHEMA_HASH",
    "Gate",
    "ModelError",
    "TreeEnsemble",
    "feature_schema",
    "read_bundle",
    "signal_row",
]

FEATURE_VERSION: Final = 1
"""Version of the feature definitions; bump it with any change to `signal_row`."""

FEATURE_DEFINITIONS: Final[tuple[tuple[str, str], ...]] = (
    ("side", "+1 for a buy signal (ask below the oracle), -1 for a sell signal"),
    ("dislocation_bps", "the signal side's dislocation, buy_dislocation_bps for a buy and "
                        "sell_dislocation_bps for a sell (edge before fees)"),
    ("spread_bps", "(best ask - best bid) / mid * 1e4"),
    ("imbalance_side", "top-of-book imbalance (bid_sz - ask_sz) / (bid_sz + ask_sz) times "
                       "side: positive when more size waits on the side the trade leans on"),
    ("oracle_age_s", "seconds since the oracle price last changed"),
    ("mark_oracle_side_bps", "(mark - oracle) / oracle * 1e4 times side"),
    ("rv_1s_bps", "realized volatility of the mid over the last 1 s, bps"),
    ("rv_10s_bps", "realized volatility of the mid over the last 10 s, bps"),
    ("rv_60s_bps", "realized volatility of the mid over the last 60 s, bps"),
    ("trade_flow_side", "aggressor volume (buys - sells, base units) over the flow window "
                        "times side: positive when the tape trades in the signal's direction"),
    ("hour_utc", "UTC time of day of the signal on the wall clock, hours in [0, 24)"),
)
"""(name, definition) of every model input, in column order; invalid features are NaN."""

FEATURE_NAMES: Final[tuple[str, ...]] = tuple(name for name, _ in FEATURE_DEFINITIONS)

BUNDLE_FORMAT: Final = "hip3term-gate/1"
BUNDLE_FILE: Final = "gate.json"
"""The bundle's file name inside a model directory."""

_NAN: Final = math.nan
_NS_PER_DAY: Final = 86_400_000_000_000
_NS_PER_HOUR: Final = 3_600_000_000_000
# LightGBM's kZeroThreshold is the float literal 1e-35f, widened to double.
_ZERO: Final = 1.0000000180025095e-35
_MAX_COMPILED_DEPTH: Final = 60  # deeper trees use the loop (Python's nesting limits)


def feature_schema() -> dict[str, Any]:
    """The feature schema: version, names in column order, definitions."""
    return {"version": FEATURE_VERSION, "names": list(FEATURE_NAMES),
            "definitions": dict(FEATURE_DEFINITIONS)}


def _schema_hash() -> str:
    text = json.dumps(feature_schema(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


SCHEMA_HASH: Final = _schema_hash()
"""sha256 of the canonical JSON of `feature_schema()`."""


def signal_row(features: Features, side: Literal["buy", "sell"], wall_ns: int) -> list[float]:
    """The model's input row for a signal (see `FEATURE_DEFINITIONS`).

    Args:
        features: the market's features at the signal.
        side: "buy" or "sell".
        wall_ns: wall-clock time of the signal (unix ns), for the time of day.
    """
    s = 1.0 if side == "buy" else -1.0
    dislocation = (features.buy_dislocation_bps if s > 0 else features.sell_dislocation_bps).value
    imbalance = features.imbalance.value
    mark_oracle = features.mark_oracle_bps.value
    flow = features.trade_flow.value
    spread, age = features.spread_bps.value, features.oracle_age_s.value
    rv1, rv10, rv60 = (features.rv_1s_bps.value, features.rv_10s_bps.value,
                       features.rv_60s_bps.value)
    return [
        s,
        _NAN if dislocation is None else dislocation,
        _NAN if spread is None else spread,
        _NAN if imbalance is None else imbalance * s,
        _NAN if age is None else age,
        _NAN if mark_oracle is None else mark_oracle * s,
        _NAN if rv1 is None else rv1,
        _NAN if rv10 is None else rv10,
        _NAN if rv60 is None else rv60,
        _NAN if flow is None else flow * s,
        (wall_ns % _NS_PER_DAY) / _NS_PER_HOUR,
    ]


class ModelError(Hip3Error):
    """A gate model or bundle cannot be used: unreadable, malformed, or of another schema."""

    title = "model error"
    exit_code = 2


# -- the tree evaluator ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Tree:
    split_feature: tuple[int, ...]
    threshold: tuple[float, ...]
    decision_type: tuple[int, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    leaf_value: tuple[float, ...]

    def depth(self) -> int:
        def walk(node: int) -> int:
            return 0 if node < 0 else 1 + max(walk(self.left[node]), walk(self.right[node]))
        return walk(0) if self.split_feature else 0

    def leaf(self, row: Sequence[float]) -> float:
        node = 0 if self.split_feature else -1
        while node >= 0:
            value = row[self.split_feature[node]]
            kind = self.decision_type[node]
            missing = (kind >> 2) & 3
            if math.isnan(value) and missing != 2:
                value = 0.0
            if (missing == 1 and -_ZERO <= value <= _ZERO) or (missing == 2 and
                                                                math.isnan(value)):
                node = self.left[node] if kind & 2 else self.right[node]
            else:
                node = self.left[node] if value <= self.threshold[node] else self.right[node]
        return self.leaf_value[~node]


class TreeEnsemble:
    """A LightGBM binary model evaluated in pure Python (see the module docstring).

    Build it with `TreeEnsemble.from_model_string(text)`.

    Attributes:
        n_features: how many inputs a row has (`max_feature_idx + 1`).
        feature_names: the names the model was trained with.
        sigmoid: the binary objective's sigmoid parameter.
        n_trees: number of trees.
    """

    def __init__(self, trees: Sequence[_Tree], n_features: int, feature_names: Sequence[str],
                 sigmoid: float) -> None:
        self._trees = tuple(trees)
        self.n_features = n_features
        self.feature_names = tuple(feature_names)
        self.sigmoid = sigmoid
        self.n_trees = len(self._trees)
        deep = any(tree.depth() > _MAX_COMPILED_DEPTH for tree in self._trees)
        self.raw: Callable[[Sequence[float]], float] = (
            self.raw_loop if deep else _compile(self._trees, n_features))

    @classmethod
    def from_model_string(cls, text: str) -> TreeEnsemble:
        """Parse LightGBM's text model format.

        Raises:
            ModelError: not a LightGBM text model, or one this evaluator does not support
                (not binary, more than one tree per iteration, categorical or linear).
        """
        header, blocks = _split_model(text)
        objective = header.get("objective", "")
        if not objective.startswith("binary"):
            raise ModelError(f"the model's objective is {objective!r}; the gate needs binary")
        if header.get("num_tree_per_iteration", "1") != "1" or header.get("num_class",
                                                                          "1") != "1":
            raise ModelError("the gate supports one tree per iteration (a binary model)")
        sigmoid = 1.0
        for part in objective.split()[1:]:
            if part.startswith("sigmoid:"):
                sigmoid = float(part.partition(":")[2])
        try:
            n_features = int(header["max_feature_idx"]) + 1
        except (KeyError, ValueError):
            raise ModelError("the model has no valid max_feature_idx line") from None
        names = header.get("feature_names", "").split()
        trees = [_parse_tree(block, n_features) for block in blocks]
        return cls(trees, n_features, names, sigmoid)

    def raw_loop(self, row: Sequence[float]) -> float:
        """The raw score by walking every tree (the reference the compiled code follows)."""
        total = 0.0
        for tree in self._trees:
            total += tree.leaf(row)
        return total

    def probability(self, row: Sequence[float]) -> float:
        """P(positive) of one row of `n_features` floats (NaN = missing)."""
        return _sigmoid(self.sigmoid * self.raw(row))


def _sigmoid(z: float) -> float:
    if z < -709.0:  # exp would overflow; LightGBM's 1 / (1 + inf) is 0
        return 0.0
    return 1.0 / (1.0 + math.exp(-z))


def _split_model(text: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    header: dict[str, str] = {}
    blocks: list[dict[str, str]] = []
    current = header
    seen_tree = False
    for line in text.splitlines():
        line = line.strip()
        if line == "end of trees":
            break
        if line.startswith("Tree="):
            current = {}
            blocks.append(current)
            seen_tree = True
            continue
        key, sep, value = line.partition("=")
        if sep:
            current[key] = value
    if not text.lstrip().startswith("tree"):
        raise ModelError("not a LightGBM text model (it must start with 'tree')")
    if not seen_tree:
        raise ModelError("the model has no trees")
    return header, blocks


def _parse_tree(block: Mapping[str, str], n_features: int) -> _Tree:
    try:
        n_leaves = int(block["num_leaves"])
        if int(block.get("num_cat", "0")) != 0:
            raise ModelError("the model has categorical splits; the gate does not support them")
        if block.get("is_linear", "0") != "0":
            raise ModelError("the model has linear trees; the gate does not support them")
        leaves = tuple(float(v) for v in block["leaf_value"].split())
        if n_leaves == 1:
            return _Tree((), (), (), (), (), leaves[:1])
        tree = _Tree(
            tuple(int(v) for v in block["split_feature"].split()),
            tuple(float(v) for v in block["threshold"].split()),
            tuple(int(v) for v in block["decision_type"].split()),
            tuple(int(v) for v in block["left_child"].split()),
            tuple(int(v) for v in block["right_child"].split()),
            leaves,
        )
    except (KeyError, ValueError) as exc:
        raise ModelError(f"malformed tree in the model: {exc}") from None
    _check_tree(tree, n_leaves, n_features)
    return tree


def _check_tree(tree: _Tree, n_leaves: int, n_features: int) -> None:
    n_nodes = n_leaves - 1
    sizes = {len(tree.split_feature), len(tree.threshold), len(tree.decision_type),
             len(tree.left), len(tree.right)}
    if sizes != {n_nodes} or len(tree.leaf_value) != n_leaves:
        raise ModelError("malformed tree in the model: array lengths disagree with num_leaves")
    if any(kind & 1 for kind in tree.decision_type):
        raise ModelError("the model has categorical splits; the gate does not support them")
    if not all(0 <= f < n_features for f in tree.split_feature):
        raise ModelError("malformed tree in the model: a split on an unknown feature")
    if not all(-n_leaves <= c < n_nodes for c in tree.left + tree.right):
        raise ModelError("malformed tree in the model: a child index out of range")
    if any(math.isnan(v) for v in tree.threshold) or not all(
            math.isfinite(v) for v in tree.leaf_value):
        raise ModelError("malformed tree in the model: a NaN threshold or a non-finite leaf")


def _condition(tree: _Tree, node: int) -> str:
    # The Python test that sends `x` left at `node`, NaN and zero handling included.
    x, threshold = f"x{tree.split_feature[node]}", _literal(tree.threshold[node])
    kind = tree.decision_type[node]
    missing, default_left = (kind >> 2) & 3, bool(kind & 2)
    if missing == 1:  # Zero: zero and NaN (NaN counts as 0.0) take the default direction
        is_missing = f"({x} != {x} or {-_ZERO!r} <= {x} <= {_ZERO!r})"
        if default_left:
            return f"{is_missing} or {x} <= {threshold}"
        return f"not {is_missing} and {x} <= {threshold}"
    # missing=None: a NaN is compared as 0.0
    nan_left = default_left if missing == 2 else tree.threshold[node] >= 0.0
    # `not x > t` is True for NaN, `x <= t` is False: the same test on every number.
    return f"not {x} > {threshold}" if nan_left else f"{x} <= {threshold}"


def _literal(value: float) -> str:
    # repr() round-trips every finite float; LightGBM may write an infinite threshold.
    if math.isinf(value):
        return "1e999" if value > 0 else "-1e999"
    return repr(value)


def _compile(trees: Sequence[_Tree], n_features: int) -> Callable[[Sequence[float]], float]:
    # Only numbers parsed from the model (ints, float reprs) reach the source text.
    lines = ["def raw(row):"]
    names = ", ".join(f"x{i}" for i in range(n_features))
    lines.append(f"    ({names},) = row")
    lines.append("    s = 0.0")

    def emit(tree: _Tree, node: int, depth: int) -> None:
        pad = "    " * depth
        if node < 0:
            lines.append(f"{pad}s += {tree.leaf_value[~node]!r}")
            return
        lines.append(f"{pad}if {_condition(tree, node)}:")
        emit(tree, tree.left[node], depth + 1)
        lines.append(f"{pad}else:")
        emit(tree, tree.right[node], depth + 1)

    for tree in trees:
        emit(tree, 0 if tree.split_feature else -1, 1)
    lines.append("    return s")
    namespace: dict[str, Any] = {}
    exec(compile("\n".join(lines), "<gate-trees>", "exec"), {"__builtins__": {}}, namespace)
    function: Callable[[Sequence[float]], float] = namespace["raw"]
    return function


# -- the bundle and the gate ---------------------------------------------------------------


def read_bundle(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The bundle at `path` (a `gate.json` file or a directory holding one), as a dict.

    Raises:
        ModelError: missing, unreadable, not JSON, or not a hip3term gate bundle.
    """
    file = Path(path)
    if file.is_dir():
        file = file / BUNDLE_FILE
    try:
        data = json.loads(file.read_text("utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{file}: no such file (train one with `hip3term train`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"{file}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ModelError(f"{file}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or data.get("format") != BUNDLE_FORMAT:
        raise ModelError(f"{file}: not a hip3term gate bundle (format {BUNDLE_FORMAT!r})")
    return data


class Gate:
    """The taker's gate: P(the signal's after-fee markout is positive) from its features.

    Args:
        bundle: a bundle as `read_bundle` returns it.
        source: where it came from, for error messages.

    Attributes:
        ensemble: the model.
        fees_bps: round-trip fees the labels were computed with.
        horizon_s: the label's markout horizon.
        data_hash: hash of the recordings the model was trained on.
        bundle: the whole bundle (metrics, sweep, settings).

    Raises:
        ModelError: the bundle is malformed, or its feature schema is not this code's.
    """

    def __init__(self, bundle: Mapping[str, Any], source: str = "bundle") -> None:
        schema = bundle.get("feature_schema") or {}
        found = schema.get("hash") if isinstance(schema, Mapping) else None
        if found != SCHEMA_HASH:
            raise ModelError(
                f"{source}: trained on feature schema {str(found)[:12]} (version "
                f"{schema.get('version') if isinstance(schema, Mapping) else '?'}), but this "
                f"hip3term computes schema {SCHEMA_HASH[:12]} (version {FEATURE_VERSION}); "
                "the features would not mean what the model learned: retrain it with "
                "`hip3term train`")
        model = bundle.get("model")
        if not isinstance(model, str):
            raise ModelError(f"{source}: the bundle holds no model string")
        self.ensemble = TreeEnsemble.from_model_string(model)
        if self.ensemble.n_features != len(FEATURE_NAMES):
            raise ModelError(f"{source}: the model takes {self.ensemble.n_features} features, "
                             f"the schema has {len(FEATURE_NAMES)}")
        dataset = bundle.get("dataset") or {}
        try:
            self.fees_bps = float(dataset["fees_bps"])
            self.horizon_s = float(dataset["horizon_s"])
        except (KeyError, TypeError, ValueError):
            raise ModelError(f"{source}: the bundle does not say its fees and horizon") from None
        self.data_hash = str(bundle.get("data_hash", ""))
        self.bundle = dict(bundle)
        self._raw = self.ensemble.raw
        self._sigmoid = self.ensemble.sigmoid

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Gate:
        """Load the bundle at `path` (a file or a model directory).

        Raises:
            ModelError: as `read_bundle` and the constructor.
        """
        return cls(read_bundle(path), str(path))

    def probability(self, features: Features, side: Literal["buy", "sell"],
                    wall_ns: int) -> float:
        """P(positive after-fee markout) of a signal on `side` with these features."""
        return _sigmoid(self._sigmoid * self._raw(signal_row(features, side, wall_ns)))

    def __repr__(self) -> str:
        return (f"Gate(trees={self.ensemble.n_trees}, fees_bps={self.fees_bps:g}, "
                f"horizon_s={self.horizon_s:g}, data={self.data_hash[:12]})")
