"""The forms of the contacts, groups, segments and import pages (Flask-WTF: each carries its CSRF token)."""

from __future__ import annotations

from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms.fields.choices import SelectChoice
from wtforms import BooleanField, FieldList, Form, FormField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from gateway.audience.directory import MAX_NAME, MAX_TAG


class ContactForm(FlaskForm):
    number = StringField(lazy_gettext("Phone number"), validators=[DataRequired(), Length(max=32)],
                         render_kw={"inputmode": "tel", "autocomplete": "off", "dir": "ltr"})
    name = StringField(lazy_gettext("Name"), validators=[Optional(), Length(max=MAX_NAME)], render_kw={"dir": "auto"})
    language = StringField(lazy_gettext("Language code (en, ar, ru, zh…)"), validators=[Optional(), Length(max=16)],
                           render_kw={"dir": "ltr", "autocomplete": "off"})
    tags = StringField(lazy_gettext("Tags, separated by commas"), validators=[Optional(), Length(max=2000)],
                       render_kw={"dir": "auto"})
    groups = StringField(lazy_gettext("Groups, separated by commas"), validators=[Optional(), Length(max=2000)],
                         render_kw={"dir": "auto"})
    fields = TextAreaField(lazy_gettext("Custom fields, one per line as name: value"),
                           validators=[Optional(), Length(max=20000)], render_kw={"dir": "auto", "rows": 4})
    submit = SubmitField(lazy_gettext("Save"))


class SearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET that changes nothing

    q = StringField(lazy_gettext("Name or number"), validators=[Optional(), Length(max=100)],
                    render_kw={"type": "search", "dir": "auto", "autocomplete": "off"})
    tag = StringField(lazy_gettext("Tag"), validators=[Optional(), Length(max=MAX_TAG)], render_kw={"dir": "auto"})
    group = SelectField(lazy_gettext("Group"), choices=[], validate_choice=False)
    consent = SelectField(lazy_gettext("Consent"), choices=[SelectChoice("", lazy_gettext("Any consent")),
                                                        SelectChoice("opted_in", lazy_gettext("Opted in to marketing")),
                                                        SelectChoice("opted_out", lazy_gettext("Opted out of marketing"))],
                          validate_choice=False)
    submit = SubmitField(lazy_gettext("Search"))


class ConfirmForm(FlaskForm):
    submit = SubmitField(lazy_gettext("Yes, erase"))


class ConsentForm(FlaskForm):
    opt_in = SubmitField(lazy_gettext("Opt in"))
    opt_out = SubmitField(lazy_gettext("Opt out"))


class GroupForm(FlaskForm):
    name = StringField(lazy_gettext("Group name"), validators=[DataRequired(), Length(max=MAX_TAG)],
                       render_kw={"dir": "auto"})
    submit = SubmitField(lazy_gettext("Save"))


class DeleteForm(FlaskForm):
    submit = SubmitField(lazy_gettext("Yes, delete"))


class ConditionForm(Form):
    """One condition of a segment's rule (no token of its own: it is part of the segment's form)."""

    kind = SelectField(lazy_gettext("Condition"), choices=[], validate_choice=False)
    negate = BooleanField(lazy_gettext("Not"))
    key = StringField(lazy_gettext("Custom field's name (for that condition only)"), validators=[Optional(), Length(max=100)], render_kw={"dir": "auto"})
    value = StringField(lazy_gettext("Value"), validators=[Optional(), Length(max=200)], render_kw={"dir": "auto"})


class SegmentForm(FlaskForm):
    name = StringField(lazy_gettext("Segment name"), validators=[Optional(), Length(max=100)],
                       render_kw={"dir": "auto"})
    match = SelectField(lazy_gettext("Contacts who match"), choices=[], validate_choice=False)
    conditions = FieldList(FormField(ConditionForm), min_entries=4, max_entries=8)
    count = SubmitField(lazy_gettext("Count"))
    submit = SubmitField(lazy_gettext("Save"))


class ImportForm(FlaskForm):
    file = FileField(lazy_gettext("CSV file (UTF-8)"), validators=[FileRequired()],
                     render_kw={"accept": ".csv,text/csv"})
    basis = SelectField(lazy_gettext("Consent"), choices=[], validate_choice=False)
    proof = StringField(lazy_gettext("Proof of consent (where and when they agreed)"),
                        validators=[Optional(), Length(max=500)], render_kw={"dir": "auto"})
    submit = SubmitField(lazy_gettext("Import"))


class MappingForm(FlaskForm):
    """The columns' uses when the header is not the expected one; the selects are added per file."""

    token = StringField(validators=[DataRequired(), Length(max=64)])
    basis = SelectField(lazy_gettext("Consent"), choices=[], validate_choice=False)
    proof = StringField(lazy_gettext("Proof of consent (where and when they agreed)"),
                        validators=[Optional(), Length(max=500)], render_kw={"dir": "auto"})
    submit = SubmitField(lazy_gettext("Import"))
