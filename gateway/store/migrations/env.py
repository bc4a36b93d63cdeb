"""Alembic environment: the connection comes from gateway.store.db, never from an ini file."""

from alembic import context

# each room's tables join Base.metadata when its models module is imported
from gateway.apikeys import models as _apikeys  # noqa: F401
from gateway.audience import models as _audience  # noqa: F401
from gateway.campaigns import models as _campaigns  # noqa: F401
from gateway.consent import models as _consent  # noqa: F401
from gateway.inbound import models as _inbound  # noqa: F401
from gateway.outbound import models as _outbound  # noqa: F401
from gateway.scheduler import models as _scheduler  # noqa: F401
from gateway.sims import models as _sims  # noqa: F401
from gateway.settings import models as _settings  # noqa: F401
from gateway.store.base import Base
from gateway.users import models as _users  # noqa: F401
from gateway.webhooks import models as _webhooks  # noqa: F401

connection = context.config.attributes.get("connection")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()
