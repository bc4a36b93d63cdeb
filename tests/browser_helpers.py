"""What the console's browser tests share: the real daemon they drive, pages signed in once per module
and reused by its tests, the messages' statuses as the queue announces them, and the check every page
gets (axe-core, nothing wider than the screen, screenshots at both widths in test-artifacts/console/).

Pages bypass the Content-Security-Policy unless told otherwise: the escaping itself must stop a
`<script>` or `<img onerror>`, not only the policy. Each records the dialogs it was shown in
`page.dialogs`, so an `alert()` run by hostile text is seen."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from sqlalchemy import select

from gateway.core.clock import Clock, FakeClock
from gateway.inbound.models import InboundMessage
from gateway.users import accounts

from .console_helpers import PASSWORD, WIDTHS, browser  # noqa: F401  (fixture, handed on to the modules)
from .daemon_helpers import build_daemon
from .modem_helpers import wait_until

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "console"
XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"
# no send limits: the FakeClock stands still, so a gap between sends would never pass
UNLIMITED = {"per_minute": 0, "per_hour": 0, "per_day": 0, "per_month": 0, "min_gap_s": 0}


class Statuses:
    """Each message's statuses as the queue's status listeners announce them (after each commit)."""

    def __init__(self) -> None:
        self.seen: dict[int, set[str]] = defaultdict(set)
        self.changed = threading.Condition()

    def __call__(self, message_id: int, status: str) -> None:
        with self.changed:
            self.seen[message_id].add(status)
            self.changed.notify_all()

    def wait(self, message_ids: list[int], status: str, timeout: float = 60) -> None:
        """Until each of the messages was announced in `status` (a notification, not a poll)."""
        with self.changed:
            done = self.changed.wait_for(lambda: all(status in self.seen[i] for i in message_ids), timeout)
        assert done, {i: sorted(self.seen[i]) for i in message_ids}

    def wait_for_count(self, status: str, count: int, timeout: float = 60) -> None:
        """Until `count` messages, whichever they are, were announced in `status`."""
        def reached() -> bool:
            return sum(status in seen for seen in self.seen.values()) >= count

        with self.changed:
            assert self.changed.wait_for(reached, timeout), dict(self.seen)


ONE_MODEM = [{"name": "template", "port": "unused", "limits": UNLIMITED}]


@contextmanager
def console_daemon(folder: Path, clock: Clock, simulate: int = 1, *,
                   users: Iterable[tuple[str, str]] = (("anna", "admin"),), **options: Any) -> Iterator[Any]:
    """The real daemon on `simulate` virtual modems (by default ONE_MODEM's settings), ready, its
    console's root as `daemon.url`, its queue's statuses in `daemon.statuses`, and `users` (name,
    role) with PASSWORD; stopped after."""
    daemon = build_daemon(folder, clock, simulate, **{"modems": ONE_MODEM, **options})
    daemon.start()
    try:
        assert daemon.wait_ready(20), daemon.status_line()
        daemon.url = daemon.api_url().removesuffix("/api/v1")
        daemon.statuses = Statuses()
        daemon.queue.status_listeners.append(daemon.statuses)
        for name, role in users:
            accounts.add(daemon.queue.sessions, clock, name, PASSWORD, role)
        yield daemon
    finally:
        daemon.stop()


def shop_fixture(folder: str, **options: Any):
    """A module's `shop` fixture: console_daemon(**options) on a FakeClock that stands still, in a
    folder of its own, for the module's tests."""
    @pytest.fixture(scope="module")
    def shop(tmp_path_factory):
        with console_daemon(tmp_path_factory.mktemp(folder), FakeClock(), **options) as daemon:
            yield daemon

    return shop


def a_customer_texts(shop: Any, sender: str, text: str) -> InboundMessage:
    """`sender` texts the first virtual modem through its network; returns once the pipeline has filed
    the text in its conversation (what the inbox and the dashboard read)."""
    next(iter(shop.simulator.ports.values())).modem.inject_sms(sender, text)

    def filed() -> InboundMessage | None:
        with shop.queue.sessions() as session:
            return session.scalar(select(InboundMessage).where(
                InboundMessage.sender == sender, InboundMessage.text == text,
                InboundMessage.conversation_id.is_not(None)))

    return wait_until(filed, 20, f"the text from {sender} filed in its conversation")


def new_page(browser, language: str = "en", *, bypass_csp: bool = True, fake_time: bool = False, **options: Any):
    """A page in a browser context of its own (its own cookies) in `language`, at the desktop width.
    `fake_time`: the page's timers run on time the test moves (`page.clock`), e.g. htmx's polling."""
    context = browser.new_context(locale=language, extra_http_headers={"Accept-Language": language},
                                  bypass_csp=bypass_csp, viewport={"width": WIDTHS["desktop"], "height": 900},
                                  **options)
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    if fake_time:
        page.clock.install()
    return page


def sign_in(page, url: str, name: str = "anna", password: str = PASSWORD) -> None:
    """The sign-in form filled and sent; returns once the answer's page has loaded."""
    page.goto(f"{url}/login")
    page.fill("#name", name)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("button[type=submit].primary")


class SignedInPages:
    """pages(language="en", user="anna", bypass_csp=None) -> a page signed in as `user`, made once per
    kind and reused by every test of the module; `bypass_csp` None is the module's default."""

    def __init__(self, browser, url: str, *, bypass_csp: bool = True, **options: Any) -> None:
        self.browser, self.url, self.bypass_csp, self.options = browser, url, bypass_csp, options
        self.made: dict[tuple[str, str, bool], Any] = {}

    def __call__(self, language: str = "en", *, user: str = "anna", bypass_csp: bool | None = None):
        key = (user, language, self.bypass_csp if bypass_csp is None else bypass_csp)
        if key not in self.made:
            page = new_page(self.browser, language, bypass_csp=key[2], **self.options)
            sign_in(page, self.url, user)
            assert "/login" not in page.url, (user, page.url)
            self.made[key] = page
        return self.made[key]

    def close(self) -> None:
        for page in self.made.values():
            page.context.close()


@contextmanager
def signed_in_pages(browser, url: str, **options: Any) -> Iterator[SignedInPages]:
    pages = SignedInPages(browser, url, **options)
    try:
        yield pages
    finally:
        pages.close()


def assert_signed_out_are_sent_to_login(browser, url: str, paths: Iterable[str]) -> None:
    """Each of `paths` opened without a session lands on the sign-in page."""
    page = new_page(browser)
    try:
        for path in paths:
            page.goto(f"{url}{path}")
            assert page.url.startswith(f"{url}/login"), path
    finally:
        page.context.close()


def assert_xss_shown_as_text(page, where: str = "main") -> None:
    """The page, loaded, shows XSS as text in `where`: no script or image made of it, no dialog
    (an onerror would have fired by the load event: every image loaded or failed by then)."""
    page.wait_for_load_state("load")
    assert page.dialogs == []
    assert page.locator("main script").count() == 0 and page.locator("main img").count() == 0
    assert XSS in page.inner_text(where)


def pages_fixture(**options: Any):
    """A module's `pages` fixture: its SignedInPages (`options` as SignedInPages takes them), made
    for the module's `shop` and closed after its last test."""
    @pytest.fixture(scope="module")
    def pages(browser, shop):
        with signed_in_pages(browser, shop.url, **options) as made:
            yield made

    return pages


@pytest.fixture(scope="module")
def english(pages):
    """The module's page signed in as the admin in English."""
    return pages("en")


@pytest.fixture(scope="module")
def arabic(pages):
    """The module's page signed in as the admin in Arabic (right to left)."""
    return pages("ar")


def check(page, name: str) -> None:
    """axe-core on the page (no serious or critical violation), nothing wider than the screen, and its
    screenshots at both widths."""
    from axe_playwright_python.sync_playwright import Axe

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        violations = [v for v in Axe().run(page).response["violations"] if v["impact"] in ("serious", "critical")]
        assert violations == [], (name, label, [(v["id"], v["help"], [n["target"] for n in v["nodes"]]) for v in violations])
        assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, label, "sticks out")
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": WIDTHS["desktop"], "height": 900})
