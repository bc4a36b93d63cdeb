"""A kept connection lost under its user, as a server restart or an admin would end it."""

from __future__ import annotations

from sqlalchemy import Engine, text


def end_other_connections(database: Engine) -> int:
    """On PostgreSQL, the server ends every other connection to this database (how many)."""
    with database.begin() as conn:
        return int(conn.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar() or 0)
