"""Keywords (pure): what an inbound text means, however the customer typed it.

A keyword matches the WHOLE message after normalisation (NFKC, casefold, accents, punctuation,
symbols and whitespace removed), as carriers' own STOP handling does: "Stop.", " stop ", "STOP!" and
"ＳＴＯＰ！" are STOP, but "Can I stop by tomorrow?" is a conversation, not an opt-out. An opt-out
word with nothing around it but courtesy words and repeats of itself ("STOP please", "stop stop",
"Пожалуйста, СТОП", "请退订", "إلغاء من فضلك") is still an opt-out: who asks politely asks all the same.
No other action is read that generously: consent is only ever given in so many words.

"YES" and its translations are not opt-ins: they only answer a confirmation request (CONFIRM); the
inbound pipeline decides whether one is pending. Everything here is untrusted text from the network;
nothing in it is ever interpreted beyond these comparisons.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from dataclasses import dataclass

OPT_OUT = "opt_out"  # no more marketing
OPT_OUT_ALL = "opt_out_all"  # nothing at all (STOPALL)
OPT_IN = "opt_in"  # an explicit re-subscribe word: START, UNSTOP, СТАРТ, 订阅, اشتراك
CONFIRM = "confirm_opt_in"  # YES, ДА, 是, نعم: an opt-in only as the answer to a pending confirmation request
HELP = "help"
JOIN = "join"  # custom: add to a group, then reply
REPLY = "reply"  # custom: just an auto-reply
ACTIONS = frozenset({OPT_OUT, OPT_OUT_ALL, OPT_IN, CONFIRM, HELP, JOIN, REPLY})
MAX_WORD = 64

# Arabic letters that NFD does not reduce to a bare alef, and the tatweel (kashida) used to stretch words.
_ARABIC = str.maketrans({"ٱ": "ا", "ٲ": "ا", "ٳ": "ا", "ـ": None})


def normalise(text: str) -> str:
    """The comparison form of a text: 'Stop.' / ' stop ' / 'STOP!' -> 'stop'; 'إلغاء' -> 'الغاء'."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    decomposed = unicodedata.normalize("NFD", folded).translate(_ARABIC)
    kept = (ch for ch in decomposed if unicodedata.category(ch)[0] not in "MPSZC")
    return unicodedata.normalize("NFC", "".join(kept))


@dataclass(frozen=True)
class KeywordRule:
    word: str  # normalised
    action: str
    label: str = ""
    language: str | None = None  # the language of the word (a reply to СТОП is in Russian)
    group: str | None = None
    reply: str | None = None  # overrides the default text for the action
    builtin: bool = False


def _defaults() -> tuple[KeywordRule, ...]:
    table: list[tuple[str, str, str | None]] = [
        *((w, OPT_OUT, "en") for w in ("STOP", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE")),
        ("STOPALL", OPT_OUT_ALL, "en"),
        ("СТОП", OPT_OUT, "ru"), ("ОТПИСАТЬСЯ", OPT_OUT, "ru"),
        ("إيقاف", OPT_OUT, "ar"), ("الغاء", OPT_OUT, "ar"), ("إلغاء", OPT_OUT, "ar"),
        ("退订", OPT_OUT, "zh"), ("TD", OPT_OUT, "zh"),
        ("START", OPT_IN, "en"), ("UNSTOP", OPT_IN, "en"), ("YES", CONFIRM, "en"),
        ("СТАРТ", OPT_IN, "ru"), ("ДА", CONFIRM, "ru"), ("ПОДПИСАТЬСЯ", OPT_IN, "ru"),
        ("نعم", CONFIRM, "ar"), ("اشتراك", OPT_IN, "ar"),
        ("订阅", OPT_IN, "zh"), ("是", CONFIRM, "zh"),
        ("HELP", HELP, "en"), ("INFO", HELP, "en"), ("ПОМОЩЬ", HELP, "ru"), ("مساعدة", HELP, "ar"),
        ("帮助", HELP, "zh"),
    ]
    rules: dict[str, KeywordRule] = {}
    for label, action, language in table:
        word = normalise(label)
        rules.setdefault(word, KeywordRule(word, action, label, language, builtin=True))
    return tuple(rules.values())


DEFAULTS: tuple[KeywordRule, ...] = _defaults()
PROTECTED = frozenset(r.word for r in DEFAULTS if r.action in (OPT_OUT, OPT_OUT_ALL))  # always honoured
CONFIRMATIONS = frozenset(r.word for r in DEFAULTS if r.action == CONFIRM)  # never opt-ins on their own

# Politeness that may surround an opt-out word, as normalised word sequences. Those of scripts
# written without spaces (Chinese) may also be glued to the word itself ("请退订").
_COURTESY_PHRASES = (
    "please", "pls", "plz", "kindly", "thanks", "thank you", "thankyou", "thx", "ty", "cheers", "hi", "hello",
    "пожалуйста", "плиз", "спасибо", "здравствуйте", "привет",
    "من فضلك", "لو سمحت", "رجاء", "الرجاء", "شكرا", "مرحبا",
    "请", "谢谢", "麻烦", "麻烦你", "你好", "您好",
)

# Confirmations and answers, by action and language. A keyword's own `reply` overrides these.
REPLIES: dict[str, dict[str, str]] = {
    OPT_OUT: {
        "en": "You have been unsubscribed and will receive no more marketing messages. Reply START to resubscribe.",
        "ru": "Вы отписались и больше не будете получать рекламные сообщения. Ответьте СТАРТ, чтобы подписаться снова.",
        "ar": "تم إلغاء اشتراكك ولن تصلك رسائل تسويقية بعد الآن. أرسل START للاشتراك من جديد.",
        "zh": "您已退订，将不再收到营销短信。回复 START 可重新订阅。",
    },
    OPT_OUT_ALL: {
        "en": "You have been unsubscribed from all messages from this number. Reply START to resubscribe.",
        "ru": "Вы отписались от всех сообщений с этого номера. Ответьте СТАРТ, чтобы подписаться снова.",
        "ar": "تم إلغاء اشتراكك في جميع الرسائل من هذا الرقم. أرسل START للاشتراك من جديد.",
        "zh": "您已退订本号码的所有短信。回复 START 可重新订阅。",
    },
    OPT_IN: {
        "en": "You are subscribed. Reply STOP to unsubscribe, HELP for help.",
        "ru": "Вы подписаны. Ответьте СТОП, чтобы отписаться.",
        "ar": "تم اشتراكك. أرسل إيقاف لإلغاء الاشتراك.",
        "zh": "您已订阅。回复 退订 可退订。",
    },
    HELP: {
        "en": "Reply STOP to unsubscribe, START to subscribe. Message and data rates may apply.",
        "ru": "Ответьте СТОП, чтобы отписаться, СТАРТ, чтобы подписаться.",
        "ar": "أرسل إيقاف لإلغاء الاشتراك، أو START للاشتراك.",
        "zh": "回复 退订 可退订，回复 START 可订阅。",
    },
    "confirm": {  # double opt-in request
        "en": "Reply YES to confirm you want to receive our messages. Reply STOP to opt out.",
        "ru": "Ответьте ДА, чтобы подтвердить подписку на наши сообщения. Ответьте СТОП, чтобы отказаться.",
        "ar": "أرسل نعم لتأكيد رغبتك في تلقي رسائلنا. أرسل إيقاف للرفض.",
        "zh": "回复 是 确认接收我们的短信。回复 退订 可拒绝。",
    },
    JOIN: {
        "en": "You have joined {group}. Reply STOP to unsubscribe.",
    },
}


def reply_text(action: str, language: str | None, fallback_language: str = "en",
               override: str | None = None, group: str | None = None) -> str | None:
    """The text to answer with, in the first language we have: the contact's, then the fallback."""
    if override:
        return override
    texts = REPLIES.get(action)
    if not texts:
        return None
    for lang in (language, fallback_language, "en"):
        base = (lang or "").split("-")[0].lower()
        if base in texts:
            return texts[base].replace("{group}", group or "the list")
    return None


def validate_word(label: str) -> str:
    """The normalised form of a keyword being configured, or ValueError saying why it can't be one."""
    word = normalise(label)
    if not word:
        raise ValueError(f"keyword {label!r} is empty once spaces and punctuation are removed")
    if len(word) > MAX_WORD:
        raise ValueError(f"keyword {label!r} is longer than {MAX_WORD} characters")
    return word


class Matcher:
    """Built-in keywords, overridden or extended by configured ones; protected opt-outs always stay."""

    def __init__(self, configured: tuple[KeywordRule, ...] = (), disabled: frozenset[str] = frozenset()) -> None:
        rules = {r.word: r for r in DEFAULTS}
        for rule in configured:
            if rule.word in PROTECTED and rule.action not in (OPT_OUT, OPT_OUT_ALL):
                continue  # STOP must keep meaning stop, whatever the configuration says
            if rule.word in CONFIRMATIONS and rule.action == OPT_IN:
                rule = dataclasses.replace(rule, action=CONFIRM)  # "yes" to a booking is no subscription
            rules[rule.word] = rule
        for word in disabled - PROTECTED:
            rules.pop(word, None)
        self.rules = rules

    def match(self, text: str | None) -> KeywordRule | None:
        if not text:
            return None
        return self.rules.get(normalise(text)) or self._polite_opt_out(text)

    def _polite_opt_out(self, text: str) -> KeywordRule | None:
        """An opt-out word (or its repeats) once the courtesy words around it are taken away."""
        core = "".join(_without_courtesy(words(text)))
        for size in range(1, len(core) + 1):
            if len(core) % size == 0 and core[:size] * (len(core) // size) == core:
                rule = self.rules.get(core[:size])
                if rule is not None and rule.action in (OPT_OUT, OPT_OUT_ALL):
                    return rule
        return None


def words(text: str) -> list[str]:
    """The normalised words of a text, split wherever a character is neither letter, digit nor mark."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    spaced = "".join(ch if unicodedata.category(ch)[0] in "LNM" else " " for ch in folded)
    return [w for w in (normalise(w) for w in spaced.split()) if w]


def _unspaced(word: str) -> bool:
    """Written without spaces between words (Han, kana), so politeness may be glued to a keyword."""
    return all(unicodedata.name(ch, "").startswith(("CJK", "HIRAGANA", "KATAKANA")) for ch in word)


_COURTESY = tuple(sorted((tuple(words(p)) for p in _COURTESY_PHRASES), key=len, reverse=True))
_GLUED = tuple(sorted((p[0] for p in _COURTESY if len(p) == 1 and _unspaced(p[0])), key=len, reverse=True))


def _without_courtesy(tokens: list[str]) -> list[str]:
    """The words left when every courtesy phrase is taken out (glued ones from either end of a word)."""
    left: list[str] = []
    i = 0
    while i < len(tokens):
        phrase = next((p for p in _COURTESY if tuple(tokens[i:i + len(p)]) == p), None)
        if phrase is not None:
            i += len(phrase)
            continue
        left.append(_unglued(tokens[i]))
        i += 1
    return [w for w in left if w]


def _unglued(word: str) -> str:
    changed = True
    while changed and word:
        changed = False
        for courtesy in _GLUED:
            if word.startswith(courtesy) or word.endswith(courtesy):
                word = word[len(courtesy):] if word.startswith(courtesy) else word[:-len(courtesy)]
                changed = True
    return word
