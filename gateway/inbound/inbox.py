"""The inbox as the console shows it: one line per customer number, newest first, and that number's
conversation (what they wrote and what we sent, in time order).

A customer who wrote to two of our SIMs has two `conversations` rows (replies go from the SIM they
wrote to); the inbox shows the number once, by its newest row, with the unread count of all its
rows. Every read here is a seek on an index (`ix_conversations_latest` to page, the number's index
for its newest row and unread count, a message's conversation or number for the thread), so a page
costs the same with a million messages stored as with ten.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from gateway.audience.models import Contact
from gateway.inbound.models import Conversation, InboundMessage
from gateway.outbound.models import Message

PAGE = 50
THREAD = 200  # the newest entries of a conversation shown; older ones are in the messages log
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: after the line whose newest message came at `at` (row `id`)."""

    at: datetime
    id: int

    def encode(self) -> str:
        return f"{(self.at - EPOCH) // MICROSECOND}_{self.id}"  # exact: no float in between

    @classmethod
    def decode(cls, text: str | None) -> Cursor | None:
        """None for no cursor or one that is not ours (a hand-edited link shows the first page)."""
        if not text:
            return None
        stamp, _, ident = text.partition("_")
        try:
            return cls(EPOCH + int(stamp) * MICROSECOND, int(ident))
        except (ValueError, OverflowError):
            return None


@dataclass(frozen=True)
class Line:
    """One customer number in the inbox."""

    number: str
    contact_id: int | None
    name: str | None
    last_at: datetime
    last_text: str | None
    last_keyword: str | None
    unread: int


@dataclass(frozen=True)
class Page:
    lines: list[Line]
    next: Cursor | None  # None: this is the last page


def lines(session: Session, after: Cursor | None = None, limit: int | None = None) -> Page:
    """A page of the inbox (`PAGE` lines), newest first; `after` continues from a previous page's `next`."""
    limit = limit or PAGE
    c = Conversation
    newer = aliased(Conversation)
    # the number's newest row only: no row of the same number is later (ties broken by id)
    newest = ~select(newer.id).where(
        newer.number == c.number,
        or_(newer.last_message_at > c.last_message_at,
            and_(newer.last_message_at == c.last_message_at, newer.id > c.id))).exists()
    others = aliased(Conversation)
    unread = select(func.coalesce(func.sum(others.unread), 0)).where(others.number == c.number).scalar_subquery()
    last = select(InboundMessage.id).where(InboundMessage.conversation_id == c.id) \
        .order_by(InboundMessage.id.desc()).limit(1).scalar_subquery()
    query = (select(c.id, c.number, c.contact_id, Contact.name, c.last_message_at, unread, last)
             .outerjoin(Contact, Contact.id == c.contact_id)
             .where(newest)
             .order_by(c.last_message_at.desc(), c.id.desc()).limit(limit + 1))
    if after is not None:
        # the first condition alone bounds the index range; the second drops the rows of the same instant already shown
        query = query.where(c.last_message_at <= after.at,
                            or_(c.last_message_at < after.at, c.id < after.id))
    rows = session.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    ids = [row[6] for row in rows if row[6] is not None]
    texts = {m.id: (m.text, m.keyword) for m in session.execute(
        select(InboundMessage.id, InboundMessage.text, InboundMessage.keyword).where(InboundMessage.id.in_(ids)))} if ids else {}
    out = [Line(number=row[1], contact_id=row[2], name=row[3], last_at=row[4],
                last_text=texts.get(row[6], (None, None))[0], last_keyword=texts.get(row[6], (None, None))[1],
                unread=int(row[5] or 0)) for row in rows]
    following = Cursor(rows[-1][4], rows[-1][0]) if more and rows else None
    return Page(out, following)


@dataclass(frozen=True)
class Entry:
    """One message of a conversation: what the customer wrote ("in") or what we sent ("out")."""

    direction: str  # "in" | "out"
    id: int
    at: datetime
    text: str
    status: str  # outbound: the message's state; inbound: "received" or "incomplete"
    keyword: str | None = None  # inbound: the keyword it matched (STOP, START, YES, HELP...)
    action: str | None = None  # inbound: what the keyword did (opt_out, opt_in...)
    kind: str | None = None  # outbound: transactional | marketing
    source: str | None = None  # outbound: console, api, keyword, campaign...
    sim: str | None = None


@dataclass(frozen=True)
class Thread:
    number: str
    contact_id: int | None
    name: str | None
    sim: str | None  # the SIM of the newest message they sent: a reply goes from there
    entries: list[Entry]
    unread: int


def number_of_contact(session: Session, contact_id: int) -> str | None:
    return session.scalar(select(Contact.number).where(Contact.id == contact_id))


def thread(session: Session, number: str, limit: int = THREAD) -> Thread | None:
    """The number's conversation: its newest `limit` messages both ways, oldest first; None when we
    never heard from or wrote to that number."""
    rows = session.execute(select(Conversation.id, Conversation.sim, Conversation.contact_id, Conversation.unread)
                           .where(Conversation.number == number)
                           .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())).all()
    contact = session.scalar(select(Contact).where(Contact.number == number))
    inbound = session.scalars(select(InboundMessage).where(InboundMessage.conversation_id.in_([r[0] for r in rows]))
                              .order_by(InboundMessage.id.desc()).limit(limit)).all() if rows else []
    outbound = session.scalars(select(Message).where(Message.to_number == number)
                               .order_by(Message.id.desc()).limit(limit)).all()
    if not rows and not outbound:
        return None
    entries = [Entry("in", m.id, m.received_at, m.text, "received" if m.complete else "incomplete",
                     keyword=m.keyword, action=m.action, sim=m.modem) for m in inbound]
    entries += [Entry("out", m.id, m.created_at, m.text, m.status, kind=m.kind, source=m.source,
                      sim=m.sim or m.sim_requested) for m in outbound]
    entries.sort(key=lambda e: (e.at, e.direction == "out", e.id))
    contact_id = contact.id if contact else next((r[2] for r in rows if r[2] is not None), None)
    return Thread(number=number, contact_id=contact_id, name=contact.name if contact else None,
                  sim=rows[0][1] if rows else None, entries=entries[-limit:], unread=sum(int(r[3]) for r in rows))


def mark_read(session: Session, number: str, seen: Thread | None = None) -> int:
    """The number's conversations read (in the caller's transaction); how many had unread. Given the
    thread that was shown, only those whose newest text it showed: one that came in since stays unread."""
    query = update(Conversation).where(Conversation.number == number, Conversation.unread > 0)
    if seen is not None:
        newest = max((e.at for e in seen.entries if e.direction == "in"), default=None)
        if newest is None:
            return 0
        query = query.where(Conversation.last_message_at <= newest)
    return int(session.execute(query.values(unread=0)).rowcount or 0)
