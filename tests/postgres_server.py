"""A throwaway PostgreSQL server for the test suite, and a fresh database per test.

`GSMGW_TEST_DATABASE=postgresql` (`make test DATABASE=postgresql`) runs every test that stores data
on PostgreSQL: the suite starts one server (`initdb`/`pg_ctl` in a temporary folder, listening only
on a unix socket there), migrates a template database once, and gives each test a copy of it
(`CREATE DATABASE ... TEMPLATE`, a file copy: far quicker than migrating). In that mode a missing
server binary fails the tests that need it; nothing is skipped.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

SELECTOR = "GSMGW_TEST_DATABASE"
TEMPLATE = "gsmgw_template"


def wanted() -> bool:
    """True when the suite runs on PostgreSQL; an unknown value is an error, not SQLite."""
    value = os.environ.get(SELECTOR, "sqlite").strip().lower() or "sqlite"
    if value not in ("sqlite", "postgresql"):
        raise RuntimeError(f"{SELECTOR}={value!r}: expected 'sqlite' or 'postgresql'")
    return value == "postgresql"


class ServerMissing(RuntimeError):
    """No PostgreSQL server binaries: in PostgreSQL mode that fails the test run."""


def bindir() -> Path:
    """Where initdb and pg_ctl are: `pg_config --bindir`, Debian's versioned folders, then PATH."""
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        if found.returncode == 0:
            candidates.append(Path(found.stdout.strip()))
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).parent)  # type: ignore[arg-type]
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    raise ServerMissing("PostgreSQL server binaries (initdb, pg_ctl) not found: install the postgresql package")


class PostgresServer:
    """One server in a temporary folder, run as the `postgres` system user when we are root
    (initdb refuses root), reached over the unix socket in that folder."""

    def __init__(self) -> None:
        self.bin = bindir()
        self.folder = Path(tempfile.mkdtemp(prefix="gsmgw-pg-"))
        self.data = self.folder / "data"
        self._names = itertools.count(1)
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            import pwd

            user = pwd.getpwnam("postgres")
            os.chown(self.folder, user.pw_uid, user.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._as_user, *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")

    def start(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                  "--no-sync", "-E", "UTF8", "--locale=C")
        options = (f"-k {self.folder} -c listen_addresses='' -c fsync=off -c synchronous_commit=off"
                   " -c full_page_writes=off -c max_connections=500")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "server.log"),
                  "-o", options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.folder}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(host=str(self.folder), user="postgres", dbname="postgres", autocommit=True) as conn:
            conn.execute(sql)

    def make_template(self) -> None:
        """The template every test's database copies: migrated once to the newest schema."""
        from gateway.store import db

        self._admin(f"CREATE DATABASE {TEMPLATE}")
        engine = db.make_engine(self.url(TEMPLATE))
        try:
            db.upgrade(engine)
        finally:
            engine.dispose()

    def create(self, *, migrated: bool = True) -> str:
        """A fresh database (a copy of the migrated template, or empty); its URL."""
        name = f"gsmgw_test_{next(self._names)}"
        self._admin(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE if migrated else 'template0'}")
        return self.url(name)

    def drop(self, url: str) -> None:
        from sqlalchemy.engine import make_url

        name = make_url(url).database
        self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
