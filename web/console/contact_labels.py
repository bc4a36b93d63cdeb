"""Words for the audience's and the ledger's codes (consent states, ledger kinds and sources,
number flags, import outcomes, segment conditions), in the user's language."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext

from web.console.labels import words_for

CONSENT = {
    "none": lazy_gettext("No consent"),
    "pending": lazy_gettext("Asked, awaiting YES"),
    "opted_in": lazy_gettext("Opted in"),
    "opted_out": lazy_gettext("Opted out"),
    "opted_out_all": lazy_gettext("Opted out of everything"),
}
KINDS = {
    "opt_in": lazy_gettext("Opted in"),
    "opt_out": lazy_gettext("Opted out"),
    "opt_in_requested": lazy_gettext("Asked to confirm"),
}
SOURCES = {
    "keyword": lazy_gettext("By SMS, from the customer"),
    "keyword_in_text": lazy_gettext("By SMS, from the customer, in a sentence"),
    "web_form": lazy_gettext("Web form"),
    "import": lazy_gettext("Import"),
    "api": lazy_gettext("API"),
    "staff": lazy_gettext("Console, by staff"),
}
FLAGS = {
    "invalid": lazy_gettext("Invalid number"),
    "unreachable": lazy_gettext("Unreachable"),
}
OUTCOMES = {
    "created": lazy_gettext("Imported"),
    "updated": lazy_gettext("Updated"),
    "unchanged": lazy_gettext("Unchanged"),
    "merged": lazy_gettext("Merged into an earlier line"),
    "rejected": lazy_gettext("Rejected"),
}
CONDITIONS = {
    "": lazy_gettext("(none)"),
    "tag": lazy_gettext("Has the tag"),
    "group": lazy_gettext("Is in the group"),
    "language": lazy_gettext("Speaks the language"),
    "field": lazy_gettext("Custom field equals (empty: is set)"),
    "replied_within_days": lazy_gettext("Replied within days"),
    "clicked_within_days": lazy_gettext("Clicked a link within days"),
    "never_delivered": lazy_gettext("Never had a message delivered"),
}
MATCH = {
    "all": lazy_gettext("all of the conditions"),
    "any": lazy_gettext("any of the conditions"),
}
COLUMNS = {
    "number": lazy_gettext("Phone number"),
    "name": lazy_gettext("Name"),
    "language": lazy_gettext("Language"),
    "timezone": lazy_gettext("Time zone"),
    "birthday": lazy_gettext("Birthday (YYYY-MM-DD)"),
    "tags": lazy_gettext("Tags"),
    "groups": lazy_gettext("Groups"),
    "consent": lazy_gettext("Consent (yes/no)"),
    "consent_proof": lazy_gettext("Proof of consent"),
    "field": lazy_gettext("A custom field of this name"),
    "skip": lazy_gettext("Leave out"),
}
BASES = {
    "none": lazy_gettext("No consent: add them as contacts only"),
    "file": lazy_gettext("As the file says (its consent and consent_proof columns)"),
    "all": lazy_gettext("Everyone in the file agreed (say where and when below)"),
}

TABLES = {"consent": CONSENT, "kind": KINDS, "source": SOURCES, "flag": FLAGS, "outcome": OUTCOMES,
          "condition": CONDITIONS, "match": MATCH, "column": COLUMNS, "basis": BASES}


# the import's reasons (audience.contacts_csv), by how each begins: the words in the user's language,
# the import's own sentence beside them for the detail
REASONS = (
    (re.compile(r"invalid number"), lazy_gettext("The phone number cannot be used.")),
    (re.compile(r"\d+ more value"), lazy_gettext("The row has more values than the first line has columns.")),
    (re.compile(r"[^:]*: longer than"), lazy_gettext("A value is too long.")),
    (re.compile(r"bad language"), lazy_gettext("The language is not a language code.")),
    (re.compile(r"unknown timezone"), lazy_gettext("The time zone is unknown.")),
    (re.compile(r"bad date"), lazy_gettext("The birthday is not a date (YYYY-MM-DD).")),
    (re.compile(r"bad consent"), lazy_gettext("Consent must be yes or no.")),
    (re.compile(r"consent without proof"), lazy_gettext("Consent without proof: say where and when they agreed.")),
    (re.compile(r"duplicate of line"), lazy_gettext("The same number as an earlier line: merged into it.")),
    (re.compile(r"not opted in"), lazy_gettext("Not opted in: the customer opted out, and only they can opt back in.")),
)


def reason_words(reason: str | None) -> str | None:
    """The import's reason in the user's language; None when it is not one of the known kinds."""
    for pattern, words in REASONS:
        if reason and pattern.match(reason):
            return str(words)
    return None


def contact_label(kind: str, code: str | None) -> str:
    return words_for(TABLES, kind, code)


def choices(kind: str) -> list[tuple[str, str]]:
    return [(code, str(words)) for code, words in TABLES[kind].items()]
