"""The console's test helpers: a signed-in Flask test client, CSRF tokens read off the page, users
made through the domain, and (for the browser tests) Chromium driven by Playwright."""

from __future__ import annotations

import re
from typing import Any

import pytest

from gateway.users import accounts
from gateway.users import setup as setup_codes

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
CUSTOMER = "+447700900123"
OTHER = "+447700900456"
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'  # SMS or template text a page must escape


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def post_form(client: Any, path: str, data: dict[str, str], *, page: str | None = None, **kwargs: Any) -> Any:
    """POST `data` to `path` with the CSRF token of the form on `page` (default: `path` itself)."""
    token = csrf_of(client.get(page or path).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data}, **kwargs)


def add_user(context: Any, name: str, role: str = "staff", password: str = PASSWORD) -> accounts.Account:
    return accounts.add(context.sessions, context.clock, name, password, role)


def sign_in(client: Any, name: str, password: str = PASSWORD, **kwargs: Any) -> Any:
    return post_form(client, "/login", {"name": name, "password": password}, **kwargs)


def issue_code(context: Any) -> str:
    code = setup_codes.issue(context.sessions, context.clock)
    assert code
    return code


@pytest.fixture
def rig(web_context, clock):
    """The web context's own inbound pipeline, started (its keywords seeded), fed parts by hand."""
    from .audience_helpers import Rig

    web_context.inbound.start()
    yield Rig(web_context.queue, clock, web_context.audience, web_context.inbound)
    web_context.inbound.stop()


@pytest.fixture
def admin(web_context) -> accounts.Account:
    return add_user(web_context, "anna", "admin")


@pytest.fixture
def staff(web_context) -> accounts.Account:
    return add_user(web_context, "sam", "staff")


@pytest.fixture
def admin_client(client, admin):
    assert sign_in(client, "anna").status_code == 302
    return client


@pytest.fixture
def staff_client(client, staff):
    assert sign_in(client, "sam").status_code == 302
    return client


# ---- the browser ------------------------------------------------------------------------------------
CHROMIUM = "/usr/bin/chromium"  # Debian's package (.ci/run installs it); Playwright's own download is not used
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
WIDTHS = {"phone": 390, "desktop": 1280}


_RUNNING: dict[str, Any] = {"users": 0}  # the one Playwright and Chromium of this run, and how many hold it


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole run. A missing browser fails the tests: never a skip.
    Each test module that imports this fixture gets its own session-scoped copy of it, and a second
    Playwright cannot start while one runs in this thread, so the copies share one and the last
    to finish closes it."""
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)")
    if not _RUNNING["users"]:
        playwright = sync_playwright().start()
        _RUNNING.update(playwright=playwright, browser=playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS))
    _RUNNING["users"] += 1
    try:
        yield _RUNNING["browser"]
    finally:
        _RUNNING["users"] -= 1
        if not _RUNNING["users"]:
            _RUNNING.pop("browser").close()
            _RUNNING.pop("playwright").stop()
