"""Keyword matching from tables: every way customers really type STOP, in four scripts."""

from __future__ import annotations

import pytest

from gateway.consent import keywords
from gateway.consent.keywords import KeywordRule, Matcher, normalise


@pytest.mark.parametrize("text, action", [
    ("STOP", "opt_out"), ("Stop.", "opt_out"), (" stop ", "opt_out"), ("STOP!", "opt_out"),
    ("ＳＴＯＰ！", "opt_out"), ("s t o p", "opt_out"), ("\u200bSTOP\u200b", "opt_out"), ("stop 🛑", "opt_out"),
    ("Unsubscribe", "opt_out"), ("cancel", "opt_out"), ("End", "opt_out"), ("QUIT", "opt_out"),
    ("opt-out", "opt_out"), ("OptOut", "opt_out"), ("revoke", "opt_out"), ("STOPALL", "opt_out_all"),
    ("Stop all", "opt_out_all"),
    ("СТОП", "opt_out"), ("стоп!", "opt_out"), ("Отписаться", "opt_out"),
    ("إيقاف", "opt_out"), ("أيقاف", "opt_out"), ("ايقاف", "opt_out"), ("إلغاء", "opt_out"), ("الغاء", "opt_out"),
    ("ألغاء", "opt_out"), ("إلغــاء", "opt_out"), ("آلغاء", "opt_out"), ("ٱلغاء", "opt_out"),
    ("退订", "opt_out"), ("退订。", "opt_out"), ("「退订」", "opt_out"), ("TD", "opt_out"), ("td！", "opt_out"),
    ("START", "opt_in"), ("unstop", "opt_in"), ("СТАРТ", "opt_in"), ("订阅", "opt_in"), ("اشتراك", "opt_in"),
    ("Yes!", "confirm_opt_in"), ("да", "confirm_opt_in"), ("نعم", "confirm_opt_in"), ("是", "confirm_opt_in"),
    ("HELP", "help"), ("help?", "help"), ("Помощь", "help"),
])
def test_builtin_keywords_match_however_typed(text, action):
    rule = Matcher().match(text)
    assert rule is not None and rule.action == action


@pytest.mark.parametrize("text, action", [
    ("STOP please", "opt_out"), ("Please, STOP!", "opt_out"), ("stop stop", "opt_out"), ("STOP STOP STOP", "opt_out"),
    ("Stop, thank you", "opt_out"), ("Hi, unsubscribe please", "opt_out"), ("Stop all please", "opt_out_all"),
    ("Пожалуйста, СТОП", "opt_out"), ("СТОП, спасибо", "opt_out"), ("стоп стоп", "opt_out"),
    ("请退订", "opt_out"), ("退订，谢谢", "opt_out"), ("退订谢谢", "opt_out"), ("退订退订", "opt_out"), ("您好，请退订", "opt_out"),
    ("إلغاء من فضلك", "opt_out"), ("إيقاف لو سمحت", "opt_out"), ("شكرا، إلغاء", "opt_out"),
])
def test_an_opt_out_among_courtesy_words_and_repeats_is_an_opt_out(text, action):
    rule = Matcher().match(text)
    assert rule is not None and rule.action == action


@pytest.mark.parametrize("text", [
    "Can I stop by tomorrow?", "Yes I'll be there at 3", "stopped", "please cancel my booking", "",
    "   ", "!!!", "HELLO", "Please stop by the shop", "Thanks!", "please please", "请", "Stop it, I will be late",
    "Yes please", "START please",  # only opt-outs are read generously: consent is given in so many words
    "Не стоп, а старт", "请问退订怎么办",
])
def test_conversation_is_not_a_keyword(text):
    assert Matcher().match(text) is None


def test_a_configured_yes_is_only_ever_a_confirmation():
    """Databases seeded before YES became a confirmation word hold it as an opt-in."""
    legacy = KeywordRule(normalise("YES"), keywords.OPT_IN, "YES", "en", builtin=True)
    assert Matcher((legacy,)).match("yes").action == keywords.CONFIRM


@pytest.mark.parametrize("raw, normal", [
    ("Stop.", "stop"), ("Ça va", "cava"), ("ＴＤ", "td"), ("Ёлка", "елка"), ("إلغاء", "الغاء"),
    ("JOIN\tFASHION\n", "joinfashion"), ("Straße", "strasse"),
])
def test_normalise(raw, normal):
    assert normalise(raw) == normal


def test_custom_keywords_add_and_override_but_opt_outs_stay():
    join = KeywordRule(normalise("JOIN"), keywords.JOIN, "JOIN", group="fashion", reply="Welcome!")
    hijack = KeywordRule(normalise("STOP"), keywords.REPLY, "STOP", reply="ha")
    help_off = normalise("INFO")
    matcher = Matcher((join, hijack), disabled=frozenset({help_off, normalise("STOP")}))
    assert matcher.match("join").group == "fashion"
    assert matcher.match("Stop.").action == keywords.OPT_OUT  # cannot be re-purposed or disabled
    assert matcher.match("info") is None


@pytest.mark.parametrize("action, language, text_part", [
    ("opt_out", "ru", "Вы отписались"), ("opt_out", "ar", "تم إلغاء"), ("opt_out", "zh", "您已退订"),
    ("opt_out", "en", "unsubscribed"), ("opt_out", "pt-BR", "unsubscribed"), ("opt_out", None, "unsubscribed"),
    ("opt_in", "zh-Hans", "您已订阅"), ("help", "ru", "СТОП"),
])
def test_replies_in_the_contacts_language_with_fallback(action, language, text_part):
    assert text_part in keywords.reply_text(action, language, "en")


def test_override_and_group_in_reply():
    assert keywords.reply_text("join", "en", group="fashion") == "You have joined fashion. Reply STOP to unsubscribe."
    assert keywords.reply_text("opt_out", "ru", override="Bye") == "Bye"
    assert keywords.reply_text("reply", "en") is None


def test_validate_word():
    assert keywords.validate_word(" Fashion! ") == "fashion"
    with pytest.raises(ValueError, match="empty"):
        keywords.validate_word("?!")


def test_the_migration_turns_seeded_yes_rows_into_confirmations(old_database):
    """A database seeded by an earlier version lists YES as an opt-in; after upgrading it says confirm_opt_in."""
    from sqlalchemy import text

    from gateway.store import db

    with old_database("0005") as (engine, connection):
        for word, action in (("yes", "opt_in"), ("start", "opt_in"), ("是", "opt_in")):
            connection.execute(text("INSERT INTO keywords (word, label, action, enabled, builtin, created_at) "
                                    "VALUES (:w, :w, :a, :on, :on, '2026-01-01')"), {"w": word, "a": action, "on": True})
    db.upgrade(engine)
    with engine.connect() as connection:
        rows = dict(connection.execute(text("SELECT word, action FROM keywords")).all())
    engine.dispose()
    assert rows == {"yes": "confirm_opt_in", "start": "opt_in", "是": "confirm_opt_in"}
