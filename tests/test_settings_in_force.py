"""The sending rules in force (the config file's with the console's overrides, `settings.Effective`)
are the ones every reader uses: a campaign's dry run (its ETA over the SIMs' limits, its frequency
cap and quiet hours), the console's estimate before saving, the opt-in's rules and the console's quick
send. Each test changes a rule the way the console does (`settings.store.change`) and checks the
reader follows, against the real daemon on a virtual modem, time from the FakeClock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from gateway.campaigns import timing
from gateway.campaigns.models import Campaign
from gateway.campaigns.service import VariantIn
from gateway.daemon import Daemon
from gateway.settings import store

from .campaign_helpers import add_contacts
from .console_helpers import add_user, post_form, sign_in
from .modem_helpers import wait_until
from .rule_free_daemon import rule_free_daemon  # noqa: F401  (fixture)

CUSTOMERS = ["+447700900201", "+447700900202", "+447700900203"]


class Shop:
    """The daemon on one virtual modem whose SIM has its own (no) limits in [[sims]], no quiet hours
    and no frequency cap in the file; three opted-in contacts in the group "vip"."""

    def __init__(self, started: tuple[Daemon, str], clock) -> None:
        self.clock = clock
        self.daemon, iccid = started
        self.sim = f"iccid:{iccid}"
        add_contacts(self.daemon.db, [{"number": n} for n in CUSTOMERS], clock.now(), group="vip")
        self.campaign = self.daemon.campaigns.create("sale", [VariantIn("Sale today")], {"groups": ["vip"]})

    def change(self, **values) -> None:
        """As the console saves them: keys with dots as __."""
        store.change(self.daemon.queue.sessions, self.clock, self.daemon.config,
                     {k.replace("__", "."): v for k, v in values.items()}, actor="anna")

    def dry_run(self):
        with Session(self.daemon.db) as session:
            dry = self.daemon.campaigns.dry_run(session.connection(), session.get(Campaign, self.campaign))
            page, _ = dry.page(after=0, limit=10)
            return page, dry.totals()


@pytest.fixture
def shop(rule_free_daemon, clock):
    return Shop(rule_free_daemon, clock)


@pytest.mark.timeout(120)
def test_a_sims_limit_changed_in_the_console_is_the_one_the_campaigns_eta_spreads_parts_over(shop):
    assert shop.dry_run()[1]["eta_seconds"] == 0.0  # no limits in the file: all at once
    shop.change(**{f"sims.{shop.sim}.per_minute".replace(".", "__"): 1})
    _, totals = shop.dry_run()
    assert totals["parts"] == 3 and totals["eta_seconds"] == 120.0  # one a minute: the third two minutes on
    # the estimate before a campaign is saved reads the same SIMs
    limits = {s.name: s.limits for s in shop.daemon.campaigns.sims()}
    assert timing.estimated_eta(3, limits) == 120.0


@pytest.mark.timeout(120)
def test_the_frequency_cap_and_quiet_hours_set_in_the_console_are_the_dry_runs_and_the_opt_ins(shop, clock):
    queue = shop.daemon.queue
    texted = queue.enqueue(CUSTOMERS[0], "Last week's sale", kind="marketing", source="campaign").id
    wait_until(lambda: queue.get(texted).status in ("sent", "delivered"), 10, "the first marketing text sent")
    assert [p.skip for p in shop.dry_run()[0]] == [None, None, None]  # the file has no cap

    shop.change(consent__frequency_cap=1, consent__frequency_days=7)
    page, totals = shop.dry_run()
    assert page[0].skip is not None and page[0].skip.startswith("frequency cap")
    assert [p.skip for p in page[1:]] == [None, None] and totals["to_send"] == 2

    now = clock.now()
    ends = (now + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    shop.change(consent__quiet_hours_start=f"{(now - timedelta(hours=1)).hour:02d}:00",
                consent__quiet_hours_end=f"{ends.hour:02d}:00")
    page, _ = shop.dry_run()
    assert page[1].skip is None and page[1].send_at == ends  # the console's quiet hours end then
    rules = shop.daemon.audience.rules  # the opt-in's "Reply YES" is judged by the same rules
    assert (rules.frequency_cap, rules.quiet_end) == (1, ends.time())


@pytest.mark.timeout(120)
def test_the_consoles_quick_send_says_marketing_waits_for_the_quiet_hours_set_in_the_console(shop, clock):
    from web import create_app
    from web.context import WebContext

    d = shop.daemon
    context = WebContext(queue=d.queue, sessions=d.queue.sessions, clock=clock, config=d.config,
                         webhooks=d.webhooks, audience=d.audience, inbound=d.inbound)
    console = create_app(context, {"TESTING": True}).test_client()
    add_user(context, "sam", "staff")
    assert sign_in(console, "sam").status_code == 302
    now = clock.now()
    ends = (now + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    shop.change(consent__quiet_hours_start=f"{(now - timedelta(hours=1)).hour:02d}:00",
                consent__quiet_hours_end=f"{ends.hour:02d}:00")
    answer = post_form(console, "/send", {"to": CUSTOMERS[1], "text": "20% off", "kind": "marketing",
                                          "template": "", "send": "Send"})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    assert "so it goes out at" in console.get(answer.headers["Location"]).get_data(as_text=True)


@pytest.mark.timeout(120)
def test_the_modems_status_shows_a_sims_limit_changed_in_the_console_before_its_worker_sends_again(shop):
    from gateway.sims import status

    d = shop.daemon
    pairs = [(s, d.engine.workers.get(s.name)) for s in d.supervisors]
    wait_until(lambda: d.engine.workers["till"].windows.sim == shop.sim, 10, "the worker knows the SIM it holds")
    assert status.describe(pairs)[0]["limits"] == {}  # no caps in the file
    shop.change(**{f"sims.{shop.sim}.per_minute".replace(".", "__"): 5})
    # the worker is idle (nothing queued, the FakeClock still): the status reads the limits in force
    assert status.describe(pairs)[0]["limits"] == {"minute": {"used": 0, "left": 5, "cap": 5}}
