"""The contacts pages: the list with its search, a contact with its consent history, add, edit,
erase, and opt in / opt out.

Everything goes through the rooms: `audience.directory` (search, details, erase), `consent.optin`
(the one opt-in rule: after the customer's own STOP, staff only ask), `consent.history` (the ledger
with what the customer wrote); every change is an audit entry in its own transaction.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required
from sqlalchemy.orm import Session

from gateway.audience import directory
from gateway.audience.contacts import groups_of
from gateway.audience.models import Contact
from gateway.campaigns.audience import consent_of
from gateway.consent import history, ledger
from gateway.consent.models import ConsentEvent, ConsentKind, ConsentSource
from gateway.consent.optin import OptInRefused
from gateway.users import audit
from web.console.labels import contact_label, reason_words
from web.console.contact_forms import ConfirmForm, ConsentForm, ContactForm, SearchForm
from web.console.forms import add_error, form_status, posted_change, require_posted
from web.console.rows import or_404
from web.console.security import client_address
from web.context import WebContext

CONTACT_ADDED = "contact_added"
CONTACT_CHANGED = "contact_changed"
CONTACT_ERASED = "contact_erased"
OPTED_IN = "opted_in"
OPT_IN_REQUESTED = "opt_in_requested"
OPTED_OUT = "opted_out"


def actor() -> str:
    return current_user.account.name


def staff_detail() -> str:
    """What the ledger keeps of who made a console change."""
    return f"console: {actor()}"


def register(blueprint: Blueprint, context: WebContext) -> None:
    region = context.queue.default_region
    blueprint.add_app_template_global(contact_label, "contact_label")
    blueprint.add_app_template_global(reason_words, "reason_words")

    @blueprint.route("/contacts", endpoint="contacts")
    @login_required
    def contact_list() -> Any:
        form = SearchForm(request.args)
        before = request.args.get("before", type=int)
        with context.sessions() as session:
            form.group.choices = [("", gettext("Any group"))] + [(n, n) for n in directory.group_names(session)]
            query = directory.Search(form.q.data or "", form.tag.data or "", form.group.data or "", before,
                                     consent=form.consent.data or "")
            page = directory.search(session, query, region)
            ids = [c.id for c in page.contacts]
            consents = consent_of(session.connection(), ids)
            tags = directory.tags_by_contact(session, ids)
            rows = [(c, consents[c.id], tags.get(c.id, [])) for c in page.contacts]
        more = None
        if page.next_before is not None:
            more = url_for("console.contacts", q=form.q.data or None, tag=form.tag.data or None,
                           group=form.group.data or None, consent=form.consent.data or None,
                           before=page.next_before)
        searched = bool(query.text or query.tag or query.group or query.consent)
        return render_template("console/contacts.html", form=form, rows=rows, more=more, searched=searched,
                               first_page=before is None)

    @blueprint.route("/contacts/new", methods=["GET", "POST"], endpoint="contact_new")
    @login_required
    def contact_new() -> Any:
        form = ContactForm()

        def add(session: Session) -> str:
            contact = directory.save(session, None, details_of(form), now=context.clock.now(), default_region=region)
            audit.record(session, context.clock, CONTACT_ADDED, actor=actor(), detail=contact.number,
                         address=client_address())
            return url_for("console.contact", contact_id=contact.id)

        answer = posted_change(form, context.sessions, add, gettext("Contact added."),
                               refusal=(directory.DetailsError, form_error))
        return answer or (render_template("console/contact_form.html", form=form, contact=None),
                          form_status(form, refused=422))

    @blueprint.route("/contacts/<int:contact_id>", endpoint="contact")
    @login_required
    def contact_page(contact_id: int) -> Any:
        with context.sessions() as session:
            contact = found(session, contact_id)
            state = ledger.state_of(session, contact.id)
            entries = history.entries(session, contact.id)
            tags = directory.tags_of(session, contact.id)
            groups = groups_of(session, contact.id)
            return render_template("console/contact.html", contact=contact, state=state, entries=entries,
                                   tags=tags, groups=groups, consent_form=ConsentForm(),
)

    @blueprint.route("/contacts/<int:contact_id>/edit", methods=["GET", "POST"], endpoint="contact_edit")
    @login_required
    def contact_edit(contact_id: int) -> Any:
        form = ContactForm()

        def change(session: Session) -> str:
            contact = found(session, contact_id)
            directory.save(session, contact, details_of(form), now=context.clock.now(), default_region=region)
            audit.record(session, context.clock, CONTACT_CHANGED, actor=actor(), detail=contact.number,
                         address=client_address())
            return url_for("console.contact", contact_id=contact_id)

        answer = posted_change(form, context.sessions, change, gettext("Contact saved."),
                               refusal=(directory.DetailsError, form_error))
        if answer:
            return answer
        with context.sessions() as session:
            contact = found(session, contact_id)
            if not form.is_submitted():
                form.number.data, form.name.data, form.language.data = contact.number, contact.name, contact.language
                form.tags.data = ", ".join(directory.tags_of(session, contact.id))
                form.groups.data = ", ".join(groups_of(session, contact.id))
                form.fields.data = "\n".join(f"{k}: {v}" for k, v in (contact.fields or {}).items())
            return render_template("console/contact_form.html", form=form, contact=contact), \
                form_status(form, refused=422)

    @blueprint.route("/contacts/<int:contact_id>/erase", methods=["GET", "POST"], endpoint="contact_erase")
    @login_required
    def contact_erase(contact_id: int) -> Any:
        form = ConfirmForm()
        if form.validate_on_submit():
            with context.sessions.begin() as session:
                contact = found(session, contact_id)
                number = contact.number
                needs_opt_out = directory.erase(session, contact, context.clock.now())
                audit.record(session, context.clock, CONTACT_ERASED, actor=actor(), detail=number,
                             address=client_address())
            if needs_opt_out:
                context.audience.opt_out(number, source=ConsentSource.STAFF,
                                         detail=f"{staff_detail()}: personal data erased")
            flash(gettext("The contact's personal data was erased; the number stays opted out."), "info")
            return redirect(url_for("console.contacts"))
        with context.sessions() as session:
            contact = found(session, contact_id)
            return render_template("console/contact_erase.html", form=form, contact=contact)

    @blueprint.route("/contacts/<int:contact_id>/consent", methods=["POST"], endpoint="contact_consent")
    @login_required
    def contact_consent(contact_id: int) -> Any:
        form = ConsentForm()
        require_posted(form)
        with context.sessions() as session:
            number = found(session, contact_id).number
        address = client_address()

        def along(session: Any, contact: Contact, event: ConsentEvent) -> None:
            action = {ConsentKind.OPT_OUT: OPTED_OUT, ConsentKind.REQUESTED: OPT_IN_REQUESTED}.get(event.kind, OPTED_IN)
            audit.record(session, context.clock, action, actor=actor(), detail=contact.number, address=address)

        if form.opt_out.data:
            context.audience.opt_out(number, source=ConsentSource.STAFF, detail=staff_detail(), along=along)
            flash(gettext("Opted out: no marketing will be sent to this number."), "info")
            return redirect(url_for("console.contact", contact_id=contact_id))
        try:
            outcome = context.audience.opt_in(number, source=ConsentSource.STAFF, detail=staff_detail(),
                                              along=along)
        except OptInRefused:
            flash(gettext("Not recorded: the customer asked for no messages at all, so a confirmation request "
                          "would not reach them. Only their own START opts them in again."), "error")
        else:
            if not outcome.requested:
                flash(gettext("Opted in."), "info")
            elif outcome.confirmation_id is not None:
                flash(gettext("Not opted in yet: a text asking them to reply YES was sent. Consent starts "
                              "with their YES."), "info")
            else:
                flash(gettext("Not opted in: a confirmation request is still open, so no second one was sent."),
                      "info")
        return redirect(url_for("console.contact", contact_id=contact_id))


def found(session: Any, contact_id: int) -> Contact:
    return or_404(session.get(Contact, contact_id))


def details_of(form: ContactForm) -> directory.Details:
    return directory.Details(number=form.number.data or "", name=form.name.data, language=form.language.data,
                             tags=directory.names_of(form.tags.data or ""),
                             groups=directory.names_of(form.groups.data or ""),
                             fields=directory.fields_of(form.fields.data or ""))


def form_error(form: Any, exc: directory.DetailsError) -> None:
    """The domain's reason under the field it names (the field keeps what was typed)."""
    target = getattr(form, exc.field, None)
    reason = str(exc)
    if exc.field == "number":
        reason = gettext("This number cannot be used (%(reason)s).", reason=reason)
    if target is not None:
        add_error(target, reason)
    else:
        form.form_errors.append(reason)
