"""The console's navigation: a place for every page the console will have, in one list.

Pages not built yet are shown disabled (never a link to a 404); admin-only pages are left out for staff.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext


@dataclass(frozen=True)
class NavItem:
    key: str
    label: object  # a lazy translation, rendered in the user's language
    endpoint: str | None  # None: not built yet, shown disabled
    admin_only: bool = False


ITEMS = (
    NavItem("dashboard", lazy_gettext("Dashboard"), "console.dashboard"),
    NavItem("send", lazy_gettext("Send"), None),
    NavItem("inbox", lazy_gettext("Inbox"), None),
    NavItem("contacts", lazy_gettext("Contacts"), None),
    NavItem("templates", lazy_gettext("Templates"), None),
    NavItem("campaigns", lazy_gettext("Campaigns"), None),
    NavItem("messages", lazy_gettext("Messages"), None),
    NavItem("modems", lazy_gettext("Modems"), "console.modems"),
    NavItem("settings", lazy_gettext("Settings"), "console.settings", admin_only=True),
    NavItem("audit", lazy_gettext("Audit log"), "console.audit", admin_only=True),
)


def visible(is_admin: bool) -> list[NavItem]:
    return [item for item in ITEMS if is_admin or not item.admin_only]
