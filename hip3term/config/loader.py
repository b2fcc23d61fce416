"""The layered loader of the settings, and its error messages.

See the package docstring for the layers and the rules.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeGuard, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    SecretStr,
    ValidationError,
)
from pydantic_core import ErrorDetails

from hip3term.config.models import (
    DEFAULTS_FILE,
    ENV_PREFIX,
    PACKAGE_ENV_VARS,
    REDACTED,
    RESERVED_ENV_VARS,
    Settings,
    looks_like_private_key,
)
from hip3term.errors import ConfigError

# ---------------------------------------------------------------- loading


@dataclass(frozen=True)
class _Source:
    kind: Literal["defaults", "file", "env", "flag"]
    label: str
    text: str | None = None  # TOML text, to find the line of a key

    def where(self, path: tuple[str, ...]) -> str:
        line = _line_of(self.text, path) if self.text is not None else None
        return f"{self.label}, line {line}" if line else self.label


_BUILTIN = _Source("defaults", "built-in default")


@dataclass
class _Merged:
    data: dict[str, Any] = field(default_factory=dict)
    origin: dict[tuple[str, ...], _Source] = field(default_factory=dict)

    def add(self, layer: Mapping[str, Any], source: _Source, prefix: tuple[str, ...] = ()) -> None:
        target = self.data
        for part in prefix:
            target = target.setdefault(part, {})
        for key, value in layer.items():
            path = (*prefix, str(key))
            if isinstance(value, Mapping):
                if not isinstance(target.get(key), dict):
                    target[key] = {}
                    self.origin[path] = source
                self.add(value, source, path)
            else:
                target[key] = value
                for stale in [p for p in self.origin if p[: len(path)] == path]:
                    del self.origin[stale]
                self.origin[path] = source  # re-inserted: latest layers come last

    def source_of(self, path: tuple[str, ...]) -> _Source:
        for end in range(len(path), 0, -1):
            if (found := self.origin.get(path[:end])) is not None:
                return found
        return _BUILTIN

    def where(self, path: tuple[str, ...]) -> str:
        """Where the value at `path` was set; for a default, the user's latest nearby setting.

        A default can only be wrong through another field (a cross-field rule), so the
        operator is pointed at the latest value they set in the same section.
        """
        source = self.source_of(path)
        if source.kind == "defaults":
            section = path[:-1]
            for other, other_source in reversed(self.origin.items()):
                if other[: len(section)] == section and other_source.kind != "defaults":
                    return other_source.where(other)
        return source.where(path)


@dataclass(frozen=True)
class LoadedConfig:
    """Validated settings and the sources layered to make them, in order."""

    settings: Settings
    sources: tuple[str, ...]


def load_settings(
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    defaults_file: Path | None = DEFAULTS_FILE,
    override_labels: Mapping[str, str] | None = None,
) -> Settings:
    """Load the layered settings; see `load_config`."""
    return load_config(config_file, overrides, env, defaults_file, override_labels).settings


def load_config(
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    defaults_file: Path | None = DEFAULTS_FILE,
    override_labels: Mapping[str, str] | None = None,
) -> LoadedConfig:
    """Layer defaults file < config file < HIP3TERM_* variables < overrides, and validate.

    Args:
        config_file: the `--config` file; it must exist.
        overrides: dotted path -> value (command-line flags); None values are skipped.
        env: environment to read; `os.environ` when None.
        defaults_file: base layer; None to start from the model defaults only.
        override_labels: dotted path -> how to name it in errors (e.g. "--venue").

    Raises:
        ConfigError: listing every problem with its source, field path, value and rule.
    """
    merged, sources = _Merged(), []
    files: list[tuple[Path | None, Literal["defaults", "file"]]] = [
        (defaults_file, "defaults"),
        (config_file, "file"),
    ]
    for path, kind in files:
        if path is not None:
            text, data = _read_toml(path)
            merged.add(data, _Source(kind, str(path), text))
            sources.append(f"{kind} {path}")
    errors = _add_env(merged, os.environ if env is None else env, sources)
    labels = override_labels or {}
    for dotted, value in (overrides or {}).items():
        if value is not None:
            label = labels.get(dotted, f"override {dotted}")
            merged.add(_nest(tuple(dotted.split(".")), value), _Source("flag", label))
            sources.append(f"flag {label}" if dotted in labels else label)
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(merged.data)
    except ValidationError as exc:
        errors += [_describe(error, merged) for error in exc.errors()]
    if settings is not None and settings.venue.live:
        source = merged.source_of(("venue", "live"))
        if source.kind != "flag":
            errors.append(
                f"{source.where(('venue', 'live'))}: venue.live = true: live trading is only "
                "switched on from the command line (--live), never by a file or variable"
            )
    if errors or settings is None:
        raise ConfigError(_join(errors))
    return LoadedConfig(settings, tuple(sources))


def _join(errors: list[str]) -> str:
    if len(errors) == 1:
        return errors[0]
    return f"{len(errors)} problems:\n" + "\n".join(f"  - {error}" for error in errors)


def _nest(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    for part in reversed(path):
        value = {part: value}
    return dict(value)


def _read_toml(path: Path) -> tuple[str, dict[str, Any]]:
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        pattern = r"(?s)(.*) \(at (line \d+, column \d+|end of document)\)"
        found = re.fullmatch(pattern, str(exc))
        if found is None:
            raise ConfigError(f"{path}: TOML syntax error: {exc}") from None
        reason, where = found.group(1), found.group(2).replace("end of document", "end of file")
        raise ConfigError(f"{path}, {where}: TOML syntax error: {reason}") from None


_HEADER = re.compile(r"\[\[?([^\[\]]+)\]\]?\s*(#.*)?")
_KEY_LINE = re.compile(r"([A-Za-z0-9_\-.\"' ]+?)\s*=")


def _line_of(text: str, path: tuple[str, ...]) -> int | None:
    # Good enough for hand-written files: [table] headers plus `key = value` lines.
    table: tuple[str, ...] = ()
    best, best_depth = None, 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if (header := _HEADER.fullmatch(line)) is not None:
            table = _split_key(header.group(1))
            if path[: len(table)] == table and len(table) > best_depth:
                best, best_depth = number, len(table)
        elif (key := _KEY_LINE.match(line)) is not None and not line.startswith("#"):
            full = table + _split_key(key.group(1))
            if path[: len(full)] == full:
                return number
    return best


def _split_key(text: str) -> tuple[str, ...]:
    return tuple(part.strip().strip("\"'") for part in text.split("."))


# ---------------------------------------------------------------- environment


def _add_env(merged: _Merged, env: Mapping[str, str], sources: list[str]) -> list[str]:
    ours = [name for name in sorted(env) if name.upper().startswith(ENV_PREFIX)]
    found = {name: _resolve_env(name) for name in ours}
    key_vars = RESERVED_ENV_VARS | {name.upper() for name in _key_var_names(merged, env, found)}
    errors = []
    for name, resolved in found.items():
        if name.upper() in key_vars:
            continue  # key material: never read, never shown
        if name.upper() in PACKAGE_ENV_VARS:
            continue  # read by the package itself (HIP3TERM_PURE), not a setting
        if isinstance(resolved, str):
            errors.append(f"environment variable {name}: {resolved}")
            continue
        path, annotation = resolved
        value: Any = env[name]
        if _is_container(annotation):
            try:
                value = json.loads(value)
            except ValueError:
                errors.append(f"environment variable {name}: must be JSON (a table or a list)")
                continue
        merged.add(_nest(path, value), _Source("env", f"environment variable {name}"))
        sources.append(f"environment {name}")
    return errors


def _key_var_names(
    merged: _Merged, env: Mapping[str, str], found: Mapping[str, tuple[tuple[str, ...], Any] | str]
) -> list[str]:
    # The variables named by account.agent_key.env_var and .password_env hold key material.
    fields = ("env_var", "password_env")
    account = merged.data.get("account")
    agent_key = account.get("agent_key") if isinstance(account, dict) else None
    names = [agent_key.get(f) for f in fields] if isinstance(agent_key, dict) else []
    paths = [("account", "agent_key", f) for f in fields]
    names += [env[n] for n, got in found.items() if isinstance(got, tuple) and got[0] in paths]
    return [name for name in names if isinstance(name, str)]


def _unwrap(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        annotation = args[0] if len(args) == 1 else annotation
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _is_model(annotation: Any) -> TypeGuard[type[BaseModel]]:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _is_container(annotation: Any) -> bool:
    return _is_model(annotation) or get_origin(annotation) in (dict, list, tuple)


def _resolve_env(name: str) -> tuple[tuple[str, ...], Any] | str:
    """(field path, annotation) of a HIP3TERM_ variable, or why it names no setting."""
    annotation: Any = Settings
    path: list[str] = []
    for part in name[len(ENV_PREFIX) :].split("__"):
        if _is_model(annotation):
            choices: tuple[str, ...] = tuple(annotation.model_fields)
        elif get_origin(annotation) is dict:
            key_type, annotation = get_args(annotation)
            choices = get_args(key_type) if get_origin(key_type) is Literal else ()
        else:
            return f"{'.'.join(path)} has no sub-fields (is {part!r} a typo?)"
        matches = [c for c in choices if c.lower() == part.lower()] if choices else [part.lower()]
        if not matches or not part:
            where = ".".join(path) or "settings"
            return (
                f"not a setting: {where} has no {part.lower()!r} (allowed: "
                f"{', '.join(choices)}); variables are HIP3TERM_<SECTION>__<FIELD>, "
                "two underscores between parts, e.g. HIP3TERM_VENUE__NAME"
            )
        path.append(matches[0])
        if _is_model(annotation):
            annotation = _unwrap(annotation.model_fields[matches[0]].annotation)
    return tuple(path), annotation


# ---------------------------------------------------------------- error messages


def _describe(error: ErrorDetails, merged: _Merged) -> str:
    parts = [str(p) for p in error["loc"] if p != "[key]"]
    path = tuple(parts)
    where = merged.where(path)
    dotted = ".".join(parts) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{where}: {dotted}: unknown key; allowed keys: {_allowed_keys(path[:-1])}"
    rule = _rule(error)
    if "[key]" in error["loc"]:
        keys = error.get("ctx", {}).get("expected", "?")
        return f"{where}: {dotted}: unknown key; allowed keys: {keys}"
    if isinstance(error["input"], Mapping | list | tuple):
        return f"{where}: {dotted}: {rule}"
    return f"{where}: {dotted} = {_show(path, error['input'])}: {rule}"


def _rule(error: ErrorDetails) -> str:
    if error["type"] == "literal_error":
        return f"must be one of {error.get('ctx', {}).get('expected', '?')}"
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return re.sub(r"^(Input|Decimal input) should", "must", message)


def _show(path: tuple[str, ...], value: Any) -> str:
    if "private_key" in path or isinstance(value, SecretStr) or looks_like_private_key(value):
        return f'"{REDACTED}" (redacted)'
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = json.dumps(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _allowed_keys(path: tuple[str, ...]) -> str:
    model: Any = Settings
    for part in path:
        if part.isdigit() and get_origin(model) is tuple:
            model = get_args(model)[0]
        elif _is_model(model) and part in model.model_fields:
            model = _unwrap(model.model_fields[part].annotation)
        else:
            return "?"
    if _is_model(model):
        return ", ".join(model.model_fields)
    return "?"

