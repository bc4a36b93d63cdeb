"""Helpers for the campaign tests and the benchmark: contacts, groups and consent written in bulk
(Core inserts, as an import would leave them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select

from gateway.audience.models import Contact, Group, GroupMember
from gateway.consent.models import ConsentEvent, ConsentKind, ConsentSource


def ensure_group(engine: Engine, name: str, now: datetime) -> int:
    with engine.begin() as conn:
        found = conn.scalar(select(Group.id).where(Group.name == name))
        if found is not None:
            return found
        return conn.execute(insert(Group).values(name=name, created_at=now).returning(Group.id)).scalar_one()


def add_contacts(engine: Engine, rows: Iterable[Mapping[str, Any]], now: datetime, *, group: str | None = None,
                 consent: str | None = ConsentKind.OPT_IN) -> list[int]:
    """Contacts (`number` and optionally name, language, timezone, fields, flag), in `group`, each
    with one consent event of kind `consent` (None: none). Returns their ids in order."""
    group_id = ensure_group(engine, group, now) if group else None
    ids: list[int] = []
    with engine.begin() as conn:
        for row in rows:
            values = {"name": None, "language": None, "timezone": None, "fields": {}, "flag": None, **row,
                      "timezone_guessed": False, "source": "import", "created_at": now, "updated_at": now}
            contact_id = conn.execute(insert(Contact).values(**values).returning(Contact.id)).scalar_one()
            ids.append(contact_id)
            if group_id is not None:
                conn.execute(insert(GroupMember).values(contact_id=contact_id, group_id=group_id, source="import",
                                                        added_at=now))
            if consent is not None:
                conn.execute(insert(ConsentEvent).values(contact_id=contact_id, kind=consent, scope="marketing",
                                                         source=ConsentSource.IMPORT, at=now))
    return ids
