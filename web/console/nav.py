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
    NavItem("send", lazy_gettext("Send"), "console.send"),
    NavItem("inbox", lazy_gettext("Inbox"), "console.inbox"),
    NavItem("contacts", lazy_gettext("Contacts"), "console.contacts"),
    NavItem("templates", lazy_gettext("Templates"), "console.templates"),
    NavItem("campaigns", lazy_gettext("Campaigns"), "console.campaigns"),
    NavItem("messages", lazy_gettext("Messages"), "console.messages"),
    NavItem("modems", lazy_gettext("Modems"), "console.modems"),
    NavItem("settings", lazy_gettext("Settings"), "console.settings", admin_only=True),
    NavItem("audit", lazy_gettext("Audit log"), "console.audit", admin_only=True),
)


# pages whose path's first segment names no entry of their own, and the entry they belong to
SECTION_OF = {"groups": "contacts", "segments": "contacts"}


def current(path: str) -> str | None:
    """The entry a page belongs to, by its path's first segment: /contacts/5/edit is under Contacts,
    /groups/2 too; / is the dashboard. None for a page outside the navigation (login, setup)."""
    first = path.strip("/").split("/", 1)[0]
    key = SECTION_OF.get(first, first) if first else "dashboard"
    return key if any(item.key == key for item in ITEMS) else None


def visible(is_admin: bool) -> list[NavItem]:
    return [item for item in ITEMS if is_admin or not item.admin_only]


# the phone's bottom bar: the four daily actions within a thumb's reach; the rest go under "More"
PHONE_BAR = ("dashboard", "inbox", "send", "contacts")


def phone_bar(items: list[NavItem]) -> list[NavItem]:
    by_key = {item.key: item for item in items}
    return [by_key[key] for key in PHONE_BAR if key in by_key]


def phone_more(items: list[NavItem]) -> list[NavItem]:
    return [item for item in items if item.key not in PHONE_BAR]
