"""The config's rules a key's type cannot say: names, identities and GPIO pins used once, power
switches given what they need, times and periods that make sense together.

Pure: `check` raises ValueError naming the key and what is wrong; `gateway.core.config` adds the
file's name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.core.config_sections import (
    LONGEST_VALIDITY_HOURS,
    CampaignsSection,
    ConsentSection,
    ModemSection,
    ReportsSection,
    RetentionSection,
    SimSection,
    parse_listen,
)
from modem.gpio import POWER_KINDS

if TYPE_CHECKING:
    from gateway.core.config import Config

IMEI_DIGITS = 15
ICCID_DIGITS = (18, 22)
GPIO_PINS = range(0, 54)


def check(config: Config) -> None:
    """Every rule, section by section; the first broken one raises."""
    _check_modems(config.modems)
    _check_sims(config.sims)
    _check_pins(config)
    _check_consent(config.consent)
    _check_web(config)
    _check_retention(config.retention)
    _check_reports(config.reports)
    _check_campaigns(config.campaigns)


def _check_modems(modems: tuple[ModemSection, ...]) -> None:
    names: set[str] = set()
    for modem in modems:
        if not modem.name or not modem.name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"modems name {modem.name!r} must be letters, digits, - or _")
        if modem.name in names:
            raise ValueError(f"modems name {modem.name!r} is used twice")
        names.add(modem.name)
        _check_modem_identity(modem)
        _check_power(modem)
    for key in ("imei", "iccid"):
        values = [getattr(m, key) for m in modems if getattr(m, key)]
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            raise ValueError(f"modems {key} {twice[0]} is given to two modems")


def _check_sims(sims: tuple[SimSection, ...]) -> None:
    for i, sim in enumerate(sims):
        where = f"sims[{i}]"
        if not (sim.iccid or sim.imsi):
            raise ValueError(f"{where}: give iccid (AT+CCID; printed on the SIM) or imsi (AT+CIMI)")
        _check_iccid(sim.iccid, where)
        if sim.imsi and not (sim.imsi.isdigit() and 6 <= len(sim.imsi) <= 15):
            raise ValueError(f"{where}.imsi {sim.imsi!r} must be the up to 15 digits AT+CIMI shows")
    for key in ("iccid", "imsi"):
        values = [getattr(s, key) for s in sims if getattr(s, key)]
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            raise ValueError(f"sims {key} {twice[0]} is given to two [[sims]] entries")


def _check_modem_identity(modem: ModemSection) -> None:
    where = f"modems[{modem.name}]"
    if not (modem.port or modem.imei or modem.iccid):
        raise ValueError(f"{where}: give port, imei or iccid (the modem's port, or what finds it on any port)")
    if modem.imei and not (modem.imei.isdigit() and len(modem.imei) == IMEI_DIGITS):
        raise ValueError(f"{where}.imei {modem.imei!r} must be the {IMEI_DIGITS} digits AT+CGSN shows")
    _check_iccid(modem.iccid, where)


def _check_iccid(iccid: str, where: str) -> None:
    low, high = ICCID_DIGITS
    if iccid and not (iccid.isdigit() and low <= len(iccid) <= high):
        raise ValueError(f"{where}.iccid {iccid!r} must be {low} to {high} digits (AT+CCID; printed on the SIM)")


def _check_power(modem: ModemSection) -> None:
    where = f"modems[{modem.name}]"
    if modem.power_kind not in POWER_KINDS:
        raise ValueError(f"{where}.power_kind {modem.power_kind!r} must be one of {', '.join(POWER_KINDS)}")
    if modem.power_kind == "uhubctl":
        if modem.power_pin is not None:
            raise ValueError(f"{where}.power_pin is not used with power_kind = \"uhubctl\" (uhub_location and uhub_port are)")
        if not modem.uhub_location or modem.uhub_port is None:
            raise ValueError(f"{where}: power_kind = \"uhubctl\" needs uhub_location and uhub_port (see `uhubctl` alone)")
    elif modem.uhub_location or modem.uhub_port is not None:
        raise ValueError(f"{where}: uhub_location and uhub_port need power_kind = \"uhubctl\"")


def _check_pins(config: Config) -> None:
    """Each GPIO pin has one job."""
    used: dict[int, str] = {}
    pins = [("gpio.system_led_pin", config.gpio.system_led_pin)]
    for modem in config.modems:
        pins += [(f"modems[{modem.name}].led_pin", modem.led_pin), (f"modems[{modem.name}].power_pin", modem.power_pin)]
    for key, pin in pins:
        if pin is None:
            continue
        if pin not in GPIO_PINS:
            raise ValueError(f"{key} {pin} is not a GPIO number (BCM numbering, 0 to 53)")
        if pin in used:
            raise ValueError(f"{key} GPIO{pin} is already {used[pin]}")
        used[pin] = key


def _check_consent(section: ConsentSection) -> None:
    from gateway.consent.rules import parse_hhmm

    for key in ("quiet_hours_start", "quiet_hours_end"):
        try:
            parse_hhmm(getattr(section, key))
        except ValueError as exc:
            raise ValueError(f"consent.{key}: {exc}") from None
    if section.confirm_within_days <= 0:
        raise ValueError("consent.confirm_within_days must be more than 0")
    if section.reply_after_opt_out_hours < 0:
        raise ValueError("consent.reply_after_opt_out_hours must be 0 or more")
    if section.frequency_cap and section.frequency_days <= 0:
        raise ValueError("consent.frequency_days must be more than 0 when frequency_cap is set")


def _check_retention(section: RetentionSection) -> None:
    if section.batch < 1:
        raise ValueError("retention.batch must be at least 1")
    if section.prune_every_s < 60:
        raise ValueError("retention.prune_every_s must be at least 60")
    if 0 < section.messages_days < section.events_days:
        raise ValueError("retention.messages_days must not be less than events_days (a message's events go with it)")


def _check_reports(section: ReportsSection) -> None:
    if not 0 < section.wait_hours <= LONGEST_VALIDITY_HOURS:
        raise ValueError(f"reports.wait_hours must be more than 0 and at most {LONGEST_VALIDITY_HOURS:g} "
                         "(63 weeks, the longest validity period an SMS can ask for)")


def _check_campaigns(section: CampaignsSection) -> None:
    if not section.attribution_days > 0:
        raise ValueError("campaigns.attribution_days must be more than 0")
    if not section.round_interval_s > 0:
        raise ValueError("campaigns.round_interval_s must be more than 0")


def _check_web(config: Config) -> None:
    from gateway.webhooks.targets import parse_allowed

    try:
        parse_listen(config.web.listen)
    except ValueError as exc:
        raise ValueError(f"web.listen: {exc}") from None
    for i, entry in enumerate(config.webhooks.allowed_hosts):
        try:
            parse_allowed(entry)
        except ValueError as exc:
            raise ValueError(f"webhooks.allowed_hosts[{i}]: {exc}") from None
