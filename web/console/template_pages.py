"""The templates pages (`/templates`): the list, a template with its per-contact preview, and for
admins create, edit and delete (writes need an admin, as the REST API's writes need the admin scope).

What a template may be and how it is stored is `gateway.outbound.template_book`'s (the API's rules);
the preview is a contact's final text with placeholders and fallbacks filled in, its encoding and
parts, by the same code the campaigns' dry run and the modem path use.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session
from wtforms import SelectField, StringField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from gateway.audience import contacts
from gateway.core.numbers import normalise
from gateway.outbound import template_book
from gateway.outbound.models import MessageTemplate
from gateway.users import audit
from modem.encoding import segment_info
from web.console.forms import add_error, form_status, posted_change
from web.console.labels import TABLES
from web.console.rows import row_or_404
from web.console.security import admin_required, client_address
from web.context import WebContext

CREATED, CHANGED, DELETED = "template_created", "template_changed", "template_deleted"
KIND_LABELS = TABLES["kind"]


class TemplateForm(FlaskForm):
    name = StringField(lazy_gettext("Name"), validators=[DataRequired(), Length(max=100)])
    body = TextAreaField(lazy_gettext("Text"), validators=[DataRequired(), Length(max=template_book.MAX_BODY)])
    kind = SelectField(lazy_gettext("Kind"), choices=[SelectChoice(k, KIND_LABELS[k]) for k in template_book.KINDS])
    submit = SubmitField(lazy_gettext("Save"))


class DeleteForm(FlaskForm):
    submit = SubmitField(lazy_gettext("Delete the template"))


def register(blueprint: Blueprint, context: WebContext) -> None:
    def actor() -> str:
        return current_user.account.name

    def one(template_id: int) -> MessageTemplate:
        return row_or_404(context.sessions, MessageTemplate, template_id)

    @blueprint.route("/templates", endpoint="templates")
    @login_required
    def listing() -> Any:
        with context.sessions() as session:
            rows = template_book.listing(session)
            items = [(row, segment_info(row.body)) for row in rows]
        return render_template("console/templates.html", items=items, kinds=KIND_LABELS)

    @blueprint.route("/templates/<int:template_id>", methods=["GET", "POST"], endpoint="template")
    @login_required
    def template(template_id: int) -> Any:
        row = one(template_id)
        form = TemplateForm(obj=row) if current_user.is_admin else None
        if request.method == "POST":
            if not current_user.is_admin:
                abort(403)
            assert form is not None
            form.name.data = row.name  # the name stays: API callers send by it

            def change(session: Session) -> str:
                stored = session.get_one(MessageTemplate, template_id)
                template_book.change(session, stored, form.body.data, form.kind.data, context.clock.now())
                audit.record(session, context.clock, CHANGED, actor=actor(), detail=row.name, address=client_address())
                return url_for("console.template", template_id=template_id)

            answer = posted_change(form, context.sessions, change, gettext("Template saved."),
                                   refusal=(template_book.TemplateRefused, refused))
            return answer or (render_template("console/template_edit.html", form=form, row=row, preview=None,
                                              number="", kinds=KIND_LABELS), 400)
        number = (request.args.get("number") or "").strip()
        return render_template("console/template_edit.html", form=form, row=row, number=number,
                               preview=_preview(context, row, number) if number else None, kinds=KIND_LABELS)

    @blueprint.route("/templates/new", methods=["GET", "POST"], endpoint="template_new")
    @admin_required
    def new() -> Any:
        form = TemplateForm()

        def create(session: Session) -> str:
            row = template_book.create(session, form.name.data.strip(), form.body.data, form.kind.data,
                                       context.clock.now())
            audit.record(session, context.clock, CREATED, actor=actor(), detail=row.name, address=client_address())
            return url_for("console.template", template_id=row.id)

        answer = posted_change(form, context.sessions, create, gettext("Template saved."),
                               refusal=(template_book.TemplateRefused, refused))
        return answer or (render_template("console/template_edit.html", form=form, row=None, preview=None, number=""),
                          form_status(form))

    @blueprint.route("/templates/<int:template_id>/delete", methods=["GET", "POST"], endpoint="template_delete")
    @admin_required
    def delete(template_id: int) -> Any:
        row = one(template_id)
        form = DeleteForm()

        def remove(session: Session) -> str:
            stored = session.get(MessageTemplate, template_id)
            if stored is not None:
                session.delete(stored)
                audit.record(session, context.clock, DELETED, actor=actor(), detail=row.name, address=client_address())
            return url_for("console.templates")

        answer = posted_change(form, context.sessions, remove, gettext("Template deleted."))
        return answer or render_template("console/template_delete.html", form=form, row=row)


def refused(form: TemplateForm, exc: template_book.TemplateRefused) -> None:
    """The book's refusal under the field it names."""
    add_error(getattr(form, exc.field), str(exc))


def _preview(context: WebContext, row: MessageTemplate, number: str) -> dict[str, Any]:
    """The template for the contact with this number: its final text, encoding and parts, or why not."""
    try:
        e164 = normalise(number, context.queue.default_region)
    except ValueError:
        return {"error": gettext("This is not a phone number."), "contact": None, "result": None}
    with context.sessions() as session:
        contact = contacts.find(session, e164)
        if contact is None:
            return {"error": gettext("No contact has this number."), "contact": None, "result": None}
        name, fields, language = contact.name, dict(contact.fields or {}), contact.language
    result = template_book.preview(row.body, name, fields, language)
    return {"error": None, "contact": {"number": e164, "name": name}, "result": result}
