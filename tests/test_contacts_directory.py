"""The audience's console-facing functions on a real database: search on indexes (number and name
prefixes in any script's case, tags, groups, pages by id), a contact's details saved and erased,
groups with their counts, named segments and their counts, consent history with the customer's
text, the column mapping of an import (pure), and an opt-in's `along` in the ledger's transaction."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from gateway.audience import contacts, contacts_csv, directory, import_mapping, saved_segments
from gateway.audience.models import Contact
from gateway.consent import history, ledger
from gateway.consent.models import ConsentKind, ConsentSource
from gateway.consent.optin import Audience
from gateway.inbound.models import InboundMessage
from gateway.users import audit
from gateway.users.models import AuditEntry
from web.console import segment_rules


def _save(queue, clock, number: str, name: str | None = None, **kwargs) -> int:
    with queue.sessions.begin() as session:
        return directory.save(session, None, directory.Details(number=number, name=name, **kwargs), now=clock.now(),
                              default_region="GB").id


def _found(queue, **query) -> list[str | None]:
    with queue.sessions() as session:
        return [c.name for c in directory.search(session, directory.Search(**query), "GB").contacts]


# ---- search -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("typed, region, starts", [
    ("07700 900", "GB", ["+07700900", "+447700900"]),
    ("+44 7700", "GB", ["+447700"]),
    ("0044 7700", "GB", ["+447700"]),
    ("7916", "RU", ["+7916", "+77916"]),
    ("Olga", "GB", []),
    ("", "GB", []),
])
def test_number_prefixes(typed, region, starts):
    assert directory.number_prefixes(typed, region) == starts


def test_name_variants_know_every_scripts_cases():
    assert directory.name_variants("ольга") == ["ольга", "Ольга", "ОЛЬГА"]


def test_search_by_name_number_tag_group_newest_first(queue, clock):
    _save(queue, clock, "+447700900001", "Ольга Петрова", tags=["vip"])
    _save(queue, clock, "+447700900002", "Oliver", groups=["shop"])
    _save(queue, clock, "+79161234567", "olly")
    assert _found(queue, text="ОЛЬ") == ["Ольга Петрова"]
    assert _found(queue, text="ol") == ["olly", "Oliver"]
    assert _found(queue, text="07700 900") == ["Oliver", "Ольга Петрова"]
    assert _found(queue, text="+7") == ["olly"]
    assert _found(queue, tag="vip") == ["Ольга Петрова"]
    assert _found(queue, group="shop", text="Ol") == ["Oliver"]
    assert _found(queue, text="Petrova") == []  # by how a name starts, as the index can answer


def test_search_pages_by_id(queue, clock):
    ids = [_save(queue, clock, f"+4477009001{i:02d}", f"n{i}") for i in range(5)]
    with queue.sessions() as session:
        first = directory.search(session, directory.Search(), "GB", page=2)
        assert [c.id for c in first.contacts] == [ids[4], ids[3]] and first.next_before == ids[3]
        last = directory.search(session, directory.Search(before=ids[1]), "GB", page=2)
        assert [c.id for c in last.contacts] == [ids[0]] and last.next_before is None


@pytest.mark.sqlite_only
def test_the_search_uses_the_name_and_number_indexes(queue, clock):
    """SQLite's plan names the indexes; a scan of every contact would not."""
    from sqlalchemy import text
    from sqlalchemy.dialects import sqlite

    from gateway.audience.directory import _text_condition

    statement = select(Contact.id).where(_text_condition("07700", "GB")).compile(
        dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
    with queue.sessions() as session:
        plan = " ".join(str(row[-1]) for row in session.execute(text(f"EXPLAIN QUERY PLAN {statement}")))
    assert "ix_contacts_name" in plan and "sqlite_autoindex_contacts_1 (number>? AND number<?)" in plan
    assert "SCAN contacts" not in plan


# ---- details ----------------------------------------------------------------------------------------
def test_details_are_checked_with_the_domains_rules(queue, clock):
    with pytest.raises(directory.DetailsError) as wrong:
        _save(queue, clock, "12")
    assert wrong.value.field == "number" and "digits" in str(wrong.value)
    with pytest.raises(directory.DetailsError) as language:
        _save(queue, clock, "+447700900001", language="english please")
    assert language.value.field == "language"
    with pytest.raises(directory.DetailsError, match="line 2"):
        directory.fields_of("city: Leeds\nno separator")
    assert directory.fields_of("city: Leeds\n\nshoe size: 42") == {"city": "Leeds", "shoe size": "42"}
    assert directory.names_of(" vip, new;vip\n") == ["vip", "new"]


def test_save_replaces_tags_and_groups_and_keeps_the_number_unique(queue, clock):
    first = _save(queue, clock, "07700 900001", "Ann", tags=["a", "b"], groups=["g1", "g2"])
    _save(queue, clock, "07700 900002", "Bob")
    with queue.sessions.begin() as session:
        contact = session.get(Contact, first)
        directory.save(session, contact, directory.Details(number="+447700900001", name="Ann", tags=["b", "c"],
                                                           groups=["g2"]), now=clock.now(), default_region="GB")
    with queue.sessions() as session:
        assert directory.tags_of(session, first) == ["b", "c"]
        assert contacts.groups_of(session, first) == ["g2"]
    with pytest.raises(directory.DetailsError, match="another contact"), queue.sessions.begin() as session:
        directory.save(session, session.get(Contact, first), directory.Details(number="07700 900002"),
                       now=clock.now(), default_region="GB")


def test_a_number_with_a_consent_history_is_not_changed(queue, clock):
    """The history belongs to whoever had the number: an opt-in given from it never covers another."""
    fresh = _save(queue, clock, "+447700900001", "Typo")
    with queue.sessions.begin() as session:
        directory.save(session, session.get(Contact, fresh), directory.Details(number="+447700900009", name="Typo"),
                       now=clock.now(), default_region="GB")  # no history yet: a typo is corrected
    with queue.sessions.begin() as session:
        contact = session.get(Contact, fresh)
        ledger.record(session, contact, ConsentKind.OPT_IN, source=ConsentSource.STAFF, at=clock.now())
    with pytest.raises(directory.DetailsError, match="consent history") as refused, queue.sessions.begin() as session:
        directory.save(session, session.get(Contact, fresh), directory.Details(number="+447700900002"),
                       now=clock.now(), default_region="GB")
    assert refused.value.field == "number"
    with queue.sessions() as session:
        assert session.get(Contact, fresh).number == "+447700900009"


def test_erase_leaves_the_number_and_says_whether_it_needs_its_opt_out(queue, clock):
    contact_id = _save(queue, clock, "+447700900001", "Ann", tags=["a"], groups=["g"], fields={"city": "Leeds"})
    with queue.sessions.begin() as session:
        assert directory.erase(session, session.get(Contact, contact_id), clock.now()) is True
        ledger.record(session, session.get(Contact, contact_id), ConsentKind.OPT_OUT, source=ConsentSource.STAFF,
                      at=clock.now())
    with queue.sessions.begin() as session:
        contact = session.get(Contact, contact_id)
        assert (contact.name, contact.fields, contact.number) == (None, {}, "+447700900001")
        assert directory.erase(session, contact, clock.now()) is False


def test_groups_with_counts(queue, clock):
    _save(queue, clock, "+447700900001", groups=["a", "b"])
    _save(queue, clock, "+447700900002", groups=["a"])
    with queue.sessions.begin() as session:
        directory.create_group(session, "empty", clock.now())
        with pytest.raises(directory.DetailsError, match="exists"):
            directory.create_group(session, "a", clock.now())
    with queue.sessions() as session:
        assert [(g.name, g.members) for g in directory.groups_with_counts(session)] == [("a", 2), ("b", 1), ("empty", 0)]


# ---- segments ---------------------------------------------------------------------------------------
def test_a_segments_count_is_the_segment_evaluation_with_and_without_consent(queue, clock):
    ann = _save(queue, clock, "+447700900001", tags=["vip"])
    _save(queue, clock, "+447700900002", tags=["vip"], language="ru")
    _save(queue, clock, "+447700900003")
    with queue.sessions.begin() as session:
        ledger.record(session, session.get(Contact, ann), ConsentKind.OPT_IN, source=ConsentSource.STAFF, at=clock.now())
    with queue.sessions() as session:
        assert saved_segments.count(session, {"tag": "vip"}, clock.now()) == saved_segments.Count(2, 1)
        assert saved_segments.count(session, {"all": [{"tag": "vip"}, {"not": {"language": "ru"}}]},
                                    clock.now()) == saved_segments.Count(1, 1)


def test_segments_are_saved_under_unique_names_with_checked_rules(queue, clock):
    with queue.sessions.begin() as session:
        first = saved_segments.save(session, None, "VIP", {"tag": "vip"}, clock.now())
        with pytest.raises(saved_segments.SegmentError) as taken:
            saved_segments.save(session, None, "VIP", {"tag": "x"}, clock.now())
        assert taken.value.field == "name"
        with pytest.raises(saved_segments.SegmentError) as bad:
            saved_segments.save(session, first, "VIP", {"colour": "red"}, clock.now())
        assert bad.value.field == "rule" and "unknown rule" in str(bad.value)
    with queue.sessions() as session:
        assert [(s.name, s.rule) for s in saved_segments.all_segments(session)] == [("VIP", {"tag": "vip"})]


@pytest.mark.parametrize("match, rows, spec", [
    ("all", [segment_rules.Condition("tag", "vip")], {"all": [{"tag": "vip"}]}),
    ("any", [segment_rules.Condition("group", "a", negate=True), segment_rules.Condition()],
     {"any": [{"not": {"group": "a"}}]}),
    ("all", [segment_rules.Condition("field", "Leeds", "city"), segment_rules.Condition("field", "", "vip")],
     {"all": [{"field": "city", "equals": "Leeds"}, {"field": "vip", "exists": True}]}),
    ("all", [segment_rules.Condition("replied_within_days", "30"), segment_rules.Condition("never_delivered")],
     {"all": [{"replied_within_days": 30}, {"never_delivered": True}]}),
])
def test_the_segment_form_rows_make_the_spec_and_back(match, rows, spec):
    assert segment_rules.spec_of(match, rows) == spec
    back_match, back = segment_rules.conditions_of(spec)
    assert back_match == match and segment_rules.spec_of(back_match, back) == spec


def test_the_segment_form_says_which_row_is_wrong():
    with pytest.raises(segment_rules.RuleFormError) as empty:
        segment_rules.spec_of("all", [segment_rules.Condition()])
    assert empty.value.row == 0
    with pytest.raises(segment_rules.RuleFormError) as days:
        segment_rules.spec_of("all", [segment_rules.Condition("tag", "a"), segment_rules.Condition("replied_within_days", "-1")])
    assert days.value.row == 2


# ---- consent history and the opt-in's companion ------------------------------------------------------
def test_the_history_is_newest_first_with_the_customers_text(queue, clock):
    contact_id = _save(queue, clock, "+447700900001")
    with queue.sessions.begin() as session:
        contact = session.get(Contact, contact_id)
        ledger.record(session, contact, ConsentKind.OPT_IN, source=ConsentSource.IMPORT, at=clock.now(), detail="paper")
        message = InboundMessage(contact_id=contact_id, modem="sim1", sender=contact.number, text="STOP please",
                                 received_at=clock.now())
        session.add(message)
        session.flush()
        ledger.record(session, contact, ConsentKind.OPT_OUT, source=ConsentSource.KEYWORD,
                      at=clock.now() + timedelta(days=1), inbound_message_id=message.id)
    with queue.sessions() as session:
        entries = history.entries(session, contact_id)
    assert [(e.event.kind, e.customer_text) for e in entries] == [("opt_out", "STOP please"), ("opt_in", None)]


def test_along_commits_with_the_ledger_entry_or_not_at_all(queue, clock):
    audience = Audience(queue.sessions, clock, queue)

    def audited(session, contact, event):
        audit.record(session, clock, "opted_out", actor="sam", detail=contact.number)

    audience.opt_out("+447700900001", source=ConsentSource.STAFF, along=audited)

    def failing(session, contact, event):
        audit.record(session, clock, "opted_in", actor="sam", detail=contact.number)
        raise RuntimeError("the audit could not be written")

    with pytest.raises(RuntimeError):
        audience.opt_in("+447700900002", source=ConsentSource.STAFF, along=failing)
    with queue.sessions() as session:
        assert [e.action for e in session.scalars(select(AuditEntry)).all()] == ["opted_out"]
        assert contacts.find(session, "+447700900002") is None  # the opt-in rolled back with it


# ---- import mapping (pure) --------------------------------------------------------------------------
def test_a_header_the_import_reads_needs_no_mapping():
    assert not import_mapping.needs_mapping(["Phone", "Name", "City"])
    assert import_mapping.needs_mapping(["Telefon", "Имя"])
    assert import_mapping.needs_mapping(["phone", "mobile"])  # which is the number?
    assert import_mapping.guess(["Phone", "Name", "City", ""]) == ["number", "name", "field", "skip"]


def test_rewrite_maps_columns_and_applies_the_basis():
    text = "Telefon,Имя,Город,junk,consent\n07700900001,Ольга,Leeds,x,yes\n\n07700900002,Ann,,y,no\n"
    mapping = ["number", "name", "field", "skip", "consent"]
    out = list(csv.reader(io.StringIO(import_mapping.rewrite(text, mapping, import_mapping.Basis("none")))))
    assert out == [["number", "name", "город"], ["07700900001", "Ольга", "Leeds"], ["07700900002", "Ann", ""]]
    agreed = import_mapping.rewrite(text, mapping, import_mapping.Basis("all", "signed form"))
    assert list(csv.reader(io.StringIO(agreed)))[1] == ["07700900001", "Ольга", "Leeds", "yes", "signed form"]
    with pytest.raises(contacts_csv.CsvFileError, match="exactly one column as the number"):
        import_mapping.rewrite(text, ["name", "name", "skip", "skip", "skip"], import_mapping.Basis())


def test_rejected_rows_come_back_as_the_file_had_them():
    original = "Tel;x,Name\n07700900001,Ann\n\n12,\"Bad, really\"\n"
    imported = import_mapping.rewrite(original, ["number", "name"], import_mapping.Basis())
    report = contacts_csv.parse(io.StringIO(imported, newline=""), "GB")
    rows = import_mapping.rejected_rows(original, imported, report.results)
    assert rows == [["12", "Bad, really", report.results[0].reason]]
    assert report.results[0].reason.startswith("invalid number")
