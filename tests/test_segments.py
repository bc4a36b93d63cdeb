"""Rule segments and the consent-filtered audience on a real SQLite file."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from gateway.audience import contacts_csv
from gateway.audience import segments
from gateway.audience.models import Contact
from gateway.audience.segments import SegmentError
from gateway.consent.optin import Audience
from gateway.outbound.models import MessageStatus

PEOPLE = """number,name,tags,groups,consent,consent_proof,city
+447700900001,Ann,vip,fashion,yes,form
+447700900002,Bob,vip,,yes,form,Leeds
+447700900003,Cat,,fashion,yes,form,Leeds
+447700900004,Dan,vip,fashion,,,
+447700900005,Eve,vip,fashion,yes,form
"""


@pytest.fixture
def people(queue, clock):
    contacts_csv.import_file(queue.sessions, io.BytesIO(PEOPLE.encode()), clock=clock)
    Audience(queue.sessions, clock, queue).opt_out("+447700900005", source="keyword")
    return queue


def names(queue, clock, spec, **kwargs):
    rule = segments.parse(spec) if spec is not None else None
    with queue.sessions() as session:
        return [c.name for c in session.scalars(segments.audience(rule, clock.now(), **kwargs)).all()]


@pytest.mark.parametrize("spec, expected", [
    (None, ["Ann", "Bob", "Cat"]),  # Dan never agreed, Eve said STOP
    ({"tag": "vip"}, ["Ann", "Bob"]),
    ({"group": "fashion"}, ["Ann", "Cat"]),
    ({"all": [{"tag": "vip"}, {"group": "fashion"}]}, ["Ann"]),
    ({"any": [{"field": "city", "equals": "Leeds"}, {"group": "fashion"}]}, ["Ann", "Bob", "Cat"]),
    ({"not": {"field": "city", "exists": True}}, ["Ann"]),
    ({"replied_within_days": 30}, []),
    ({"never_delivered": True}, ["Ann", "Bob", "Cat"]),
])
def test_segments(people, clock, spec, expected):
    assert names(people, clock, spec) == expected


@pytest.mark.parametrize("spec, expected", [
    ({"not": {"language": "ru"}}, ["Ann", "Bob", "Cat"]),  # nobody's language is known: nobody speaks Russian
    ({"not": {"field": "city", "equals": "Leeds"}}, ["Ann"]),  # no city is not Leeds
    ({"not": {"replied_within_days": 30}}, ["Ann", "Bob", "Cat"]),  # never replied: not within 30 days
])
def test_not_includes_those_the_rule_knows_nothing_about(people, clock, spec, expected):
    """SQL's NULL is neither true nor false: "not X" must still hold where X's column is empty."""
    assert names(people, clock, spec) == expected


def test_without_consent_filter(people, clock):
    assert names(people, clock, {"tag": "vip"}, require_consent=False) == ["Ann", "Bob", "Dan", "Eve"]


def test_activity_and_flags(people, clock):
    message = people.enqueue("+447700900001", "hi")
    people.finish(message.id, MessageStatus.DELIVERED)
    with people.sessions.begin() as session:
        bob = session.scalar(select(Contact).where(Contact.name == "Bob"))
        bob.last_inbound_at = clock.now() - timedelta(days=3)
        cat = session.scalar(select(Contact).where(Contact.name == "Cat"))
        cat.flag = "unreachable"
    assert names(people, clock, {"never_delivered": True}) == ["Bob"]
    assert names(people, clock, {"replied_within_days": 7}) == ["Bob"]
    assert names(people, clock, None) == ["Ann", "Bob"]  # flagged numbers stay off


@pytest.mark.parametrize("spec, error", [
    ({}, "one rule"), ({"tag": ""}, "segment.tag"), ({"all": []}, "non-empty list"),
    ({"any": [{"tag": "a"}, {"colour": "red"}]}, r"segment.any\[1\]: unknown rule 'colour'"),
    ({"replied_within_days": -1}, "positive"), ({"field": "city", "contains": "x"}, "equals"),
    ({"tag": "a", "group": "b"}, "one rule per object"), ([], "must be an object"),
])
def test_bad_segments_are_refused_clearly(spec, error):
    with pytest.raises(SegmentError, match=error):
        segments.parse(spec)
