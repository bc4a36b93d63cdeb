"""May staff answer this contact? A reply from the console is transactional, and after an opt-out
only an answer to what the customer asked is: the customer must have written AFTER their opt-out,
and not longer ago than `[consent] reply_after_opt_out_hours` (24). Otherwise the reply is refused,
naming the opt-out (when, how), instead of being queued as transactional to someone who said stop.

`reply_rule` is pure (table-tested); `reply_verdict` reads the facts: the ledger's state and the
contact's newest inbound message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.consent import ledger
from gateway.consent.ledger import ConsentState
from gateway.inbound.models import InboundMessage


@dataclass(frozen=True)
class ReplyVerdict:
    """`allowed`, or why not: `opted_out_at` and `opted_out_by` (the ledger's source) name the opt-out."""

    allowed: bool
    opted_out_at: datetime | None = None
    opted_out_by: str | None = None
    everything: bool = False  # STOPALL rather than STOP
    wrote_at: datetime | None = None  # their newest message, when it came before the opt-out or too long ago

    @property
    def reason(self) -> str:
        if self.allowed:
            return ""
        when = self.opted_out_at.isoformat() if self.opted_out_at else "an unknown time"
        return (f"the contact opted out ({self.opted_out_by}) at {when} and has not written since within the "
                "reply window: only an answer to what they asked may be sent")


def reply_rule(state: ConsentState, last_inbound_at: datetime | None, now: datetime,
               window: timedelta) -> ReplyVerdict:
    """Allowed unless the contact opted out and has not written since, within `window` of `now`."""
    if not state.opted_out:
        return ReplyVerdict(True)
    answered = (last_inbound_at is not None and state.since is not None and last_inbound_at > state.since
                and now - last_inbound_at <= window)
    if answered:
        return ReplyVerdict(True)
    return ReplyVerdict(False, state.since, state.source, state.everything_stopped, last_inbound_at)


def reply_verdict(session: Session, contact_id: int | None, now: datetime, window: timedelta) -> ReplyVerdict:
    """`reply_rule` on the ledger and the contact's newest inbound message (a number that is no
    contact never opted out)."""
    if contact_id is None:
        return ReplyVerdict(True)
    state = ledger.state_of(session, contact_id)
    if not state.opted_out:
        return ReplyVerdict(True)
    last = session.scalar(select(func.max(InboundMessage.received_at)).where(InboundMessage.contact_id == contact_id))
    return reply_rule(state, last, now, window)
