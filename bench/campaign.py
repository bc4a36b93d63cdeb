"""A campaign at shop scale (issue 16): 100k contacts in a group, expanded, personalised,
consent-filtered and queued; and the dry run's first page.

The real path on a SQLite file in a temp dir (WAL, synchronous=FULL, migrated by
gateway.store.db.upgrade): the contacts (names in Latin, Cyrillic, Arabic and Chinese script, a
city field for some, 90% opted in, 2% flagged invalid) are written by a child process first, so
this process's memory is the campaign's alone. Then `Campaigns.start` and the job's rounds
(`Campaigns.tick`, as the scheduler runs them) until every recipient has its row and every message
is stored `queued` (no bound on the messages waiting, so all 100k are queued in this run), with the
opt-out footer in each contact's language.

    .venv/bin/python bench/campaign.py [--contacts 100000]

Prints ONE JSON object on the last line: {"contacts", "seconds" (start to all queued), "rss_mb"
(the process's peak), "queued", "skipped", "enqueue_s" (of `seconds`, inside Queue.enqueue_many),
"dry_run_first_page_s", "dry_run_totals_s", "results_s"}
(goals: seconds <= 10, rss_mb <= 100, dry_run_first_page_s <= 1, results_s <= 1).

`results_s`: the campaign's results (`gateway.campaigns.results.per_variant`) once every message is
marked delivered and one recipient in twenty has replied and one in a hundred opted out since.
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import emit

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from gateway.audience.models import Contact, Group, GroupMember
from gateway.campaigns import results
from gateway.campaigns.models import Campaign, Recipient, RecipientState
from gateway.campaigns.service import Campaigns, VariantIn
from gateway.campaigns.timing import Sim
from gateway.consent.models import ConsentEvent
from gateway.inbound.models import InboundMessage
from gateway.core.clock import Clock
from gateway.outbound.limits import Limits
from gateway.outbound.models import Message
from gateway.outbound.queue import Queue
from gateway.store import db

NAMES = ["Olga Petrova", "Ольга Петрова", "أمل خليل", "王芳", "James Smith", None]
LANGUAGES = ["en", "ru", "ar", "zh", "en", None]
BATCH = 5000


def seed(url: str, contacts: int) -> None:
    """The audience, as an import would leave it (run in a child process)."""
    engine = db.make_engine(url)
    db.upgrade(engine)
    rng = random.Random(16)
    now = Clock().now()
    with engine.begin() as conn:
        group = conn.execute(insert(Group).values(name="everyone", created_at=now).returning(Group.id)).scalar_one()
    for start in range(0, contacts, BATCH):
        rows, members, consent = [], [], []
        for i in range(start, min(start + BATCH, contacts)):
            pick = rng.randrange(len(NAMES))
            rows.append({"id": i + 1, "number": f"+4477{i:08d}", "name": NAMES[pick], "language": LANGUAGES[pick],
                         "timezone": "Europe/London", "timezone_guessed": False,
                         "fields": {"city": "Leeds"} if rng.random() < 0.5 else {},
                         "flag": "invalid" if rng.random() < 0.02 else None, "source": "import",
                         "created_at": now, "updated_at": now})
            members.append({"contact_id": i + 1, "group_id": group, "source": "import", "added_at": now})
            if rng.random() < 0.9:
                consent.append({"contact_id": i + 1, "kind": "opt_in", "scope": "marketing", "source": "import", "at": now})
        with engine.begin() as conn:
            conn.execute(insert(Contact), rows)
            conn.execute(insert(GroupMember), members)
            conn.execute(insert(ConsentEvent), consent)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--seed", help=argparse.SUPPRESS)  # the child's job: write the audience to this URL
    args = parser.parse_args()
    if args.seed:
        seed(args.seed, args.contacts)
        return
    with tempfile.TemporaryDirectory(prefix="gsmgw-bench-campaign-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'gsmgw.db'}"
        subprocess.run([sys.executable, __file__, "--seed", url, "--contacts", str(args.contacts)], check=True)
        engine = db.make_engine(url)
        clock = Clock()
        queue = Queue(db.sessions(engine), clock)
        sims = [Sim(f"sim{i}", Limits(per_minute=6, per_hour=120, per_day=500, per_month=10000, min_gap_s=2))
                for i in (1, 2)]
        campaigns = Campaigns(queue.sessions, clock, queue, sims=lambda: sims, ahead=0)
        in_queue = [0.0]  # seconds inside Queue.enqueue_many (the queue's own checks and inserts)
        enqueue_many = queue.enqueue_many

        def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
            began = time.perf_counter()
            try:
                return enqueue_many(*args, **kwargs)
            finally:
                in_queue[0] += time.perf_counter() - began
        queue.enqueue_many = timed  # type: ignore[method-assign]
        campaign_id = campaigns.create("bench", [VariantIn("Hi {first_name|friend}, 20% off this week in {city|our shops}!")],
                                       {"groups": ["everyone"]}, footer=True)

        began = time.perf_counter()
        with Session(engine) as session:
            dry = campaigns.dry_run(session.connection(), session.get(Campaign, campaign_id))
            dry.page(after=0, limit=100)
            first_page = time.perf_counter() - began
            began = time.perf_counter()
            totals = dry.totals()
            totals_s = time.perf_counter() - began
        print(f"dry run: first page {first_page:.3f} s, totals {totals_s:.2f} s: {totals['to_send']} to send, "
              f"{totals['parts']} parts, ETA {totals['eta_seconds']} s", flush=True)

        began = time.perf_counter()
        campaigns.start(campaign_id)
        rounds = 0
        while campaigns.tick(campaign_id) is not None:
            rounds += 1
        seconds = time.perf_counter() - began
        with engine.connect() as conn:
            queued = conn.scalar(select(func.count()).select_from(Message).where(Message.campaign_id == campaign_id))
            skipped = conn.scalar(select(func.count()).select_from(Recipient).where(
                Recipient.campaign_id == campaign_id, Recipient.state == RecipientState.SKIPPED))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{args.contacts} contacts: {queued} queued, {skipped} skipped in {seconds:.2f} s "
              f"({rounds + 1} rounds; {in_queue[0]:.2f} s of it in Queue.enqueue_many), peak RSS {peak:.1f} MB", flush=True)
        results_s = time_results(engine, campaign_id, clock)
        print(f"results of {queued} messages in {results_s:.3f} s", flush=True)
        queue.group.close()
        engine.dispose()
    emit({"contacts": args.contacts, "seconds": round(seconds, 2), "rss_mb": round(peak, 1), "queued": queued,
          "skipped": skipped, "enqueue_s": round(in_queue[0], 2), "dry_run_first_page_s": round(first_page, 3), "dry_run_totals_s": round(totals_s, 2),
          "results_s": round(results_s, 3)})


def time_results(engine, campaign_id: int, clock: Clock) -> float:  # type: ignore[no-untyped-def]
    """Every message delivered, replies and opt-outs from some recipients; the seconds the results take."""
    now = clock.now()
    with engine.begin() as conn:
        conn.execute(update(Message).where(Message.campaign_id == campaign_id)
                     .values(status="delivered", sent_at=now, sim="sim1"))
        texted = conn.execute(select(Recipient.contact_id).where(Recipient.campaign_id == campaign_id,
                                                                 Recipient.message_id.is_not(None))).scalars().all()
        conn.execute(insert(InboundMessage), [{"contact_id": c, "modem": "sim1", "text": "yes", "received_at": now}
                                              for c in texted[::20]])
        conn.execute(insert(ConsentEvent), [{"contact_id": c, "kind": "opt_out", "scope": "marketing",
                                             "source": "keyword", "at": now} for c in texted[::100]])
    began = time.perf_counter()
    with engine.connect() as conn:
        figures = results.per_variant(conn, campaign_id)
    seconds = time.perf_counter() - began
    total = sum(f.counts["replies"] for f in figures.values())
    assert total == len(texted[::20]), total
    return seconds


if __name__ == "__main__":
    main()
