"""Alembic migrations: `gsmgw db upgrade`; the daemon upgrades on start."""
