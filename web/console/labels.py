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
}
DELIVERIES = {
    "pending": lazy_gettext("waiting"),
    "delivered": lazy_gettext("delivered"),
    "failed": lazy_gettext("failed"),
    "cancelled": lazy_gettext("cancelled"),
}

TABLES = {"state": STATES, "registration": REGISTRATIONS, "sim": SIMS, "window": WINDOWS, "queue": QUEUE,
          "action": ACTIONS, "delivery": DELIVERIES}


def label(kind: str, code: str | None) -> str:
    if code is None:
        return "—"
    return str(TABLES[kind].get(code, code))
