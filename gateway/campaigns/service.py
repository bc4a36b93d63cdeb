"""`Campaigns`: create, start (now or at `send_at`), pause, resume and cancel a campaign, and the
round its scheduler job runs.

A round (`tick`) first makes the recipient rows (the audience expanded in batches, each member once
by the unique key, the ones who get no marketing marked `skipped` with the reason), then queues
the next batch of pending recipients: each batch's messages are stored by `Queue.enqueue_many`
in the same transaction that marks their recipients `queued` (a compare-and-set on `pending`), so
a SIGKILL at any moment leaves each recipient either with its one message or still pending, and a
restart's next round goes on from there. At most `ahead` messages of a campaign wait in the queue
at a time, so pause, cancel and the end of a sending window have few messages to take back (they
are cancelled while still queued; their recipients become pending again, or cancelled).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, bindparam, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.audience.models import Contact
from gateway.campaigns import audience, jobs
from gateway.campaigns.models import Campaign, CampaignStatus, Recipient, RecipientState, Variant
from gateway.campaigns.personal import Body
from gateway.campaigns.preview import DryRun
from gateway.campaigns.progress import WAITING
from gateway.campaigns.split import variant_index
from gateway.campaigns.timing import Sim, Window, window_of, zone
from gateway.consent.rules import Rules, parse_hhmm
from gateway.core.clock import Clock
from gateway.outbound.models import Message, MessageStatus
from gateway.outbound.new_message import NewMessage, Outgoing, RejectedMessage
from gateway.outbound.queue import Queue
from gateway.store.db import Prepared, engine_of

log = logging.getLogger("gsmgw.campaigns")
SOURCE = "campaign"
EXPAND_BATCH = 2000  # audience members read and written per transaction
QUEUE_BATCH = 500  # messages stored per transaction
AHEAD = 500  # a campaign's messages waiting in the queue at most
ROUND_BUDGET = 20  # batches per round; then the scheduler's other jobs get their turn
RECIPIENTS = Recipient.__table__
# each recipient of a batch with its message: prepared, as it runs once per message queued
_MESSAGE_OF = Prepared(update(RECIPIENTS).where(RECIPIENTS.c.id == bindparam("rid")).values(message_id=bindparam("mid")))


class CampaignError(ValueError):
    """A request the campaign cannot take (its state, its fields); `field` when one is at fault."""

    def __init__(self, reason: str, *, field: str | None = None, missing: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.missing = missing  # no such campaign


@dataclass(frozen=True)
class VariantIn:
    """One text of a new campaign: its body (a template's, copied), weight and template."""

    body: str
    weight: int = 1
    template_id: int | None = None


class Campaigns:
    """The campaigns of one gateway: the API's and the scheduler job's one way to them."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock, queue: Queue, *,
                 rules: Rules | None = None, default_timezone: str = "UTC", sims: Callable[[], Sequence[Sim]] = lambda: (),
                 ahead: int = AHEAD, queue_batch: int = QUEUE_BATCH, expand_batch: int = EXPAND_BATCH) -> None:
        self.sessions = sessions
        self.engine = engine_of(sessions)
        self.clock = clock
        self.queue = queue
        self.rules = rules or Rules()  # the send-time check's, for the dry run
        self.default_tz = zone(default_timezone, ZoneInfo("UTC"))
        self.sims = sims
        self.ahead = ahead  # 0: no bound (queue the whole audience at once)
        self.queue_batch = queue_batch
        self.expand_batch = expand_batch
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
        for campaign_id, send_at in live:
            if self.scheduler.get_job(jobs.job_id(campaign_id)) is None:
                jobs.schedule(self.scheduler, campaign_id, max(send_at or self.clock.now(), self.clock.now()))

    def dry_run(self, conn: Connection, campaign: Campaign) -> DryRun:
        """What the campaign would do if it started now (or at its send_at), on `conn`."""
        return DryRun(conn, campaign, self.rules, self.sims(), self.default_tz, self.clock.now())

    # ---- create ---------------------------------------------------------------------------------
    def create(self, name: str, variants: Sequence[VariantIn], audience_spec: dict[str, Any], *,
               send_at: datetime | None = None, window: tuple[str, str] | None = None,
               footer: bool = False) -> int:
        """A draft campaign; CampaignError (with its field) for what is wrong."""
        if not variants:
            raise CampaignError("give a text, a template or variants", field="text")
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
            try:
                resolved = audience.resolve(session, audience_spec)
            except audience.AudienceError as exc:
                raise CampaignError(exc.reason, field=exc.field) from None
            campaign = Campaign(name=name, status=CampaignStatus.DRAFT, audience=resolved, footer=footer,
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
                status = campaign.status
            self._schedule(campaign_id, when)
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
        with self.lock:
            self._move(campaign_id, {CampaignStatus.PAUSED}, CampaignStatus.RUNNING)
            self._schedule(campaign_id, self.clock.now())
        return CampaignStatus.RUNNING

    def cancel(self, campaign_id: int) -> str:
        """Nobody else is texted: queued messages cancelled, pending recipients cancelled."""
        now = self.clock.now()
        with self.lock:
            self._move(campaign_id, {CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.RUNNING,
                                     CampaignStatus.PAUSED}, CampaignStatus.CANCELLED, finished=True)
            if self.scheduler is not None:
                jobs.unschedule(self.scheduler, campaign_id)
            self._take_back(campaign_id, RecipientState.CANCELLED, lambda _tz: True)
            with self.engine.begin() as conn:
                conn.execute(update(RECIPIENTS).where(RECIPIENTS.c.campaign_id == campaign_id,
                                                      RECIPIENTS.c.state == RecipientState.PENDING)
                             .values(state=RecipientState.CANCELLED, updated_at=now))
        return CampaignStatus.CANCELLED

    def _schedule(self, campaign_id: int, when: datetime) -> None:
        if self.scheduler is not None:
            jobs.schedule(self.scheduler, campaign_id, when)

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
                if campaign is None or campaign.status not in CampaignStatus.LIVE:
                    self._drop_job(campaign_id)
                    return None
                if campaign.status == CampaignStatus.SCHEDULED:
                    campaign.status, campaign.started_at, campaign.updated_at = CampaignStatus.RUNNING, now, now
                    log.info("campaign %d started", campaign_id)
                spec, footer, expanded = campaign.audience, campaign.footer, campaign.expanded
                window = window_of(campaign.window_start, campaign.window_end)
                after = campaign.expanded_to or 0
            budget = ROUND_BUDGET
            while not expanded and budget > 0:
                expanded, after = self._expand_batch(campaign_id, spec, after)
                budget -= 1
            if not expanded:
                return 0.0
            if window is not None:
                self._take_back(campaign_id, RecipientState.PENDING, lambda tz: not window.contains(now, tz))
            bodies = self._bodies(campaign_id, footer)
            queued_now, after_recipient, more = 0, 0, False
            while budget > 0:
                room = self.queue_batch if not self.ahead else min(self.queue_batch, self.ahead - self._waiting(campaign_id))
                if room <= 0:
                    break  # enough waiting in the queue: the next round tops it up
                queued, after_recipient, more = self._queue_batch(campaign_id, bodies, window, now, after_recipient, room)
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

    def _expand_batch(self, campaign_id: int, spec: dict[str, Any], after: int) -> tuple[bool, int]:
        """The next batch of audience members as recipient rows; (all done, last contact id)."""
        now = self.clock.now()
        with self.engine.begin() as conn:
            variants = conn.execute(select(Variant.id, Variant.weight).where(Variant.campaign_id == campaign_id)
                                    .order_by(Variant.seq)).all()
            batch = audience.members(conn, spec, now, after=after, limit=self.expand_batch)
            consent = audience.consent_of(conn, [m.id for m in batch])
            rows = []
            for member in batch:
                reason = audience.skip_reason(member.flag, consent[member.id])
                variant = variants[variant_index(campaign_id, member.id, [w for _, w in variants])][0]
                rows.append({"campaign_id": campaign_id, "contact_id": member.id, "variant_id": variant,
                             "state": RecipientState.SKIPPED if reason else RecipientState.PENDING,
                             "reason": reason, "updated_at": now})
            if rows:
                conn.execute(insert(RECIPIENTS), rows)
            last = batch[-1].id if batch else after
            done = len(batch) < self.expand_batch
            conn.execute(update(Campaign.__table__).where(Campaign.__table__.c.id == campaign_id)
                         .values(expanded_to=last, expanded=done, updated_at=now))
        return done, last

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

    def _queue_batch(self, campaign_id: int, bodies: dict[int, Body], window: Window | None, now: datetime,
                     after: int, room: int) -> tuple[int, int, bool]:
        """Queue up to `room` pending recipients above recipient id `after` (those whose window is
        open now); (messages queued, last recipient id looked at, whether any pending are left)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(Recipient.id, Recipient.variant_id, Contact.number, Contact.name,
                                       Contact.language, Contact.timezone, Contact.fields)
                                .join(Contact, Contact.id == Recipient.contact_id)
                                .where(Recipient.campaign_id == campaign_id, Recipient.state == RecipientState.PENDING,
                                       Recipient.id > after)
                                .order_by(Recipient.id).limit(room)).all()
        if not rows:
            return 0, after, False
        items: list[Outgoing] = []
        ids: list[int] = []
        skipped: list[dict[str, Any]] = []
        for rid, variant_id, number, name, language, tz, fields in rows:
            if window is not None and not window.contains(now, zone(tz, self.default_tz)):
                continue
            personal = bodies[variant_id].text_for(name, fields, language)
            if personal.text is None:
                skipped.append({"rid": rid, "why": personal.problem})
                continue
            items.append(Outgoing(number, personal.text, kind="marketing", priority="bulk", campaign_id=campaign_id))
            ids.append(rid)
        queued = self._store(campaign_id, items, ids, skipped)
        return queued, rows[-1].id, len(rows) == room

    def _store(self, campaign_id: int, items: list[Outgoing], ids: list[int],
               skipped: list[dict[str, Any]]) -> int:
        now = self.clock.now()
        if skipped:
            with self.engine.begin() as conn:
                conn.execute(update(RECIPIENTS).where(RECIPIENTS.c.id == bindparam("rid"),
                                                      RECIPIENTS.c.state == RecipientState.PENDING)
                             .values(state=RecipientState.SKIPPED, reason=bindparam("why"), updated_at=now), skipped)
        while items:
            try:
                self.queue.enqueue_many(items, source=SOURCE, along=lambda conn, messages: _mark_queued(
                    conn, campaign_id, ids, messages, now))
                return len(items)
            except RejectedMessage as exc:  # a number the queue refuses: skip that one, store the rest
                index = exc.index or 0
                self._store(campaign_id, [], [], [{"rid": ids[index], "why": str(exc)}])
                del items[index], ids[index]
        return 0

    def _finished(self, campaign_id: int) -> bool:
        """No one pending and no message waiting: the campaign is done."""
        now = self.clock.now()
        with self.engine.connect() as conn:
            pending = conn.scalar(select(func.count()).select_from(Recipient).where(
                Recipient.campaign_id == campaign_id, Recipient.state == RecipientState.PENDING))
        if pending or self._waiting(campaign_id):
            return False
        table = Campaign.__table__
        with self.engine.begin() as conn:
            done = conn.execute(update(table).where(table.c.id == campaign_id, table.c.status == CampaignStatus.RUNNING)
                                .values(status=CampaignStatus.DONE, finished_at=now, updated_at=now)).rowcount
        if done:
            log.info("campaign %d done", campaign_id)
        return True


class Conflict(RuntimeError):
    """Recipients were queued by someone else meanwhile: the batch is rolled back, nothing is sent twice."""


def _mark_queued(conn: Connection, campaign_id: int, ids: list[int], messages: list[NewMessage], now: datetime) -> None:
    """In the transaction that stores the messages (each named with its campaign): each recipient
    `queued` with its message, only if still pending."""
    taken = conn.execute(update(RECIPIENTS).where(RECIPIENTS.c.id.in_(ids), RECIPIENTS.c.state == RecipientState.PENDING)
                         .values(state=RecipientState.QUEUED, updated_at=now)).rowcount  # one statement: a sure count
    if taken != len(ids):
        raise Conflict(f"campaign {campaign_id}: {len(ids) - taken} recipients were queued meanwhile")
    _MESSAGE_OF(conn, [{"rid": rid, "mid": m.id} for rid, m in zip(ids, messages, strict=True)])


def _verb(status: str) -> str:
    return {CampaignStatus.PAUSED: "pause", CampaignStatus.RUNNING: "resume",
            CampaignStatus.CANCELLED: "cancel"}.get(status, "change")
