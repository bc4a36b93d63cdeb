"""`Campaigns`: create, start (now or at `send_at`), pause, resume and cancel a campaign, decide
an A/B test's winner, and the round its scheduler job runs.

A round (`tick`) first makes the recipient rows (`expansion`: the audience in batches, each member
once by the unique key, the ones who get no marketing marked `skipped` with the reason, an A/B
test's rest `held` until its winner), then queues the next batch of pending recipients
(`queueing`): each batch's messages are stored by `Queue.enqueue_many`
in the same transaction that marks their recipients `queued` (a compare-and-set on `pending`), so
a SIGKILL at any moment leaves each recipient either with its one message or still pending, and a
restart's next round goes on from there. At most `ahead` messages of a campaign wait in the queue
at a time, so pause, cancel and the end of a sending window have few messages to take back (they
are cancelled while still queued; their recipients become pending again, or cancelled).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.audience.models import Contact
from gateway.campaigns import ab, audience, decision, jobs
from gateway.campaigns.errors import CampaignError
from gateway.campaigns.expansion import expand_batch
from gateway.campaigns.models import Campaign, CampaignStatus, Recipient, RecipientState, Variant
from gateway.campaigns.personal import Body
from gateway.campaigns.preview import DryRun
from gateway.campaigns.queueing import Batches, Conflict
from gateway.campaigns.results import ATTRIBUTION_DAYS, WAITING
from gateway.campaigns.timing import Sim, window_of, zone
from gateway.consent.rules import Rules, parse_hhmm
from gateway.core.clock import Clock
from gateway.outbound.models import Message, MessageStatus
from gateway.outbound.queue import Queue
from gateway.store.db import engine_of

log = logging.getLogger("gsmgw.campaigns")
EXPAND_BATCH = 2000  # audience members read and written per transaction
QUEUE_BATCH = 500  # messages stored per transaction
AHEAD = 500  # a campaign's messages waiting in the queue at most
ROUND_BUDGET = 20  # batches per round; then the scheduler's other jobs get their turn
RECIPIENTS = Recipient.__table__
NOT_TEXTED = (RecipientState.PENDING, RecipientState.HELD)  # still to be texted (an A/B test's rest: once decided)


@dataclass(frozen=True)
class VariantIn:
    """One text of a new campaign: its body (a template's, copied), weight and template."""

    body: str
    weight: int = 1
    template_id: int | None = None


@dataclass(frozen=True)
class AbTest:
    """A new campaign's A/B test: `sample` percent of the audience, each member given one of the
    variants (each as likely); the winner by `measure` after `decide_after_s` from the start (or
    the owner's pick) goes to the rest."""

    sample: int
    decide_after_s: int
    measure: str = "replies"
    seed: int | None = None  # the split's seed; by default a random one


class Campaigns:
    """The campaigns of one gateway: the API's and the scheduler job's one way to them."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock, queue: Queue, *,
                 rules: Rules | Callable[[], Rules] | None = None, default_timezone: str = "UTC",
                 sims: Callable[[], Sequence[Sim]] = lambda: (),
                 ahead: int = AHEAD, queue_batch: int = QUEUE_BATCH, expand_batch: int = EXPAND_BATCH,
                 attribution_days: float = ATTRIBUTION_DAYS, round_interval_s: float = jobs.TICK_S) -> None:
        self.sessions = sessions
        self.engine = engine_of(sessions)
        self.clock = clock
        self.queue = queue
        # the send-time check's rules for the dry run: fixed, or those in force at each dry run
        # (the daemon's `settings.Effective.rules`, so the console's quiet hours and cap count)
        fixed = rules or Rules()
        self._rules_of: Callable[[], Rules] = rules if callable(rules) else (lambda: fixed)
        self.default_tz = zone(default_timezone, ZoneInfo("UTC"))
        self.sims = sims
        self.ahead = ahead  # 0: no bound (queue the whole audience at once)
        self.queue_batch = queue_batch
        self.expand_batch = expand_batch
        self.batches = Batches(self.engine, queue, clock, self.default_tz)
        self.attribution_days = attribution_days  # a reply or opt-out this soon after a message counts for it
        self.round_interval_s = round_interval_s  # a running campaign's rounds are this far apart
        self.scheduler: Any = None
        self.lock = threading.RLock()  # a round and a pause/cancel never interleave in this process

    def attach(self, scheduler: Any) -> None:
        """Run the campaigns' stored jobs on this scheduler (before it starts), and give every live
        campaign its job back if a crash came between its start and its job's commit."""
        self.scheduler = scheduler
        jobs.install(self)

    def restore_jobs(self) -> None:
        with self.sessions() as session:
            live = session.execute(select(Campaign.id, Campaign.send_at)
                                   .where(Campaign.status.in_(CampaignStatus.LIVE))).all()
            undecided = session.execute(select(Campaign.id, Campaign.started_at, Campaign.send_at, Campaign.decide_after_s)
                                        .where(Campaign.status.in_(decision.DECIDES), Campaign.sample.is_not(None),
                                               Campaign.winner_id.is_(None))).all()
        for campaign_id, send_at in live:
            job = self.scheduler.get_job(jobs.job_id(campaign_id))
            if job is None or jobs.interval_of(job) != self.round_interval_s:  # none, or made under another config
                jobs.schedule(self.scheduler, campaign_id, max(send_at or self.clock.now(), self.clock.now()),
                              self.round_interval_s)
        for campaign_id, started_at, send_at, after_s in undecided:
            if self.scheduler.get_job(jobs.decision_job_id(campaign_id)) is None:
                began = started_at or send_at or self.clock.now()
                jobs.schedule_decision(self.scheduler, campaign_id, began + timedelta(seconds=after_s or 0))

    @property
    def rules(self) -> Rules:
        return self._rules_of()

    def dry_run(self, conn: Connection, campaign: Campaign) -> DryRun:
        """What the campaign would do if it started now (or at its send_at), on `conn`."""
        return DryRun(conn, campaign, self.rules, self.sims(), self.default_tz, self.clock.now())

    # ---- create ---------------------------------------------------------------------------------
    def create(self, name: str, variants: Sequence[VariantIn], audience_spec: dict[str, Any], *,
               send_at: datetime | None = None, window: tuple[str, str] | None = None,
               footer: bool = False, footer_first: bool = False, ab_test: AbTest | None = None) -> int:
        """A draft campaign; CampaignError (with its field) for what is wrong. `footer_first`: the
        footer only on a contact's first marketing message from the shop."""
        if not variants:
            raise CampaignError("give a text, a template or variants", field="text")
        if ab_test is not None:
            _check_ab(ab_test, len(variants))
        for i, variant in enumerate(variants):
            try:
                Body(variant.body, footer=footer)
            except ValueError as exc:
                raise CampaignError(str(exc), field=f"variants[{i}]" if len(variants) > 1 else "text") from None
        if window is not None:
            for label, value in zip(("start", "end"), window, strict=True):
                try:
                    parse_hhmm(value)
                except ValueError as exc:
                    raise CampaignError(str(exc), field=f"window.{label}") from None
        now = self.clock.now()
        with self.sessions.begin() as session:
            resolved = audience.resolve(session, audience_spec)
            campaign = Campaign(name=name, status=CampaignStatus.DRAFT, audience=resolved, footer=footer,
                                footer_first=footer and footer_first,
                                seed=_seed(ab_test), sample=ab_test.sample if ab_test else None,
                                decide_after_s=ab_test.decide_after_s if ab_test else None,
                                measure=ab_test.measure if ab_test else None,
                                send_at=send_at, window_start=window[0] if window else None,
                                window_end=window[1] if window else None, expanded=False,
                                created_at=now, updated_at=now)
            session.add(campaign)
            session.flush()
            for seq, variant in enumerate(variants):
                session.add(Variant(campaign_id=campaign.id, seq=seq, body=variant.body,
                                    template_id=variant.template_id, weight=variant.weight))
            return campaign.id

    # ---- control --------------------------------------------------------------------------------
    def start(self, campaign_id: int) -> str:
        """Now, or at its `send_at`: the job is stored in the database, so it survives a restart."""
        now = self.clock.now()
        with self.lock:
            with self.sessions.begin() as session:
                campaign = self._campaign(session, campaign_id)
                if campaign.status != CampaignStatus.DRAFT:
                    raise CampaignError(f"campaign {campaign_id} is {campaign.status}: only a draft starts")
                later = campaign.send_at is not None and campaign.send_at > now
                campaign.status = CampaignStatus.SCHEDULED if later else CampaignStatus.RUNNING
                campaign.started_at = None if later else now
                campaign.updated_at = now
                when = campaign.send_at if later and campaign.send_at else now
                status, decide_after_s = campaign.status, campaign.decide_after_s
            self._schedule(campaign_id, when)
            if decide_after_s is not None and self.scheduler is not None:
                jobs.schedule_decision(self.scheduler, campaign_id, when + timedelta(seconds=decide_after_s))
        return status

    def pause(self, campaign_id: int) -> str:
        """No more messages: those still queued are taken back (their recipients pending again)."""
        with self.lock:
            self._move(campaign_id, {CampaignStatus.RUNNING, CampaignStatus.SCHEDULED}, CampaignStatus.PAUSED)
            if self.scheduler is not None:
                jobs.unschedule(self.scheduler, campaign_id)
            self._take_back(campaign_id, RecipientState.PENDING, lambda _tz: True)
        return CampaignStatus.PAUSED

    def resume(self, campaign_id: int) -> str:
        """Go on where it paused; one paused before its `send_at` waits for that time again (scheduled),
        so a resume never sends a scheduled campaign early."""
        now = self.clock.now()
        with self.lock:
            with self.sessions.begin() as session:
                campaign = self._campaign(session, campaign_id)
                if campaign.status != CampaignStatus.PAUSED:
                    raise CampaignError(f"campaign {campaign_id} is {campaign.status}: cannot "
                                        f"{_verb(CampaignStatus.RUNNING)} it")
                later = campaign.started_at is None and campaign.send_at is not None and campaign.send_at > now
                campaign.status = CampaignStatus.SCHEDULED if later else CampaignStatus.RUNNING
                campaign.started_at = campaign.started_at or (None if later else now)
                campaign.updated_at = now
                when, status = (campaign.send_at if later and campaign.send_at else now), campaign.status
            self._schedule(campaign_id, when)
        return status

    def cancel(self, campaign_id: int) -> str:
        """Nobody else is texted: queued messages cancelled, pending recipients cancelled."""
        now = self.clock.now()
        with self.lock:
            self._move(campaign_id, {CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.RUNNING,
                                     CampaignStatus.PAUSED}, CampaignStatus.CANCELLED, finished=True)
            if self.scheduler is not None:
                jobs.unschedule(self.scheduler, campaign_id)
                jobs.unschedule(self.scheduler, campaign_id, decision=True)
            self._take_back(campaign_id, RecipientState.CANCELLED, lambda _tz: True)
            with self.engine.begin() as conn:
                conn.execute(update(RECIPIENTS).where(RECIPIENTS.c.campaign_id == campaign_id,
                                                      RECIPIENTS.c.state.in_(NOT_TEXTED))
                             .values(state=RecipientState.CANCELLED, updated_at=now))
        return CampaignStatus.CANCELLED

    def decide(self, campaign_id: int, seq: int | None = None) -> tuple[int, str]:
        """The A/B test's winner (the owner's pick `seq`, else by its measure now) goes to the rest:
        (winner's seq, why). A running campaign's next round comes at once."""
        with self.lock:
            winner, why = decision.decide(self.engine, self.clock.now(), campaign_id, self.attribution_days, seq=seq)
            log.info("campaign %d: variant %s wins (%s)", campaign_id, ab.label(winner), why)
            if self.scheduler is not None:
                jobs.unschedule(self.scheduler, campaign_id, decision=True)
                if self.scheduler.get_job(jobs.job_id(campaign_id)) is not None:
                    self.scheduler.run_soon(jobs.job_id(campaign_id))
        return winner, why

    def decide_due(self, campaign_id: int) -> None:
        """The decision job: decide by the measure, unless it is decided already or the campaign ended."""
        try:
            self.decide(campaign_id)
        except CampaignError as exc:
            log.info("campaign %d: no decision: %s", campaign_id, exc.reason)

    def _schedule(self, campaign_id: int, when: datetime) -> None:
        if self.scheduler is not None:
            jobs.schedule(self.scheduler, campaign_id, when, self.round_interval_s)

    def _move(self, campaign_id: int, from_: set[str], to: str, *, finished: bool = False) -> None:
        now = self.clock.now()
        with self.sessions.begin() as session:
            campaign = self._campaign(session, campaign_id)
            if campaign.status not in from_:
                raise CampaignError(f"campaign {campaign_id} is {campaign.status}: cannot {_verb(to)} it")
            campaign.status, campaign.updated_at = to, now
            if to == CampaignStatus.RUNNING and campaign.started_at is None:
                campaign.started_at = now
            if finished:
                campaign.finished_at = now

    def _campaign(self, session: Session, campaign_id: int) -> Campaign:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise CampaignError(f"no campaign {campaign_id}", missing=True)
        return campaign

    def _take_back(self, campaign_id: int, state: str, which: Callable[[ZoneInfo], bool]) -> int:
        """Cancel the campaign's messages still queued whose contact's zone `which` picks; their
        recipients become `state`. A message a modem has claimed meanwhile goes on (it is too late)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(Recipient.id, Recipient.message_id, Contact.timezone)
                                .join(Message, Message.id == Recipient.message_id)
                                .join(Contact, Contact.id == Recipient.contact_id)
                                .where(Recipient.campaign_id == campaign_id, Recipient.state == RecipientState.QUEUED,
                                       Message.status == MessageStatus.QUEUED)).all()
        taken = 0
        now = self.clock.now()
        for recipient_id, message_id, tz in rows:
            if not which(zone(tz, self.default_tz)) or not self.queue.cancel(message_id):
                continue
            with self.engine.begin() as conn:
                values: dict[str, Any] = {"state": state, "updated_at": now}
                if state == RecipientState.PENDING:
                    values["message_id"] = None  # texted later by a new message; this one stays cancelled
                conn.execute(update(RECIPIENTS).where(RECIPIENTS.c.id == recipient_id,
                                                      RECIPIENTS.c.message_id == message_id).values(**values))
            taken += 1
        return taken

    # ---- the job's round ------------------------------------------------------------------------
    def tick(self, campaign_id: int) -> float | None:
        """One round: expand, respect the window, queue; returns 0 when there is more to do at once."""
        with self.lock:
            now = self.clock.now()
            with self.sessions.begin() as session:
                campaign = session.get(Campaign, campaign_id)
                live = campaign is not None and campaign.status in CampaignStatus.LIVE
                if live and campaign.status == CampaignStatus.SCHEDULED:
                    campaign.status, campaign.started_at, campaign.updated_at = CampaignStatus.RUNNING, now, now
                    log.info("campaign %d started", campaign_id)
                if live:
                    spec, footer, expanded = campaign.audience, campaign.footer, campaign.expanded
                    first_only = campaign.footer_first
                    window = window_of(campaign.window_start, campaign.window_end)
                    after = campaign.expanded_to or 0
            if not live:  # its job goes outside the transaction: the job store has its own
                self._drop_job(campaign_id)
                return None
            budget = ROUND_BUDGET
            while not expanded and budget > 0:
                expanded, after = expand_batch(self.engine, self.clock.now(), campaign_id, spec, after, self.expand_batch)
                budget -= 1
            if not expanded:
                return 0.0
            if window is not None:
                self._take_back(campaign_id, RecipientState.PENDING, lambda tz: not window.contains(now, tz))
            bodies = self._bodies(campaign_id, footer and not first_only)
            queued_now, after_recipient, more = 0, 0, False
            while budget > 0:
                room = self.queue_batch if not self.ahead else min(self.queue_batch, self.ahead - self._waiting(campaign_id))
                if room <= 0:
                    break  # enough waiting in the queue: the next round tops it up
                queued, after_recipient, more = self.batches.queue_next(
                    campaign_id, bodies, window, now, after_recipient, room, first_only=footer and first_only)
                queued_now += queued
                budget -= 1
                if not more:
                    break
            if self._finished(campaign_id):
                self._drop_job(campaign_id)
                return None
            # out of budget with more to queue: again at once (only if this round got somewhere,
            # so recipients outside their window wait for the next round rather than spin)
            return 0.0 if more and budget == 0 and queued_now else None

    def _drop_job(self, campaign_id: int) -> None:
        if self.scheduler is not None:
            jobs.unschedule(self.scheduler, campaign_id)

    def _bodies(self, campaign_id: int, footer: bool) -> dict[int, Body]:
        with self.engine.connect() as conn:
            return {vid: Body(body, footer=footer) for vid, body in
                    conn.execute(select(Variant.id, Variant.body).where(Variant.campaign_id == campaign_id))}

    def _waiting(self, campaign_id: int) -> int:
        with self.engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(Recipient)
                                   .join(Message, Message.id == Recipient.message_id)
                                   .where(Recipient.campaign_id == campaign_id, Recipient.state == RecipientState.QUEUED,
                                          Message.status.in_(WAITING))) or 0)

    def _finished(self, campaign_id: int) -> bool:
        """No one pending and no message waiting: the campaign is done."""
        now = self.clock.now()
        with self.engine.connect() as conn:
            pending = conn.scalar(select(func.count()).select_from(Recipient).where(
                Recipient.campaign_id == campaign_id, Recipient.state.in_(NOT_TEXTED)))
        if pending or self._waiting(campaign_id):
            return False
        table = Campaign.__table__
        with self.engine.begin() as conn:
            done = conn.execute(update(table).where(table.c.id == campaign_id, table.c.status == CampaignStatus.RUNNING)
                                .values(status=CampaignStatus.DONE, finished_at=now, updated_at=now)).rowcount
        if done:
            log.info("campaign %d done", campaign_id)
        return True


def _check_ab(test: AbTest, variants: int) -> None:
    if variants < 2:
        raise CampaignError("an A/B test needs two variants or more", field="variants")
    if not 1 <= test.sample <= 100:
        raise CampaignError("the sample is a percent of the audience, 1 to 100", field="ab_test.sample")
    if test.decide_after_s < 0:
        raise CampaignError("decide_after is seconds from the start, 0 or more", field="ab_test.decide_after")
    if test.measure not in ab.MEASURES:
        raise CampaignError(f"the measure is one of {', '.join(ab.MEASURES)}", field="ab_test.measure")


def _seed(test: AbTest | None) -> int:
    if test is None:
        return 0
    return test.seed if test.seed is not None else random.SystemRandom().randrange(1, 2**31)


def _verb(status: str) -> str:
    return {CampaignStatus.PAUSED: "pause", CampaignStatus.RUNNING: "resume",
            CampaignStatus.CANCELLED: "cancel"}.get(status, "change")


__all__ = ["AbTest", "CampaignError", "Campaigns", "Conflict", "VariantIn"]
