"""Finding strategies: packages in `plugins/` and the entry-point group `hip3term.strategies`.

A plugin package `plugins/<name>/` exports its `Strategy` subclass as `STRATEGY` in its
`__init__.py` (or, failing that, defines exactly one `Strategy` subclass in
`plugins/<name>/strategy.py`). An installed distribution can add strategies with an
entry point `<name> = "module:Class"` in the group `hip3term.strategies`. The class's
`name` must equal the package or entry-point name. A name found in both places is taken
from `plugins/` (the conflict is reported).

Every problem is a `PluginError` (exit status 2) naming the strategy and, for bad
parameters, every field with its value and rule: a missing plugin lists those available,
a plugin that fails to import shows the exception.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from hip3term.errors import Hip3Error
from hip3term.strategy.base import Strategy, StrategyParams

__all__ = [
    "ENTRY_POINT_GROUP",
    "PLUGIN_PACKAGE",
    "ParamInfo",
    "PluginError",
    "StrategyCatalog",
    "StrategyEntry",
    "describe_params",
    "discover",
    "find_strategy",
    "load_strategy",
    "validate_params",
]

ENTRY_POINT_GROUP = "hip3term.strategies"
"""The entry-point group installed distributions register strategies in."""

PLUGIN_PACKAGE = "plugins"
"""The package whose sub-packages are strategy plugins."""


class PluginError(Hip3Error):
    """A strategy cannot be found, imported, or given its parameters."""

    title = "plugin error"
    exit_code = 2


@dataclass(frozen=True, slots=True)
class ParamInfo:
    """One parameter of a strategy, for `hip3term plugins`.

    Attributes:
        name: the key under `[strategy.params]`.
        type: the type with its bounds, e.g. `float >= 0`.
        default: the default as text ("(required)" when there is none).
        description: the field's description.
    """

    name: str
    type: str
    default: str
    description: str


@dataclass(frozen=True, slots=True)
class StrategyEntry:
    """One strategy found, or one that failed to load (`error` says why).

    Attributes:
        name: the package or entry-point name.
        origin: where it comes from, e.g. `plugins.maker` or `entry point x = m:C`.
        strategy: the class, None when it failed.
        error: why it failed ("" when it loaded).
    """

    name: str
    origin: str
    strategy: type[Strategy[Any]] | None
    error: str = ""

    @property
    def description(self) -> str:
        """The strategy's one-line description ("" when it failed)."""
        return "" if self.strategy is None else self.strategy.description

    @property
    def params(self) -> tuple[ParamInfo, ...]:
        """Its parameters (empty when it failed)."""
        return () if self.strategy is None else describe_params(self.strategy)


@dataclass(frozen=True, slots=True)
class StrategyCatalog:
    """Every strategy discovered, by name, and the problems met on the way."""

    entries: Mapping[str, StrategyEntry]
    problems: tuple[str, ...]


def discover(package: str = PLUGIN_PACKAGE, *, entry_points: bool = True) -> StrategyCatalog:
    """Import every plugin of `package` and of the entry-point group.

    A plugin that fails is kept with its error (and listed in `problems`), so one broken
    plugin does not hide the others.
    """
    entries: dict[str, StrategyEntry] = {}
    problems: list[str] = []
    for name in _package_plugins(package):
        entries[name] = _load_package_plugin(package, name)
    if entry_points:
        for point in _entry_points():
            entry = _load_entry_point(point)
            if entry.name in entries:
                problems.append(f"strategy {entry.name!r} is both {entries[entry.name].origin} "
                                f"and {entry.origin}; using {entries[entry.name].origin}")
                continue
            entries[entry.name] = entry
    problems += [entry.error for entry in entries.values() if entry.error]
    return StrategyCatalog(dict(sorted(entries.items())), tuple(problems))


def find_strategy(name: str, package: str = PLUGIN_PACKAGE) -> type[Strategy[Any]]:
    """The strategy class called `name`, importing only that plugin.

    Raises:
        PluginError: no such strategy (the message lists the available names), or it
            fails to import or breaks the plugin contract.
    """
    entry: StrategyEntry | None = None
    if name in _package_plugins(package):
        entry = _load_package_plugin(package, name)
    else:
        for point in _entry_points():
            if point.name == name:
                entry = _load_entry_point(point)
                break
    if entry is None:
        available = sorted(set(_package_plugins(package)) | {p.name for p in _entry_points()})
        raise PluginError(
            f"no strategy named {name!r}; available: {', '.join(available) or 'none'} "
            f"(packages in {package}/ and entry points of {ENTRY_POINT_GROUP!r}; "
            "see `hip3term plugins`)"
        )
    if entry.strategy is None:
        raise PluginError(entry.error)
    return entry.strategy


def validate_params(strategy: type[Strategy[Any]], params: Mapping[str, Any]) -> StrategyParams:
    """Validate `params` (the `[strategy.params]` table) with the strategy's model.

    Raises:
        PluginError: listing every bad field as `strategy.params.<field> = <value>: <rule>`.
    """
    try:
        return strategy.Params.model_validate(dict(params))
    except ValidationError as exc:
        lines = [_describe_error(strategy.Params, error) for error in exc.errors()]
        head = f"strategy {strategy.name!r}: "
        if len(lines) == 1:
            raise PluginError(head + lines[0]) from None
        raise PluginError(head + f"{len(lines)} bad parameters:\n" + "\n".join(
            f"  - {line}" for line in lines)) from None


def load_strategy(name: str, params: Mapping[str, Any] | None = None, *,
                  package: str = PLUGIN_PACKAGE) -> Strategy[Any]:
    """Find the strategy `name`, validate `params` and build it.

    Raises:
        PluginError: as `find_strategy` and `validate_params`.
    """
    strategy = find_strategy(name, package)
    return strategy(validate_params(strategy, params or {}))


def describe_params(strategy: type[Strategy[Any]]) -> tuple[ParamInfo, ...]:
    """The strategy's parameters: name, type with bounds, default, description."""
    return tuple(
        ParamInfo(name, _type_text(info), _default_text(info), info.description or "")
        for name, info in strategy.Params.model_fields.items()
    )


# -- discovery --------------------------------------------------------------------------


def _package_plugins(package: str) -> list[str]:
    try:
        root = importlib.import_module(package)
    except ImportError:
        return []
    paths = getattr(root, "__path__", None)
    if paths is None:
        return []
    return sorted(info.name for info in pkgutil.iter_modules(paths) if info.ispkg)


def _entry_points() -> list[metadata.EntryPoint]:
    return sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda p: p.name)


def _load_package_plugin(package: str, name: str) -> StrategyEntry:
    origin = f"{package}.{name}"
    try:
        module = importlib.import_module(origin)
        found = getattr(module, "STRATEGY", None)
        if found is None:
            found = _single_strategy(importlib.import_module(f"{origin}.strategy"), origin)
    except Exception as exc:  # a plugin may raise anything while importing
        return StrategyEntry(name, origin, None, _import_failure(name, origin, exc))
    return _checked(name, origin, found)


def _load_entry_point(point: metadata.EntryPoint) -> StrategyEntry:
    origin = f"entry point {point.name} = {point.value}"
    if point.dist is not None:
        origin += f" ({point.dist.name} {point.dist.version})"
    try:
        found = point.load()
    except Exception as exc:  # a plugin may raise anything while importing
        return StrategyEntry(point.name, origin, None, _import_failure(point.name, origin, exc))
    return _checked(point.name, origin, found)


def _single_strategy(module: ModuleType, origin: str) -> object:
    classes = [obj for obj in vars(module).values()
               if inspect.isclass(obj) and issubclass(obj, Strategy) and obj is not Strategy
               and obj.__module__ == module.__name__]
    if len(classes) != 1:
        raise TypeError(f"{origin} exports no STRATEGY and {module.__name__} defines "
                        f"{len(classes)} Strategy subclasses (expected exactly one)")
    return classes[0]


def _import_failure(name: str, origin: str, exc: Exception) -> str:
    return f"strategy {name!r} ({origin}) cannot be loaded: {type(exc).__name__}: {exc}"


def _checked(name: str, origin: str, found: object) -> StrategyEntry:
    problem = _contract_problem(name, found)
    if problem:
        return StrategyEntry(name, origin, None, f"strategy {name!r} ({origin}): {problem}")
    assert inspect.isclass(found) and issubclass(found, Strategy)  # checked just above
    return StrategyEntry(name, origin, found)


def _contract_problem(name: str, found: object) -> str:
    if not (inspect.isclass(found) and issubclass(found, Strategy)):
        return f"{found!r} is not a subclass of hip3term.strategy.Strategy"
    if found.name != name:
        return f"its class {found.__name__} has name {found.name!r}, expected {name!r}"
    if not isinstance(found.description, str) or not found.description.strip():
        return f"its class {found.__name__} has no description"
    params: object = found.Params  # a plugin may set anything here
    if not (inspect.isclass(params) and issubclass(params, StrategyParams)):
        return f"{found.__name__}.Params is not a subclass of StrategyParams"
    return ""


# -- describing parameters and errors ---------------------------------------------------

_BOUNDS = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))


def _type_text(info: FieldInfo) -> str:
    annotation = info.annotation
    text = annotation.__name__ if isinstance(annotation, type) else str(annotation)
    text = text.replace("typing.", "").replace("decimal.", "")
    bounds = [f"{sign} {getattr(item, attr)}" for item in info.metadata
              for attr, sign in _BOUNDS if getattr(item, attr, None) is not None]
    return " ".join([text, *bounds]) if len(bounds) < 2 else f"{text} ({', '.join(bounds)})"


def _default_text(info: FieldInfo) -> str:
    if info.default is PydanticUndefined and info.default_factory is None:
        return "(required)"
    value = info.get_default(call_default_factory=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _describe_error(model: type[BaseModel], error: Any) -> str:
    field = ".".join(str(part) for part in error["loc"])
    path = f"strategy.params.{field}" if field else "strategy.params"
    if error["type"] == "extra_forbidden":
        allowed = ", ".join(model.model_fields)
        return f"{path}: unknown parameter; allowed: {allowed}"
    if error["type"] == "missing":
        return f"{path}: required, not given"
    rule = str(error["msg"]).removeprefix("Value error, ")
    rule = rule.replace("Input should", "must").replace("Decimal input should", "must")
    return f"{path} = {error['input']!r}: {rule}"
