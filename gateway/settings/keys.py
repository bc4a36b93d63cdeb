"""The keys the console can override, their validation and how they change the config's values. Pure."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from gateway.consent.rules import parse_hhmm
from gateway.core.config import Config
from gateway.core.config_sections import ConsentSection
from gateway.outbound.limits import Limits
from gateway.sims.identity import SimLimits, sim_key

CONSENT_KEYS = ("quiet_hours_start", "quiet_hours_end", "frequency_cap", "frequency_days")
LIMIT_FIELDS = ("per_minute", "per_hour", "per_day", "per_month")
MAX_PARTS = 10_000_000


# what can be wrong with a value, in words (the console translates each by its code)
MESSAGES = {
    "time": "a time as HH:MM, e.g. 21:00",
    "days": "a number of days from 0 to 366",
    "days_for_cap": "more than 0 days when there is a cap",
    "count": "a whole number from 0 to 10,000,000 (0: no cap)",
    "order": "at least the limit of the shorter window (%(n)s)",
    "unknown": "not a setting that can be changed here",
}


class Invalid(ValueError):
    """Per key: the code of what is wrong and its figures (MESSAGES says it in words)."""

    def __init__(self, errors: dict[str, tuple[str, dict[str, Any]]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {MESSAGES[c] % p}" for k, (c, p) in errors.items()))


def consent_key(name: str) -> str:
    return f"consent.{name}"


def sim_limit_key(sim: str, field: str) -> str:
    """`sim` as `sim_key` names it (iccid:… or imsi:…)."""
    return f"sims.{sim}.{field}"


def config_sims(config: Config) -> list[str]:
    """The SIMs with limits of their own in the config file: the ones whose limits can be changed."""
    return [sim_key(s.iccid, s.imsi, "") for s in config.sims]


def defaults(config: Config) -> dict[str, Any]:
    """Every overridable key with the config file's value."""
    values: dict[str, Any] = {consent_key(k): getattr(config.consent, k) for k in CONSENT_KEYS}
    for s in config.sims:
        sim = sim_key(s.iccid, s.imsi, "")
        values.update({sim_limit_key(sim, f): getattr(s.limits, f) for f in LIMIT_FIELDS})
    return values


def validate(values: dict[str, Any]) -> dict[str, Any]:
    """Each value parsed to its type (raises Invalid naming every bad field). Limits are parts, 0 or
    more (0: no cap); a SIM's caps that are set grow with the window: minute <= hour <= day <= month."""
    errors: dict[str, tuple[str, dict[str, Any]]] = {}
    clean: dict[str, Any] = {}
    for key, raw in values.items():
        try:
            clean[key] = _parse(key, raw)
        except ValueError as error:
            errors[key] = (str(error), {})
    cap, days = clean.get(consent_key("frequency_cap")), clean.get(consent_key("frequency_days"))
    if cap and days is not None and days <= 0:
        errors.setdefault(consent_key("frequency_days"), ("days_for_cap", {}))
    sims = {key.rsplit(".", 1)[0] for key in clean if key.startswith("sims.")}
    for prefix in sorted(sims):
        caps = [(f, clean.get(f"{prefix}.{f}")) for f in LIMIT_FIELDS]
        set_caps = [(f, c) for f, c in caps if c]
        for (small, a), (big, b) in zip(set_caps, set_caps[1:]):
            if a > b:
                errors.setdefault(f"{prefix}.{big}", ("order", {"n": a}))
    if errors:
        raise Invalid(errors)
    return clean


def _parse(key: str, raw: Any) -> Any:
    """The value of `key` typed; ValueError(code) otherwise."""
    name = key.rsplit(".", 1)[-1]
    text = str(raw).strip()
    if name in ("quiet_hours_start", "quiet_hours_end"):
        try:
            parse_hhmm(text)
        except ValueError:
            raise ValueError("time") from None
        return text
    if name == "frequency_days":
        try:
            days = float(text)
        except ValueError:
            raise ValueError("days") from None
        if not 0 <= days <= 366:
            raise ValueError("days")
        return days
    if name in ("frequency_cap",) + LIMIT_FIELDS:
        if not text.isascii() or not text.isdigit() or int(text) > MAX_PARTS:
            raise ValueError("count")
        return int(text)
    raise ValueError("unknown")


def effective_consent(section: ConsentSection, overrides: dict[str, Any]) -> ConsentSection:
    changes = {k: overrides[consent_key(k)] for k in CONSENT_KEYS if consent_key(k) in overrides}
    return replace(section, **changes) if changes else section


def effective_sim_limits(config: Config, overrides: dict[str, Any]) -> SimLimits:
    """The `[[sims]]` limits with the console's overrides, by ICCID and by IMSI."""
    by_iccid: dict[str, Limits] = {}
    by_imsi: dict[str, Limits] = {}
    for s in config.sims:
        sim = sim_key(s.iccid, s.imsi, "")
        changes = {f: overrides[sim_limit_key(sim, f)] for f in LIMIT_FIELDS if sim_limit_key(sim, f) in overrides}
        limits = replace(s.limits, **changes) if changes else s.limits
        if s.iccid:
            by_iccid[s.iccid] = limits
        if s.imsi:
            by_imsi[s.imsi] = limits
    return SimLimits(by_iccid=by_iccid, by_imsi=by_imsi)
