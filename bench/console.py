"""The web console at scale: each page's time and weight with a year of a busy shop's data stored.

The store is bench/scale.py's (`--messages` messages with their parts and events, default 1,000,000;
`--contacts` contacts, default 100,000), plus `--replies` customer replies (default 200) through the
real inbound pipeline, so the inbox has conversations. An admin is made with the domain's user
functions and signs in through the login form (CSRF included) with Flask's test client on the app
the daemon builds (`web.create_app`: the API and the console). Then every page is fetched
`--rounds` times (default 20):

- `p95_ms`: the request's time, 95th percentile (nearest rank);
- `html_bytes`: the page's HTML;
- `with_assets_bytes`: the HTML plus every asset it links (<link href>, <script src>, <img src> on
  the box), each fetched once.

Goals (issue 15): p95 <= 150 ms a page, the dashboard <= 250 ms, a page <= 200 KB with its assets.

    .venv/bin/python bench/console.py [--messages 1000000] [--contacts 100000] [--rounds 20] [--dir D]

With `--dir`, a database already built there (gsmgw.db) is reused. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

from _common import percentile, stored_database_bench
from scale import NOW, Store, build, stamp
from sqlalchemy import text

from gateway.campaigns.service import Campaigns, VariantIn
from gateway.campaigns.timing import Sim
from gateway.consent.optin import Audience
from gateway.core.clock import FakeClock
from gateway.core.config import Config
from gateway.core.config_sections import GatewaySection
from gateway.daemon import with_status_hooks
from gateway.inbound.models import InboundPart
from gateway.inbound.pipeline import InboundPipeline
from gateway.outbound.limits import Limits
from gateway.outbound.queue import Queue
from gateway.store import db
from gateway.users import accounts

ADMIN, PASSWORD = "bench", "a long bench password"
DAY_BEFORE = (NOW - timedelta(days=1)).date().isoformat()
PAGE_GOAL_MS, DASHBOARD_GOAL_MS, PAGE_GOAL_BYTES = 150.0, 250.0, 200_000
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
FIRST_LINK = {"conversation": re.compile(r'href="(/inbox/[^"/?]+)"'), "campaign": re.compile(r'href="(/campaigns/\d+)"'),
              "contact": re.compile(r'href="(/contacts/\d+)"'),
              "message": re.compile(r'href="(/messages/\d+)"')}


class AssetLinks(HTMLParser):
    """The box's own URLs a page loads: stylesheets and icons (<link href>), scripts, images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        url = found.get("href") if tag == "link" else found.get("src") if tag in ("script", "img") else None
        if url and url.startswith("/") and not url.startswith("//") and url not in self.urls:
            self.urls.append(url)


@dataclass
class Page:
    name: str
    path: str
    times_ms: list[float]
    html_bytes: int
    with_assets_bytes: int


def open_store(path: str, messages: int, contacts: int) -> tuple[Store, bool]:
    """scale.py's store, built unless `path` holds one already; True when it was built now."""
    if os.path.exists(path):
        engine = db.make_engine(f"sqlite:///{path}")
        db.upgrade(engine)
        clock = FakeClock(NOW.timestamp())
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT count(*) FROM messages")).scalar_one()
        return Store(engine, path, clock, Queue(db.sessions(engine), clock, default_region="GB"), stored), False
    return build(path, messages, contacts), True


def add_replies(store: Store, pipeline: InboundPipeline, count: int) -> None:
    """Customers answering some of the messages: stored as StoringInbound stores a part, then handed to
    the pipeline (conversations, keywords), so the inbox has lines and threads."""
    with store.engine.connect() as conn:
        if conn.execute(text("SELECT count(*) FROM inbound_parts")).scalar_one() >= count:
            return
    for i in range(count):
        store.clock.advance(7)
        part = InboundPart(modem=f"sim{1 + i % 4}", sender=f"+4477009{i * 37 % 100000:05d}", raw_pdu="00",
                           text=f"Thanks! Is order {i} ready before {stamp(NOW)[:10]}?",
                           received_at=store.clock.now(), sent_at=store.clock.now())
        with store.queue.sessions.begin() as session:
            session.add(part)
        pipeline(part)


def described_modems() -> list[dict[str, Any]]:
    """Four ready modems as `gateway.sims.status.describe` gives them: the daemon reads them from its
    supervisors and workers in memory, so the dashboard's cards cost the page no query."""
    return [{"name": f"sim{n}", "state": "ready", "reason": None, "port": f"/dev/ttyUSB{n}", "recovery": None,
             "operator": "Bench Mobile", "registration": "home", "signal": {"bars": 4, "dbm": -71, "csq": 21},
             "identity": {"manufacturer": "Bench", "model": "B1", "firmware": "1.0", "imei": f"35000000000000{n}",
                          "imsi": f"23410000000000{n}", "iccid": f"894410000000000000{n}"},
             "limits": {"minute": {"used": 3, "left": 7, "cap": 10}, "hour": {"used": 90, "left": 110, "cap": 200},
                        "day": {"used": 700, "left": 300, "cap": 1000}},
             "next_slot_at": None} for n in range(1, 5)]


def console_client(store: Store, replies: int) -> Any:
    """The app the daemon builds, on this store, with an admin signed in through the login form."""
    from web import create_app
    from web.context import WebContext

    webhooks = with_status_hooks(store.queue, store.clock)
    audience = Audience(store.queue.sessions, store.clock, store.queue)
    inbound = InboundPipeline(store.queue.sessions, store.clock, store.queue, audience)
    webhooks.attach(store.queue, inbound=inbound, audience=audience)
    inbound.start()
    try:
        add_replies(store, inbound, replies)
    finally:
        inbound.stop()
    config = Config(gateway=GatewaySection(data_dir=os.path.dirname(store.path)))  # the console's signing key there
    campaigns = Campaigns(store.queue.sessions, store.clock, store.queue,
                          sims=lambda: [Sim(m["name"], Limits(per_minute=10, per_hour=200, per_day=1000))
                                        for m in described_modems()])
    context = WebContext(queue=store.queue, sessions=store.queue.sessions, clock=store.clock, config=config,
                         webhooks=webhooks, audience=audience, inbound=inbound, modems=described_modems,
                         campaigns=campaigns)
    with store.queue.sessions.begin() as session:
        if not session.scalar(text("SELECT count(*) FROM campaigns")):
            # one contact in ten tagged vip, and a draft campaign to them: its page, its dry run, the list
            session.execute(text("INSERT INTO tags (name) VALUES ('vip')"))
            session.execute(text("INSERT INTO contact_tags (contact_id, tag_id) SELECT c.id, t.id FROM contacts c, "
                                 "tags t WHERE t.name = 'vip' AND c.id % 10 = 0"))
            draft = True
        else:
            draft = False
    if draft:
        campaigns.create("Bench sale", [VariantIn("Hi {first_name|friend}, 20% off this week")], {"tags": ["vip"]})
    if accounts.authenticate(context.sessions, ADMIN, PASSWORD) is None:
        accounts.add(context.sessions, context.clock, ADMIN, PASSWORD, "admin")
    client = create_app(context).test_client()
    login = client.get("/login").get_data(as_text=True)
    token = CSRF.search(login)
    assert token, "the login page has no CSRF token"
    reply = client.post("/login", data={"csrf_token": token.group(1), "name": ADMIN, "password": PASSWORD})
    assert reply.status_code == 302, f"sign-in refused: {reply.status_code}"
    return client


def get(client: Any, path: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    reply = client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    assert reply.status_code == 200, f"GET {path}: {reply.status_code}"
    return elapsed, reply.get_data()


def page_paths(client: Any) -> dict[str, str]:
    """Every page of the console, the detail pages being the first of their list."""
    paths = {"dashboard": "/", "send": "/send", "inbox": "/inbox", "contacts": "/contacts", "groups": "/groups",
             "templates": "/templates", "messages": "/messages", "modems": "/modems", "settings": "/settings",
             "settings_limits": "/settings/limits", "settings_keywords": "/settings/keywords",
             "settings_keys": "/settings/keys", "settings_webhooks": "/settings/webhooks",
             "settings_users": "/settings/users", "audit": "/audit", "campaigns": "/campaigns",
             "campaign_new": "/campaigns/new"}
    # the filters and searches, where a query without its index would show
    paths.update({"messages_failed": "/messages?status=failed", "messages_to": "/messages?to=%2B447700912345",
                  "messages_days": f"/messages?from={DAY_BEFORE}&until={DAY_BEFORE}",
                  "messages_campaign": "/messages?campaign=1", "contacts_name": "/contacts?q=Customer+4242",
                  "contacts_number": "/contacts?q=07701", "contacts_tag": "/contacts?tag=vip"})
    for name, listing in (("conversation", "/inbox"), ("contact", "/contacts"), ("message", "/messages"),
                          ("campaign", "/campaigns")):
        found = FIRST_LINK[name].search(get(client, listing)[1].decode())
        if found:
            paths[name] = found.group(1)
    if "campaign" in paths:
        paths["campaign_preview"] = paths["campaign"] + "/preview"
    return paths


def measure_page(client: Any, name: str, path: str, rounds: int, assets: dict[str, int]) -> Page:
    times, body = [], b""
    for _ in range(rounds):
        elapsed, body = get(client, path)
        times.append(elapsed)
    links = AssetLinks()
    links.feed(body.decode())
    for url in links.urls:
        if url not in assets:
            assets[url] = len(get(client, url)[1])
    return Page(name, path, times, len(body), len(body) + sum(assets[url] for url in links.urls))


def main() -> None:
    stored_database_bench(__doc__.splitlines()[0], "gsmgw-console-",
                          "where the database goes, reused if built already (default: a temporary one)",
                          options, measure)


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--replies", type=int, default=200, help="customer replies through the inbound pipeline")
    parser.add_argument("--rounds", type=int, default=20, help="requests timed per page")


def measure(args: argparse.Namespace, path: str) -> dict[str, Any]:
    started = time.perf_counter()
    store, built = open_store(path, args.messages, args.contacts)
    client = console_client(store, args.replies)
    build_s = time.perf_counter() - started
    with store.engine.connect() as conn:
        contacts = conn.execute(text("SELECT count(*) FROM contacts")).scalar_one()
    assets: dict[str, int] = {}
    pages = [measure_page(client, name, path_, args.rounds, assets) for name, path_ in page_paths(client).items()]
    p95 = {page.name: percentile(page.times_ms, 95) for page in pages}
    slowest = max(pages, key=lambda page: p95[page.name])
    heaviest = max(pages, key=lambda page: page.with_assets_bytes)
    over_time = [page.name for page in pages
                 if p95[page.name] > (DASHBOARD_GOAL_MS if page.name == "dashboard" else PAGE_GOAL_MS)]
    over_bytes = [page.name for page in pages if page.with_assets_bytes > PAGE_GOAL_BYTES]
    store.engine.dispose()
    return {
        "messages": store.messages, "contacts": contacts, "rounds": args.rounds,
        "pages": {page.name: {"path": page.path, "p95_ms": round(p95[page.name], 2), "html_bytes": page.html_bytes,
                              "with_assets_bytes": page.with_assets_bytes} for page in pages},
        "slowest_page": slowest.name, "slowest_p95_ms": round(p95[slowest.name], 2),
        "dashboard_p95_ms": round(p95["dashboard"], 2),
        "heaviest_page": heaviest.name, "heaviest_with_assets_bytes": heaviest.with_assets_bytes,
        "assets_bytes": assets,
        "over_time_goal": over_time, "over_size_goal": over_bytes, "goals_met": not over_time and not over_bytes,
        "built": built, "build_s": round(build_s, 1),
    }


if __name__ == "__main__":
    main()
