"""CSV import and export of contacts in the console.

The upload is kept in `<data_dir>/console-imports/` (the newest few only) while the person maps its
columns, made into the import's own CSV by `audience.import_mapping` (the columns' uses, the consent
basis chosen) and read by `audience.contacts_csv.import_file`, the CLI's and API's one import. The
report and the rejected rows (as the file had them, with the reason) are kept beside it for the
report page and its download. 10,000 rows import in about a second, so the page answers when done.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import login_required

from gateway.audience import contacts_csv, import_mapping
from gateway.users import audit
from web.console.contact_forms import ImportForm, MappingForm
from web.console.contacts import actor
from web.console.forms import add_error, form_status
from web.console.labels import choices
from web.console.security import client_address
from web.context import WebContext

CONTACTS_IMPORTED = "contacts_imported"
CONTACTS_EXPORTED = "contacts_exported"
FOLDER = "console-imports"
KEEP = 20  # uploads and reports kept (the newest); older ones are deleted at the next upload
SHOWN = 500  # rows of each outcome listed on the report page; the download has every rejected row
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
MAPPING_TARGETS = (*import_mapping.TARGETS, import_mapping.FIELD, import_mapping.SKIP)


def register(blueprint: Blueprint, context: WebContext) -> None:
    folder = Path(context.config.gateway.data_dir) / FOLDER

    def path(token: str, suffix: str) -> Path:
        if not _TOKEN.fullmatch(token):
            abort(404)
        return folder / f"{token}{suffix}"

    def stored(token: str, suffix: str) -> Path:
        """A file the import kept under its token, or a 404 once it is gone (or never was)."""
        kept = path(token, suffix)
        if not kept.exists():
            abort(404)
        return kept

    @blueprint.route("/contacts/import", methods=["GET", "POST"], endpoint="contacts_import")
    @login_required
    def upload() -> Any:
        form = ImportForm()
        form.basis.choices = choices("basis")
        if form.validate_on_submit():
            try:
                basis = basis_of(form)
                text = import_mapping.decode(form.file.data.read())
                header = import_mapping.header_of(text)
            except contacts_csv.CsvFileError as exc:
                add_error(form.file, str(exc))
            except ValueError:
                pass  # basis_of put its reason under the proof
            else:
                token = keep(folder, text)
                if import_mapping.needs_mapping(header):
                    return redirect(url_for("console.contacts_mapping", token=token, basis=basis.kind,
                                            proof=basis.proof or None))
                return run(token, text, import_mapping.guess(header), basis)
        return render_template("console/import.html", form=form), form_status(form, refused=422)

    @blueprint.route("/contacts/import/<token>/columns", methods=["GET", "POST"], endpoint="contacts_mapping")
    @login_required
    def mapping(token: str) -> Any:
        text = stored(token, ".csv").read_text(encoding="utf-8")
        header = import_mapping.header_of(text)
        form = MappingForm()
        form.basis.choices = choices("basis")
        form.token.data = token
        chosen = import_mapping.guess(header)
        error = None
        if form.validate_on_submit():
            chosen = [request.form.get(f"col-{i}", import_mapping.SKIP) for i in range(len(header))]
            chosen = [c if c in MAPPING_TARGETS else import_mapping.SKIP for c in chosen]
            try:
                return run(token, text, chosen, basis_of(form))
            except (contacts_csv.CsvFileError, ValueError) as exc:
                error = str(exc)
        elif not form.is_submitted():
            form.basis.data = request.args.get("basis", "file")
            form.proof.data = request.args.get("proof", "")
        rows = list(csv.reader(io.StringIO(text, newline="")))[1:4]
        columns = [(i, cell, chosen[i], [row[i] if i < len(row) else "" for row in rows]) for i, cell in enumerate(header)]
        status = 422 if error else 200
        return render_template("console/import_columns.html", form=form, columns=columns, error=error,
                               targets=[(t, t) for t in MAPPING_TARGETS]), status

    def run(token: str, text: str, chosen: list[str], basis: import_mapping.Basis) -> Any:
        imported = import_mapping.rewrite(text, chosen, basis)
        report = contacts_csv.import_file(context.sessions, io.StringIO(imported, newline=""), clock=context.clock,
                                          default_region=context.queue.default_region, source="import")
        rejected = import_mapping.rejected_rows(text, imported, report.rows)
        with path(token, "-rejected.csv").open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(import_mapping.header_with_reason(text))
            for row in rejected:
                writer.writerow([contacts_csv.safe_cell(cell) for cell in row])
        summary = report.summary()
        path(token, ".json").write_text(json.dumps({
            "summary": summary, "rows": [[r.line, r.number, r.outcome, r.reason] for r in report.rows]}))
        with context.sessions.begin() as session:
            audit.record(session, context.clock, CONTACTS_IMPORTED, actor=actor(), address=client_address(),
                         detail=", ".join(f"{k} {v}" for k, v in summary.items()))
        return redirect(url_for("console.contacts_report", token=token))

    @blueprint.route("/contacts/import/<token>", endpoint="contacts_report")
    @login_required
    def report(token: str) -> Any:
        data = json.loads(stored(token, ".json").read_text())
        rows = [dict(zip(("line", "number", "outcome", "reason"), row)) for row in data["rows"]]
        shown: dict[str, list[dict]] = {}
        for row in rows:
            shown.setdefault(row["outcome"], [])
            if len(shown[row["outcome"]]) < SHOWN:
                shown[row["outcome"]].append(row)
        listed = [row for outcome in ("rejected", "merged", "created", "updated", "unchanged")
                  for row in shown.get(outcome, [])]
        return render_template("console/import_report.html", summary=data["summary"], rows=listed, token=token,
                               limit=SHOWN, cut=any(data["summary"][k] > SHOWN for k in data["summary"]))

    @blueprint.route("/contacts/import/<token>/rejected.csv", endpoint="contacts_rejected")
    @login_required
    def rejected(token: str) -> Any:
        return Response(stored(token, "-rejected.csv").read_bytes(), mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=rejected-rows.csv"})

    @blueprint.route("/contacts/export.csv", endpoint="contacts_export")
    @login_required
    def export() -> Any:
        out = io.StringIO(newline="")
        count = contacts_csv.export(context.sessions, out)
        with context.sessions.begin() as session:
            audit.record(session, context.clock, CONTACTS_EXPORTED, actor=actor(), address=client_address(),
                         detail=str(count))
        return Response(out.getvalue().encode("utf-8"), mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=contacts.csv"})


def basis_of(form: Any) -> import_mapping.Basis:
    kind = form.basis.data if form.basis.data in ("none", "file", "all") else "file"
    proof = (form.proof.data or "").strip()
    if kind == "all" and not proof:
        add_error(form.proof, gettext("Say where and when they agreed."))
        raise ValueError(gettext("Everyone agreed needs the proof of consent."))
    return import_mapping.Basis(kind, proof)


def keep(folder: Path, text: str) -> str:
    """Store an upload under a new random token; only the newest KEEP uploads stay."""
    folder.mkdir(mode=0o700, exist_ok=True)  # inside the data directory, which the daemon made
    token = secrets.token_urlsafe(18)
    (folder / f"{token}.csv").write_text(text, encoding="utf-8")
    uploads = sorted(folder.glob("*.csv"), key=lambda p: p.stat().st_mtime_ns)
    old = [p for p in uploads if not p.name.endswith("-rejected.csv")][:-KEEP]
    for upload in old:
        stem = upload.name.removesuffix(".csv")
        for leftover in (upload, folder / f"{stem}.json", folder / f"{stem}-rejected.csv"):
            leftover.unlink(missing_ok=True)
    return token
