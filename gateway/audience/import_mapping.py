"""A CSV as the shop has it made into the CSV `contacts_csv.import_file` reads (pure): each column
mapped to one of the import's columns, kept as a custom field or left out, and the consent basis
the person chose applied to every row. One import path: this only rewrites the file it is given.

Also the rejected rows as they were in the original file, each with the reason, for the person to
fix and import again.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.audience.contacts_csv import NUMBER_COLUMNS, CsvFileError, RowResult

TARGETS = ("number", "name", "language", "timezone", "birthday", "tags", "groups", "consent", "consent_proof")
FIELD = "field"  # kept as a custom field under its own header
SKIP = "skip"  # left out


@dataclass(frozen=True)
class Basis:
    """The consent basis chosen for the file: `file` (its consent and consent_proof columns), `none`
    (contacts only: any consent columns are left out), `all` (every row opted in with `proof`)."""

    kind: str = "file"
    proof: str = ""


def decode(data: bytes) -> str:
    """The file as text (UTF-8, with or without a BOM); CsvFileError if it is not."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvFileError(f"not UTF-8 text ({exc}); save the file as CSV UTF-8") from None


def header_of(text: str) -> list[str]:
    """The first row's cells; CsvFileError for an empty file."""
    for row in csv.reader(io.StringIO(text, newline="")):
        if any(cell.strip() for cell in row):
            return row
        break
    raise CsvFileError("the file is empty: the first line must name the columns")


def guess(header: Sequence[str]) -> list[str]:
    """What each column probably is: an import column by its name, else a custom field (empty: skip)."""
    out = []
    for cell in header:
        name = cell.strip().lower()
        if name in NUMBER_COLUMNS:
            out.append("number")
        elif name in TARGETS:
            out.append(name)
        else:
            out.append(FIELD if name else SKIP)
    return out


def needs_mapping(header: Sequence[str]) -> bool:
    """Whether the import could not read the header as it is (no number column, a column named twice)."""
    names = [cell.strip().lower() for cell in header]
    targets = [t for t in guess(header) if t not in (FIELD, SKIP)]
    return targets.count("number") != 1 or len(set(targets)) != len(targets) or len(set(names)) != len(names)


def rewrite(text: str, mapping: Sequence[str], basis: Basis) -> str:
    """The file with the header the import reads. CsvFileError when the mapping cannot work."""
    header = header_of(text)
    if len(mapping) != len(header):
        raise CsvFileError("the column choices do not match the file's columns; upload it again")
    chosen = [t for t in mapping if t not in (FIELD, SKIP)]
    if chosen.count("number") != 1:
        raise CsvFileError("choose exactly one column as the number")
    twice = sorted({t for t in chosen if chosen.count(t) > 1})
    if twice:
        raise CsvFileError(f"more than one column is chosen as {', '.join(twice)}")
    names = [target if target != FIELD else header[i].strip().lower() for i, target in enumerate(mapping)]
    if basis.kind == "none":
        names = [SKIP if n in ("consent", "consent_proof") else n for n in names]
    keep = [i for i, n in enumerate(names) if n != SKIP]
    fields = [names[i] for i in keep]
    if len(set(fields)) != len(fields):
        raise CsvFileError("a custom field has the name of another column; choose another use for one of them")
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    extra = ["consent", "consent_proof"] if basis.kind == "all" else []
    fields = [f for f in fields if f not in extra]
    writer.writerow(fields + extra)
    rows = csv.reader(io.StringIO(text, newline=""))
    next(rows)
    for row in rows:
        if not _filled(row):
            continue
        cells = [row[i] if i < len(row) else "" for i in keep if names[i] not in extra]
        cells += row[len(header):]  # values beyond the header stay, so the import rejects that row
        if basis.kind == "all":
            cells = cells[:len(fields)] + ["yes", basis.proof] + cells[len(fields):]
        writer.writerow(cells)
    return out.getvalue()


def rejected_rows(original: str, imported: str, rows: Sequence[RowResult]) -> list[list[str]]:
    """Each rejected row as the original file had it, with the reason as the last cell. The imported
    text has the same records in the same order, so a record's place maps its line back."""
    place = {}
    reader = csv.reader(io.StringIO(imported, newline=""))
    for index, _ in enumerate(row for row in reader if _filled(row)):
        place[reader.line_num] = index
    originals = [row for row in csv.reader(io.StringIO(original, newline="")) if _filled(row)]
    out = []
    for result in rows:
        if result.outcome != "rejected":
            continue
        index = place.get(result.line)
        row = originals[index] if index is not None and index < len(originals) else [result.number or ""]
        out.append([*row, result.reason])
    return out


def header_with_reason(original: str) -> list[str]:
    return [*header_of(original), "reason"]


def _filled(row: Sequence[str]) -> bool:
    return any(cell.strip() for cell in row)
