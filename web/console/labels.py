"""Words for the values the domain keeps as codes (modem states, registration, audit actions,
limit windows; the audience's and the ledger's: consent states, ledger kinds and sources, number flags,
import outcomes, segment conditions) and for the domain's refusals, in the user's language. An unknown
code is shown as it is."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from flask_babel import lazy_gettext

STATES = {
    "connecting": lazy_gettext("Connecting"),
    "initialising": lazy_gettext("Starting"),
    "ready": lazy_gettext("Ready"),
    "no_network": lazy_gettext("No network"),
    "sim_error": lazy_gettext("SIM problem"),
    "out_of_rotation": lazy_gettext("Resting"),
    "disconnected": lazy_gettext("Disconnected"),
    "hung": lazy_gettext("Not answering"),
    "stopped": lazy_gettext("Stopped"),
}
REGISTRATIONS = {
    "home": lazy_gettext("Home network"),
    "roaming": lazy_gettext("Roaming"),
    "searching": lazy_gettext("Searching"),
    "denied": lazy_gettext("Refused by the network"),
    "not registered": lazy_gettext("Not registered"),
    "unknown": lazy_gettext("Unknown"),
    "emergency only": lazy_gettext("Emergency calls only"),
}
SIMS = {
    "ok": lazy_gettext("SIM ready"),
    "error": lazy_gettext("SIM problem"),
    "unknown": lazy_gettext("SIM not read yet"),
}
WINDOWS = {
    "minute": lazy_gettext("Last minute"),
    "hour": lazy_gettext("Last hour"),
    "day": lazy_gettext("Last 24 hours"),
    "month": lazy_gettext("Last 30 days"),
}
QUEUE = {
    "queued": lazy_gettext("Waiting"),
    "sending": lazy_gettext("Sending"),
    "sent": lazy_gettext("Sent, awaiting report"),
}
ACTIONS = {
    "login": lazy_gettext("Signed in"),
    "login_failed": lazy_gettext("Failed sign-in"),
    "logout": lazy_gettext("Signed out"),
    "setup": lazy_gettext("First-run setup"),
    "user_added": lazy_gettext("User added"),
    "password_changed": lazy_gettext("Password changed"),
    "language_changed": lazy_gettext("Language changed"),
    # page: contacts
    "contact_added": lazy_gettext("Contact added"),
    "contact_changed": lazy_gettext("Contact changed"),
    "contact_erased": lazy_gettext("Contact erased"),
    "opted_in": lazy_gettext("Opted a contact in"),
    "opt_in_requested": lazy_gettext("Asked a contact to confirm"),
    "opted_out": lazy_gettext("Opted a contact out"),
    "contacts_imported": lazy_gettext("Contacts imported"),
    "contacts_exported": lazy_gettext("Contacts exported"),
    "group_added": lazy_gettext("Group added"),
    "group_changed": lazy_gettext("Group renamed"),
    "group_deleted": lazy_gettext("Group deleted"),
    "segment_added": lazy_gettext("Segment added"),
    "segment_changed": lazy_gettext("Segment changed"),
    "segment_deleted": lazy_gettext("Segment deleted"),
    # page: inbox, templates
    "reply_sent": lazy_gettext("Reply sent"),
    "template_created": lazy_gettext("Template created"),
    "template_changed": lazy_gettext("Template changed"),
    "template_deleted": lazy_gettext("Template deleted"),
    # page: modems, settings
    "test_sms": lazy_gettext("Test SMS queued"),
    "ussd": lazy_gettext("USSD code run"),
    "modem_restart": lazy_gettext("Modem restarted"),
    "key_created": lazy_gettext("API key created"),
    "key_revoked": lazy_gettext("API key revoked"),
    "webhook_added": lazy_gettext("Webhook added"),
    "webhook_tested": lazy_gettext("Webhook test sent"),
    "webhook_replayed": lazy_gettext("Webhook delivery sent again"),
    "webhook_deactivated": lazy_gettext("Webhook deactivated"),
    "webhook_activated": lazy_gettext("Webhook activated"),
    "webhook_secret_rotated": lazy_gettext("Webhook secret renewed"),
    "user_disabled": lazy_gettext("User disabled"),
    "user_enabled": lazy_gettext("User enabled"),
    "keyword_added": lazy_gettext("Keyword added"),
    "keyword_changed": lazy_gettext("Keyword changed"),
    "keyword_deleted": lazy_gettext("Keyword deleted"),
    "opt_out_request_dismissed": lazy_gettext("Read a request to stop as no opt-out"),
}
DELIVERIES = {
    "pending": lazy_gettext("waiting"),
    "delivered": lazy_gettext("delivered"),
    "failed": lazy_gettext("failed"),
    "cancelled": lazy_gettext("cancelled"),
}

KEYWORD_ACTIONS = {
    "opt_out": lazy_gettext("opted out of marketing"),
    "opt_out_all": lazy_gettext("opted out of all messages"),
    "opt_in": lazy_gettext("opted in"),
    "confirm_opt_in": lazy_gettext("confirmed the opt-in"),
    "help": lazy_gettext("asked for help"),
    "join": lazy_gettext("joined a group"),
    "reply": lazy_gettext("auto-reply sent"),
}
TABLES = {"state": STATES, "registration": REGISTRATIONS, "sim": SIMS, "window": WINDOWS, "queue": QUEUE,
          "action": ACTIONS, "keyword_action": KEYWORD_ACTIONS, "delivery": DELIVERIES}


def words_for(tables: dict[str, dict], kind: str, code: str | None) -> str:
    """The words for one code from one family of tables: a dash for no value, an unknown code as it is."""
    if code is None:
        return "—"
    return str(tables[kind].get(code, code))


def label(kind: str, code: str | None) -> str:
    return words_for(TABLES, kind, code)


MESSAGE_STATES = {
    "queued": lazy_gettext("Queued"),
    "sending": lazy_gettext("Sending"),
    "sent": lazy_gettext("Sent"),
    "delivered": lazy_gettext("Delivered"),
    "failed": lazy_gettext("Failed"),
    "expired": lazy_gettext("Expired"),
    "cancelled": lazy_gettext("Cancelled"),
    "unknown": lazy_gettext("Unknown: may or may not have gone"),
    "suppressed": lazy_gettext("Not sent (consent rules)"),
}
PART_STATES = {
    "pending": lazy_gettext("Waiting"),
    "submitting": lazy_gettext("Handed to the modem"),
    "sent": lazy_gettext("Sent"),
    "delivered": lazy_gettext("Delivered"),
    "failed": lazy_gettext("Failed"),
    "unknown": lazy_gettext("Unknown: may or may not have gone"),
}
ENCODINGS = {"gsm7": lazy_gettext("GSM-7"), "ucs2": lazy_gettext("Unicode (UCS-2)")}
KINDS = {"transactional": lazy_gettext("Transactional"), "marketing": lazy_gettext("Marketing")}
ACTIONS.update({"message_sent": lazy_gettext("Message sent"), "message_cancelled": lazy_gettext("Message cancelled")})
TABLES.update(message=MESSAGE_STATES, part=PART_STATES, encoding=ENCODINGS, kind=KINDS)
# page: campaign new
ACTIONS.update({"campaign_created": lazy_gettext("Campaign created"), "campaign_started": lazy_gettext("Campaign started")})


CAMPAIGN_STATES = {
    "draft": lazy_gettext("draft"), "scheduled": lazy_gettext("scheduled"), "running": lazy_gettext("running"),
    "paused": lazy_gettext("paused"), "done": lazy_gettext("done"), "cancelled": lazy_gettext("cancelled"),
}
ACTIONS.update({"campaign_paused": lazy_gettext("Campaign paused"), "campaign_resumed": lazy_gettext("Campaign resumed"),
                "campaign_cancelled": lazy_gettext("Campaign cancelled"),
                "campaign_winner": lazy_gettext("Campaign winner picked")})
TABLES.update(campaign=CAMPAIGN_STATES)


# the audience's and the ledger's codes, shown by contact_label (its "kind" is the ledger's, not a message's)
CONSENT = {
    "none": lazy_gettext("No consent"),
    "pending": lazy_gettext("Asked, awaiting YES"),
    "opted_in": lazy_gettext("Opted in"),
    "opted_out": lazy_gettext("Opted out"),
    "opted_out_all": lazy_gettext("Opted out of everything"),
}
LEDGER_KINDS = {
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

CONTACT_TABLES = {"consent": CONSENT, "kind": LEDGER_KINDS, "source": SOURCES, "flag": FLAGS, "outcome": OUTCOMES,
                  "condition": CONDITIONS, "match": MATCH, "column": COLUMNS, "basis": BASES}


# the import's reasons (audience.contacts_csv), by how each begins: the words in the user's language,
# the import's own sentence beside them for the detail
REASONS = (
    (re.compile(r"^invalid number"), lazy_gettext("The phone number cannot be used.")),
    (re.compile(r"^\d+ more value"), lazy_gettext("The row has more values than the first line has columns.")),
    (re.compile(r"^[^:]*: longer than"), lazy_gettext("A value is too long.")),
    (re.compile(r"^bad language"), lazy_gettext("The language is not a language code.")),
    (re.compile(r"^unknown timezone"), lazy_gettext("The time zone is unknown.")),
    (re.compile(r"^bad date"), lazy_gettext("The birthday is not a date (YYYY-MM-DD).")),
    (re.compile(r"^bad consent"), lazy_gettext("Consent must be yes or no.")),
    (re.compile(r"^consent without proof"), lazy_gettext("Consent without proof: say where and when they agreed.")),
    (re.compile(r"^duplicate of line"), lazy_gettext("The same number as an earlier line: merged into it.")),
    (re.compile(r"^not opted in"), lazy_gettext("Not opted in: the customer opted out, and only they can opt back in.")),
)


def reason_words(reason: str | None) -> str | None:
    """The import's reason in the user's language; None when it is not one of the known kinds."""
    return words_matching(REASONS, reason)


def contact_label(kind: str, code: str | None) -> str:
    return words_for(CONTACT_TABLES, kind, code)


def choices(kind: str) -> list[tuple[str, str]]:
    return [(code, str(words)) for code, words in CONTACT_TABLES[kind].items()]


# the accounts' refusal of a user name, at setup as on the users page
USER_NAME_REFUSAL = (re.compile(r"^a user name"), lazy_gettext("A user name is 1 to 64 characters without spaces."))


def words_matching(rules: Sequence[tuple[re.Pattern[str], Any]], sentence: str | None,
                   otherwise: Any = None) -> str | None:
    """The words of the first rule whose pattern is found in the domain's English sentence (a refusal, an
    import's reason), in the user's language; `otherwise` when none is."""
    for pattern, words in rules:
        if sentence and pattern.search(sentence):
            return str(words)
    return None if otherwise is None else str(otherwise)
