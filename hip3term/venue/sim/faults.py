"""Faults the simulator injects on purpose, switched on by ``--faults SPEC`` or the config.

The spec syntax (this text is also `FAULTS_HELP`, which ``hip3term sim --help`` shows):

Comma-separated faults, each at most once, e.g.
drop=30s,stall=5s/60s,delay=50ms,dup=0.01,malformed=0.02,unanswered=0.05,reject_storm=10s/120s
drop=PERIOD: close the connection every PERIOD.
stall=DURATION/PERIOD: every PERIOD, send nothing for DURATION (frames wait, then go out
in a burst).
delay=DURATION or delay=DURATION+-JITTER: delay every frame by DURATION, optionally
jittered uniformly by up to JITTER either way (JITTER at most DURATION).
dup=RATE: send a frame twice, with probability RATE.
malformed=RATE: replace a frame by a broken one (truncated JSON, garbage, a field of the
wrong type, a missing field), with probability RATE.
unanswered=RATE: execute a post but never answer it, with probability RATE.
reject_storm=DURATION/PERIOD: every PERIOD, give every order the error status
"Insufficient margin to place order." for DURATION.
Durations need a unit: ms, s or m (500ms, 30s, 1.5s, 2m). Rates are a fraction or a
percentage (0.02 or 2%); dup plus malformed is at most 1. Periodic faults start one PERIOD
after the connection opens. An empty spec injects nothing.

Design: everything here is pure and seeded. `FaultSpec.parse` turns the text into a frozen
spec (raising `ConfigError` that names the bad item and the allowed forms);
`FaultInjector` answers the server's questions (drop now? stalled? how long to delay this
frame? what to send instead of this frame? answer this post? reject this order?) from
the spec, a `random.Random` and the times the server passes in. It never reads a clock and
never sleeps, so for a given seed and call sequence it gives the same answers. Every fault
it injects is counted (`counters`) and logged on the logger ``hip3term.sim.faults``:
connection drops and the start of each stall or reject-storm window at INFO, per-frame
and per-post faults at DEBUG.

Intended use by the server: one injector per connection (start_ms = when it opened,
rng seeded from the server seed and the connection number), so that each connection is
dropped PERIOD after it opened and its faults do not depend on other clients.
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final

from hip3term.errors import ConfigError

__all__ = [
    "COUNTER_NAMES",
    "FAULTS_HELP",
    "REJECT_STORM_ERROR",
    "FaultInjector",
    "FaultSpec",
    "Window",
]

logger = logging.getLogger("hip3term.sim.faults")

FAULTS_HELP: Final = (
    "Comma-separated faults, each at most once, e.g. drop=30s,stall=5s/60s,delay=50ms"
    ",dup=0.01,malformed=0.02,unanswered=0.05,reject_storm=10s/120s\n"
    "drop=PERIOD: close the connection every PERIOD.\n"
    "stall=DURATION/PERIOD: every PERIOD, send nothing for DURATION (frames wait, "
    "then go out in a burst).\n"
    "delay=DURATION or delay=DURATION+-JITTER: delay every frame by DURATION, "
    "optionally jittered uniformly by up to JITTER either way (JITTER at most "
    "DURATION).\n"
    "dup=RATE: send a frame twice, with probability RATE.\n"
    "malformed=RATE: replace a frame by a broken one (truncated JSON, garbage, a "
    "field of the wrong type, a missing field), with probability RATE.\n"
    "unanswered=RATE: execute a post but never answer it, with probability RATE.\n"
    "reject_storm=DURATION/PERIOD: every PERIOD, give every order the error status "
    '"Insufficient margin to place order." for DURATION.\n'
    "Durations need a unit: ms, s or m (500ms, 30s, 1.5s, 2m). Rates are a fraction "
    "or a percentage (0.02 or 2%); dup plus malformed is at most 1. Periodic faults "
    "start one PERIOD after the connection opens. An empty spec injects nothing."
)

REJECT_STORM_ERROR: Final = "Insufficient margin to place order."
"""The per-order error text during a reject storm (the exchange's PerpMargin text)."""

COUNTER_NAMES: Final = (
    "drop",
    "stall",
    "delay",
    "dup",
    "malformed",
    "malformed.truncated",
    "malformed.garbage",
    "malformed.wrong_type",
    "malformed.missing_key",
    "unanswered",
    "reject_storm",
    "reject_storm.orders",
)

_FORMS: Final = {
    "drop": "drop=PERIOD (e.g. drop=30s)",
    "stall": "stall=DURATION/PERIOD with DURATION < PERIOD (e.g. stall=5s/60s)",
    "delay": "delay=DURATION or delay=DURATION+-JITTER with JITTER <= DURATION "
    "(e.g. delay=50ms or delay=50ms+-20ms)",
    "dup": "dup=RATE (e.g. dup=0.01 or dup=1%)",
    "malformed": "malformed=RATE (e.g. malformed=0.02 or malformed=2%)",
    "unanswered": "unanswered=RATE (e.g. unanswered=0.05 or unanswered=5%)",
    "reject_storm": "reject_storm=DURATION/PERIOD with DURATION < PERIOD "
    "(e.g. reject_storm=10s/120s)",
}
_UNITS_MS: Final = {"ms": 1, "s": 1000, "m": 60_000}
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m)")
_RATE = re.compile(r"([0-9]+(?:\.[0-9]+)?)(%?)")
_PLAIN_DECIMAL = re.compile(r"-?[0-9]{1,30}(?:\.[0-9]{1,30})?")

# Kinds of malformed frame and how often each is picked: cut-off frames are the most
# common breakage in practice, raw garbage the rarest.
_MALFORMED_KINDS: Final = ("truncated", "wrong_type", "missing_key", "garbage")
_MALFORMED_WEIGHTS: Final = (4, 3, 2, 1)
_GARBAGE_FIRST: Final = "~#@!%^&*<>?|\\`"  # none of these can start a JSON text


@dataclass(frozen=True, slots=True)
class Window:
    """A fault that is on for `duration_ms` at the start of every `period_ms`.

    The first window opens one period after the injector's start time, so windows are
    ``[start + k*period, start + k*period + duration)`` for k = 1, 2, ...
    """

    duration_ms: int
    period_ms: int

    def index_at(self, elapsed_ms: int) -> int | None:
        """The number k of the window open `elapsed_ms` after the start, or None."""
        if elapsed_ms < self.period_ms:
            return None
        k, offset = divmod(elapsed_ms, self.period_ms)
        return k if offset < self.duration_ms else None

    def __str__(self) -> str:
        return f"{_format_ms(self.duration_ms)}/{_format_ms(self.period_ms)}"


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """Which faults to inject and how strongly; the empty spec injects nothing.

    Attributes:
        drop_every_ms: Close the connection every this many ms (None: never).
        stall: Send nothing during these windows (None: never).
        delay_ms: Delay every frame by this many ms.
        delay_jitter_ms: Jitter the delay uniformly by up to this many ms either way.
        dup_rate: Probability that a frame is sent twice.
        malformed_rate: Probability that a frame is replaced by a broken one.
        unanswered_rate: Probability that a post is executed but never answered.
        reject_storm: Every order gets `REJECT_STORM_ERROR` during these windows.
    """

    drop_every_ms: int | None = None
    stall: Window | None = None
    delay_ms: int = 0
    delay_jitter_ms: int = 0
    dup_rate: float = 0.0
    malformed_rate: float = 0.0
    unanswered_rate: float = 0.0
    reject_storm: Window | None = None

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        """Parse a spec such as ``drop=30s,stall=5s/60s,dup=0.01`` (see `FAULTS_HELP`).

        Whitespace around items is ignored; an empty or blank text is the empty spec.

        Raises:
            ConfigError: an item is unknown, repeated, empty or badly formed; the message
                names the item and the allowed forms.
        """
        values: dict[str, Any] = {}
        seen: set[str] = set()
        if not text.strip():
            return cls()
        for raw_item in text.split(","):
            item = raw_item.strip()
            name, sep, value = item.partition("=")
            name = name.strip()
            if not item:
                raise ConfigError(
                    f"fault spec {text.strip()!r} has an empty item (a doubled or trailing "
                    "comma); items are separated by single commas"
                )
            if name not in _FORMS:
                raise ConfigError(_unknown_item(item))
            if not sep:
                raise _bad_item(item, name, "the value is missing")
            if name in seen:
                raise ConfigError(f"fault {name!r} is given twice in the fault spec")
            seen.add(name)
            values.update(_parse_item(item, name, value.strip()))
        spec = cls(**values)
        if spec.dup_rate + spec.malformed_rate > 1:
            raise ConfigError(
                f"fault spec {text.strip()!r}: dup plus malformed must be at most 1 "
                "(a frame is either duplicated or malformed, never both)"
            )
        return spec

    @property
    def is_empty(self) -> bool:
        """True when this spec injects nothing at all."""
        return self == FaultSpec()

    def __str__(self) -> str:
        items: list[str] = []
        if self.drop_every_ms is not None:
            items.append(f"drop={_format_ms(self.drop_every_ms)}")
        if self.stall is not None:
            items.append(f"stall={self.stall}")
        if self.delay_ms or self.delay_jitter_ms:
            jitter = f"+-{_format_ms(self.delay_jitter_ms)}" if self.delay_jitter_ms else ""
            items.append(f"delay={_format_ms(self.delay_ms)}{jitter}")
        for name, rate in (
            ("dup", self.dup_rate),
            ("malformed", self.malformed_rate),
            ("unanswered", self.unanswered_rate),
        ):
            if rate:
                items.append(f"{name}={rate!r}")
        if self.reject_storm is not None:
            items.append(f"reject_storm={self.reject_storm}")
        return ",".join(items)


def _unknown_item(item: str) -> str:
    forms = "; ".join(_FORMS.values())
    return f"unknown fault spec item {item!r}: allowed items are {forms}"


def _bad_item(item: str, name: str, why: str) -> ConfigError:
    return ConfigError(f"fault spec item {item!r}: {why}; expected {_FORMS[name]}")


def _parse_item(item: str, name: str, value: str) -> dict[str, Any]:
    if name == "drop":
        return {"drop_every_ms": _parse_duration(item, name, value, positive=True)}
    if name in ("stall", "reject_storm"):
        return {name: _parse_window(item, name, value)}
    if name == "delay":
        base, sep, jitter = value.partition("+-")
        delay_ms = _parse_duration(item, name, base, positive=False)
        jitter_ms = _parse_duration(item, name, jitter, positive=False) if sep else 0
        if jitter_ms > delay_ms:
            raise _bad_item(item, name, "the jitter is larger than the delay")
        return {"delay_ms": delay_ms, "delay_jitter_ms": jitter_ms}
    return {f"{name}_rate": _parse_rate(item, name, value)}


def _parse_duration(item: str, name: str, text: str, *, positive: bool) -> int:
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise _bad_item(item, name, f"{text!r} is not a duration with a unit (ms, s or m)")
    ms = Decimal(match.group(1)) * _UNITS_MS[match.group(2)]
    if ms != ms.to_integral_value():
        raise _bad_item(item, name, f"{text!r} is not a whole number of milliseconds")
    if positive and ms <= 0:
        raise _bad_item(item, name, f"{text!r} must be longer than zero")
    return int(ms)


def _parse_window(item: str, name: str, value: str) -> Window:
    duration, sep, period = value.partition("/")
    if not sep:
        raise _bad_item(item, name, "both a duration and a period are needed")
    duration_ms = _parse_duration(item, name, duration, positive=True)
    period_ms = _parse_duration(item, name, period, positive=True)
    if duration_ms >= period_ms:
        raise _bad_item(item, name, "the duration must be shorter than the period")
    return Window(duration_ms, period_ms)


def _parse_rate(item: str, name: str, text: str) -> float:
    match = _RATE.fullmatch(text)
    if match is None:
        raise _bad_item(item, name, f"{text!r} is not a fraction or a percentage")
    rate = Decimal(match.group(1)) / (100 if match.group(2) else 1)
    if rate > 1:
        raise _bad_item(item, name, f"{text!r} is more than 1 (100%)")
    return float(rate)


def _format_ms(ms: int) -> str:
    if ms and ms % 60_000 == 0:
        return f"{ms // 60_000}m"
    if ms and ms % 1000 == 0:
        return f"{ms // 1000}s"
    return f"{ms}ms"


class FaultInjector:
    """Answers the server's fault questions for one spec, one seed and one start time.

    Args:
        spec: The faults to inject.
        rng: The only source of randomness (pass a seeded `random.Random`).
        start_ms: Time origin of the periodic faults (drops, stalls, reject storms),
            normally when the connection opened.
    """

    def __init__(self, spec: FaultSpec, rng: random.Random, start_ms: int) -> None:
        self._spec = spec
        self._rng = rng
        self._start_ms = start_ms
        self._counts = dict.fromkeys(COUNTER_NAMES, 0)
        self._counters_view = MappingProxyType(self._counts)
        self._next_drop_ms = None if spec.drop_every_ms is None else start_ms + spec.drop_every_ms
        self._stall_window = 0  # number of the last stall window already counted
        self._storm_window = 0
        if not spec.is_empty:
            logger.info("fault injection on: %s", spec)

    @property
    def spec(self) -> FaultSpec:
        """The spec this injector follows."""
        return self._spec

    @property
    def counters(self) -> Mapping[str, int]:
        """Live, read-only counts of every injected fault, keyed by `COUNTER_NAMES`.

        ``stall`` and ``reject_storm`` count windows; ``reject_storm.orders`` counts the
        orders rejected in them; ``malformed.<kind>`` splits ``malformed`` by kind.
        """
        return self._counters_view

    def should_drop(self, now_ms: int) -> bool:
        """True once per drop period: the server should close the connection now.

        If several periods passed since the last call, this is still true only once.
        """
        period = self._spec.drop_every_ms
        if period is None or self._next_drop_ms is None or now_ms < self._next_drop_ms:
            return False
        self._next_drop_ms = self._start_ms + ((now_ms - self._start_ms) // period + 1) * period
        self._counts["drop"] += 1
        logger.info("fault: dropping the connection (drop #%d)", self._counts["drop"])
        return True

    def stalled(self, now_ms: int) -> bool:
        """True while a stall window is open: send nothing now, keep frames queued."""
        return self.stall_until_ms(now_ms) is not None

    def stall_until_ms(self, now_ms: int) -> int | None:
        """The time the open stall window ends, or None when no stall is on."""
        window = self._spec.stall
        if window is None:
            return None
        k = window.index_at(now_ms - self._start_ms)
        if k is None:
            return None
        if k > self._stall_window:
            self._stall_window = k
            self._counts["stall"] += 1
            logger.info("fault: stalling all frames for %d ms", window.duration_ms)
        return self._start_ms + k * window.period_ms + window.duration_ms

    def delay_s(self) -> float:
        """How long to hold the next frame before sending it, in seconds (0.0: none)."""
        base, jitter = self._spec.delay_ms, self._spec.delay_jitter_ms
        if not base and not jitter:
            return 0.0
        delay_ms = base + self._rng.uniform(-jitter, jitter) if jitter else float(base)
        self._counts["delay"] += 1
        logger.debug("fault: delaying a frame by %.1f ms", delay_ms)
        return max(delay_ms, 0.0) / 1000.0

    def outgoing(self, frame: bytes) -> list[bytes]:
        """What to send in place of `frame`: ``[frame]``, ``[frame, frame]`` or ``[broken]``.

        Never empty (losing frames is what a dropped connection does). A broken frame is
        valid UTF-8, so it can go out as a text message like every other frame.
        """
        malformed, dup = self._spec.malformed_rate, self._spec.dup_rate
        if not malformed and not dup:
            return [frame]
        draw = self._rng.random()
        if draw < malformed:
            kind, broken = self._malform(frame)
            self._counts["malformed"] += 1
            self._counts[f"malformed.{kind}"] += 1
            logger.debug("fault: sending a malformed frame (%s)", kind)
            return [broken]
        if draw < malformed + dup:
            self._counts["dup"] += 1
            logger.debug("fault: sending a frame twice")
            return [frame, frame]
        return [frame]

    def leave_unanswered(self) -> bool:
        """True when the server should execute this post but never send its response."""
        rate = self._spec.unanswered_rate
        if not rate or self._rng.random() >= rate:
            return False
        self._counts["unanswered"] += 1
        logger.debug("fault: leaving a post unanswered")
        return True

    def reject_storm(self, now_ms: int) -> bool:
        """True during a reject storm: give this order the status `REJECT_STORM_ERROR`.

        Call it once per order (each true answer is counted as a rejected order).
        """
        window = self._spec.reject_storm
        if window is None:
            return False
        k = window.index_at(now_ms - self._start_ms)
        if k is None:
            return False
        if k > self._storm_window:
            self._storm_window = k
            self._counts["reject_storm"] += 1
            logger.info("fault: reject storm, rejecting every order for %d ms", window.duration_ms)
        self._counts["reject_storm.orders"] += 1
        return True

    # --- malformed frames ------------------------------------------------------------

    def _malform(self, frame: bytes) -> tuple[str, bytes]:
        kind = self._rng.choices(_MALFORMED_KINDS, weights=_MALFORMED_WEIGHTS)[0]
        broken: bytes | None = None
        if kind in ("wrong_type", "missing_key"):
            broken = self._edit_json(frame, kind)
            if broken is None:
                kind = "truncated"  # not a JSON object (the greeting, say): cut it instead
        if kind == "truncated":
            broken = self._truncate(frame)
            if broken is None:
                kind = "garbage"
        if broken is None:
            broken = self._garbage()
        return kind, broken

    def _truncate(self, frame: bytes) -> bytes | None:
        body = frame.rstrip()  # a cut inside trailing whitespace could leave valid JSON
        if len(body) < 2:
            return None
        cut = body[: self._rng.randrange(1, len(body))]
        text = cut.decode("utf-8", "ignore").encode()  # never split a UTF-8 sequence
        return text or None

    def _garbage(self) -> bytes:
        length = self._rng.randint(8, 64)
        first = self._rng.choice(_GARBAGE_FIRST)
        rest = "".join(chr(self._rng.randrange(0, 0x250)) for _ in range(length - 1))
        return (first + rest).encode()

    def _edit_json(self, frame: bytes, kind: str) -> bytes | None:
        try:
            document = json.loads(frame)
        except ValueError:
            return None
        if kind == "wrong_type":
            slots = _value_slots(document)
            if not slots:
                return None
            container, key = self._rng.choice(slots)
            container[key] = _wrong_type(container[key])
        else:
            objects = [obj for obj in _objects(document) if obj]
            if not objects:
                return None
            obj = self._rng.choice(objects)
            del obj[self._rng.choice(sorted(obj))]
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _objects(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _value_slots(node: Any) -> list[tuple[Any, Any]]:
    # (container, key-or-index) for every value below the root, in document order
    slots: list[tuple[Any, Any]] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            slots.extend((item, key) for key in item)
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            slots.extend((item, index) for index in range(len(item)))
            stack.extend(reversed(item))
    return slots


def _wrong_type(value: Any) -> Any:
    # The kind of mistake a sloppy encoder makes: numbers for decimal strings, strings
    # for numbers, an object where a list belongs, and so on.
    if isinstance(value, str):
        if _PLAIN_DECIMAL.fullmatch(value) is None:
            return len(value)
        number = Decimal(value)
        return int(number) if number == number.to_integral_value() else float(number)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if value is None:
        return 0
    if isinstance(value, list):
        return {}
    return []
