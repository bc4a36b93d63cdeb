"""Shared fixtures: a real database per test (a SQLite file, or a PostgreSQL database when
GSMGW_TEST_DATABASE=postgresql: see tests/postgres_server.py), a clock the test moves by hand."""

from __future__ import annotations

import gc
import shutil
from pathlib import Path

import pytest

from . import postgres_server

from gateway.core.clock import FakeClock
from gateway.outbound.queue import Queue
from gateway.store import db


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashes():
    """Console passwords hashed in this process with argon2id at its lowest costs: the product's
    (argon2-cffi's defaults, memory-hard on purpose) take 0.1-0.9 s a hash, and every signed-in
    test client makes a user and signs in. Still argon2id, salted and verified the same way; a
    `gsmgw` subprocess hashes at the product's costs."""
    from argon2 import PasswordHasher

    from gateway.users import passwords

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    patch = pytest.MonkeyPatch()
    patch.setattr(passwords, "_HASHER", cheap)
    patch.setattr(passwords, "_DUMMY", cheap.hash("not a password anyone has"))
    yield
    patch.undo()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim_options() -> dict:
    """How many virtual modems the `sim` fixture starts and how (virtual_modems' options); a test
    module overrides this fixture, e.g. to return {"count": 2, "profile": "ec25"}."""
    return {}


@pytest.fixture
def sim(tmp_path, sim_options):
    """Virtual modems on ptys under tmp_path/ports, ended after the test."""
    from .modem_helpers import virtual_modems

    with virtual_modems(tmp_path / "ports", **sim_options) as simulation:
        yield simulation


def pytest_configure(config) -> None:
    # a connection a test leaves in a pool (sqlite3 closes its own silently) is ended by the server
    # when the test's database is dropped; psycopg's warning when it is collected says nothing more
    if postgres_server.wanted():
        config.addinivalue_line("filterwarnings", "ignore:<psycopg.Connection:ResourceWarning")
        config.addinivalue_line("filterwarnings", "ignore:Exception ignored in. <function BaseConnection.__del__"
                                ":pytest.PytestUnraisableExceptionWarning")


def pytest_report_header(config) -> str:
    return f"database: {'postgresql' if postgres_server.wanted() else 'sqlite'} ({postgres_server.SELECTOR})"


@pytest.fixture(scope="session")
def postgres():
    """The suite's PostgreSQL server (PostgreSQL mode only), started at first use with a migrated
    template database, stopped when the session ends."""
    server = postgres_server.PostgresServer()
    try:
        server.start()
        server.make_template()
        yield server
    finally:
        gc.collect()  # connections tests left behind go now, under the warning filters of a test
        server.stop()


@pytest.fixture
def database_url(request, tmp_path) -> str:
    """The URL of this test's database, at the newest schema on PostgreSQL (a copy of the template)
    and empty on SQLite (the file under tmp_path that the daemon's data_dir also names)."""
    if not postgres_server.wanted() or request.node.get_closest_marker("sqlite_only"):
        yield f"sqlite:///{tmp_path / 'gsmgw.db'}"
        return
    server = request.getfixturevalue("postgres")
    url = server.create()
    yield url
    server.drop(url)


@pytest.fixture(autouse=True)
def _stored_data_on_postgres(request, monkeypatch) -> None:
    """In PostgreSQL mode every test with a data folder stores on its own PostgreSQL database:
    GSMGW_DATABASE_URL reaches the config files the CLI and subprocesses load, and
    tests/daemon_helpers.database_section() the daemons built from sections. Tests whose subject is
    SQLite itself are marked sqlite_only."""
    if (postgres_server.wanted() and "tmp_path" in request.fixturenames
            and not request.node.get_closest_marker("sqlite_only")):
        monkeypatch.setenv("GSMGW_DATABASE_URL", request.getfixturevalue("database_url"))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite file migrated to the newest schema once per session, closed (its WAL checkpointed
    into it), for `database` to copy: a copy takes a millisecond, migrating a file ~0.2 s."""
    path = tmp_path_factory.mktemp("template") / "gsmgw.db"
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    engine.dispose()
    assert not path.with_name(path.name + "-wal").exists(), "the template's WAL outlived its last connection"
    return path


@pytest.fixture
def database(request, database_url):
    """The test's database at the newest schema: on PostgreSQL database_url is a copy of the
    migrated template already; on SQLite a copy of sqlite_template (migrated in place if the
    file is there before, as a test's own fixture may have made it)."""
    migrated = database_url.startswith("postgresql")
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
        if not path.exists():
            shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
            migrated = True
    engine = db.make_engine(database_url)
    if not migrated:
        db.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def old_database(request, tmp_path):
    """old_database("0005") -> (engine, connection): a database (a SQLite file, or an empty
    PostgreSQL database in PostgreSQL mode) migrated only to that revision,
    the connection in a transaction for the test to seed it as an earlier version would have;
    committed when the with block ends. The test upgrades it with db.upgrade(engine)."""
    from contextlib import contextmanager

    from alembic import command
    from alembic.config import Config as AlembicConfig

    engines = []

    @contextmanager
    def at(revision: str):
        if postgres_server.wanted() and not request.node.get_closest_marker("sqlite_only"):
            server = request.getfixturevalue("postgres")
            url = server.create(migrated=False)
            request.addfinalizer(lambda: server.drop(url))
        else:
            url = f"sqlite:///{tmp_path / 'old.db'}"
        engine = db.make_engine(url)
        engines.append(engine)
        config = AlembicConfig()
        config.set_main_option("script_location", str(db.MIGRATIONS))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            yield engine, connection

    yield at
    for engine in engines:
        engine.dispose()


@pytest.fixture
def queue(database, clock):
    made = Queue(db.sessions(database), clock, default_region="GB")
    yield made
    made.group.close()  # its kept connection back to the pool before the engine goes


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


# ---- the whole daemon ---------------------------------------------------------------------------
@pytest.fixture
def daemon_factory(tmp_path, clock):
    """daemon_factory(simulate=N, **config sections) -> the real Daemon (gateway.daemon) on N virtual
    modems, the REST API on a free loopback port, time from the test's clock; started, its modems
    ready; stopped at the end of the test."""
    from .daemon_helpers import build_daemon

    made: list = []

    def make(simulate: int = 1, **sections):
        daemon = build_daemon(tmp_path, clock, simulate, **sections)
        made.append(daemon)
        daemon.start()
        assert daemon.wait_ready(20), daemon.status_line()
        return daemon

    yield make
    for daemon in made:
        daemon.stop()
