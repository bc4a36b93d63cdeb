"""Opt-out requests written as sentences (pure): "STOP please, no more offers", "Please unsubscribe me",
«СТОП, больше не пишите», "请不要再发了 退订", "الرجاء إيقاف الرسائل".

Two readings, both on `keywords.words` (NFKC, casefold, accents and punctuation gone, as keywords are):

- `leading_opt_out`: the first word (after courtesy words, "Please unsubscribe me") is an opt-out
  keyword, built-in or configured, and other words follow. That IS an opt-out, recorded with the
  source `keyword_in_text`. Two exceptions, kept small on purpose: the words that open ordinary
  sentences as often as they ask to stop (CANCEL "my booking", END, QUIT, TD) count only as the whole
  message (`keywords.Matcher`); and a text whose next word is a bare negation ("STOP? no, I want the
  offers", "Стоп, нет...") is not read either way: it goes to the inbox like any text, to be decided
  by staff. "no more", "no longer" are no negation ("STOP, no more offers").
- `looks_like_opt_out`: any other text holding one of a short list of opt-out phrases per language
  ("unsubscribe", "no more messages", "отписаться", "退订", "إلغاء الاشتراك") anywhere. That is not
  an opt-out by itself (the customer may be asking how, or quoting): staff are shown it and decide;
  until then no marketing goes to the contact.
"""

from __future__ import annotations

import unicodedata

from gateway.consent import keywords
from gateway.consent.keywords import KeywordRule, Matcher

# Opt-out words that begin ordinary sentences ("Cancel my appointment", "End of season sale?"): they
# opt out only as the whole message.
WHOLE_MESSAGE_ONLY = frozenset(keywords.normalise(w) for w in ("CANCEL", "END", "QUIT", "TD"))
# A next word that turns "STOP" into a question or a refusal. Not "не"/"不"/"لا": they begin
# "don't send" in Russian, Chinese and Arabic.
NEGATIONS = frozenset(keywords.normalise(w) for w in ("no", "nope", "not", "нет", "否"))
NOT_NEGATED_BY = frozenset(keywords.normalise(w) for w in ("more", "longer", "больше"))  # "no more", "no longer"
LONGEST_KEYWORD_WORDS = 3  # "stop all" is the keyword STOPALL written in two words

# Phrases that say "stop writing to me" in so many words, per language.
PHRASES: dict[str, tuple[str, ...]] = {
    "en": ("unsubscribe", "opt out", "optout", "no more messages", "no more texts", "no more offers",
           "no more sms", "stop texting", "stop sending", "stop messaging", "remove me", "take me off",
           "dont text me", "dont message me"),
    "ru": ("отписаться", "отпишите", "не присылайте", "не пишите", "больше не пишите", "не отправляйте",
           "удалите мой номер", "больше не присылайте"),
    "zh": ("退订", "取消订阅", "不要再发", "别再发", "不要发了"),
    "ar": ("إلغاء الاشتراك", "الغاء الاشتراك", "إيقاف الرسائل", "ايقاف الرسائل", "لا ترسل", "لا ترسلوا",
           "توقف عن الإرسال"),
}


def _unspaced(word: str) -> bool:
    return all(unicodedata.name(ch, "").startswith(("CJK", "HIRAGANA", "KATAKANA")) for ch in word)


def _phrase_words() -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(keywords.words(p)) for texts in PHRASES.values() for p in texts)


_PHRASES = _phrase_words()


def leading_opt_out(matcher: Matcher, text: str | None) -> KeywordRule | None:
    """The opt-out keyword a longer text begins with, or None (see the module's rule)."""
    if not text:
        return None
    tokens = keywords._without_courtesy(keywords.words(text))  # noqa: SLF001 - the keywords' own courtesy list
    for size in range(min(LONGEST_KEYWORD_WORDS, len(tokens)), 0, -1):  # STOP ALL before STOP
        rule = matcher.rules.get("".join(tokens[:size]))
        if rule is not None and rule.action in (keywords.OPT_OUT, keywords.OPT_OUT_ALL):
            return None if _excluded(rule, tokens[size:]) else rule
    if tokens and _unspaced(tokens[0]):  # "退订吧 谢谢": the keyword glued to what follows
        for rule in matcher.rules.values():
            if (rule.action in (keywords.OPT_OUT, keywords.OPT_OUT_ALL) and _unspaced(rule.word)
                    and tokens[0].startswith(rule.word) and rule.word not in WHOLE_MESSAGE_ONLY):
                return rule
    return None


def _excluded(rule: KeywordRule, rest: list[str]) -> bool:
    if rule.word in WHOLE_MESSAGE_ONLY or not rest:
        return True  # not a leading keyword (the whole message is Matcher.match's)
    return rest[0] in NEGATIONS and not (len(rest) > 1 and rest[1] in NOT_NEGATED_BY) and not _holds_phrase(rest)


def looks_like_opt_out(text: str | None) -> bool:
    """Whether the text holds one of the opt-out phrases (`PHRASES`) anywhere."""
    return bool(text) and _holds_phrase(keywords.words(text or ""))


def _holds_phrase(tokens: list[str]) -> bool:
    glued = "".join(tokens)
    for phrase in _PHRASES:
        if len(phrase) == 1 and _unspaced(phrase[0]):
            if phrase[0] in glued:
                return True
            continue
        n = len(phrase)
        if any(tuple(tokens[i:i + n]) == phrase for i in range(len(tokens) - n + 1)):
            return True
    return False
