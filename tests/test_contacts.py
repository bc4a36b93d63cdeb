"""Contacts' timezones from their numbers: the number's own zone, else a guess that says it is one."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from gateway.audience import contacts
from gateway.audience.contacts import NumberZone
from gateway.audience.models import Contact
from gateway.store import db


@pytest.mark.parametrize("number, zone", [
    ("+74951234567", NumberZone("Europe/Moscow")),  # a Moscow landline: the plan pins it
    ("+12125550123", NumberZone("America/New_York")), ("+14155550123", NumberZone("America/Los_Angeles")),
    ("+380501234567", NumberZone("Europe/Kyiv")),
    # mobiles whose plan spans several zones: the country's most populous one, as a guess
    ("+79121234567", NumberZone("Europe/Moscow", guessed=True)),
    ("+61412345678", NumberZone("Australia/Sydney", guessed=True)),
    ("+34612345678", NumberZone("Europe/Madrid", guessed=True)),
    ("+351912345678", NumberZone("Europe/Lisbon", guessed=True)),
    ("+56912345678", NumberZone("America/Santiago", guessed=True)),  # the plan knows no zone, the country does
    ("+447700900123", NumberZone(None)),  # a drama number: not even the country is known
])
def test_a_numbers_zone_or_a_guess_that_says_so(number, zone):
    assert contacts.timezone_for(number) == zone


def test_a_new_contact_records_the_guess_and_a_stated_zone_replaces_it(queue, clock):
    with queue.sessions.begin() as session:
        contact, _ = contacts.find_or_create(session, "+79121234567", now=clock.now(), source="inbound")
    assert (contact.timezone, contact.timezone_guessed) == ("Europe/Moscow", True)


def test_contacts_without_a_zone_get_the_guess_when_the_database_is_upgraded(old_database):
    with old_database("0005") as (engine, connection):
        for number, zone in (("+79121234567", None), ("+74951234567", "Europe/Moscow"), ("+447700900123", None),
                             ("+61412345678", "Australia/Perth")):
            connection.execute(text("INSERT INTO contacts (number, timezone, fields, source, created_at, updated_at) "
                                    "VALUES (:n, :z, '{}', 'import', '2026-01-01', '2026-01-01')"), {"n": number, "z": zone})
    db.upgrade(engine)
    with db.sessions(engine)() as session:
        rows = {c.number: (c.timezone, c.timezone_guessed) for c in session.scalars(select(Contact))}
    engine.dispose()
    assert rows == {"+79121234567": ("Europe/Moscow", True), "+74951234567": ("Europe/Moscow", False),
                    "+447700900123": (None, False), "+61412345678": ("Australia/Perth", False)}
