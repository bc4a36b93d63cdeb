"""Words for the values the domain keeps as codes (modem states, registration, audit actions,
limit windows), in the user's language. An unknown code is shown as it is."""

from __future__ import annotations

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
