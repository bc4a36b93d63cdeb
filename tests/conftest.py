"""Shared fixtures: a real SQLite file per test, a clock the test moves by hand."""

from __future__ import annotations

import pytest

from gateway.core.clock import FakeClock
from gateway.outbound.queue import Queue
from gateway.store import db


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def database(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'gsmgw.db'}")
    db.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def queue(database, clock) -> Queue:
    return Queue(db.sessions(database), clock, default_region="GB")


# ---- REST API (web/) ----------------------------------------------------------------------------
@pytest.fixture
def webhooks(database, clock):
    from gateway.webhooks.outbox import Webhooks

    # the test receivers listen on loopback, which only an allowed_hosts entry permits
    hooks = Webhooks(db.sessions(database), clock, timeout=2.0, cache_seconds=0.0, allowed_hosts=["127.0.0.1"])
    yield hooks
    hooks.stop()


@pytest.fixture
def modem_list():
    """What the daemon's describe() would say; tests change it in place."""
    return []


@pytest.fixture
def web_context(queue, database, clock, webhooks, modem_list):
    """What the daemon hands the web app: a real queue, audience and inbound pipeline (not started:
    tests feed it parts by hand), webhooks listening to all three."""
    from gateway.consent.optin import Audience
    from gateway.core.config import Config
    from gateway.inbound.pipeline import InboundPipeline
    from web.context import WebContext

    audience = Audience(queue.sessions, clock, queue)
    inbound = InboundPipeline(queue.sessions, clock, queue, audience)
    webhooks.attach(queue, inbound=inbound, audience=audience)
    return WebContext(queue=queue, sessions=db.sessions(database), clock=clock, config=Config(),
                      webhooks=webhooks, audience=audience, inbound=inbound, modems=lambda: modem_list)


@pytest.fixture
def app(web_context):
    from web import create_app

    return create_app(web_context, {"TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_key(database, clock):
    """make_key("send,read") -> a fresh key of those scopes: .headers, .id, .token, .signing_secret."""
    from types import SimpleNamespace

    from gateway.apikeys import keys

    def make(scopes: str = "send,read,admin", name: str = "test") -> SimpleNamespace:
        new = keys.create(db.sessions(database), clock, name, scopes)
        return SimpleNamespace(headers={"Authorization": f"Bearer {new.token}"}, id=new.info.id, token=new.token,
                               signing_secret=new.signing_secret)
    return make
