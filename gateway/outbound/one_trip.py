"""The send path's steps that are one statement each on PostgreSQL, where every statement is a
round trip; SQLite runs them as several statements, in-process, where a statement costs none.

Data-modifying `WITH`s: every part of one reads the rows as they were before it, so a part being
reported is counted by its new status, not by what the rows say. No parameter is named as a
column (`db.Prepared`'s column keys would add it to an UPDATE's SET), and constants are named
parameters (an anonymous one in the SET of a statement inside a `WITH` is rendered under another
name than the compiled statement gives it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, String, bindparam, case, insert, literal, null, or_, select, true, update
from sqlalchemy.sql.dml import Update

from gateway.outbound.models import Message, MessageEvent, MessageStatus, Part, PartStatus
from gateway.sims.models import SimSend

MESSAGES, PARTS, EVENTS, SENDS = Message.__table__, Part.__table__, MessageEvent.__table__, SimSend.__table__
_AT, _DETAIL = EVENTS.c.at.type, EVENTS.c.detail.type


def statements(take: Update, hook_facts: tuple[Any, ...], **submitting: Update) -> dict[str, Any]:
    """`hook_facts`: what the status hooks would read else (`change_facts`); `submitting`: the
    UPDATEs that mark a part `submitting`, by name (each gets a `<name>_logged`)."""
    return {"take_with_parts": _take_with_parts(take, hook_facts), "sent_with_message": _sent_with_message(hook_facts),
            "final_report": _final_report(hook_facts),
            **{f"{name}_logged": _submitting_logged(update) for name, update in submitting.items()}}


def _take_with_parts(take: Update, hook_facts: tuple[Any, ...]) -> Any:
    """The claim's `take`, its `sending` event and the message's parts (none: it was not queued)."""
    m, p = MESSAGES.c, PARTS.c
    taken = take.returning(m.id, *hook_facts).cte("taken")
    logged = insert(EVENTS).from_select(
        ["message_id", "status", "at", "detail"],
        select(taken.c.id, literal(MessageStatus.SENDING, String), bindparam("now", type_=_AT),
               bindparam("event_detail", type_=_DETAIL))).cte("logged")
    return (select(taken.c.sim, taken.c.has_callback, taken.c.recipient_unreachable, p.id, p.seq, p.status)
            .join_from(taken, PARTS, p.message_id == taken.c.id).add_cte(logged))


def _submitting_logged(submitting: Update) -> Any:
    """A part marked `submitting` (by `submitting`), its event (`event_detail`) and, with
    `record_send`, its send in the SIM's history (the `send_*` values of a `sim_sends` row): the
    part's message and seq, none if it did not move."""
    p, s = PARTS.c, SENDS.c
    part = submitting.returning(p.id, p.message_id, p.seq).cte("submitted_part")
    logged = insert(EVENTS).from_select(
        ["message_id", "part_seq", "status", "at", "detail"],
        select(part.c.message_id, part.c.seq, literal(PartStatus.SUBMITTING, String), bindparam("now", type_=_AT),
               bindparam("event_detail", type_=_DETAIL))).cte("submitting_logged")
    names = ("sim", "modem", "to_number", "at", "monotonic", "boot")
    sends = insert(SENDS).from_select(
        [*names, "part_id"],
        select(*(bindparam(f"send_{name}", type_=s[name].type) for name in names), part.c.id)
        .where(bindparam("record_send", type_=Boolean))).cte("send_recorded")
    return select(part.c.message_id, part.c.seq).add_cte(logged).add_cte(sends)


def _sent_with_message(hook_facts: tuple[Any, ...]) -> Any:
    """A part `sent` with the network's reference and, when it was its message's last to go
    (`last_part`), the message `sent` from `sending` (as `message_sent`), with their events (the
    part's `event_detail`): the part's message, seq, modem and submitted time, and `moved` with the
    hook facts when the message moved."""
    m, p = MESSAGES.c, PARTS.c
    part = (update(PARTS).where(p.id == bindparam("part_id"))
            .values(status=PartStatus.SENT, reference=bindparam("ref"), sent_at=bindparam("now"))
            .returning(p.message_id, p.seq, p.modem, p.submitted_at).cte("sent_part"))
    message = (update(MESSAGES).where(m.id.in_(select(part.c.message_id)), m.status == MessageStatus.SENDING,
                                      bindparam("last_part", type_=Boolean))
               .values(status=bindparam("sent", MessageStatus.SENT), sent_at=bindparam("now"),
                       updated_at=bindparam("now"))
               .returning(m.id, *hook_facts).cte("sent_message"))
    logged = insert(EVENTS).from_select(  # the part's event, then the message's
        ["message_id", "part_seq", "status", "at", "detail"],
        select(part.c.message_id, part.c.seq, literal(PartStatus.SENT, String), bindparam("now", type_=_AT),
               bindparam("event_detail", type_=_DETAIL))
        .union_all(select(message.c.id, null(), literal(MessageStatus.SENT, String), bindparam("now", type_=_AT),
                          null()))).cte("sent_logged")
    return (select(part.c.message_id, part.c.seq, part.c.modem, part.c.submitted_at,
                   message.c.id.is_not(None).label("moved"), message.c.sim, message.c.has_callback,
                   message.c.recipient_unreachable)
            .select_from(part.outerjoin(message, true())).add_cte(logged))


def _final_report(hook_facts: tuple[Any, ...]) -> Any:
    """A part's final report (`part_status` delivered or failed), the message's end if it makes one
    (delivered when every part is, failed when one failed, as `delivered_if_all` and
    `failed_if_any` decide on SQLite) and their events: the ended message's new status, if any."""
    m, p = MESSAGES.c, PARTS.c
    part_status = bindparam("part_status")
    delivered, failed = bindparam("delivered", PartStatus.DELIVERED), bindparam("failed", PartStatus.FAILED)
    others = select(p.id).where(p.message_id == bindparam("of_message"), p.id != bindparam("part_id"))
    all_delivered = (part_status == delivered) & ~others.where(p.status != PartStatus.DELIVERED).exists()
    one_failed = (part_status == failed) | others.where(p.status == PartStatus.FAILED).exists()
    reported = (update(PARTS).where(p.id == bindparam("part_id"))
                .values(report_status=bindparam("report_status"), report_at=bindparam("now"), status=part_status)
                .returning(p.id).cte("reported_part"))
    ended = (update(MESSAGES).where(m.id == bindparam("of_message"), or_(
        all_delivered & (m.status != MessageStatus.DELIVERED),
        one_failed & or_(m.status == MessageStatus.SENT, m.status == MessageStatus.SENDING,
                         m.status == MessageStatus.QUEUED)))
        .values(status=case((all_delivered, delivered), else_=failed),
                finished_at=bindparam("now"), updated_at=bindparam("now"))
        .returning(m.status, *hook_facts).cte("ended"))
    message_id = bindparam("of_message", type_=EVENTS.c.message_id.type)
    logged = insert(EVENTS).from_select(  # the part's event, then the message's
        ["message_id", "part_seq", "status", "at", "detail"],
        select(message_id, bindparam("reported_seq", type_=EVENTS.c.part_seq.type),
               bindparam("part_status", type_=EVENTS.c.status.type), bindparam("now", type_=_AT),
               bindparam("report_detail", type_=_DETAIL))
        .union_all(select(message_id, null(), ended.c.status, bindparam("now", type_=_AT), null()))
    ).cte("report_logged")
    return (select(ended.c.status, ended.c.sim, ended.c.has_callback, ended.c.recipient_unreachable)
            .add_cte(reported).add_cte(logged))
