"""Configuration: a typed schema in code, a TOML file that only overrides it.

Defaults live here; `config/gsmgw.example.toml` documents every key. A bad file is refused with the
file, the key and what is wrong (unknown keys included, since a typo must not silently fall back to a
default), and `gsmgw config check` prints the same without starting anything.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from gateway.outbound.limits import Limits
from modem.gpio import POWER_KINDS, PowerSettings
from modem.supervision import ModemSettings

DEFAULT_PATH = "/etc/gsmgw/gsmgw.toml"


class ConfigError(ValueError):
    """Says which file and key are wrong, and why."""


@dataclass(frozen=True)
class GatewaySection:
    data_dir: str = "/var/lib/gsmgw"
    default_region: str = "GB"
    timezone: str = "Europe/London"
    resend_unknown: bool = False
    sticky_sim: bool = True  # the same customer hears from the same SIM, so replies come back to it
    # where modems named by imei or iccid are looked for (the virtual modems' directory in tests)
    serial_scan: tuple[str, ...] = ("/dev/serial/by-id/*", "/dev/ttyUSB*", "/dev/ttyACM*", "/dev/ttyAMA*")


@dataclass(frozen=True)
class DatabaseSection:
    url: str = ""  # empty: sqlite file in data_dir


LOCAL_HOST = "127.0.0.1"  # where a bare port listens: this machine only, unless the config says otherwise


@dataclass(frozen=True)
class WebSection:
    listen: str = "127.0.0.1:8080"  # "8080" alone: 127.0.0.1:8080; "0.0.0.0:8080" serves the LAN
    auth_failures_per_minute: int = 10  # wrong tries of one key per client address before 429 (valid keys: never); 0: no limit
    metrics_public: bool = False  # true: GET /api/v1/metrics needs no key (a Prometheus on the LAN scrapes it)

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) to bind, as written; a bare port is 127.0.0.1 (checked at load)."""
        return parse_listen(self.listen)


def parse_listen(text: str) -> tuple[str, int]:
    """"8080" -> ("127.0.0.1", 8080); "0.0.0.0:8080", "[::]:8080", "box.lan:8080" as written.
    ValueError says what is wrong."""
    text = text.strip()
    host, colon, port = text.rpartition(":")
    if not colon:
        host, port = LOCAL_HOST, text
    elif not host or host == "[]":
        raise ValueError(f"{text!r} has no host: write 127.0.0.1{text} (this machine) or 0.0.0.0{text} (the LAN)")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in host and not text.startswith("["):
        raise ValueError(f"{text!r}: write an IPv6 address in brackets, e.g. [::1]:8080")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r}: the port must be a number from 0 to 65535")
    return host, int(port)


@dataclass(frozen=True)
class WebhooksSection:
    # loopback (127.0.0.0/8, ::1) and link-local (169.254.0.0/16, fe80::/10) receivers are refused
    # unless listed here (host names, addresses or networks); LAN addresses need no entry
    allowed_hosts: tuple[str, ...] = ()


# a new SIM's safe pace: what a [modems.limits] or [[sims]] limits table that leaves a key out keeps
SAFE_LIMITS = Limits(per_minute=6, per_hour=120, per_day=500, per_month=10000, min_gap_s=2.0)


@dataclass(frozen=True)
class ModemSection(ModemSettings):
    """A [[modems]] entry: the modem's own settings, as its supervisor takes them (port, imei or
    iccid, at least one; baud rate, PIN, SMSC, timeouts), and what the gateway adds: its limits,
    GPIO and power switch."""

    # the modem layer's own timings, and the scan the daemon gives it from [gateway] serial_scan
    NOT_KEYS: ClassVar[frozenset[str]] = frozenset({"scan", "backoff", "boot_s", "rest_s", "startup_window"})
    limits: Limits = field(default_factory=lambda: SAFE_LIMITS)
    # GPIO (BCM numbers) and power switching (modem/gpio.py): the power keys are a PowerSettings
    # under their config names, with its defaults
    led_pin: int | None = None
    power_kind: str = PowerSettings.kind  # relay | pwrkey | uhubctl
    power_pin: int | None = PowerSettings.pin
    power_active_high: bool = PowerSettings.active_high
    power_off_s: float = PowerSettings.off_s
    uhub_location: str = PowerSettings.uhub_location
    uhub_port: int | None = PowerSettings.uhub_port

    @property
    def power(self) -> PowerSettings:
        """The modem's power switch as `modem.gpio.power_switch` takes it."""
        return PowerSettings(kind=self.power_kind, pin=self.power_pin, active_high=self.power_active_high,
                             off_s=self.power_off_s, uhub_location=self.uhub_location, uhub_port=self.uhub_port)


@dataclass(frozen=True)
class SimSection:
    """A SIM's own limits, by its ICCID (or IMSI): they go wherever the SIM is plugged in."""

    iccid: str = ""
    imsi: str = ""
    limits: Limits = field(default_factory=lambda: SAFE_LIMITS)


@dataclass(frozen=True)
class GpioSection:
    system_led_pin: int | None = None  # flashes at every watchdog feed


@dataclass(frozen=True)
class SimulatorSection:
    profile: str = "sim800"
    latency_s: float = 0.0
    report_delay_s: float = 1.0


@dataclass(frozen=True)
class ConsentSection:
    quiet_hours_start: str = "21:00"  # in the contact's timezone; equal start and end: no quiet hours
    quiet_hours_end: str = "08:00"
    frequency_cap: int = 4  # marketing messages per contact per frequency_days; 0: no cap
    frequency_days: float = 7.0
    transactional_quiet_hours: bool = False
    transactional_frequency_cap: int = 0
    transactional_honour_stop: bool = False
    transactional_honour_stopall: bool = True
    double_opt_in: bool = False
    confirm_within_days: float = 7.0  # a YES confirms a request this recent; later it is an ordinary reply
    reply_after_opt_out_hours: float = 24.0  # after an opt-out, staff may answer a text of theirs this recent
    default_language: str = "en"


@dataclass(frozen=True)
class InboundSection:
    reassembly_timeout_s: float = 300.0  # a long SMS whose parts stop coming is stored as it is
    default_reply: str = ""  # answer to texts that match no keyword; empty: none
    default_reply_every_h: float = 24.0  # at most one default reply per contact in this many hours


@dataclass(frozen=True)
class RetentionSection:
    messages_days: float = 400.0  # messages (with parts) and inbound messages (with parts); 0: kept forever
    events_days: float = 30.0  # message events, early status reports, webhook deliveries and attempts; 0: forever
    transactional_text_days: float = 1.0  # a finished transactional text (a one-time code) is redacted; 0: never
    prune_every_s: float = 3600.0  # how often the scheduler prunes
    batch: int = 500  # rows per transaction: the send path never waits long behind pruning


# TP-VP's longest relative validity period (23.040 §9.2.3.12.1): 63 weeks
LONGEST_VALIDITY_HOURS = 63 * 7 * 24.0


@dataclass(frozen=True)
class ReportsSection:
    # the validity period every SMS-SUBMIT asks the SMSC for (rounded up to one TP-VP can say), and
    # how long a sent part waits for its status report: then it is recorded as having none (a
    # report that still comes later is applied)
    wait_hours: float = 72.0


@dataclass(frozen=True)
class CampaignsSection:
    attribution_days: float = 7.0  # a reply or opt-out this soon after a campaign message counts for it
    round_interval_s: float = 60.0  # a running campaign's round (window edges, room in the queue) this often


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
    config = _build(Config, {k: v for k, v in data.items()}, source, "")
    _check_modems(config.modems, source)
    _check_sims(config.sims, source)
    _check_pins(config, source)
    _check_consent(config.consent, source)
    _check_web(config, source)
    _check_retention(config.retention, source)
    _check_reports(config.reports, source)
    if not config.campaigns.attribution_days > 0:
        raise ConfigError(f"{source}: campaigns.attribution_days must be more than 0")
    if not config.campaigns.round_interval_s > 0:
        raise ConfigError(f"{source}: campaigns.round_interval_s must be more than 0")
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


def _check_modems(modems: tuple[ModemSection, ...], source: str) -> None:
    names: set[str] = set()
    for modem in modems:
        if not modem.name or not modem.name.replace("-", "").replace("_", "").isalnum():
            raise ConfigError(f"{source}: modems name {modem.name!r} must be letters, digits, - or _")
        if modem.name in names:
            raise ConfigError(f"{source}: modems name {modem.name!r} is used twice")
        names.add(modem.name)
        _check_modem_identity(modem, source)
        _check_power(modem, source)
    for key in ("imei", "iccid"):
        values = [getattr(m, key) for m in modems if getattr(m, key)]
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            raise ConfigError(f"{source}: modems {key} {twice[0]} is given to two modems")


def _check_sims(sims: tuple[SimSection, ...], source: str) -> None:
    for i, sim in enumerate(sims):
        where = f"{source}: sims[{i}]"
        if not (sim.iccid or sim.imsi):
            raise ConfigError(f"{where}: give iccid (AT+CCID; printed on the SIM) or imsi (AT+CIMI)")
        _check_iccid(sim.iccid, where)
        if sim.imsi and not (sim.imsi.isdigit() and 6 <= len(sim.imsi) <= 15):
            raise ConfigError(f"{where}.imsi {sim.imsi!r} must be the up to 15 digits AT+CIMI shows")
    for key in ("iccid", "imsi"):
        values = [getattr(s, key) for s in sims if getattr(s, key)]
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            raise ConfigError(f"{source}: sims {key} {twice[0]} is given to two [[sims]] entries")


IMEI_DIGITS = 15
ICCID_DIGITS = (18, 22)
GPIO_PINS = range(0, 54)


def _check_modem_identity(modem: ModemSection, source: str) -> None:
    where = f"{source}: modems[{modem.name}]"
    if not (modem.port or modem.imei or modem.iccid):
        raise ConfigError(f"{where}: give port, imei or iccid (the modem's port, or what finds it on any port)")
    if modem.imei and not (modem.imei.isdigit() and len(modem.imei) == IMEI_DIGITS):
        raise ConfigError(f"{where}.imei {modem.imei!r} must be the {IMEI_DIGITS} digits AT+CGSN shows")
    _check_iccid(modem.iccid, where)


def _check_iccid(iccid: str, where: str) -> None:
    low, high = ICCID_DIGITS
    if iccid and not (iccid.isdigit() and low <= len(iccid) <= high):
        raise ConfigError(f"{where}.iccid {iccid!r} must be {low} to {high} digits (AT+CCID; printed on the SIM)")


def _check_power(modem: ModemSection, source: str) -> None:
    where = f"{source}: modems[{modem.name}]"
    if modem.power_kind not in POWER_KINDS:
        raise ConfigError(f"{where}.power_kind {modem.power_kind!r} must be one of {', '.join(POWER_KINDS)}")
    if modem.power_kind == "uhubctl":
        if modem.power_pin is not None:
            raise ConfigError(f"{where}.power_pin is not used with power_kind = \"uhubctl\" (uhub_location and uhub_port are)")
        if not modem.uhub_location or modem.uhub_port is None:
            raise ConfigError(f"{where}: power_kind = \"uhubctl\" needs uhub_location and uhub_port (see `uhubctl` alone)")
    elif modem.uhub_location or modem.uhub_port is not None:
        raise ConfigError(f"{where}: uhub_location and uhub_port need power_kind = \"uhubctl\"")


def _check_pins(config: Config, source: str) -> None:
    """Each GPIO pin has one job."""
    used: dict[int, str] = {}
    pins = [("gpio.system_led_pin", config.gpio.system_led_pin)]
    for modem in config.modems:
        pins += [(f"modems[{modem.name}].led_pin", modem.led_pin), (f"modems[{modem.name}].power_pin", modem.power_pin)]
    for key, pin in pins:
        if pin is None:
            continue
        if pin not in GPIO_PINS:
            raise ConfigError(f"{source}: {key} {pin} is not a GPIO number (BCM numbering, 0 to 53)")
        if pin in used:
            raise ConfigError(f"{source}: {key} GPIO{pin} is already {used[pin]}")
        used[pin] = key


def _check_consent(section: ConsentSection, source: str) -> None:
    from gateway.consent.rules import parse_hhmm

    for key in ("quiet_hours_start", "quiet_hours_end"):
        try:
            parse_hhmm(getattr(section, key))
        except ValueError as exc:
            raise ConfigError(f"{source}: consent.{key}: {exc}") from None
    if section.confirm_within_days <= 0:
        raise ConfigError(f"{source}: consent.confirm_within_days must be more than 0")
    if section.reply_after_opt_out_hours < 0:
        raise ConfigError(f"{source}: consent.reply_after_opt_out_hours must be 0 or more")
    if section.frequency_cap and section.frequency_days <= 0:
        raise ConfigError(f"{source}: consent.frequency_days must be more than 0 when frequency_cap is set")


def _check_retention(section: RetentionSection, source: str) -> None:
    if section.batch < 1:
        raise ConfigError(f"{source}: retention.batch must be at least 1")
    if section.prune_every_s < 60:
        raise ConfigError(f"{source}: retention.prune_every_s must be at least 60")
    if 0 < section.messages_days < section.events_days:
        raise ConfigError(f"{source}: retention.messages_days must not be less than events_days "
                          "(a message's events go with it)")


def _check_reports(section: ReportsSection, source: str) -> None:
    if not 0 < section.wait_hours <= LONGEST_VALIDITY_HOURS:
        raise ConfigError(f"{source}: reports.wait_hours must be more than 0 and at most "
                          f"{LONGEST_VALIDITY_HOURS:g} (63 weeks, the longest validity period an SMS can ask for)")


def _check_web(config: Config, source: str) -> None:
    from gateway.webhooks.targets import parse_allowed

    try:
        parse_listen(config.web.listen)
    except ValueError as exc:
        raise ConfigError(f"{source}: web.listen: {exc}") from None
    for i, entry in enumerate(config.webhooks.allowed_hosts):
        try:
            parse_allowed(entry)
        except ValueError as exc:
            raise ConfigError(f"{source}: webhooks.allowed_hosts[{i}]: {exc}") from None


def _key(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _type_name(hint: Any) -> str:
    return {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}.get(hint, str(hint))
