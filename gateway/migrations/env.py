"""Alembic environment: the connection comes from gateway.db, never from an ini file."""

from alembic import context

from gateway import api_models  # noqa: F401  (its tables join Base.metadata)
from gateway import audience_models  # noqa: F401  (registers the audience tables on Base)
from gateway.models import Base

connection = context.config.attributes.get("connection")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()
