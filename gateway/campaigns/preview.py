"""The dry run: for each member of a campaign's audience, what would happen if it went now (or at
its `send_at`): the final text, encoding and parts, the SIM it would likely go by, the earliest
time it may go, or why it is skipped; and the totals with an ETA from the SIMs' limits.

Nothing is written. The decisions are the send path's own: `audience.skip_reason` (consent, the
contact's flag), `consent.rules.decide` (frequency cap, quiet hours in the contact's zone) and the
campaign's window; the parts come from `modem.encoding` through `personal.Body`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, distinct, func, select

from gateway.campaigns import audience
from gateway.consent import requests
from gateway.campaigns.models import Campaign, Variant
from gateway.campaigns.personal import Body
from gateway.campaigns.firsts import texted_before
from gateway.campaigns.split import Split
from gateway.campaigns.timing import Sim, Window, eta_seconds, window_of, zone
from gateway.consent.ledger import ConsentState
from gateway.consent.rules import Facts, Rules, decide
from gateway.outbound.models import Message, Part
from gateway.sims.models import SimSend

BATCH = 2000  # members per query when totalling


@dataclass(frozen=True)
class Planned:
    contact_id: int
    to: str
    name: str | None
    variant: int  # outside an A/B test's sample: the winner's, or provisional until it is decided
    in_sample: bool | None  # an A/B test's: in its sample or the rest
    text: str | None
    encoding: str | None
    parts: int
    sim: str | None
    send_at: datetime | None  # the earliest it may go
    skip: str | None  # why it is not sent
    warning: str | None


class DryRun:
    """One campaign's dry run at `now` (the send starts at its `send_at` if that is later)."""

    def __init__(self, conn: Connection, campaign: Campaign, rules: Rules, sims: Sequence[Sim],
                 default_tz: ZoneInfo, now: datetime) -> None:
        self.conn = conn
        self.campaign = campaign
        self.rules = rules
        self.sims = list(sims)
        self.default_tz = default_tz
        self.start = max(campaign.send_at or now, now)
        self.window: Window | None = window_of(campaign.window_start, campaign.window_end)
        variants = conn.execute(select(Variant.id, Variant.body, Variant.weight).where(
            Variant.campaign_id == campaign.id).order_by(Variant.seq)).all()
        self.bodies = [Body(body, footer=campaign.footer) for _, body, _ in variants]
        self.split = Split(campaign.id, tuple(weight for _, _, weight in variants), campaign.seed or 0, campaign.sample)
        ids = [vid for vid, _, _ in variants]
        self.winner = ids.index(campaign.winner_id) if campaign.winner_id in ids else None
        self.first_only = campaign.footer and campaign.footer_first

    def page(self, *, after: int, limit: int) -> tuple[list[Planned], int | None]:
        """Members with a contact id above `after`, `limit` of them; and the cursor for the next page."""
        members = audience.members(self.conn, self.campaign.audience, self.start, after=after, limit=limit + 1)
        more = len(members) > limit
        members = members[:limit]
        return self._plan(members), members[-1].id if more else None

    def totals(self) -> dict[str, Any]:
        """Over the whole audience: recipients, to send, skipped by reason, parts in total and per
        SIM, warnings, the last earliest time, and the ETA from the SIMs' limits."""
        skipped: Counter[str] = Counter()
        per_sim: Counter[str] = Counter()
        recipients = to_send = parts = warnings = 0
        after = 0
        while True:
            members = audience.members(self.conn, self.campaign.audience, self.start, after=after, limit=BATCH)
            for planned in self._plan(members):
                recipients += 1
                if planned.skip is not None:
                    skipped[planned.skip] += 1
                    continue
                to_send += 1
                parts += planned.parts
                per_sim[planned.sim or "none"] += planned.parts
                warnings += planned.warning is not None
            if len(members) < BATCH:
                break
            after = members[-1].id
        eta = eta_seconds(per_sim, {sim.name: sim.limits for sim in self.sims})
        return {"recipients": recipients, "to_send": to_send, "skipped": sum(skipped.values()),
                "skipped_by_reason": dict(skipped), "parts": parts, "parts_per_sim": dict(per_sim),
                "warnings": warnings, "eta_seconds": eta}

    def _plan(self, members: Sequence[audience.Member]) -> list[Planned]:
        ids = [m.id for m in members]
        numbers = [m.number for m in members]
        consent = audience.consent_of(self.conn, ids)
        held = requests.pending(self.conn, ids)
        sent = self._sent_in_cap_window(numbers)
        last_modem = self._last_modem(numbers)
        texted = texted_before(self.conn, numbers) if self.first_only else set()
        names = [sim.name for sim in self.sims]
        out = []
        for member in members:
            index, in_sample = self.split.assign(member.id)
            if in_sample is False and self.winner is not None:
                index = self.winner
            base = {"contact_id": member.id, "to": member.number, "name": member.name, "variant": index,
                    "in_sample": in_sample}
            reason = audience.skip_reason(member.flag, consent[member.id], member.id in held)
            personal = self.bodies[index].for_contact(member.name, member.fields, member.language,
                                                      footer=member.number not in texted if self.first_only else None)
            if reason is None and personal.text is None:
                reason = personal.problem
            when = None
            if reason is None:
                when, reason = self._earliest(consent[member.id], sent.get(member.number, 0),
                                              zone(member.timezone, self.default_tz))
            sim = last_modem.get(member.number)
            if sim not in names:
                sim = names[member.id % len(names)] if names else None
            out.append(Planned(**base, text=personal.text, encoding=personal.encoding, parts=personal.parts,
                               sim=sim if reason is None else None, send_at=when, skip=reason,
                               warning=personal.warning))
        return out

    def _earliest(self, consent: ConsentState, sent: int, tz: ZoneInfo) -> tuple[datetime | None, str | None]:
        """The first time from the start at which the message may go: inside the window, outside
        quiet hours; or the reason it may not (the frequency cap)."""
        facts = Facts("marketing", "campaign", consent, sent, tz)
        when = self.start
        for _ in range(4):  # window, quiet hours, window again: they settle in a few steps
            if self.window is not None:
                when = self.window.opens(when, tz)
            verdict = decide(facts, self.rules, when)
            if verdict.action == "suppress":
                return None, verdict.reason
            if verdict.action == "send":
                return when, None
            assert verdict.until is not None
            when = verdict.until
        return when, None

    def _sent_in_cap_window(self, numbers: list[str]) -> dict[str, int]:
        if not self.rules.frequency_cap or not numbers:
            return {}
        since = self.start - timedelta(days=self.rules.frequency_days)
        rows = self.conn.execute(select(Message.to_number, func.count(distinct(Message.id)))
                                 .join(Part, Part.message_id == Message.id)
                                 .where(Message.to_number.in_(numbers), Message.kind == "marketing",
                                        Part.submitted_at >= since).group_by(Message.to_number))
        return {number: n for number, n in rows}

    def _last_modem(self, numbers: list[str]) -> dict[str, str]:
        if not numbers:
            return {}
        latest = (select(func.max(SimSend.id)).where(SimSend.to_number.in_(numbers))
                  .group_by(SimSend.to_number).scalar_subquery())
        return dict(self.conn.execute(select(SimSend.to_number, SimSend.modem).where(SimSend.id.in_(latest))).all())


def planned_dict(planned: Planned) -> dict[str, Any]:
    out = asdict(planned)
    out["send_at"] = planned.send_at.isoformat().replace("+00:00", "Z") if planned.send_at else None
    return out
