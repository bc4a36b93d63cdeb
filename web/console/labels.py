"""Words for the values the domain keeps as codes (modem states, registration, audit actions,
limit windows; the audience's and the ledger's: consent states, ledger kinds and sources, number flags,
import outcomes, segment conditions) and for the domain's refusals, in the user's language. An unknown
code is shown as it is."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from flask_babel import lazy_gettext

# the codes by (kind, code), one table: each kind's codes in the order choices offers them
WORDS = {
    # the modems' states, registration and SIM, the limit windows, the queue
    ("state", "connecting"): lazy_gettext("Connecting"),
    ("state", "initialising"): lazy_gettext("Starting"),
    ("state", "ready"): lazy_gettext("Ready"),
    ("state", "no_network"): lazy_gettext("No network"),
    ("state", "sim_error"): lazy_gettext("SIM problem"),
    ("state", "out_of_rotation"): lazy_gettext("Resting"),
    ("state", "disconnected"): lazy_gettext("Disconnected"),
    ("state", "hung"): lazy_gettext("Not answering"),
    ("state", "stopped"): lazy_gettext("Stopped"),
    ("registration", "home"): lazy_gettext("Home network"),
    ("registration", "roaming"): lazy_gettext("Roaming"),
    ("registration", "searching"): lazy_gettext("Searching"),
    ("registration", "denied"): lazy_gettext("Refused by the network"),
    ("registration", "not registered"): lazy_gettext("Not registered"),
    ("registration", "unknown"): lazy_gettext("Unknown"),
    ("registration", "emergency only"): lazy_gettext("Emergency calls only"),
    ("sim", "ok"): lazy_gettext("SIM ready"),
    ("sim", "error"): lazy_gettext("SIM problem"),
    ("sim", "unknown"): lazy_gettext("SIM not read yet"),
    ("window", "minute"): lazy_gettext("Last minute"),
    ("window", "hour"): lazy_gettext("Last hour"),
    ("window", "day"): lazy_gettext("Last 24 hours"),
    ("window", "month"): lazy_gettext("Last 30 days"),
    ("queue", "queued"): lazy_gettext("Waiting"),
    ("queue", "sending"): lazy_gettext("Sending"),
    ("queue", "sent"): lazy_gettext("Sent, awaiting report"),
    # the audit log's actions, the webhooks' deliveries, the keywords' actions
    ("action", "login"): lazy_gettext("Signed in"),
    ("action", "login_failed"): lazy_gettext("Failed sign-in"),
    ("action", "logout"): lazy_gettext("Signed out"),
    ("action", "setup"): lazy_gettext("First-run setup"),
    ("action", "user_added"): lazy_gettext("User added"),
    ("action", "password_changed"): lazy_gettext("Password changed"),
    ("action", "language_changed"): lazy_gettext("Language changed"),
    # page: contacts
    ("action", "contact_added"): lazy_gettext("Contact added"),
    ("action", "contact_changed"): lazy_gettext("Contact changed"),
    ("action", "contact_erased"): lazy_gettext("Contact erased"),
    ("action", "opted_in"): lazy_gettext("Opted a contact in"),
    ("action", "opt_in_requested"): lazy_gettext("Asked a contact to confirm"),
    ("action", "opted_out"): lazy_gettext("Opted a contact out"),
    ("action", "contacts_imported"): lazy_gettext("Contacts imported"),
    ("action", "contacts_exported"): lazy_gettext("Contacts exported"),
    ("action", "group_added"): lazy_gettext("Group added"),
    ("action", "group_changed"): lazy_gettext("Group renamed"),
    ("action", "group_deleted"): lazy_gettext("Group deleted"),
    ("action", "segment_added"): lazy_gettext("Segment added"),
    ("action", "segment_changed"): lazy_gettext("Segment changed"),
    ("action", "segment_deleted"): lazy_gettext("Segment deleted"),
    # page: inbox, templates
    ("action", "reply_sent"): lazy_gettext("Reply sent"),
    ("action", "template_created"): lazy_gettext("Template created"),
    ("action", "template_changed"): lazy_gettext("Template changed"),
    ("action", "template_deleted"): lazy_gettext("Template deleted"),
    # page: modems, settings
    ("action", "test_sms"): lazy_gettext("Test SMS queued"),
    ("action", "ussd"): lazy_gettext("USSD code run"),
    ("action", "modem_restart"): lazy_gettext("Modem restarted"),
    ("action", "key_created"): lazy_gettext("API key created"),
    ("action", "key_revoked"): lazy_gettext("API key revoked"),
    ("action", "webhook_added"): lazy_gettext("Webhook added"),
    ("action", "webhook_tested"): lazy_gettext("Webhook test sent"),
    ("action", "webhook_replayed"): lazy_gettext("Webhook delivery sent again"),
    ("action", "webhook_deactivated"): lazy_gettext("Webhook deactivated"),
    ("action", "webhook_activated"): lazy_gettext("Webhook activated"),
    ("action", "webhook_secret_rotated"): lazy_gettext("Webhook secret renewed"),
    ("action", "user_disabled"): lazy_gettext("User disabled"),
    ("action", "user_enabled"): lazy_gettext("User enabled"),
    ("action", "keyword_added"): lazy_gettext("Keyword added"),
    ("action", "keyword_changed"): lazy_gettext("Keyword changed"),
    ("action", "keyword_deleted"): lazy_gettext("Keyword deleted"),
    ("action", "opt_out_request_dismissed"): lazy_gettext("Read a request to stop as no opt-out"),
    # page: messages
    ("action", "message_sent"): lazy_gettext("Message sent"),
    ("action", "message_cancelled"): lazy_gettext("Message cancelled"),
    # page: campaigns
    ("action", "campaign_created"): lazy_gettext("Campaign created"),
    ("action", "campaign_started"): lazy_gettext("Campaign started"),
    ("action", "campaign_paused"): lazy_gettext("Campaign paused"),
    ("action", "campaign_resumed"): lazy_gettext("Campaign resumed"),
    ("action", "campaign_cancelled"): lazy_gettext("Campaign cancelled"),
    ("action", "campaign_winner"): lazy_gettext("Campaign winner picked"),
    ("delivery", "pending"): lazy_gettext("waiting"),
    ("delivery", "delivered"): lazy_gettext("delivered"),
    ("delivery", "failed"): lazy_gettext("failed"),
    ("delivery", "cancelled"): lazy_gettext("cancelled"),
    ("keyword_action", "opt_out"): lazy_gettext("opted out of marketing"),
    ("keyword_action", "opt_out_all"): lazy_gettext("opted out of all messages"),
    ("keyword_action", "opt_in"): lazy_gettext("opted in"),
    ("keyword_action", "confirm_opt_in"): lazy_gettext("confirmed the opt-in"),
    ("keyword_action", "help"): lazy_gettext("asked for help"),
    ("keyword_action", "join"): lazy_gettext("joined a group"),
    ("keyword_action", "reply"): lazy_gettext("auto-reply sent"),
    # messages and their parts, campaigns
    ("message", "queued"): lazy_gettext("Queued"),
    ("message", "sending"): lazy_gettext("Sending"),
    ("message", "sent"): lazy_gettext("Sent"),
    ("message", "delivered"): lazy_gettext("Delivered"),
    ("message", "failed"): lazy_gettext("Failed"),
    ("message", "expired"): lazy_gettext("Expired"),
    ("message", "cancelled"): lazy_gettext("Cancelled"),
    ("message", "unknown"): lazy_gettext("Unknown: may or may not have gone"),
    ("message", "suppressed"): lazy_gettext("Not sent (consent rules)"),
    ("part", "pending"): lazy_gettext("Waiting"),
    ("part", "submitting"): lazy_gettext("Handed to the modem"),
    ("part", "sent"): lazy_gettext("Sent"),
    ("part", "delivered"): lazy_gettext("Delivered"),
    ("part", "failed"): lazy_gettext("Failed"),
    ("part", "unknown"): lazy_gettext("Unknown: may or may not have gone"),
    ("encoding", "gsm7"): lazy_gettext("GSM-7"),
    ("encoding", "ucs2"): lazy_gettext("Unicode (UCS-2)"),
    ("kind", "transactional"): lazy_gettext("Transactional"),
    ("kind", "marketing"): lazy_gettext("Marketing"),
    ("campaign", "draft"): lazy_gettext("draft"),
    ("campaign", "scheduled"): lazy_gettext("scheduled"),
    ("campaign", "running"): lazy_gettext("running"),
    ("campaign", "paused"): lazy_gettext("paused"),
    ("campaign", "done"): lazy_gettext("done"),
    ("campaign", "cancelled"): lazy_gettext("cancelled"),
    # the audience's and the ledger's, shown by contact_label
    ("consent", "none"): lazy_gettext("No consent"),
    ("consent", "pending"): lazy_gettext("Asked, awaiting YES"),
    ("consent", "opted_in"): lazy_gettext("Opted in"),
    ("consent", "opted_out"): lazy_gettext("Opted out"),
    ("consent", "opted_out_all"): lazy_gettext("Opted out of everything"),
    ("ledger_kind", "opt_in"): lazy_gettext("Opted in"),
    ("ledger_kind", "opt_out"): lazy_gettext("Opted out"),
    ("ledger_kind", "opt_in_requested"): lazy_gettext("Asked to confirm"),
    ("source", "keyword"): lazy_gettext("By SMS, from the customer"),
    ("source", "keyword_in_text"): lazy_gettext("By SMS, from the customer, in a sentence"),
    ("source", "web_form"): lazy_gettext("Web form"),
    ("source", "import"): lazy_gettext("Import"),
    ("source", "api"): lazy_gettext("API"),
    ("source", "staff"): lazy_gettext("Console, by staff"),
    ("flag", "invalid"): lazy_gettext("Invalid number"),
    ("flag", "unreachable"): lazy_gettext("Unreachable"),
    ("outcome", "created"): lazy_gettext("Imported"),
    ("outcome", "updated"): lazy_gettext("Updated"),
    ("outcome", "unchanged"): lazy_gettext("Unchanged"),
    ("outcome", "merged"): lazy_gettext("Merged into an earlier line"),
    ("outcome", "rejected"): lazy_gettext("Rejected"),
    ("condition", ""): lazy_gettext("(none)"),
    ("condition", "tag"): lazy_gettext("Has the tag"),
    ("condition", "group"): lazy_gettext("Is in the group"),
    ("condition", "language"): lazy_gettext("Speaks the language"),
    ("condition", "field"): lazy_gettext("Custom field equals (empty: is set)"),
    ("condition", "replied_within_days"): lazy_gettext("Replied within days"),
    ("condition", "clicked_within_days"): lazy_gettext("Clicked a link within days"),
    ("condition", "never_delivered"): lazy_gettext("Never had a message delivered"),
    ("match", "all"): lazy_gettext("all of the conditions"),
    ("match", "any"): lazy_gettext("any of the conditions"),
    ("column", "number"): lazy_gettext("Phone number"),
    ("column", "name"): lazy_gettext("Name"),
    ("column", "language"): lazy_gettext("Language"),
    ("column", "timezone"): lazy_gettext("Time zone"),
    ("column", "birthday"): lazy_gettext("Birthday (YYYY-MM-DD)"),
    ("column", "tags"): lazy_gettext("Tags"),
    ("column", "groups"): lazy_gettext("Groups"),
    ("column", "consent"): lazy_gettext("Consent (yes/no)"),
    ("column", "consent_proof"): lazy_gettext("Proof of consent"),
    ("column", "field"): lazy_gettext("A custom field of this name"),
    ("column", "skip"): lazy_gettext("Leave out"),
    ("basis", "none"): lazy_gettext("No consent: add them as contacts only"),
    ("basis", "file"): lazy_gettext("As the file says (its consent and consent_proof columns)"),
    ("basis", "all"): lazy_gettext("Everyone in the file agreed (say where and when below)"),
}


def by_kind(words: dict[tuple[str, str], Any]) -> dict[str, dict[str, Any]]:
    """A table of words by (kind, code) as one table of code -> words for each kind, in its order."""
    tables: dict[str, dict[str, Any]] = {}
    for (kind, code), said in words.items():
        tables.setdefault(kind, {})[code] = said
    return tables


TABLES = by_kind(WORDS)


def label(kind: str, code: str | None) -> str:
    """The words for one code of a kind: a dash for no value, an unknown code as it is."""
    if code is None:
        return "—"
    return str(TABLES[kind].get(code, code))


SOURCES = TABLES["source"]


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
    """The contact pages' words: as label's, but their "kind" is the consent ledger's, not a message's."""
    return label("ledger_kind" if kind == "kind" else kind, code)


def choices(kind: str) -> list[tuple[str, str]]:
    return [(code, str(words)) for code, words in TABLES[kind].items()]


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
