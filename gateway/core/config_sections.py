"""The config's sections: one frozen dataclass per TOML table, its keys and their defaults.

A section's fields are the keys a config file may set (`config/gsmgw.example.toml` documents each);
`gateway.core.config` reads a file into them and `gateway.core.config_checks` holds the rules a
type alone cannot say.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from gateway.outbound.limits import Limits
from modem.gpio import PowerSettings
from modem.supervision import ModemSettings


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
