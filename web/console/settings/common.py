"""What the settings pages share: the audit entry of a change, made by the signed-in admin."""

from __future__ import annotations

from gateway.core.logs import mask
from gateway.users import audit
from web.console.security import client_address
from web.context import WebContext


def record(context: WebContext, action: str, detail: str) -> None:
    """One audit entry for a change the signed-in admin made (the detail masked: no secrets)."""
    from flask_login import current_user

    with context.sessions.begin() as session:
        audit.record(session, context.clock, action, actor=current_user.account.name, detail=mask(detail),
                     address=client_address())
