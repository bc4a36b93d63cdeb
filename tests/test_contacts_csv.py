"""CSV import and export on a real SQLite file: an exact per-row report, and a second import changes nothing."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

from gateway.audience import contacts_csv
from gateway.audience.contacts_csv import CsvFileError, RowResult
from gateway.audience.models import Contact, GroupMember
from gateway.consent.models import ConsentEvent
from gateway.consent.optin import Audience

FILE = """\ufeffNumber,Name,Birthday,Tags,Groups,Consent,Consent_Proof,City,Timezone,Language
07700 900001,Ann,1990-04-01,vip;local,newsletter,yes,paper form 2026-05-01,Leeds,,en
+44 7700 900002,Bob,,,,no,,,,
12,Bad Number,,,,,,,,
07700 900003,Cat,1990-13-01,,,,,,,
07700 900004,Dan,01/02/1990,,,,,,,
+447700900001,Ann Again,,new,offers,,,,,
07700 900005,Eve,,,,yes,,,,
07700 900006,Fay,,,,maybe,,,,
07700 900007,Gus,,,,,,,Mars/Olympus,
07700 900008,Hal,,,,,,,,xx_yy
+1 212 555 0100,Ivy,,,,yes,web form,,,
07700 900009,Jon,,,,,,,,,extra
"""

EXPECTED = [
    RowResult(2, "+447700900001", "created"),
    RowResult(3, "+447700900002", "created"),
    RowResult(4, "12", "rejected", "invalid number: '12' has the wrong number of digits for its country"),
    RowResult(5, "07700 900003", "rejected", "bad date '1990-13-01' (expected YYYY-MM-DD)"),
    RowResult(6, "07700 900004", "rejected", "bad date '01/02/1990' (expected YYYY-MM-DD)"),
    RowResult(7, "+447700900001", "merged", "duplicate of line 2"),
    RowResult(8, "07700 900005", "rejected", "consent without proof: say in consent_proof where and when they agreed"),
    RowResult(9, "07700 900006", "rejected", "bad consent 'maybe' (expected yes or no)"),
    RowResult(10, "07700 900007", "rejected", "unknown timezone 'Mars/Olympus' (expected e.g. Europe/London)"),
    RowResult(11, "07700 900008", "rejected", "bad language 'xx_yy' (expected a code like en or pt-BR)"),
    RowResult(12, "+12125550100", "created"),
    RowResult(13, "07700 900009", "rejected", "1 more value(s) than the header has columns"),
]


def run_import(queue, clock, text=FILE):
    return contacts_csv.import_file(queue.sessions, io.BytesIO(text.encode()), clock=clock)


def counts(queue):
    with queue.sessions() as session:
        return (session.scalar(select(func.count()).select_from(Contact)),
                session.scalar(select(func.count()).select_from(ConsentEvent)),
                session.scalar(select(func.count()).select_from(GroupMember)))


def test_report_is_exact_and_good_rows_are_imported(queue, clock):
    report = run_import(queue, clock)
    assert report.rows == EXPECTED
    with queue.sessions() as session:
        ann = session.scalar(select(Contact).where(Contact.number == "+447700900001"))
        ivy = session.scalar(select(Contact).where(Contact.number == "+12125550100"))
    assert ann.name == "Ann Again" and str(ann.birthday) == "1990-04-01" and ann.fields == {"city": "Leeds"}
    assert ann.timezone is None and ivy.timezone == "America/New_York"  # derived from the number
    assert counts(queue) == (3, 2, 2)  # Ann + Ivy opted in; Ann in newsletter and offers


def test_importing_twice_changes_nothing(queue, clock):
    run_import(queue, clock)
    before = counts(queue)
    again = run_import(queue, clock)
    assert counts(queue) == before
    assert [r.outcome for r in again.rows if r.outcome != "rejected"] == ["unchanged", "unchanged", "merged", "unchanged"]


def test_an_import_never_undoes_a_stop(queue, clock):
    run_import(queue, clock)
    Audience(queue.sessions, clock, queue).opt_out("+447700900001", source="keyword", detail="STOP")
    again = run_import(queue, clock)
    assert again.rows[0].reason.startswith("not opted in: the contact opted out (keyword)")
    with queue.sessions() as session:
        kinds = session.scalars(select(ConsentEvent.kind).join(Contact).where(Contact.number == "+447700900001")
                                .order_by(ConsentEvent.id)).all()
    assert kinds == ["opt_in", "opt_out"]


def test_updates_are_reported(queue, clock):
    run_import(queue, clock)
    report = run_import(queue, clock, "number,name,tags\n+447700900002,Robert,\n+447700900001,,gold\n")
    assert [(r.line, r.outcome) for r in report.rows] == [(2, "updated"), (3, "updated")]


@pytest.mark.parametrize("text, error", [
    ("name,email\nAnn,a@example.com\n", "no number column"),
    ("number,number\n1,2\n", "twice"),
])
def test_a_file_that_cannot_be_read_imports_nothing(queue, clock, text, error):
    with pytest.raises(CsvFileError, match=error):
        run_import(queue, clock, text)
    assert counts(queue) == (0, 0, 0)


def test_not_utf8_is_refused_clearly(queue, clock):
    with pytest.raises(CsvFileError, match="UTF-8"):
        contacts_csv.import_file(queue.sessions, io.BytesIO("number,name\n07700900001,Zoë\n".encode("utf-16")),
                                 clock=clock)


def test_export_round_trips_and_defuses_formulas(queue, clock):
    run_import(queue, clock)
    run_import(queue, clock, "number,name,note\n+447700900003,=HYPERLINK(\"x\"),@SUM(A1)\n")
    out = io.StringIO()
    assert contacts_csv.export(queue.sessions, out) == 4
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    ann = rows[0]
    assert (ann["number"], ann["tags"], ann["groups"], ann["consent_state"], ann["city"]) == (
        "+447700900001", "local;new;vip", "newsletter;offers", "opted_in", "Leeds")
    assert rows[1]["consent_state"] == "none"
    assert rows[3]["name"].startswith("'=") and rows[3]["note"].startswith("'@")
    again = contacts_csv.import_file(queue.sessions, io.BytesIO(out.getvalue().encode()), clock=clock)
    assert {r.outcome for r in again.rows if r.number != "+447700900003"} == {"unchanged"}


def test_export_defuses_formulas_in_tags_and_groups_too(queue, clock):
    """Tag and group names come from imports and the API as freely as names do."""
    run_import(queue, clock, "number,tags,groups\n+447700900003,=cmd|' /C calc'!A0,@SUM(A1)\n")
    out = io.StringIO()
    contacts_csv.export(queue.sessions, out)
    row = next(csv.DictReader(io.StringIO(out.getvalue())))
    assert row["tags"] == "'=cmd|' /C calc'!A0" and row["groups"] == "'@SUM(A1)"


def test_a_guessed_timezone_is_recorded_as_one_and_never_exported_as_stated(queue, clock):
    data = "number,name,timezone\n+79121234567,Olga,\n+79121234568,Pavel,Asia/Yekaterinburg\n"
    contacts_csv.import_file(queue.sessions, io.BytesIO(data.encode()), clock=clock)
    with queue.sessions() as session:
        zones = {c.name: (c.timezone, c.timezone_guessed) for c in session.scalars(select(Contact))}
    assert zones == {"Olga": ("Europe/Moscow", True), "Pavel": ("Asia/Yekaterinburg", False)}
    out = io.StringIO()
    contacts_csv.export(queue.sessions, out)
    exported = {row["name"]: row["timezone"] for row in csv.DictReader(io.StringIO(out.getvalue()))}
    assert exported == {"Olga": "", "Pavel": "Asia/Yekaterinburg"}  # re-imported, a guess stays a guess
    stated = "number,timezone\n+79121234567,Europe/Moscow\n"  # the guess was right: now it is stated
    report = contacts_csv.import_file(queue.sessions, io.BytesIO(stated.encode()), clock=clock)
    assert report.rows[0].outcome == "updated"
    with queue.sessions() as session:
        olga = session.scalar(select(Contact).where(Contact.name == "Olga"))
        assert (olga.timezone, olga.timezone_guessed) == ("Europe/Moscow", False)
