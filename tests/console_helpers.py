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


_CHROMIUM: dict = {}  # the one Playwright and Chromium of this test process, and how many fixtures hold it


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole run. A missing browser fails the tests: never a skip.

    Each test module imports this fixture, which makes one fixture per module; Playwright's sync API
    runs one instance per thread, so they share the one started first and the last to end closes it."""
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)")
    if not _CHROMIUM:
        playwright = sync_playwright().start()
        _CHROMIUM.update(playwright=playwright, users=0, browser=playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS))
    _CHROMIUM["users"] += 1
    try:
        yield _CHROMIUM["browser"]
    finally:
        _CHROMIUM["users"] -= 1
        if not _CHROMIUM["users"]:
            _CHROMIUM["browser"].close()
            _CHROMIUM["playwright"].stop()
            _CHROMIUM.clear()
