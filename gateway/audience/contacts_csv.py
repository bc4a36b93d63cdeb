"""CSV import and export of contacts.

Import reports every row: created, updated, unchanged, merged (a duplicate of an earlier line, folded
into it) or rejected with the reason (invalid number, bad date, unknown timezone, consent without
proof...), and imports every good row, so one bad line never costs the rest. Importing the same file
twice changes nothing the second time. An imported opt-in needs declared proof (`consent_proof`)
and never overrides a customer's own opt-out: old lists resurface, STOPs must not be undone by them.

Columns (header names, any case): number (or phone, mobile, msisdn; required), name, language,
timezone, birthday (YYYY-MM-DD), tags and groups (separated by ";"), consent (yes/no) and
consent_proof; any other column is a custom field. `consent_state` and `flag` (written by the
export) are ignored on the way in.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.audience import contacts
from gateway.audience.models import Contact, ContactTag, Group, GroupMember, Tag
from gateway.consent import ledger
from gateway.consent.models import ConsentEvent, ConsentKind, ConsentScope, ConsentSource
from gateway.core.clock import Clock
from gateway.core.numbers import normalise
from modem.errors import InvalidNumber

NUMBER_COLUMNS = ("number", "phone", "mobile", "msisdn")
KNOWN = {"name", "language", "timezone", "birthday", "tags", "groups", "consent", "consent_proof"}
EXPORT_ONLY = {"consent_state", "flag"}
YES = {"yes", "y", "true", "1", "opt_in", "opted_in"}
NO = {"no", "n", "false", "0", ""}
CHUNK = 2000
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
LANGUAGE_CODE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")
MAX_FIELD = 1000
EXTRA = "\0extra"  # where DictReader puts values beyond the header


class CsvFileError(ValueError):
    """The file as a whole can't be read (no number column, not UTF-8): nothing was imported."""


@dataclass
class Record:
    line: int
    number: str
    name: str | None = None
    language: str | None = None
    timezone: str | None = None
    birthday: date | None = None
    fields: dict[str, str] = field(default_factory=dict)
    tags: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    consent: bool = False
    proof: str | None = None

    def merge(self, later: Record) -> None:
        """A later line for the same number: its non-empty values win; tags, groups, fields add up."""
        for name in ("name", "language", "timezone", "birthday", "proof"):
            value = getattr(later, name)
            if value is not None:
                setattr(self, name, value)
        self.fields.update(later.fields)
        self.tags |= later.tags
        self.groups |= later.groups
        self.consent = self.consent or later.consent


@dataclass(frozen=True)
class RowResult:
    line: int
    number: str | None  # E.164 when it could be read, else the text as given
    outcome: str  # created | updated | unchanged | merged | rejected
    reason: str = ""


@dataclass
class Parsed:
    records: list[Record]
    results: list[RowResult]  # rejected and merged rows; the rest are decided by the database


@dataclass
class ImportReport:
    rows: list[RowResult]

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.rows if r.outcome == outcome)

    def summary(self) -> dict[str, int]:
        return {k: self.count(k) for k in ("created", "updated", "unchanged", "merged", "rejected")}


# ---- parsing (pure) -----------------------------------------------------------------------------
def parse(text_lines: Iterable[str], default_region: str) -> Parsed:
    """Read and check every row; duplicates of a number are merged into its first line."""
    reader = csv.DictReader(text_lines, restkey=EXTRA)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    number_column = next((h for h in NUMBER_COLUMNS if h in header), None)
    if number_column is None:
        raise CsvFileError(f"no number column: the header must name one of {', '.join(NUMBER_COLUMNS)}")
    if len(set(header)) != len(header):
        raise CsvFileError("the header names a column twice")
    reader.fieldnames = header
    records: dict[str, Record] = {}
    results: list[RowResult] = []
    for row in reader:
        line = reader.line_num
        raw_number = (row.get(number_column) or "").strip()
        try:
            record = _record(row, line, number_column, default_region)
        except ValueError as exc:
            results.append(RowResult(line, raw_number or None, "rejected", str(exc)))
            continue
        first = records.get(record.number)
        if first is None:
            records[record.number] = record
        else:
            first.merge(record)
            results.append(RowResult(line, record.number, "merged", f"duplicate of line {first.line}"))
    return Parsed(list(records.values()), results)


def _record(row: dict[Any, Any], line: int, number_column: str, region: str) -> Record:
    extra = row.get(EXTRA)
    if extra:
        raise ValueError(f"{len(extra)} more value(s) than the header has columns")
    values = {k: (v or "").strip() for k, v in row.items() if k != EXTRA}
    for key, value in values.items():
        if len(value) > MAX_FIELD:
            raise ValueError(f"{key}: longer than {MAX_FIELD} characters")
    raw = values.get(number_column, "")
    if not raw:
        raise ValueError("invalid number: empty")
    try:
        number = normalise(raw, region)
    except InvalidNumber as exc:
        raise ValueError(f"invalid number: {exc}") from None
    record = Record(line=line, number=number, name=values.get("name") or None)
    if values.get("language"):
        if not LANGUAGE_CODE.fullmatch(values["language"]):
            raise ValueError(f"bad language {values['language']!r} (expected a code like en or pt-BR)")
        record.language = values["language"].lower()
    if values.get("timezone"):
        try:
            ZoneInfo(values["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {values['timezone']!r} (expected e.g. Europe/London)") from None
        record.timezone = values["timezone"]
    if values.get("birthday"):
        record.birthday = _date(values["birthday"])
    record.tags = _names(values.get("tags", ""))
    record.groups = _names(values.get("groups", ""))
    flag = values.get("consent", "").lower()
    if flag not in YES | NO:
        raise ValueError(f"bad consent {values['consent']!r} (expected yes or no)")
    record.consent = flag in YES
    record.proof = values.get("consent_proof") or None
    if record.consent and not record.proof:
        raise ValueError("consent without proof: say in consent_proof where and when they agreed")
    skip = KNOWN | EXPORT_ONLY | {number_column}
    record.fields = {k: v for k, v in values.items() if k not in skip and v and k}
    return record


def _date(text: str) -> date:
    try:
        if not _DATE.fullmatch(text):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"bad date {text!r} (expected YYYY-MM-DD)") from None


def _names(text: str) -> set[str]:
    return {name.strip()[:100] for name in text.split(";") if name.strip()}


# ---- import ---------------------------------------------------------------------------------------
def import_file(sessions: sessionmaker[Session], handle: IO[bytes] | IO[str], *, clock: Clock,
                default_region: str = "GB", source: str = "import") -> ImportReport:
    """Import a CSV (bytes are read as UTF-8, with or without a BOM). Good rows are committed in
    chunks, so a huge file neither holds one giant transaction nor loses finished chunks."""
    lines = _text_lines(handle)
    parsed = parse(lines, default_region)
    results = list(parsed.results)
    now = clock.now()
    tag_ids: dict[str, int] = {}
    group_ids: dict[str, int] = {}
    for start in range(0, len(parsed.records), CHUNK):
        chunk = parsed.records[start:start + CHUNK]
        with sessions.begin() as session:
            results += _import_chunk(session, chunk, now, source, tag_ids, group_ids)
    results.sort(key=lambda r: r.line)
    return ImportReport(results)


def _text_lines(handle: IO[bytes] | IO[str]) -> Iterator[str]:
    if isinstance(handle, io.TextIOBase):
        return iter(handle)  # type: ignore[arg-type]
    try:
        data = handle.read()
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise CsvFileError(f"not UTF-8 text ({exc}); save the file as CSV UTF-8") from None
    return iter(io.StringIO(text, newline=""))


def _import_chunk(session: Session, chunk: list[Record], now: datetime, source: str,
                  tag_ids: dict[str, int], group_ids: dict[str, int]) -> list[RowResult]:
    numbers = [r.number for r in chunk]
    existing = {c.number: c for c in session.scalars(select(Contact).where(Contact.number.in_(numbers))).all()}
    new = [r for r in chunk if r.number not in existing]
    ids: dict[str, int] = {c.number: c.id for c in existing.values()}
    if new:
        rows = [dict(number=r.number, name=r.name, language=r.language, birthday=r.birthday,
                     **_zone(r), fields=dict(r.fields), source=source, created_at=now, updated_at=now) for r in new]
        session.execute(insert(Contact), rows)  # executemany: far faster than RETURNING per row
        ids.update((number, contact_id) for number, contact_id in session.execute(
            select(Contact.number, Contact.id).where(Contact.number.in_([r.number for r in new]))))
    results: list[RowResult] = []
    changed: set[str] = set()
    for record in chunk:
        contact = existing.get(record.number)
        if contact is not None and _update(contact, record, now):
            changed.add(record.number)
    changed |= _link(session, chunk, ids, ContactTag, "tag_id", lambda r: r.tags, _ids(session, Tag, tag_ids, chunk, "tags"))
    changed |= _link(session, chunk, ids, GroupMember, "group_id", lambda r: r.groups,
                     _ids(session, Group, group_ids, chunk, "groups", now), source=source, added_at=now)
    notes = _consent(session, [r for r in chunk if r.consent], ids, existing, now, changed)
    for record in chunk:
        if record.number not in existing:
            outcome = "created"
        else:
            outcome = "updated" if record.number in changed else "unchanged"
        results.append(RowResult(record.line, record.number, outcome, notes.get(record.number, "")))
    return results


def _zone(record: Record) -> dict[str, Any]:
    """The stated timezone, else the number's (perhaps a guess)."""
    if record.timezone:
        return {"timezone": record.timezone, "timezone_guessed": False}
    zone = contacts.timezone_for(record.number)
    return {"timezone": zone.name, "timezone_guessed": zone.guessed}


def _update(contact: Contact, record: Record, now: datetime) -> bool:
    changed = False
    for name in ("name", "language", "timezone", "birthday"):
        value = getattr(record, name)
        if value is not None and getattr(contact, name) != value:
            setattr(contact, name, value)
            changed = True
    if record.timezone is not None and contact.timezone_guessed:
        contact.timezone_guessed = False  # stated now, even if it is the zone we guessed
        changed = True
    merged = {**(contact.fields or {}), **record.fields}
    if merged != (contact.fields or {}):
        contact.fields = merged
        changed = True
    if changed:
        contact.updated_at = now
    return changed


def _ids(session: Session, model: type[Tag] | type[Group], cache: dict[str, int], chunk: list[Record],
         attribute: str, now: datetime | None = None) -> dict[str, int]:
    """Ids of the tag or group names this chunk uses, creating the missing ones."""
    wanted = {name for r in chunk for name in getattr(r, attribute)} - set(cache)
    if wanted:
        for row in session.execute(select(model.name, model.id).where(model.name.in_(wanted))).all():
            cache[row[0]] = row[1]
        for name in sorted(wanted - set(cache)):
            values: dict[str, Any] = {"name": name}
            if model is Group:
                values["created_at"] = now
            cache[name] = session.execute(insert(model).returning(model.id), [values]).scalar_one()
    return cache


def _link(session: Session, chunk: list[Record], ids: dict[str, int], link: Any, key: str,
          names_of: Any, name_ids: dict[str, int], **extra: Any) -> set[str]:
    """Add the missing (contact, tag/group) links; returns the numbers that gained one."""
    wanted = {(ids[r.number], name_ids[name]): r.number for r in chunk for name in names_of(r)}
    if not wanted:
        return set()
    contact_ids = {c for c, _ in wanted}
    present = set(session.execute(select(link.contact_id, getattr(link, key))
                                  .where(link.contact_id.in_(contact_ids))).all())
    missing = [pair for pair in wanted if pair not in present]
    if missing:
        session.execute(insert(link), [{"contact_id": c, key: t, **extra} for c, t in missing])
    return {wanted[pair] for pair in missing}


def _consent(session: Session, wanting: list[Record], ids: dict[str, int], existing: dict[str, Contact],
             now: datetime, changed: set[str]) -> dict[str, str]:
    """Opt-ins with declared proof; returns a note per number whose opt-in was not applied."""
    notes: dict[str, str] = {}
    known = [ids[r.number] for r in wanting if r.number in existing]
    ledgers: dict[int, list[ledger.EventView]] = {}
    if known:
        for row in session.execute(select(ConsentEvent.contact_id, ConsentEvent.kind, ConsentEvent.scope,
                                          ConsentEvent.source, ConsentEvent.at)
                                   .where(ConsentEvent.contact_id.in_(known)).order_by(ConsentEvent.id)).all():
            ledgers.setdefault(row[0], []).append(ledger.EventView(*row[1:]))
    events = []
    for record in wanting:
        contact_id = ids[record.number]
        state = ledger.derive(ledgers.get(contact_id, []))
        if state.marketing_allowed:
            continue
        rule = ledger.opt_in_rule(state, ConsentSource.IMPORT)
        if not rule.grant:  # a list sends no confirmation requests: staff or the API may ask them
            notes[record.number] = f"not opted in: {rule.reason}"
            continue
        events.append({"contact_id": contact_id, "kind": ConsentKind.OPT_IN, "scope": ConsentScope.MARKETING,
                       "source": ConsentSource.IMPORT, "at": now, "detail": f"import: {record.proof}"})
        changed.add(record.number)
    if events:
        session.execute(insert(ConsentEvent), events)
    return notes


# ---- export ---------------------------------------------------------------------------------------
def export(sessions: sessionmaker[Session], out: IO[str]) -> int:
    """Every contact as CSV (the import's columns plus consent_state and flag). Returns the count."""
    with sessions() as session:
        tags = _names_by_contact(session, select(ContactTag.contact_id, Tag.name).join(Tag, Tag.id == ContactTag.tag_id))
        groups = _names_by_contact(session, select(GroupMember.contact_id, Group.name)
                                   .join(Group, Group.id == GroupMember.group_id))
        states = _states(session)
        keys: set[str] = set()
        for fields in session.scalars(select(Contact.fields)).all():
            keys |= set(fields or {})
        custom = sorted(keys - KNOWN - EXPORT_ONLY - {"number"})
        writer = csv.writer(out)
        writer.writerow(["number", "name", "language", "timezone", "birthday", "tags", "groups",
                         "consent_state", "flag", *custom])
        count = 0
        for contact in session.scalars(select(Contact).order_by(Contact.id).execution_options(yield_per=2000)):
            fields = contact.fields or {}
            stated_zone = "" if contact.timezone_guessed else contact.timezone or ""  # a guess must not come back as stated
            writer.writerow([contact.number, safe_cell(contact.name or ""), contact.language or "", stated_zone,
                             contact.birthday.isoformat() if contact.birthday else "",
                             safe_cell(";".join(sorted(tags.get(contact.id, [])))),
                             safe_cell(";".join(sorted(groups.get(contact.id, [])))),
                             states.get(contact.id, "none"), contact.flag or "",
                             *(safe_cell(str(fields.get(k, ""))) for k in custom)])
            count += 1
    return count


def safe_cell(value: str) -> str:
    """Spreadsheets run cells that start with = + - @ as formulas: customer text must stay text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") and not value[1:].replace(" ", "").isdigit() else value


def _names_by_contact(session: Session, query: Any) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for contact_id, name in session.execute(query).all():
        out.setdefault(contact_id, []).append(name)
    return out


def _states(session: Session) -> dict[int, str]:
    latest = ledger.latest_decisions().subquery()
    rows = session.execute(select(latest.c.contact_id, ConsentEvent.kind, ConsentEvent.scope)
                           .join(ConsentEvent, ConsentEvent.id == latest.c.event_id)).all()
    return {cid: ("opted_in" if kind == ConsentKind.OPT_IN else
                  "opted_out_all" if scope == ConsentScope.ALL else "opted_out") for cid, kind, scope in rows}
