"""Opt-out requests written as sentences: the pure reading (`gateway.consent.free_text`, tables and
hypothesis), the inbound pipeline recording them, and the real daemon hearing one on a virtual
modem's pty."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.consent import free_text, keywords
from gateway.consent.models import ConsentSource

from .audience_helpers import make_rig
from .modem_helpers import wait_until

pytestmark = pytest.mark.timeout(60)
MATCHER = keywords.Matcher()
CUSTOMER = "+447700900321"


@pytest.mark.parametrize("text, word", [
    ("STOP please, no more offers", "stop"),
    ("stop texting me", "stop"),
    ("Please unsubscribe me", "unsubscribe"),
    ("СТОП, больше не пишите", "стоп"),
    ("Стоп не пишите мне", "стоп"),
    ("ＳＴＯＰ！ no more", "stop"),
    ("stop all, I moved away", "stopall"),
    ("الرجاء إيقاف الرسائل", keywords.normalise("إيقاف")),
    ("退订吧 谢谢", "退订"),
    ("STOP. no more messages", "stop"),
])
def test_an_opt_out_word_opening_a_sentence_is_an_opt_out(text, word):
    rule = free_text.leading_opt_out(MATCHER, text)
    assert rule is not None and rule.word == word and rule.action in (keywords.OPT_OUT, keywords.OPT_OUT_ALL)


@pytest.mark.parametrize("text", [
    "STOP? no, I want the offers",  # a bare negation after the word: staff decide, nothing is guessed
    "Stop, nope",
    "Стоп, нет, я передумал",
    "Cancel my booking for Friday please",  # CANCEL, END, QUIT, TD open ordinary sentences: whole message only
    "End of season sale?",
    "Can I stop by tomorrow?",  # the word is not first
    "STOP",  # the whole message is the keyword's (Matcher.match), not this reading
    "",
    "Hello",
])
def test_what_is_not_read_as_an_opt_out_in_a_sentence(text):
    assert free_text.leading_opt_out(MATCHER, text) is None


def test_a_configured_opt_out_keyword_opens_a_sentence_too():
    matcher = keywords.Matcher((keywords.KeywordRule("basta", keywords.OPT_OUT, "BASTA"),))
    assert free_text.leading_opt_out(matcher, "Basta, no more texts").word == "basta"
    assert free_text.leading_opt_out(MATCHER, "Basta, no more texts") is None


@pytest.mark.parametrize("text", [
    "Please unsubscribe me", "no more messages, thanks", "How do I opt out?", "Stop sending me offers",
    "не присылайте больше", "Как отписаться?", "请不要再发了 退订", "请取消订阅", "الرجاء إيقاف الرسائل",
    "أريد إلغاء الاشتراك",
])
def test_opt_out_phrases_anywhere_in_the_text_look_like_a_request(text):
    assert free_text.looks_like_opt_out(text)


@pytest.mark.parametrize("text", [
    "Can I stop by tomorrow?", "Where is my parcel?", "Do you have more offers?", "Спасибо, всё пришло",
    "谢谢", "شكرا جزيلا", "", "STOP? no, I want the offers",
])
def test_ordinary_texts_do_not_look_like_a_request(text):
    assert not free_text.looks_like_opt_out(text)


OPT_OUT_WORDS = [r.label for r in keywords.DEFAULTS if r.action == keywords.OPT_OUT
                 and r.word not in free_text.WHOLE_MESSAGE_ONLY]
TAILS = st.lists(st.sampled_from(["texting", "me", "now", "больше", "не", "пишите", "发了", "الرسائل", "offers",
                                  "!", "...", ","]), min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(word=st.sampled_from(OPT_OUT_WORDS), tail=TAILS, shout=st.booleans(), wide=st.booleans())
def test_any_case_width_punctuation_or_tail_keeps_a_leading_opt_out(word, tail, shout, wide):
    text = " ".join([word.upper() if shout else word.lower(), *tail])
    if wide:  # full-width Latin, as some phones type it
        text = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)
    rule = free_text.leading_opt_out(MATCHER, text)
    if keywords.words(" ".join(tail)):  # words follow (courtesy alone would make it a whole-message keyword)
        assert rule is not None and rule.action == keywords.OPT_OUT
    else:  # punctuation only: the whole message is the keyword
        assert rule is None and MATCHER.match(text) is not None


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_any_text_is_read_without_error_and_a_leading_opt_out_is_an_opt_out_word(text):
    rule = free_text.leading_opt_out(MATCHER, text)
    assert rule is None or rule.action in (keywords.OPT_OUT, keywords.OPT_OUT_ALL)
    assert free_text.looks_like_opt_out(text) in (True, False)


# ---- the inbound pipeline ---------------------------------------------------------------------------
@pytest.fixture
def rig(queue, clock):
    made = make_rig(queue, clock)
    yield made
    made.pipeline.stop()


def test_a_sentence_opening_with_stop_is_recorded_as_an_opt_out_in_text_and_confirmed(rig):
    rig.receive(CUSTOMER, "STOP please, no more offers")
    assert rig.ledger(CUSTOMER) == [("opt_out", "marketing", ConsentSource.KEYWORD_IN_TEXT)]
    (reply,) = rig.outbox(CUSTOMER)
    assert "unsubscribed" in reply.text and reply.kind == "transactional"


def test_a_negated_stop_changes_no_consent(rig):
    rig.receive(CUSTOMER, "STOP? no, I want the offers")
    assert rig.ledger(CUSTOMER) == []


# ---- the daemon: an SMS delivered on a virtual modem's pty -------------------------------------------
def test_the_daemon_records_a_sentence_opting_out_that_came_in_on_the_pty(tmp_path):
    from sqlalchemy import select

    from gateway.audience.models import Contact
    from gateway.consent.models import ConsentEvent
    from gateway.core.clock import FakeClock

    from .daemon_helpers import build_daemon

    clock = FakeClock(1_800_000_000.0)  # 2027-01-15 08:00 UTC: no quiet hours
    daemon = build_daemon(tmp_path, clock, 1, gateway={"timezone": "UTC"})
    daemon.start()
    try:
        assert daemon.wait_ready(20)

        def ledger() -> list[tuple[str, str]]:
            with daemon.queue.sessions() as session:
                return [tuple(r) for r in session.execute(
                    select(ConsentEvent.kind, ConsentEvent.source).join(Contact)
                    .where(Contact.number == CUSTOMER).order_by(ConsentEvent.id)).all()]

        daemon.audience.opt_in(CUSTOMER, source="web_form", detail="signup")
        daemon.simulator.ports["sim1"].modem.inject_sms(CUSTOMER, "СТОП, больше не пишите мне")
        wait_until(lambda: len(ledger()) == 2, 30, "the opt-out in the ledger")
        assert ledger() == [("opt_in", "web_form"), ("opt_out", ConsentSource.KEYWORD_IN_TEXT)]
    finally:
        daemon.stop()


def test_al_rajaa_is_a_courtesy_word_so_a_polite_arabic_stop_is_the_keyword_itself():
    rule = MATCHER.match("الرجاء إيقاف")
    assert rule is not None and rule.action == keywords.OPT_OUT
