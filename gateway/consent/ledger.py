"""Consent: the rules (pure) and the append-only ledger they read.

A contact's consent is derived from its ledger, never stored beside it: the newest opt-in or opt-out
decides. An opt-in request (double opt-in) only says a confirmation was asked for; it grants
nothing. A STOP only ever adds an event, so the history of who agreed, when and how stays provable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, bindparam, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, Select

from gateway.audience.models import Contact
from gateway.consent.models import ConsentEvent, ConsentKind, ConsentScope, ConsentSource
from gateway.store.db import Prepared


@dataclass(frozen=True)
class EventView:
    """What the rules need of a ledger entry (rows, or plain values in tests)."""

    kind: str
    scope: str = ConsentScope.MARKETING
    source: str = ConsentSource.STAFF
    at: datetime | None = None


@dataclass(frozen=True)
class ConsentState:
    """Derived from the ledger. `status`: none | pending | opted_in | opted_out | opted_out_all."""

    status: str
    since: datetime | None = None
    source: str | None = None
    requested_at: datetime | None = None  # a confirmation request newer than the newest decision

    def awaiting_confirmation(self, now: datetime, within: timedelta) -> bool:
        """A YES now answers our request: one was sent within `within` and nothing was decided since."""
        return self.requested_at is not None and now - self.requested_at <= within

    @property
    def marketing_allowed(self) -> bool:
        return self.status == "opted_in"

    @property
    def opted_out(self) -> bool:
        return self.status in ("opted_out", "opted_out_all")

    @property
    def everything_stopped(self) -> bool:
        return self.status == "opted_out_all"


NO_CONSENT = ConsentState("none")


def derive(events: Iterable[EventView]) -> ConsentState:
    """Fold a contact's ledger (oldest first) into its state. The newest opt-in/opt-out wins; a
    later request makes a contact with no decision yet `pending`; it never takes consent away, and
    after a STOP the contact stays opted out until they confirm."""
    state = NO_CONSENT
    for event in events:
        if event.kind == ConsentKind.OPT_IN:
            state = ConsentState("opted_in", event.at, event.source)
        elif event.kind == ConsentKind.OPT_OUT:
            status = "opted_out_all" if event.scope == ConsentScope.ALL else "opted_out"
            state = ConsentState(status, event.at, event.source)
        elif event.kind == ConsentKind.REQUESTED:
            if state.status in ("none", "pending"):
                state = ConsentState("pending", event.at, event.source, requested_at=event.at)
            else:
                state = replace(state, requested_at=event.at)
    return state


class OptIn:
    """What an opt-in from somewhere other than the customer's handset may do."""

    GRANT = "grant"  # record the opt-in
    ASK = "ask"  # record a request and text "Reply YES to confirm"
    ASKED = "asked"  # a request is still open: a second one would only pester them, so nothing new
    REFUSE = "refuse"  # a request could not reach them (they stopped all messages): record nothing


@dataclass(frozen=True)
class OptInRule:
    """What an opt-in from somewhere may do (`OptIn`), and why when it does not grant."""

    action: str
    reason: str = ""

    @property
    def grant(self) -> bool:
        return self.action == OptIn.GRANT


def opt_in_rule(state: ConsentState, source: str, *, double_opt_in: bool = False, now: datetime | None = None,
                within: timedelta | None = None, request_suppressed: bool = False) -> OptInRule:
    """After an opt-out, only the customer can opt back in: an opt-in from anyone else (API, CLI,
    console, import) asks them to confirm and restores nothing until they do. A request made within
    `within` of `now` that nothing has answered is still open: asking again would text the customer
    the same question every time staff press the button or a till re-syncs, so it asks once per
    window. `request_suppressed`: the send rules would suppress the request (after STOPALL, say), so
    saying one went would be untrue; the opt-in is refused and nothing is asked."""
    if source == ConsentSource.KEYWORD:
        return OptInRule(OptIn.GRANT)  # the customer's own START or YES
    if state.opted_out:
        when = f" on {state.since:%Y-%m-%d}" if state.since else ""
        if request_suppressed:
            stopped = (f"the customer asked for no messages at all (STOPALL, {state.source}){when}"
                       if state.everything_stopped else
                       f"the contact opted out ({state.source}){when} and STOP stops transactional messages too "
                       "(consent.transactional_honour_stop)")
            return OptInRule(OptIn.REFUSE, f"{stopped}: a confirmation request would not reach them, so none was "
                                           "sent; only their own START opts them in again")
        why = (f"the contact opted out ({state.source}){when}: only their own START or YES to a confirmation "
               "request opts them in again")
    elif double_opt_in and not state.marketing_allowed:  # one who confirmed already is not asked again
        why = "double opt-in: consent starts when they reply YES"
    else:
        return OptInRule(OptIn.GRANT)
    if now is not None and within is not None and state.awaiting_confirmation(now, within):
        assert state.requested_at is not None
        return OptInRule(OptIn.ASKED, f"{why}; a confirmation request was sent at {state.requested_at.isoformat()} "
                                      f"and is open until {(state.requested_at + within).isoformat()}: no second one "
                                      "was sent")
    return OptInRule(OptIn.ASK, why)


# ---- ledger access ----------------------------------------------------------------------------
_LEDGER_OF = Prepared(select(ConsentEvent.kind, ConsentEvent.scope, ConsentEvent.source, ConsentEvent.at)
              .where(ConsentEvent.contact_id == bindparam("contact_id")).order_by(ConsentEvent.id))


def state_of(db: Session | Connection, contact_id: int) -> ConsentState:
    """The contact's consent now, read from the ledger (no cache to go stale)."""
    if isinstance(db, Session):
        db.flush()  # what the session holds counts too
    conn = db.connection() if isinstance(db, Session) else db
    return derive(EventView(*row) for row in _LEDGER_OF(conn, {"contact_id": contact_id}).all())


def record(session: Session, contact: Contact, kind: str, *, source: str, at: datetime,
           scope: str = ConsentScope.MARKETING, detail: str | None = None,
           inbound_message_id: int | None = None) -> ConsentEvent:
    """Append one event (the caller's transaction commits it). Refuses what the ledger can't hold."""
    if kind not in ConsentKind.ALL:
        raise ValueError(f"consent kind must be one of {', '.join(sorted(ConsentKind.ALL))}")
    if source not in ConsentSource.VALUES:
        raise ValueError(f"consent source must be one of {', '.join(sorted(ConsentSource.VALUES))}")
    if scope not in ConsentScope.VALUES:
        raise ValueError(f"consent scope must be one of {', '.join(sorted(ConsentScope.VALUES))}")
    if contact.id is None:
        session.flush()
    event = ConsentEvent(contact_id=contact.id, kind=kind, scope=scope, source=source, at=at,
                         detail=detail, inbound_message_id=inbound_message_id)
    session.add(event)
    session.flush()
    return event


def latest_request(session: Session, contact_id: int) -> ConsentEvent | None:
    """The contact's newest confirmation request (the open one, when `derive` says one is open)."""
    return session.scalar(select(ConsentEvent).where(ConsentEvent.contact_id == contact_id,
                                                     ConsentEvent.kind == ConsentKind.REQUESTED)
                          .order_by(ConsentEvent.id.desc()).limit(1))


def history(session: Session, contact_id: int) -> list[ConsentEvent]:
    return list(session.scalars(select(ConsentEvent).where(ConsentEvent.contact_id == contact_id)
                                .order_by(ConsentEvent.id)).all())


def latest_decisions() -> Select:
    """(contact_id, id of its newest opt-in/opt-out event): the base of consent-filtered audiences."""
    return (select(ConsentEvent.contact_id, func.max(ConsentEvent.id).label("event_id"))
            .where(ConsentEvent.kind.in_((ConsentKind.OPT_IN, ConsentKind.OPT_OUT)))
            .group_by(ConsentEvent.contact_id))


def consented_contacts() -> Select:
    """Contact ids whose newest decision is an opt-in (the SQL twin of `derive(...).marketing_allowed`)."""
    latest = latest_decisions().subquery()
    return (select(latest.c.contact_id)
            .join(ConsentEvent, and_(ConsentEvent.id == latest.c.event_id, ConsentEvent.kind == ConsentKind.OPT_IN)))


DECISIONS = (ConsentKind.OPT_IN, ConsentKind.OPT_OUT)


def newest_decision_is(kind: str) -> ColumnElement[bool]:
    """A condition on `Contact.id`: the contact's newest decision is `kind` (opt_in: may get
    marketing; opt_out: opted out, STOP or STOPALL), the SQL twin of `derive(...).status` for a page of
    contacts. On indexes at any size: the candidates are those with such an event
    (`ix_consent_events_kind_at`, a list read in id order), each confirmed by its newest decision
    (`ix_consent_events_contact`), so a page newest first reads no more than it shows."""
    newest = (select(ConsentEvent.kind)
              .where(ConsentEvent.contact_id == Contact.id, ConsentEvent.kind.in_(DECISIONS))
              .order_by(ConsentEvent.id.desc()).limit(1).correlate(Contact).scalar_subquery())
    return and_(Contact.id.in_(select(ConsentEvent.contact_id).where(ConsentEvent.kind == kind)), newest == kind)