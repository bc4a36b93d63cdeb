"""A new campaign (`/campaigns/new`, staff and admins) and its dry run (`/campaigns/<id>/preview`).

The page is a form over the campaign service's own `create`: the audience is resolved by
`campaigns.audience` (its live count by `audience.count`), each text is checked by `personal.Body`,
the part counter is `web.console.counter` and the per-contact preview is `Body.for_contact`, the
text the send itself makes. Saving makes a draft; the dry run is `Campaigns.dry_run`, one page of
it at a time (the API's cursor), with the totals and ETA over the whole audience; "Start" is
`Campaigns.start`, now or at the campaign's `send_at`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import RadioField, SelectField, SelectMultipleField, StringField, SubmitField, TextAreaField
from wtforms.validators import Length

from gateway.audience import contacts, directory, saved_segments
from gateway.audience.models import Segment, Tag
from gateway.campaigns import audience, timing
from gateway.campaigns.ab import MEASURES
from gateway.campaigns.errors import CampaignError
from gateway.campaigns.firsts import texted_before
from gateway.campaigns.models import Campaign
from gateway.campaigns.personal import Body
from gateway.campaigns.service import AbTest, Campaigns, VariantIn
from gateway.core.numbers import normalise
from gateway.outbound.models import MessageTemplate
from gateway.outbound.new_message import MAX_TEXT
from gateway.users import audit
from web.api.paging import decode_cursor, encode_cursor
from web.console import counter
from web.console.forms import require_posted
from web.console.rows import or_404
from web.console.security import client_address
from web.context import WebContext

CAMPAIGN_CREATED = "campaign_created"
CAMPAIGN_STARTED = "campaign_started"
PAGE = 50  # dry-run rows per page
FOOTERS = (("every", lazy_gettext("On every message")), ("first", lazy_gettext("On a contact's first message only")),
           ("off", lazy_gettext("No footer")))
WHEN = (("now", lazy_gettext("Now")), ("at", lazy_gettext("At a date and time")))
MEASURE_LABELS = {"replies": lazy_gettext("Most replies"), "delivered": lazy_gettext("Most delivered"),
                  "fewest_opt_outs": lazy_gettext("Fewest opt-outs")}
# why the dry run skips someone (the domain's reasons, in English), by how the reason begins
SKIPS = (("invalid number", lazy_gettext("Invalid number")), ("opted out", lazy_gettext("Opted out")),
         ("no consent", lazy_gettext("No consent on record")),
         ("awaiting double opt-in", lazy_gettext("Opt-in not confirmed yet")),
         ("frequency cap", lazy_gettext("Frequency cap reached")),
         ("missing", lazy_gettext("No value for a placeholder")),
         ("the text would be", lazy_gettext("Text too long")))


def skip_label(reason: str | None) -> str:
    """The dry run's reason in the user's language (an unknown one as the domain says it)."""
    if reason is None:
        return ""
    for start, words in SKIPS:
        if reason.startswith(start):
            return str(words)
    if reason.endswith(" number"):  # a contact's flag: unreachable, landline, ...
        return str(SKIPS[0][1]) if reason.startswith("invalid") else gettext("Number flagged: %(flag)s",
                                                                              flag=reason[: -len(" number")])
    return reason


class CampaignForm(FlaskForm):
    name = StringField(lazy_gettext("Name"), validators=[Length(max=200)])
    groups = SelectMultipleField(lazy_gettext("Groups"), choices=[], validate_choice=False)
    tags = SelectMultipleField(lazy_gettext("Tags"), choices=[], validate_choice=False)
    segment = SelectField(lazy_gettext("Segment"), choices=[], validate_choice=False)
    template = SelectField(lazy_gettext("Template"), choices=[], validate_choice=False)
    use_template = SubmitField(lazy_gettext("Use template"))
    text = TextAreaField(lazy_gettext("Message"), validators=[Length(max=10 * MAX_TEXT)])
    text_b = TextAreaField(lazy_gettext("Variant B (optional: an A/B test)"), validators=[Length(max=10 * MAX_TEXT)])
    sample = StringField(lazy_gettext("Sample (percent of the audience)"), default="20")
    decide_after = StringField(lazy_gettext("Decide after (hours)"), default="24")
    measure = SelectField(lazy_gettext("Winner by"), choices=[], default="replies")
    footer = SelectField(lazy_gettext("Opt-out footer"), choices=[], default="every")
    when = RadioField(lazy_gettext("Send"), choices=[], default="now")
    send_at = StringField(lazy_gettext("Date and time"))
    window_start = StringField(lazy_gettext("Window from"))
    window_end = StringField(lazy_gettext("Window until"))
    contact = StringField(lazy_gettext("Preview for a contact"), validators=[Length(max=32)])
    check = SubmitField(lazy_gettext("Check"))
    save = SubmitField(lazy_gettext("Save draft"))


class StartForm(FlaskForm):
    start = SubmitField(lazy_gettext("Start"))


def service_of(context: WebContext) -> Campaigns:
    if context.campaigns is None:
        abort(503)
    return context.campaigns


def register(blueprint: Blueprint, context: WebContext) -> None:
    region = context.queue.default_region
    shop_zone = timing.zone(context.config.gateway.timezone, ZoneInfo("UTC"))

    def prepare(form: CampaignForm) -> None:
        with context.sessions() as session:
            form.groups.choices = [(g, g) for g in directory.group_names(session)]
            form.tags.choices = [(t, t) for t in session.scalars(select(Tag.name).order_by(Tag.name))]
            form.segment.choices = [("", gettext("None"))] + [(str(s.id), s.name)
                                                              for s in saved_segments.all_segments(session)]
            form.template.choices = [("", gettext("None: write the text"))] + [
                (str(t.id), t.name) for t in session.scalars(select(MessageTemplate).order_by(MessageTemplate.name))]
        form.measure.choices = [(m, str(MEASURE_LABELS.get(m, m))) for m in MEASURES]
        form.footer.choices = list(FOOTERS)
        form.when.choices = list(WHEN)

    def audience_spec(form: CampaignForm) -> dict[str, Any]:
        spec: dict[str, Any] = {"groups": list(form.groups.data or []), "tags": list(form.tags.data or [])}
        if form.segment.data and form.segment.data.isdigit():
            with context.sessions() as session:
                segment = session.get(Segment, int(form.segment.data))
                if segment is not None:
                    spec["segment"] = segment.rule
        return spec

    def count_of(form: CampaignForm) -> audience.Count | None:
        spec = audience_spec(form)
        if not spec["groups"] and not spec["tags"] and "segment" not in spec:
            return None
        with context.sessions() as session:
            try:
                return audience.count(session, audience.resolve(session, spec), context.clock.now())
            except CampaignError:
                return None

    def eta_of(form: CampaignForm, count: audience.Count | None) -> timedelta | None:
        """About how long the SIMs take for the reachable contacts at this text's parts, within their limits."""
        text = (form.text.data or "").strip()
        if count is None or not count.reachable or not text:
            return None
        parts = counter.count(text, ref16=context.queue.ref16).parts
        seconds = timing.estimated_eta(count.reachable * parts, {sim.name: sim.limits for sim in service_of(context).sims()})
        return None if seconds is None else timedelta(seconds=seconds)

    def personal_of(form: CampaignForm) -> Any:
        """The chosen contact's final text of variant A (None: no contact chosen or found)."""
        raw = (form.contact.data or "").strip()
        if not raw or not (form.text.data or "").strip():
            return None
        try:
            number = normalise(raw, region)
        except ValueError:
            return None
        with context.sessions() as session:
            contact = contacts.find(session, number)
            if contact is None:
                return None
            footer = form.footer.data == "every" or (
                form.footer.data == "first" and number not in texted_before(session.connection(), [number]))
            try:
                body = Body(form.text.data or "", footer=footer)
            except ValueError:
                return None
            return body.for_contact(contact.name, contact.fields, contact.language)

    def page(form: CampaignForm, status: int = 200) -> Any:
        text = form.text.data or ""
        count = count_of(form)
        return render_template("console/campaign_new.html", form=form, count=count, eta=eta_of(form, count),
                               counter_count=counter.count(text, ref16=context.queue.ref16),
                               personal=personal_of(form), zone=str(shop_zone)), status

    @blueprint.route("/campaigns/new", methods=["GET", "POST"], endpoint="campaign_new")
    @login_required
    def campaign_new() -> Any:
        service = service_of(context)
        form = CampaignForm()
        prepare(form)
        if request.method == "GET":
            return page(form)
        if not form.validate_on_submit():
            return page(form, 400)
        if form.use_template.data:
            if form.template.data and form.template.data.isdigit():
                with context.sessions() as session:
                    template = session.get(MessageTemplate, int(form.template.data))
                    if template is not None:
                        form.text.data = template.body
            return page(form)
        if not form.save.data:  # "Check", or Enter in a field
            return page(form)
        return save(service, form)

    def save(service: Campaigns, form: CampaignForm) -> Any:
        ok = True
        name = (form.name.data or "").strip()
        if not name:
            form.name.errors = [gettext("Give the campaign a name.")]
            ok = False
        send_at = None
        if form.when.data == "at":
            try:
                send_at = datetime.strptime((form.send_at.data or "").strip(), "%Y-%m-%dT%H:%M").replace(
                    tzinfo=shop_zone).astimezone(ZoneInfo("UTC"))
            except ValueError:
                form.send_at.errors = [gettext("Choose the date and time to send.")]
                ok = False
        start, end = (form.window_start.data or "").strip(), (form.window_end.data or "").strip()
        if bool(start) != bool(end):
            form.window_start.errors = [gettext("Give both ends of the window, or neither.")]
            ok = False
        ab_test = None
        variants = [VariantIn(form.text.data or "", 1, _template_id(form))]
        if (form.text_b.data or "").strip():
            variants.append(VariantIn(form.text_b.data or ""))
            try:
                ab_test = AbTest(int(form.sample.data or ""), int(float(form.decide_after.data or "") * 3600),
                                 form.measure.data or "replies")
            except ValueError:
                form.sample.errors = [gettext("Write whole numbers: a percent and hours.")]
                ok = False
        if not (form.text.data or "").strip():
            form.text.errors = [gettext("Write the message first.")]
            ok = False
        if not ok:
            return page(form, 422)
        try:
            campaign_id = service.create(name, variants, audience_spec(form), send_at=send_at,
                                         window=(start, end) if start else None, footer=form.footer.data != "off",
                                         footer_first=form.footer.data == "first", ab_test=ab_test)
        except CampaignError as exc:
            field_of(form, exc.field).errors = [field_words(exc.field)]
            return page(form, 422)
        with context.sessions.begin() as session:
            audit.record(session, context.clock, CAMPAIGN_CREATED, actor=current_user.account.name,
                         detail=f"campaign {campaign_id} {name}", address=client_address())
        flash(gettext("Draft saved. Check the dry run, then start it."), "info")
        return redirect(url_for("console.campaign_preview", campaign_id=campaign_id))

    def posted_form() -> CampaignForm:
        """The form as the page's htmx parts post it, with its token."""
        form = CampaignForm()
        prepare(form)
        require_posted(form)
        return form

    @blueprint.route("/campaigns/new/count", methods=["POST"], endpoint="campaign_new_count")
    @login_required
    def campaign_new_count() -> Any:
        """The audience's figures alone, for htmx to swap in as groups, tags or the segment change."""
        form = posted_form()
        count = count_of(form)
        return render_template("console/_campaign_new_count.html", count=count, eta=eta_of(form, count))

    @blueprint.route("/campaigns/new/personal", methods=["POST"], endpoint="campaign_new_personal")
    @login_required
    def campaign_new_personal() -> Any:
        form = posted_form()
        return render_template("console/_campaign_new_personal.html", personal=personal_of(form), form=form)

    @blueprint.route("/campaigns/<int:campaign_id>/preview", endpoint="campaign_preview")
    @login_required
    def campaign_preview(campaign_id: int) -> Any:
        service = service_of(context)
        after = decode_cursor(request.args.get("cursor")) or 0
        with context.sessions() as session:
            campaign = or_404(session.get(Campaign, campaign_id))
            dry = service.dry_run(session.connection(), campaign)
            items, last = dry.page(after=after, limit=PAGE)
            # the totals walk the whole audience: inline only when asked (no script), else htmx loads them after
            totals = dry.totals() if request.args.get("totals") else None
            session.expunge(campaign)
        return render_template("console/campaign_preview.html", campaign=campaign, items=items, totals=totals,
                               next_cursor=encode_cursor(last) if last is not None else None,
                               form=StartForm(), skip_label=skip_label, zone=str(shop_zone),
                               starts=local_time(campaign.send_at, shop_zone))

    @blueprint.route("/campaigns/<int:campaign_id>/preview/totals", endpoint="campaign_preview_totals")
    @login_required
    def campaign_preview_totals(campaign_id: int) -> Any:
        """The dry run's totals, ETA and Start, over the whole audience: the page's slow half, loaded after it."""
        service = service_of(context)
        with context.sessions() as session:
            campaign = or_404(session.get(Campaign, campaign_id))
            totals = service.dry_run(session.connection(), campaign).totals()
            session.expunge(campaign)
        return render_template("console/_campaign_new_totals.html", campaign=campaign, totals=totals,
                               form=StartForm(), zone=str(shop_zone), starts=local_time(campaign.send_at, shop_zone))

    @blueprint.route("/campaigns/<int:campaign_id>/start", methods=["POST"], endpoint="campaign_start")
    @login_required
    def campaign_start(campaign_id: int) -> Any:
        require_posted(StartForm())
        try:
            status = service_of(context).start(campaign_id)
        except CampaignError as exc:
            if exc.missing:
                abort(404)
            flash(gettext("This campaign has started already."), "error")
            return redirect(url_for("console.campaign_preview", campaign_id=campaign_id))
        with context.sessions.begin() as session:
            audit.record(session, context.clock, CAMPAIGN_STARTED, actor=current_user.account.name,
                         detail=f"campaign {campaign_id} {status}", address=client_address())
        flash(gettext("Campaign started.") if status == "running" else gettext("Campaign scheduled."), "info")
        return redirect(url_for("console.campaign_preview", campaign_id=campaign_id))


def local_time(moment: datetime | None, shop_zone: ZoneInfo) -> str | None:
    """A stored time (UTC; naive as SQLite gives it back) as the shop's wall clock, as the form takes it."""
    if moment is None:
        return None
    return moment.replace(tzinfo=moment.tzinfo or ZoneInfo("UTC")).astimezone(shop_zone).strftime("%Y-%m-%d %H:%M")


def _template_id(form: CampaignForm) -> int | None:
    raw = form.template.data or ""
    return int(raw) if raw.isdigit() else None


def field_of(form: CampaignForm, field: str | None) -> Any:
    """The form's field for a CampaignError's field (the API's names)."""
    field = field or ""
    if field.startswith("audience"):
        return form.groups
    if field.startswith("window"):
        return form.window_start
    if field.startswith("ab_test") or field == "variants":
        return form.sample
    if field.startswith("variants[1]"):
        return form.text_b
    return form.text


def field_words(field: str | None) -> str:
    field = field or ""
    if field.startswith("audience"):
        return gettext("Choose at least one group, tag or segment.")
    if field.startswith("window"):
        return gettext("Write the times as HH:MM, for example 10:00 and 20:00.")
    if field.startswith("ab_test") or field == "variants":
        return gettext("The sample is 1 to 100 percent; the hours 0 or more.")
    return gettext("The text has a broken placeholder: write {name} or {name|fallback}.")
