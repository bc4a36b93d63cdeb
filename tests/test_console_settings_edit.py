"""/settings/limits edits the sending rules (limits per SIM, quiet hours, frequency cap): through
Flask's test client on a real database, then against the real daemon on a virtual modem with time
from the FakeClock: a change saved in the console reaches the running workers at their next claim."""

from __future__ import annotations

import re

import pytest

from gateway.core.config import Config
from gateway.core.config_sections import ConsentSection, SimSection
from gateway.daemon import Daemon
from gateway.outbound.limits import Limits
from gateway.settings import store
from gateway.users import audit
from web import create_app
from web.context import WebContext

from .console_helpers import (  # noqa: F401  (fixtures)
    PASSWORD, add_user, admin, admin_client, csrf_of, post_form, sign_in, staff, staff_client,
)
from .modem_helpers import wait_until
from .rule_free_daemon import rule_free_daemon  # noqa: F401  (fixture)

ICCID = "8944000000000000001"
SIM = f"iccid:{ICCID}"
SHOP = Config(consent=ConsentSection(quiet_hours_start="21:00", quiet_hours_end="08:00"),
              sims=[SimSection(iccid=ICCID, limits=Limits(per_minute=10, per_hour=100, per_day=500, per_month=5000))])
XSS = '<script>alert("x")</script>'


def form_of(config: Config, **changes: str) -> dict[str, str]:
    """Every field of the page as the file has it, with `changes` (keys with dots as __)."""
    from gateway.settings.keys import defaults

    values = {k: (f"{v:g}" if isinstance(v, float) else str(v)) for k, v in defaults(config).items()}
    values.update({k.replace("__", "."): v for k, v in changes.items()})
    return values


@pytest.fixture
def shop(web_context):
    web_context.config = SHOP
    return web_context


def test_an_admin_changes_a_limit_sees_who_and_resets_it(admin_client, shop, clock):
    page = admin_client.get("/settings/limits").get_data(as_text=True)
    assert f'name="sims.{SIM}.per_minute" value="10"' in page and 'inputmode="numeric"' in page
    answer = post_form(admin_client, "/settings/limits",
                       form_of(SHOP, **{f"sims.{SIM}.per_minute".replace(".", "__"): "3"}))
    assert answer.status_code == 302
    assert store.overrides(shop.sessions)[f"sims.{SIM}.per_minute"].value == 3
    entry = audit.recent(shop.sessions)[0]
    assert (entry.actor, entry.action, entry.detail) == ("anna", store.SETTING_CHANGED, f"sims.{SIM}.per_minute = 3")
    page = admin_client.get("/settings/limits").get_data(as_text=True)
    assert f'name="sims.{SIM}.per_minute" value="3"' in page
    assert "Changed in the console by anna" in page and "Reset to the file's value (10)" in page
    answer = post_form(admin_client, "/settings/limits/reset", {"key": f"sims.{SIM}.per_minute"},
                       page="/settings/limits")
    assert answer.status_code == 302 and store.overrides(shop.sessions) == {}
    assert audit.recent(shop.sessions)[0].action == store.SETTING_RESET
    assert f'name="sims.{SIM}.per_minute" value="10"' in admin_client.get("/settings/limits").get_data(as_text=True)


def test_bad_values_get_per_field_errors_keep_what_was_typed_and_store_nothing(admin_client, shop):
    answer = post_form(admin_client, "/settings/limits", form_of(
        SHOP, consent__quiet_hours_start="9pm", consent__frequency_cap=XSS,
        **{f"sims.{SIM}.per_hour".replace(".", "__"): "5"}))
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400 and store.overrides(shop.sessions) == {}
    assert "Nothing was saved" in page and "Enter a time as HH:MM" in page
    assert "Must be at least the limit of the shorter window (10)." in page
    assert "Enter a whole number" in page
    assert XSS not in page and "&lt;script&gt;" in page  # what was typed comes back escaped
    assert re.search(r'name="consent.quiet_hours_start" value="9pm"[^>]*aria-invalid="true"', page, re.S)


def test_the_errors_and_page_are_translated(admin_client, shop):
    answer = post_form(admin_client, "/settings/limits", form_of(SHOP, consent__frequency_days="x"),
                       headers={"Accept-Language": "ar"})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400 and "أدخل عدد أيام من 0 إلى 366." in page and "حفظ قواعد الإرسال" in page


def test_staff_get_403_and_change_nothing(staff_client, shop):
    assert staff_client.get("/settings/limits").status_code == 403
    # with a valid token (from a page staff may see) the role is what refuses
    assert post_form(staff_client, "/settings/limits", form_of(SHOP, consent__frequency_cap="1"),
                     page="/").status_code == 403
    assert post_form(staff_client, "/settings/limits/reset", {"key": "consent.frequency_cap"},
                     page="/").status_code == 403
    assert store.overrides(shop.sessions) == {}


def test_a_post_without_its_csrf_token_is_refused(admin_client, shop):
    answer = admin_client.post("/settings/limits", data=form_of(SHOP, consent__frequency_cap="1"))
    assert answer.status_code == 400 and store.overrides(shop.sessions) == {}


def test_the_page_needs_a_login(client, shop):
    answer = client.get("/settings/limits")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]


# ---- the running daemon ----------------------------------------------------------------------------
CUSTOMER = "+447700900123"


class Shop:
    """The daemon on one virtual modem whose SIM has its own (no) limits in [[sims]], and a console
    (test client) on the same database."""

    def __init__(self, started: tuple[Daemon, str], clock) -> None:
        self.clock = clock
        self.daemon, self.iccid = started
        self.queue = self.daemon.queue
        d = self.daemon
        context = WebContext(queue=d.queue, sessions=d.queue.sessions, clock=clock, config=d.config,
                             webhooks=d.webhooks, audience=d.audience, inbound=d.inbound)
        self.console = create_app(context, {"TESTING": True}).test_client()
        add_user(context, "anna", "admin")
        assert sign_in(self.console, "anna").status_code == 302

    def save(self, **changes: str) -> None:
        answer = post_form(self.console, "/settings/limits", form_of(self.daemon.config, **changes))
        assert answer.status_code == 302, answer.get_data(as_text=True)

    def status(self, message_id: int) -> str:
        return self.queue.get(message_id).status

    def wait_sent(self, message_id: int) -> None:
        wait_until(lambda: self.status(message_id) in ("sent", "delivered"), 10,
                   f"message {message_id} sent (is {self.status(message_id)})")

    def wait_idle_until(self, moment: float, *, since: float) -> None:
        """The worker began, at `since` or later, a wait that ends at `moment` or later."""
        def idle() -> bool:
            waiting = self.clock.waiting("till-worker")
            return waiting is not None and waiting[0] >= since and waiting[1] >= moment - 1e-6

        wait_until(idle, 10, f"till-worker idle until {moment} (waits {self.clock.waiting('till-worker')})")


@pytest.fixture
def live(rule_free_daemon, clock):
    return Shop(rule_free_daemon, clock)


@pytest.mark.timeout(120)
def test_lowering_a_sims_per_minute_limit_in_the_console_defers_the_running_daemons_next_send(live, clock):
    start = clock.time()
    for i in range(2):
        live.wait_sent(live.queue.enqueue(CUSTOMER, f"text {i}").id)
    live.save(**{f"sims.iccid:{live.iccid}.per_minute".replace(".", "__"): "2"})
    held = live.queue.enqueue(CUSTOMER, "third").id
    live.wait_idle_until(start + 60, since=start)  # the two sends fill the SIM's minute now
    assert live.status(held) == "queued"
    clock.advance(61)
    live.daemon.engine.wake_all()
    live.wait_sent(held)


@pytest.mark.timeout(120)
def test_quiet_hours_set_in_the_console_defer_marketing_not_transactional(live, clock):
    live.daemon.audience.opt_in(CUSTOMER, source="api")
    now = clock.now()  # 08:00 UTC, the gateway's zone: the contact's is unknown
    live.save(consent__quiet_hours_start=f"{now.hour - 1:02d}:00", consent__quiet_hours_end=f"{now.hour + 1:02d}:00")
    marketing = live.queue.enqueue(CUSTOMER, "Sale!", kind="marketing", source="campaign").id
    transactional = live.queue.enqueue(CUSTOMER, "Your code is 1234").id
    live.wait_sent(transactional)
    opens = now.replace(hour=now.hour + 1, minute=0, second=0, microsecond=0)

    def deferred() -> bool:
        message = live.queue.get(marketing)
        return message.status == "queued" and message.not_before >= opens

    wait_until(deferred, 10, "the marketing message deferred until the quiet hours end")
    assert live.status(transactional) in ("sent", "delivered")
