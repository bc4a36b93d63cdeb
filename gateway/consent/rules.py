"""Send-time rules (pure): consent, frequency cap and quiet hours decide about one claimed message.

No I/O here: `gateway.consent.send_check` gathers the facts from the database at send time and this module
says send, suppress or defer, so every rule is table-tested. Marketing needs consent; a keyword
reply (the answer to what the customer just texted, STOP's confirmation included) always goes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from gateway.consent.ledger import ConsentState
from gateway.outbound.verdict import SEND, Verdict

KEYWORD_SOURCE = "keyword"
HELD = "opt-out request pending"  # a text read like a request to stop; staff have not decided yet


@dataclass(frozen=True)
class Rules:
    quiet_start: time | None = time(21, 0)  # None: no quiet hours
    quiet_end: time | None = time(8, 0)
    frequency_cap: int = 4  # marketing messages per contact per `frequency_days`; 0: no cap
    frequency_days: float = 7.0
    transactional_quiet_hours: bool = False
    transactional_frequency_cap: int = 0
    transactional_honour_stop: bool = False  # STOP is about marketing; receipts and codes still go
    transactional_honour_stopall: bool = True  # STOPALL means everything


@dataclass(frozen=True)
class Facts:
    """What the database says about one claimed message at the moment of sending."""

    kind: str  # marketing | transactional
    source: str  # who queued it: keyword, api, cli, campaign...
    consent: ConsentState
    sent_in_window: int  # messages of the same kind to this number sent in the cap window
    local_tz: ZoneInfo
    zone_basis: str = ""  # how sure local_tz is, when it is not the contact's own: said with quiet hours
    held_since: datetime | None = None  # an opt-out request staff have not decided (consent.requests)


def parse_hhmm(text: str) -> time:
    """'21:00' -> time(21, 0); ValueError saying what is wrong otherwise."""
    try:
        hours, minutes = text.strip().split(":")
        if len(minutes) != 2:
            raise ValueError
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"{text!r} is not a time of day like 21:00") from None


def quiet_until(now: datetime, tz: ZoneInfo, start: time | None, end: time | None) -> datetime | None:
    """When the quiet window that `now` falls into opens again (aware UTC), or None if not quiet.

    The window may cross midnight (21:00-08:00) or not (12:00-14:00); start == end means none.
    """
    if start is None or end is None or start == end:
        return None
    local = now.astimezone(tz)
    clock = local.time().replace(tzinfo=None)
    if start < end:
        quiet = start <= clock < end
        opens_on = local.date()
    else:
        quiet = clock >= start or clock < end
        opens_on = local.date() + timedelta(days=1) if clock >= start else local.date()
    if not quiet:
        return None
    opens = datetime.combine(opens_on, end, tzinfo=tz).astimezone(now.tzinfo)
    return opens if opens > now else now + timedelta(minutes=1)


def decide(facts: Facts, rules: Rules, now: datetime) -> Verdict:
    """Send, suppress (never sent) or defer (until the quiet window opens)."""
    if facts.kind == "marketing":
        return _marketing(facts, rules, now)
    if facts.source == KEYWORD_SOURCE:
        return SEND  # the answer to what they just texted: STOP's confirmation must reach them
    state = facts.consent
    if state.everything_stopped and rules.transactional_honour_stopall:
        return Verdict("suppress", _stopped("all messages", state))
    if state.opted_out and rules.transactional_honour_stop:
        return Verdict("suppress", _stopped("messages", state))
    cap = rules.transactional_frequency_cap
    if cap and facts.sent_in_window >= cap:
        return Verdict("suppress", f"frequency cap: {facts.sent_in_window} transactional messages in "
                                   f"{rules.frequency_days:g} days (cap {cap})")
    if rules.transactional_quiet_hours:
        return _quiet(facts, rules, now)
    return SEND


def _marketing(facts: Facts, rules: Rules, now: datetime) -> Verdict:
    state = facts.consent
    if state.opted_out:
        return Verdict("suppress", _stopped("marketing", state))
    if facts.held_since is not None:
        return Verdict("suppress", f"{HELD} since {facts.held_since.isoformat()}")
    if not state.marketing_allowed:
        reason = "awaiting double opt-in confirmation" if state.status == "pending" else "no consent on record"
        return Verdict("suppress", f"marketing without consent: {reason}")
    if rules.frequency_cap and facts.sent_in_window >= rules.frequency_cap:
        return Verdict("suppress", f"frequency cap: {facts.sent_in_window} marketing messages in "
                                   f"{rules.frequency_days:g} days (cap {rules.frequency_cap})")
    return _quiet(facts, rules, now)


def _quiet(facts: Facts, rules: Rules, now: datetime) -> Verdict:
    opens = quiet_until(now, facts.local_tz, rules.quiet_start, rules.quiet_end)
    if opens is None:
        return SEND
    basis = f" ({facts.zone_basis})" if facts.zone_basis else ""
    return Verdict("defer", f"quiet hours in {facts.local_tz.key}{basis}", until=opens)


def _stopped(what: str, state: ConsentState) -> str:
    when = f" at {state.since.isoformat()}" if state.since else ""
    return f"opted out of {what} ({state.source}){when}"
