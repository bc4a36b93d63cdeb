"""Configuration: a typed schema in code, a TOML file that only overrides it.

Defaults live in the sections (`gateway.core.config_sections`); `config/gsmgw.example.toml`
documents every key. A bad file is refused with the file, the key and what is wrong (unknown keys
included, since a typo must not silently fall back to a default; the rules between keys in
`gateway.core.config_checks`), and `gsmgw config check` prints the same without starting anything.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.core import config_checks
from gateway.core.config_sections import (
    CampaignsSection,
    ConsentSection,
    DatabaseSection,
    GatewaySection,
    GpioSection,
    InboundSection,
    ModemSection,
    ReportsSection,
    RetentionSection,
    SimSection,
    SimulatorSection,
    WebhooksSection,
    WebSection,
)

DEFAULT_PATH = "/etc/gsmgw/gsmgw.toml"


class ConfigError(ValueError):
    """Says which file and key are wrong, and why."""


@dataclass(frozen=True)
class Config:
    gateway: GatewaySection = field(default_factory=GatewaySection)
    database: DatabaseSection = field(default_factory=DatabaseSection)
    web: WebSection = field(default_factory=WebSection)
    webhooks: WebhooksSection = field(default_factory=WebhooksSection)
    simulator: SimulatorSection = field(default_factory=SimulatorSection)
    consent: ConsentSection = field(default_factory=ConsentSection)
    inbound: InboundSection = field(default_factory=InboundSection)
    retention: RetentionSection = field(default_factory=RetentionSection)
    reports: ReportsSection = field(default_factory=ReportsSection)
    campaigns: CampaignsSection = field(default_factory=CampaignsSection)
    gpio: GpioSection = field(default_factory=GpioSection)
    modems: tuple[ModemSection, ...] = ()
    sims: tuple[SimSection, ...] = ()
    source: str = "<defaults>"

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{Path(self.gateway.data_dir).resolve() / 'gsmgw.db'}"


def config_path(explicit: str | None = None) -> str:
    """--config, then GSMGW_CONFIG, then /etc/gsmgw/gsmgw.toml."""
    return explicit or os.environ.get("GSMGW_CONFIG") or DEFAULT_PATH


def load(path: str | None = None, *, required: bool = True) -> Config:
    """Read and validate a config file; environment overrides applied last."""
    path = config_path(path)
    data: dict[str, Any] = {}
    if Path(path).exists():
        try:
            with open(path, "rb") as handle:
                data = tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc}") from exc
    elif required:
        raise ConfigError(f"{path}: no such file (set --config or GSMGW_CONFIG)")
    config = from_dict(data, source=path)
    if os.environ.get("GSMGW_DATABASE_URL"):
        config = dataclasses.replace(config, database=DatabaseSection(url=os.environ["GSMGW_DATABASE_URL"]))
    return config


def from_dict(data: dict[str, Any], *, source: str = "<dict>") -> Config:
    """A Config from a parsed TOML document: every key's type checked, then the rules between keys."""
    config = _build(Config, {k: v for k, v in data.items()}, source, "")
    try:
        config_checks.check(config)
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return dataclasses.replace(config, source=source)

def _build(cls: type, data: Any, source: str, where: str, base: Any = None) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: [{where or 'top'}] must be a table")
    hints = typing.get_type_hints(cls)
    keys = _keys(cls)
    known = {f.name for f in keys}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown key {_key(where, unknown[0])} (known: {', '.join(sorted(known))})")
    values: dict[str, Any] = {}
    for f in keys:
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{source}: {_key(where, f.name)} is required")
            continue
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        values[f.name] = _value(hints[f.name], data[f.name], source, _key(where, f.name), default)
    return cls(**values) if base is None else dataclasses.replace(base, **values)


def _keys(cls: type) -> list[dataclasses.Field[Any]]:
    """The fields of a section that a config file may set."""
    hidden = {"source", *getattr(cls, "NOT_KEYS", ())}
    return [f for f in dataclasses.fields(cls) if f.name not in hidden]


def _value(hint: Any, value: Any, source: str, key: str, default: Any = None) -> Any:
    """A key's value checked against its type; a table left partly out keeps the rest of its
    field's default (so [modems.limits] with only per_minute keeps SAFE_LIMITS' other caps)."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, source, key, default if dataclasses.is_dataclass(default) else None)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if not isinstance(value, list):
            if dataclasses.is_dataclass(item):
                raise ConfigError(f"{source}: {key} must be a list of tables ([[{key}]])")
            raise ConfigError(f"{source}: {key} must be a list, e.g. [\"a\", \"b\"]")
        return tuple(_value(item, entry, source, f"{key}[{i}]") for i, entry in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ConfigError(f"{source}: {key} must be {_type_name(hint)}, not {value!r}")
    if hint in (int, float) and value < 0:
        raise ConfigError(f"{source}: {key} must not be negative")
    return value


def _key(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _type_name(hint: Any) -> str:
    return {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}.get(hint, str(hint))
