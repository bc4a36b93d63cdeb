"""A campaign killed with SIGKILL at random moments: the daemon (`gsmgw run`, its own process) is
killed while it expands the audience, queues and sends, and started again each time. The virtual
modems (in this process, so they outlive every daemon) keep the record of every part the network
accepted; checked against it: every recipient texted at most once, and the rest resumed until the
campaign is done."""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from gateway.campaigns.models import Campaign, CampaignStatus, Recipient
from gateway.campaigns.service import Campaigns, VariantIn
from gateway.core.clock import Clock
from gateway.outbound.models import Message
from gateway.outbound.queue import Queue
from gateway.store import db

from .campaign_helpers import add_contacts
from .daemon_helpers import database_url, sigkill_after_progress, start_daemon, write_run_config
from .modem_helpers import virtual_modems, wait_until
from .process_helpers import stop

CONTACTS = 300
KILLS = 6


@pytest.mark.timeout(300)
def test_sigkill_mid_campaign_texts_nobody_twice_and_the_rest_resumes(tmp_path):
    rng = random.Random(int(os.environ.get("GSMGW_CRASH_SEED", "20261201")))
    sim = virtual_modems(tmp_path / "ports", 2, latency=0.01)
    # no quiet hours: the test runs on the wall clock, at any hour; a round each second, so the one
    # that finds no one left (and says done) comes a second after the last send, not a minute
    config = write_run_config(tmp_path, sim.ports, '[consent]\nquiet_hours_start = "00:00"\nquiet_hours_end = "00:00"\n'
                                                   'frequency_cap = 0\n\n[campaigns]\nround_interval_s = 1.0\n\n')
    database = db.make_engine(database_url(tmp_path / "data"))
    db.upgrade(database)
    clock = Clock()
    queue = Queue(db.sessions(database), clock)
    add_contacts(database, [{"number": f"+447911{i:06d}"} for i in range(1, CONTACTS + 1)], clock.now(), group="all")
    campaigns = Campaigns(queue.sessions, clock, queue)  # no scheduler here: the daemon gives it its job
    campaign_id = campaigns.create("sale", [VariantIn("Winter sale: 20% off today")], {"groups": ["all"]})
    campaigns.start(campaign_id)

    def status() -> str:
        with database.connect() as conn:
            return conn.scalar(select(Campaign.status).where(Campaign.id == campaign_id))

    def texted() -> int:
        return len({r["recipient"] for r in sim.network.record.submitted})

    log = open(tmp_path / "daemon.log", "ab")
    try:
        kills = 0
        while kills < KILLS and status() != CampaignStatus.DONE:
            daemon = start_daemon(config, log)
            if kills == 0:  # the first kill lands while the first round expands and queues, or soon after
                time.sleep(rng.uniform(0.8, 2.5))
                daemon.send_signal(signal.SIGKILL)
                daemon.wait(10)
            else:
                sigkill_after_progress(daemon, texted, rng)
            kills += 1
        daemon = start_daemon(config, log)
        try:
            wait_until(lambda: status() == CampaignStatus.DONE, 150, "the campaign to be done")
        finally:
            stop(daemon, signal.SIGTERM)
    finally:
        log.close()
        sim.close()

    firsts = Counter(r["recipient"] for r in sim.network.record.submitted)
    twice = [number for number, n in firsts.items() if n > 1]
    assert not twice, f"texted twice: {twice[:5]}"
    with database.connect() as conn:
        rows = conn.scalar(select(func.count()).select_from(Recipient).where(Recipient.campaign_id == campaign_id))
        messages = conn.execute(select(Message.to_number, Message.status).where(Message.campaign_id == campaign_id)).all()
    database.dispose()
    assert rows == CONTACTS
    assert len(messages) == CONTACTS == len({number for number, _ in messages})  # one message each
    # in doubt after a kill (`unknown`) is never resent; every other recipient was texted
    assert len(firsts) >= CONTACTS - sum(1 for _, s in messages if s == "unknown")
    print(f"kills={kills} texted={len(firsts)} outcome={dict(Counter(s for _, s in messages))}")
