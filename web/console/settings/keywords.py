"""/settings/keywords: the words customers text in and the auto-replies, the table the REST API's
/keywords edits, with the same rules (gateway.consent.keyword_store: opt-out words stay on, built-in
words are turned off rather than deleted). The running inbound pipeline takes a change at once."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from gateway.consent import keyword_store, keywords
from gateway.consent.models import Keyword
from web.console.forms import confirm_page, form_status
from web.console.labels import words_matching
from web.console.rows import row_or_404
from web.console.security import admin_required
from web.console.settings.common import record
from web.context import WebContext

KEYWORD_ADDED = "keyword_added"
KEYWORD_CHANGED = "keyword_changed"
KEYWORD_DELETED = "keyword_deleted"
MAX_REPLY = 1600


def action_names() -> dict[str, str]:
    return {keywords.OPT_OUT: gettext("opt out of marketing"), keywords.OPT_OUT_ALL: gettext("opt out of everything"),
            keywords.OPT_IN: gettext("opt in again"), keywords.CONFIRM: gettext("confirm an opt-in request"),
            keywords.HELP: gettext("help text"), keywords.JOIN: gettext("join a group, then reply"),
            keywords.REPLY: gettext("auto-reply")}


class KeywordForm(FlaskForm):
    word = StringField(lazy_gettext("Word"), validators=[DataRequired(), Length(max=keywords.MAX_WORD)])
    action = SelectField(lazy_gettext("What it does"), choices=[])
    group = StringField(lazy_gettext("Group (for join)"), validators=[Optional(), Length(max=100)])
    reply = TextAreaField(lazy_gettext("Reply (empty: the standard text)"), validators=[Optional(), Length(max=MAX_REPLY)])
    submit = SubmitField(lazy_gettext("Add the keyword"))


class EditForm(FlaskForm):
    enabled = BooleanField(lazy_gettext("On"))
    reply = TextAreaField(lazy_gettext("Reply (empty: the standard text)"), validators=[Optional(), Length(max=MAX_REPLY)])
    submit = SubmitField(lazy_gettext("Save"))


class DeleteForm(FlaskForm):
    submit = SubmitField(lazy_gettext("Delete the keyword"))


def register(blueprint: Blueprint, context: WebContext) -> None:
    def reload() -> None:
        if context.inbound is not None:
            context.inbound.reload_keywords()

    def rows() -> list[Keyword]:
        with context.sessions() as session:
            found = session.scalars(select(Keyword).order_by(Keyword.builtin.desc(), Keyword.action, Keyword.label)).all()
            session.expunge_all()
            return list(found)

    def one(keyword_id: int) -> Keyword:
        return row_or_404(context.sessions, Keyword, keyword_id)

    @blueprint.route("/settings/keywords", methods=["GET", "POST"], endpoint="settings_keywords")
    @admin_required
    def keywords_page() -> Any:
        form = KeywordForm()
        names = action_names()
        form.action.choices = [(a, names[a]) for a in (keywords.REPLY, keywords.JOIN, keywords.HELP, keywords.OPT_OUT,
                                                       keywords.OPT_OUT_ALL, keywords.OPT_IN)]
        if form.validate_on_submit():
            try:
                with context.sessions.begin() as session:
                    row = keyword_store.add(session, form.word.data, form.action.data, now=context.clock.now(),
                                            group=(form.group.data or "").strip() or None, reply=form.reply.data or None)
                    label = row.label
            except ValueError as exc:
                form.word.errors = [_refusal(str(exc))]
            else:
                reload()
                record(context, KEYWORD_ADDED, f"{label}: {form.action.data}")
                flash(gettext("Keyword %(word)s added.", word=label), "info")
                return redirect(url_for("console.settings_keywords"))
        return render_template("console/settings/keywords.html", form=form, keywords=rows(), names=names,
                               protected=keywords.PROTECTED), form_status(form)

    @blueprint.route("/settings/keywords/<int:keyword_id>", methods=["GET", "POST"], endpoint="settings_keyword")
    @admin_required
    def edit(keyword_id: int) -> Any:
        row = one(keyword_id)
        form = EditForm()
        if not form.is_submitted():
            form.enabled.data, form.reply.data = row.enabled, row.reply or ""
        if form.validate_on_submit():
            try:
                with context.sessions.begin() as session:
                    keyword_store.change(session, session.get(Keyword, keyword_id),
                                         {"enabled": bool(form.enabled.data), "reply": form.reply.data or None})
            except keyword_store.KeywordRefused:
                form.enabled.errors = [gettext("%(word)s is an opt-out word: customers must always be able to use it.",
                                               word=row.label)]
            else:
                reload()
                record(context, KEYWORD_CHANGED, f"{row.label}: {'on' if form.enabled.data else 'off'}")
                flash(gettext("Keyword %(word)s saved.", word=row.label), "info")
                return redirect(url_for("console.settings_keywords"))
        return render_template("console/settings/keyword.html", keyword=row, form=form, names=action_names(),
                               protected=row.word in keywords.PROTECTED), form_status(form)

    @blueprint.route("/settings/keywords/<int:keyword_id>/delete", methods=["GET", "POST"],
                     endpoint="settings_keyword_delete")
    @admin_required
    def delete(keyword_id: int) -> Any:
        row = one(keyword_id)
        asking = confirm_page(DeleteForm(), "console/settings/keyword_delete.html", ask=row.builtin, keyword=row)
        if asking is not None:
            return asking
        with context.sessions.begin() as session:
            keyword_store.delete(session, session.get(Keyword, keyword_id))
        reload()
        record(context, KEYWORD_DELETED, row.label)
        flash(gettext("Keyword %(word)s deleted.", word=row.label), "info")
        return redirect(url_for("console.settings_keywords"))


# the domain's refusals (gateway.consent.keyword_store), by a phrase in each
REFUSALS = (
    (re.compile(r"exists already"), lazy_gettext("That keyword exists already.")),
    (re.compile(r"needs a group"), lazy_gettext("A join keyword needs a group.")),
    (re.compile(r"opt-out word"), lazy_gettext("That is an opt-out word and must stay one.")),
)


def _refusal(message: str) -> str:
    return words_matching(REFUSALS, message,
                          lazy_gettext("That cannot be a keyword: one word or a short phrase of letters and digits."))
