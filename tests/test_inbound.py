"""The inbound pipeline on a real SQLite file: parts in, messages, contacts, ledger and replies out."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, func, select

from gateway.audience.contacts import groups_of
from gateway.audience.models import Contact
from gateway.consent import keyword_store
from gateway.core.config_sections import InboundSection
from gateway.inbound import conversations
from gateway.inbound.models import Conversation, InboundMessage, InboundMessagePart

from .audience_helpers import make_rig
from .modem_helpers import wait_until
from .process_helpers import ProcessDied

CUSTOMER = "+447700900123"
pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def rig(queue, clock):
    made = make_rig(queue, clock)
    yield made
    made.pipeline.stop()


def messages(rig) -> list[InboundMessage]:
    with rig.queue.sessions() as session:
        return list(session.scalars(select(InboundMessage).order_by(InboundMessage.id)).all())


def test_unknown_sender_becomes_a_contact_without_consent_and_a_conversation(rig):
    rig.receive(CUSTOMER, "Hi, are you open on Sunday?", modem="sim2")
    with rig.queue.sessions() as session:
        contact = session.scalar(select(Contact).where(Contact.number == CUSTOMER))
        conversation = session.scalar(select(Conversation))
        (message,) = session.scalars(select(InboundMessage)).all()
        thread = conversations.thread(session, conversation.id)
    assert contact.source == "inbound" and contact.last_inbound_at == rig.clock.now()
    assert rig.ledger(CUSTOMER) == []  # no consent from just writing to us
    assert (conversation.number, conversation.sim, conversation.contact_id, conversation.unread) == (CUSTOMER, "sim2", contact.id, 1)
    assert message.conversation_id == conversation.id and message.keyword is None
    assert [e.text for e in thread] == ["Hi, are you open on Sunday?"]
    assert rig.outbox() == []  # no default reply configured


@pytest.mark.parametrize("text, language, confirmation", [
    ("Stop.", "en", "unsubscribed"), ("СТОП", "ru", "Вы отписались"), ("退订", "zh", "您已退订"),
    ("إلغاء", "ar", "تم إلغاء"),
])
def test_stop_in_any_script_records_the_opt_out_and_confirms_in_that_language(rig, text, language, confirmation):
    rig.audience.opt_in(CUSTOMER, source="web_form", detail="signup form")
    rig.receive(CUSTOMER, text, modem="sim2")
    assert rig.ledger(CUSTOMER) == [("opt_in", "marketing", "web_form"), ("opt_out", "marketing", "keyword")]
    (reply,) = rig.outbox(CUSTOMER)
    assert confirmation in reply.text
    assert (reply.kind, reply.source, reply.sim_requested) == ("transactional", "keyword", "sim2")
    assert messages(rig)[0].keyword and messages(rig)[0].action == "opt_out"
    with rig.queue.sessions() as session:
        assert session.scalar(select(Contact.language)) == language


def test_start_restores_and_stopall_stops_everything(rig):
    rig.receive(CUSTOMER, "STOPALL")
    rig.receive(CUSTOMER, "start")
    assert rig.ledger(CUSTOMER) == [("opt_out", "all", "keyword"), ("opt_in", "marketing", "keyword")]
    assert [m.text.split(".")[0] for m in rig.outbox()] == [
        "You have been unsubscribed from all messages from this number", "You are subscribed"]


def test_a_start_arriving_while_a_stop_is_applied_counts_after_it(rig):
    """Arrival order is consent order for one sender, whichever modem each text came in on: a START
    taken while the STOP before it is still being written is applied after that STOP commits."""
    rig.receive(CUSTOMER, "hello")  # a contact with a conversation already
    start = rig.receive(CUSTOMER, "START", modem="sim2", deliver=False)
    later = threading.Thread(target=lambda: rig.pipeline(start))

    def between(conn, cursor, statement, *args) -> None:  # the STOP is being written
        if statement.lstrip().startswith("INSERT INTO consent_events") and not later.is_alive() and not later.ident:
            later.start()
            later.join(0.5)  # were the STOP not one writer's transaction, the START would be read against the old state

    event.listen(rig.queue.engine, "before_cursor_execute", between)
    try:
        rig.receive(CUSTOMER, "STOP")
        later.join(30)
    finally:
        event.remove(rig.queue.engine, "before_cursor_execute", between)
    assert rig.ledger(CUSTOMER)[-2:] == [("opt_out", "marketing", "keyword"), ("opt_in", "marketing", "keyword")]
    replies = [m.text for m in rig.outbox(CUSTOMER)][-2:]
    assert replies[0].startswith("You have been unsubscribed") and replies[1].startswith("You are subscribed")
    assert [m.text for m in messages(rig)] == ["hello", "STOP", "START"]


def test_custom_keyword_joins_a_group_opts_in_and_replies(rig):
    with rig.queue.sessions.begin() as session:
        keyword_store.add(session, "FASHION", "join", group="fashion", reply="Welcome to the fashion club!",
                          now=rig.clock.now())
    rig.pipeline.reload_keywords()
    rig.receive(CUSTOMER, "fashion!")
    with rig.queue.sessions() as session:
        contact_id = session.scalar(select(Contact.id))
        assert groups_of(session, contact_id) == ["fashion"]
    assert rig.ledger(CUSTOMER) == [("opt_in", "marketing", "keyword")]
    assert [m.text for m in rig.outbox()] == ["Welcome to the fashion club!"]


def test_keyword_configuration_is_checked(rig):
    with rig.queue.sessions.begin() as session:
        with pytest.raises(ValueError, match="needs a group"):
            keyword_store.add(session, "JOIN", "join", now=rig.clock.now())
        with pytest.raises(ValueError, match="must stay one"):
            keyword_store.add(session, "Stop", "reply", reply="no", now=rig.clock.now())
        with pytest.raises(ValueError, match="exists already"):
            keyword_store.add(session, "help", "reply", now=rig.clock.now())


def test_help_answers_without_touching_consent(rig):
    rig.receive(CUSTOMER, "HELP")
    assert rig.ledger(CUSTOMER) == []
    assert "Reply STOP" in rig.outbox()[0].text


def test_multipart_in_any_order_becomes_one_message(rig):
    for seq in (3, 1, 2):
        rig.receive(CUSTOMER, f"part{seq} ", concat=(7, 3, seq))
    (message,) = messages(rig)
    assert message.text == "part1 part2 part3 " and message.complete and message.parts == 3
    with rig.queue.sessions() as session:
        assert session.scalar(select(func.count()).select_from(InboundMessagePart)) == 3


def test_missing_part_is_stored_after_the_timeout_with_a_marker(rig):
    rig.receive(CUSTOMER, "Hello ", concat=(9, 2, 1))
    assert messages(rig) == []
    rig.clock.advance(301)  # the pipeline's own timer thread notices
    wait_until(lambda: messages(rig), 10, "the incomplete message")
    (message,) = messages(rig)
    assert not message.complete and message.text == "Hello […]" and message.parts_expected == 2


def test_a_stop_split_incomplete_is_not_acted_on(rig):
    """Half a message is stored (nothing received is lost) but never read as a keyword: the
    subscriber's opt-in stands and no confirmation goes out. A whole STOP from them is, as control."""
    rig.audience.opt_in(CUSTOMER, source="web_form", detail="signup form")
    rig.receive(CUSTOMER, "STOP", concat=(9, 2, 1))
    assert messages(rig) == []  # waiting for part 2
    rig.pipeline.flush_expired(rig.clock.time() + 1000)
    (message,) = messages(rig)
    assert not message.complete and message.text == "STOP[…]" and message.parts_expected == 2
    assert message.keyword is None and message.action is None
    assert rig.ledger(CUSTOMER) == [("opt_in", "marketing", "web_form")]
    assert rig.outbox(CUSTOMER) == []
    rig.receive(CUSTOMER, "STOP")
    assert rig.ledger(CUSTOMER)[-1] == ("opt_out", "marketing", "keyword") and len(rig.outbox(CUSTOMER)) == 1


def test_parts_stored_before_a_crash_are_processed_at_start(queue, clock):
    first = make_rig(queue, clock, start=False)
    first.receive(CUSTOMER, "STOP", deliver=False)  # stored by the engine, pipeline never ran
    first.receive(CUSTOMER, "Long ", concat=(5, 2, 1), deliver=False)
    second = make_rig(queue, clock)  # the next start
    try:
        assert second.ledger(CUSTOMER) == [("opt_out", "marketing", "keyword")]
        assert len(second.outbox()) == 1
        second.receive(CUSTOMER, "text", concat=(5, 2, 2))
        assert [m.text for m in messages(second)] == ["STOP", "Long text"]
        assert second.pipeline.recover() == 0  # nothing processed twice
    finally:
        second.pipeline.stop()


def test_a_stale_recovered_keyword_changes_consent_but_sends_no_reply(queue, clock):
    first = make_rig(queue, clock, start=False)
    first.receive(CUSTOMER, "STOP", deliver=False)
    clock.advance(2 * 3600)
    second = make_rig(queue, clock)
    try:
        assert second.ledger(CUSTOMER) == [("opt_out", "marketing", "keyword")]
        assert second.outbox() == []
    finally:
        second.pipeline.stop()


def test_alphanumeric_senders_are_stored_but_never_contacts_or_answered(rig):
    rig.receive("VODAFONE", "STOP")
    (message,) = messages(rig)
    assert message.contact_id is None and message.keyword is None
    assert rig.outbox() == []


def test_default_reply_once_per_period(queue, clock):
    rig = make_rig(queue, clock, inbound=InboundSection(default_reply="Thanks, we'll get back to you.",
                                                        default_reply_every_h=24))
    try:
        rig.receive(CUSTOMER, "Do you have size 10?")
        rig.receive(CUSTOMER, "In blue?")
        clock.advance(25 * 3600)
        rig.receive(CUSTOMER, "Hello?")
        assert [m.source for m in rig.outbox()] == ["autoreply", "autoreply"]
    finally:
        rig.pipeline.stop()


def test_hooks_see_the_message_and_consent_changes_and_a_failing_hook_fails_the_change(rig):
    seen, consents = [], []
    down = lambda conn, m: (_ for _ in ()).throw(RuntimeError("webhook down"))  # noqa: E731
    rig.pipeline.received_hooks.append(down)
    rig.pipeline.received_hooks.append(lambda conn, m: seen.append((m.sender, m.text)))
    rig.audience.consent_hooks.append(lambda conn, c, e: consents.append((c.number, e.kind, e.source)))
    rig.receive(CUSTOMER, "STOP")
    assert messages(rig) == [] and rig.ledger(CUSTOMER) == [] and rig.outbox() == []  # nothing without its events
    rig.pipeline.received_hooks.remove(down)
    assert rig.pipeline.recover() == 1  # the part is taken again, hooks and all
    assert seen == [(CUSTOMER, "STOP")]
    assert consents[-1] == (CUSTOMER, "opt_out", "keyword")
    assert [m.text for m in messages(rig)] == ["STOP"] and len(rig.outbox(CUSTOMER)) == 1  # stored, answered


def test_what_an_sms_causes_commits_with_it_or_not_at_all(rig):
    """The message, its consent change, their webhook events' hooks and the reply share one
    transaction: a crash before its commit leaves only the part (taken again at the next start),
    never an opt-out without its confirmation or a stored STOP whose events are lost."""
    def crash(conn, message):
        raise ProcessDied  # stands for kill -9 before the commit

    rig.pipeline.received_hooks.append(crash)
    with pytest.raises(ProcessDied):
        rig.receive(CUSTOMER, "STOP")  # the part is stored first, as the engine stores it
    assert messages(rig) == [] and rig.ledger(CUSTOMER) == [] and rig.outbox() == []
    rig.pipeline.received_hooks.remove(crash)
    assert rig.pipeline.recover() == 1  # the restart takes the part again: everything happens once
    assert [m.text for m in messages(rig)] == ["STOP"]
    assert rig.ledger(CUSTOMER) == [("opt_out", "marketing", "keyword")]
    assert len(rig.outbox(CUSTOMER)) == 1


def test_double_opt_in_asks_first_and_yes_confirms(queue, clock):
    from gateway.core.config_sections import ConsentSection

    rig = make_rig(queue, clock, consent=ConsentSection(double_opt_in=True))
    try:
        outcome = rig.audience.opt_in(CUSTOMER, source="web_form", detail="form #12")
        assert outcome.event.kind == "opt_in_requested"
        assert "Reply YES" in rig.outbox()[0].text
        rig.receive(CUSTOMER, "yes")
        assert rig.ledger(CUSTOMER) == [("opt_in_requested", "marketing", "web_form"), ("opt_in", "marketing", "keyword")]
    finally:
        rig.pipeline.stop()


def test_yes_after_a_stop_is_a_reply_for_the_inbox_not_a_subscription(queue, clock):
    """A customer who texted STOP and later answers "yes" to a booking reminder stays opted out:
    YES/ДА/是/نعم only answer a confirmation request of ours."""
    rig = make_rig(queue, clock, inbound=InboundSection(default_reply="Thanks, we'll get back to you."))
    try:
        rig.audience.opt_in(CUSTOMER, source="web_form", detail="signup form")
        rig.receive(CUSTOMER, "STOP")
        for text in ("yes", "Да", "是", "نعم"):
            rig.receive(CUSTOMER, text)
        assert rig.ledger(CUSTOMER) == [("opt_in", "marketing", "web_form"), ("opt_out", "marketing", "keyword")]
        assert [(m.text, m.keyword) for m in messages(rig)][1:] == [
            ("yes", None), ("Да", None), ("是", None), ("نعم", None)]  # in the inbox, as any reply
        assert [m.source for m in rig.outbox(CUSTOMER)] == ["keyword", "autoreply"]  # STOP's answer, one default
    finally:
        rig.pipeline.stop()


def test_yes_confirms_only_a_request_made_within_the_window(queue, clock):
    from gateway.core.config_sections import ConsentSection

    rig = make_rig(queue, clock, consent=ConsentSection(double_opt_in=True, confirm_within_days=2))
    try:
        rig.audience.opt_in(CUSTOMER, source="web_form", detail="form #12")
        clock.advance(2 * 86400 + 1)
        rig.receive(CUSTOMER, "YES")  # too late: the request has lapsed
        assert rig.ledger(CUSTOMER) == [("opt_in_requested", "marketing", "web_form")]
        assert messages(rig)[-1].keyword is None
        rig.audience.opt_in(CUSTOMER, source="staff", detail="asked again at the till")
        clock.advance(86400)
        rig.receive(CUSTOMER, "Yes!")
        assert rig.ledger(CUSTOMER)[-1] == ("opt_in", "marketing", "keyword")
        assert "You are subscribed" in rig.outbox(CUSTOMER)[-1].text
        rig.receive(CUSTOMER, "yes")  # nothing is awaited any more
        assert len(rig.ledger(CUSTOMER)) == 3 and messages(rig)[-1].keyword is None
    finally:
        rig.pipeline.stop()


@pytest.mark.parametrize("text", ["STOP please", "stop stop", "Пожалуйста, СТОП", "请退订", "إلغاء من فضلك"])
def test_a_polite_stop_is_a_stop(rig, text):
    rig.audience.opt_in(CUSTOMER, source="web_form", detail="signup form")
    rig.receive(CUSTOMER, text)
    assert rig.ledger(CUSTOMER)[-1] == ("opt_out", "marketing", "keyword")
    assert messages(rig)[-1].action == "opt_out"


@pytest.mark.parametrize("source", ["staff", "api", "web_form"])
def test_after_the_customers_stop_an_opt_in_by_anyone_else_only_asks(rig, source):
    """Only the customer opts back in: the shop's opt-in texts "Reply YES" and restores nothing
    until they answer it."""
    rig.audience.opt_in(CUSTOMER, source="web_form", detail="signup form")
    rig.receive(CUSTOMER, "STOP")
    outcome = rig.audience.opt_in(CUSTOMER, source=source, detail="says they want offers again")
    assert outcome.requested and "opted out (keyword)" in outcome.reason
    assert "Reply YES" in rig.outbox(CUSTOMER)[-1].text and outcome.confirmation_id == rig.outbox(CUSTOMER)[-1].id
    with rig.queue.sessions() as session:
        contact_id = session.scalar(select(Contact.id))
        from gateway.consent import ledger
        assert ledger.state_of(session, contact_id).status == "opted_out"
    rig.receive(CUSTOMER, "yes")
    assert rig.ledger(CUSTOMER)[-2:] == [("opt_in_requested", "marketing", source), ("opt_in", "marketing", "keyword")]


def refuse_consent_writes(rig, refused: bool) -> None:
    """Make the database itself refuse (or accept again) every new consent entry, as a locked or
    failing database would while a STOP is applied."""
    with rig.queue.sessions.begin() as session:
        conn = session.connection()
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("CREATE OR REPLACE FUNCTION refuse_consent() RETURNS trigger LANGUAGE plpgsql "
                                 "AS $$ BEGIN RAISE EXCEPTION 'database is locked'; END $$")
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS refuse_consent ON consent_events")
            if refused:
                conn.exec_driver_sql("CREATE TRIGGER refuse_consent BEFORE INSERT ON consent_events "
                                     "FOR EACH ROW EXECUTE FUNCTION refuse_consent()")
            return
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS refuse_consent")
        if refused:
            conn.exec_driver_sql("CREATE TRIGGER refuse_consent BEFORE INSERT ON consent_events "
                                 "BEGIN SELECT RAISE(ABORT, 'database is locked'); END")


def test_a_stop_that_fails_to_apply_is_retried_until_it_commits(rig):
    """The part stays unprocessed until the opt-out and its reply commit, and is taken again soon
    (with backoff), not only at the next start; a long message waiting for its last part meanwhile
    is still joined once."""
    from gateway.inbound.pipeline import RETRY_FIRST_S

    rig.audience.opt_in(CUSTOMER, source="web_form", detail="signup form")
    rig.receive(CUSTOMER, "Hello ", concat=(9, 2, 1))  # waits for its second part
    refuse_consent_writes(rig, True)
    rig.receive(CUSTOMER, "STOP")
    assert rig.ledger(CUSTOMER) == [("opt_in", "marketing", "web_form")] and messages(rig) == []
    rig.clock.advance(RETRY_FIRST_S)  # the first retry fails too: the next one comes twice as late
    now = rig.clock.time()

    def next_retry_waited_for() -> bool:
        """The event the next advance rests on: the timer began, after the first retry, a wait
        for the next one, due 2 s from now (the delay is doubled a moment before that time is set)."""
        waiting = rig.clock.waiting("inbound-reassembly")
        return waiting is not None and waiting[0] >= now and waiting[1] >= now + 2 * RETRY_FIRST_S - 1e-6

    wait_until(next_retry_waited_for, 10, "the failed first retry")
    assert rig.pipeline._retry_delay == 2 * RETRY_FIRST_S
    refuse_consent_writes(rig, False)
    rig.clock.advance(2 * RETRY_FIRST_S)
    wait_until(lambda: len(rig.ledger(CUSTOMER)) == 2, 10, "the retried STOP")
    assert rig.ledger(CUSTOMER)[-1] == ("opt_out", "marketing", "keyword")
    assert [m.text for m in messages(rig)] == ["STOP"] and len(rig.outbox(CUSTOMER)) == 1  # once, answered once
    rig.receive(CUSTOMER, "there", concat=(9, 2, 2))
    assert [m.text for m in messages(rig)] == ["STOP", "Hello there"]
    assert rig.pipeline.recover() == 0
