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
}

TABLES = {"state": STATES, "registration": REGISTRATIONS, "sim": SIMS, "window": WINDOWS, "queue": QUEUE,
          "action": ACTIONS}


def label(kind: str, code: str | None) -> str:
    if code is None:
        return "—"
    return str(TABLES[kind].get(code, code))
