"""The persistent job store's table, declared on the one `Base` so Alembic knows it.

APScheduler's SQLAlchemyJobStore defines the same table on its own MetaData and creates it only
if missing; migration 0010 creates it here, so autogenerate sees it as ours and proposes nothing.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, LargeBinary, Table, Unicode

from gateway.store.base import Base

JOBS_TABLE = "scheduler_jobs"

jobs = Table(
    JOBS_TABLE,
    Base.metadata,
    Column("id", Unicode(191), primary_key=True),  # the lengths APScheduler's job store uses
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)
