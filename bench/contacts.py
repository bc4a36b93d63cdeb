"""Contacts at shop scale (issue 4): import 100k CSV rows, then a consent-filtered audience query.

The real path: a SQLite file in a temp dir (WAL, synchronous=FULL, migrated by gateway.store.db.upgrade),
`gateway.audience.contacts_csv.import_file` on a generated CSV (E.164 normalisation and timezone derivation
per row, tags, groups, and an opt-in with declared proof for about 60% of rows), then 10% of the
contacts opt out through `Audience.opt_out` semantics (ledger rows appended after the import, as STOPs
would be). The audience query is `gateway.audience.segments.audience` for {"any": [tag vip, group
newsletter]}: consent derived from the ledger (newest opt-in/opt-out per contact), not flagged,
fetched to a list of numbers, as a campaign would read it.

    .venv/bin/python bench/contacts.py [--rows 100000]

Prints figures as it goes and ONE JSON object on the last line:
{"contacts", "import_s", "import_rows_per_s", "audience_query_s"} (goal: audience_query_s <= 1).
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
import time
from pathlib import Path

from _common import emit

from sqlalchemy import func, insert, select

from gateway.audience import contacts_csv
from gateway.audience import segments
from gateway.audience.models import Contact
from gateway.consent.models import ConsentEvent
from gateway.core.clock import Clock
from gateway.store import db


def write_csv(path: Path, rows: int, seed: int = 4) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["number", "name", "language", "birthday", "tags", "groups", "consent", "consent_proof", "city"])
        for i in range(rows):
            consent = rng.random() < 0.6
            writer.writerow([
                f"07{700000000 + i:09d}"[:11], f"Customer {i}", rng.choice(["en", "en", "ru", "ar", "zh", ""]),
                f"{rng.randint(1950, 2005)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                ";".join(t for t in ("vip", "local") if rng.random() < 0.2),
                "newsletter" if rng.random() < 0.3 else "",
                "yes" if consent else "", "till form 2026" if consent else "",
                rng.choice(["Leeds", "York", "Hull", ""]),
            ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gsmgw-bench-contacts-") as tmp:
        source = Path(tmp) / "contacts.csv"
        write_csv(source, args.rows)
        engine = db.make_engine(f"sqlite:///{Path(tmp) / 'gsmgw.db'}")
        db.upgrade(engine)
        sessions = db.sessions(engine)
        clock = Clock()

        started = time.perf_counter()
        with open(source, "rb") as handle:
            report = contacts_csv.import_file(sessions, handle, clock=clock, default_region="GB")
        import_s = time.perf_counter() - started
        print(f"import: {report.summary()} in {import_s:.2f} s", flush=True)

        with sessions.begin() as session:  # 10% say STOP afterwards: the ledger's newest event decides
            ids = session.scalars(select(Contact.id).where(Contact.id % 10 == 0)).all()
            now = clock.now()
            session.execute(insert(ConsentEvent), [{"contact_id": i, "kind": "opt_out", "scope": "marketing",
                                                    "source": "keyword", "at": now, "detail": "STOP"} for i in ids])
        with sessions() as session:
            contacts = session.scalar(select(func.count()).select_from(Contact))

        rule = segments.parse({"any": [{"tag": "vip"}, {"group": "newsletter"}]})
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            with sessions() as session:
                numbers = session.scalars(segments.audience(rule, clock.now()).with_only_columns(Contact.number)).all()
            timings.append(time.perf_counter() - started)
        audience_s = max(timings)  # the slowest of three, the first one cold
        print(f"audience: {len(numbers)} consented contacts in the segment; {', '.join(f'{t:.3f}' for t in timings)} s",
              flush=True)
        engine.dispose()
    emit({"contacts": contacts, "import_s": round(import_s, 2),
          "import_rows_per_s": round(args.rows / import_s), "audience_query_s": round(audience_s, 3)})


if __name__ == "__main__":
    main()
