"""The groups and segments pages: groups with their member counts (add, rename, delete), and named
rule segments edited with a live count of who matches.

The count is `audience.saved_segments.count`, the segments' one SQL evaluation (the API's and the
campaigns'); htmx asks for it as the rule changes, and without JavaScript the "Count" button
shows the same page with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext
from flask_login import login_required
from sqlalchemy.orm import Session

from gateway.audience import directory, saved_segments, segments
from gateway.audience.models import Group, Segment
from gateway.users import audit
from web.console import segment_rules
from web.console.contact_forms import DeleteForm, GroupForm, SegmentForm
from web.console.contacts import actor
from web.console.forms import add_error, form_status, posted_change, require_posted
from web.console.labels import choices
from web.console.rows import or_404
from web.console.security import client_address
from web.context import WebContext

GROUP_ADDED = "group_added"
GROUP_CHANGED = "group_changed"
GROUP_DELETED = "group_deleted"
SEGMENT_ADDED = "segment_added"
SEGMENT_CHANGED = "segment_changed"
SEGMENT_DELETED = "segment_deleted"


def register(blueprint: Blueprint, context: WebContext) -> None:
    def record(session: Any, action: str, detail: str) -> None:
        audit.record(session, context.clock, action, actor=actor(), detail=detail, address=client_address())

    @blueprint.route("/groups", endpoint="groups")
    @login_required
    def group_list() -> Any:
        with context.sessions() as session:
            groups = directory.groups_with_counts(session)
            saved = [(s.id, s.name) for s in saved_segments.all_segments(session)]
        return render_template("console/groups.html", groups=groups, segments=saved)

    @blueprint.route("/groups/new", methods=["GET", "POST"], endpoint="group_new")
    @login_required
    def group_new() -> Any:
        form = GroupForm()

        def add(session: Session) -> str:
            group = directory.create_group(session, form.name.data or "", context.clock.now())
            record(session, GROUP_ADDED, group.name)
            return url_for("console.groups")

        answer = posted_change(form, context.sessions, add, gettext("Group added."),
                               refusal=(directory.DetailsError, name_refused))
        return answer or (render_template("console/group_form.html", form=form, group=None),
                          form_status(form, refused=422))

    @blueprint.route("/groups/<int:group_id>", methods=["GET", "POST"], endpoint="group")
    @login_required
    def group_edit(group_id: int) -> Any:
        form = GroupForm()

        def rename(session: Session) -> str:
            group = found(session, Group, group_id)
            old = group.name
            directory.rename_group(session, group, form.name.data or "")
            record(session, GROUP_CHANGED, f"{old} → {group.name}")
            return url_for("console.groups")

        answer = posted_change(form, context.sessions, rename, gettext("Group saved."),
                               refusal=(directory.DetailsError, name_refused))
        if answer:
            return answer
        with context.sessions() as session:
            group = found(session, Group, group_id)
            if not form.is_submitted():
                form.name.data = group.name
            return render_template("console/group_form.html", form=form, group=group,
                                   members=members_of(session, group_id)), form_status(form, refused=422)

    @blueprint.route("/groups/<int:group_id>/delete", methods=["GET", "POST"], endpoint="group_delete")
    @login_required
    def group_delete(group_id: int) -> Any:
        def remove(session: Any, group: Group) -> None:
            name = group.name
            members = directory.delete_group(session, group)
            record(session, GROUP_DELETED, f"{name} ({members})")

        def question(session: Any, form: DeleteForm, group: Group) -> str:
            return render_template("console/group_delete.html", form=form, group=group,
                                   members=members_of(session, group_id))

        return deletion(Group, group_id, remove, gettext("Group deleted; its contacts stay."), question)

    @blueprint.route("/segments/new", methods=["GET", "POST"], endpoint="segment_new")
    @login_required
    def segment_new() -> Any:
        return segment_page(None)

    @blueprint.route("/segments/<int:segment_id>", methods=["GET", "POST"], endpoint="segment")
    @login_required
    def segment_edit(segment_id: int) -> Any:
        return segment_page(segment_id)

    def segment_page(segment_id: int | None) -> Any:
        form = SegmentForm()
        prepare(form)
        count, rule_error = None, None
        if form.validate_on_submit():
            try:
                spec = spec_of(form)
                if form.submit.data:
                    with context.sessions.begin() as session:
                        segment = found(session, Segment, segment_id) if segment_id is not None else None
                        saved = saved_segments.save(session, segment, form.name.data or "", spec, context.clock.now())
                        record(session, SEGMENT_CHANGED if segment_id is not None else SEGMENT_ADDED, saved.name)
                    flash(gettext("Segment saved."), "info")
                    return redirect(url_for("console.groups"))
                with context.sessions() as session:
                    count = saved_segments.count(session, spec, context.clock.now())
            except (segment_rules.RuleFormError, segments.SegmentError, saved_segments.SegmentError) as exc:
                rule_error = rule_message(exc)
                if isinstance(exc, saved_segments.SegmentError) and exc.field == "name":
                    name_refused(form, exc)
                    rule_error = None
        segment = None
        with context.sessions() as session:
            if segment_id is not None:
                segment = found(session, Segment, segment_id)
                if not form.is_submitted():
                    fill(form, segment.name, segment.rule)
                    count = saved_segments.count(session, segment.rule, context.clock.now())
            status = 422 if form.is_submitted() and (rule_error or form.errors) else 200
            return render_template("console/segment.html", form=form, segment=segment, count=count,
                                   rule_error=rule_error), status

    @blueprint.route("/segments/count", methods=["POST"], endpoint="segment_count")
    @login_required
    def segment_count() -> Any:
        """The figures alone, for htmx to swap into the count as the rule changes."""
        form = SegmentForm()
        prepare(form)
        count, rule_error = None, None
        require_posted(form)
        try:
            with context.sessions() as session:
                count = saved_segments.count(session, spec_of(form), context.clock.now())
        except (segment_rules.RuleFormError, segments.SegmentError) as exc:
            rule_error = rule_message(exc)
        return render_template("console/_segment_figures.html", count=count, rule_error=rule_error)

    @blueprint.route("/segments/<int:segment_id>/delete", methods=["GET", "POST"], endpoint="segment_delete")
    @login_required
    def segment_delete(segment_id: int) -> Any:
        def remove(session: Any, segment: Segment) -> None:
            record(session, SEGMENT_DELETED, segment.name)
            session.delete(segment)

        def question(session: Any, form: DeleteForm, segment: Segment) -> str:
            return render_template("console/segment_delete.html", form=form, segment=segment)

        return deletion(Segment, segment_id, remove, gettext("Segment deleted; no contact changed."), question)

    def deletion(model: Any, ident: int, remove: Callable[[Any, Any], None], done: str,
                 question: Callable[[Any, DeleteForm, Any], str]) -> Any:
        """A group's or a segment's delete: its `question` page (session, form, row) until a valid POST
        confirms it; then `remove` (which audits) in one transaction and back to the list."""
        form = DeleteForm()

        def delete(session: Session) -> str:
            remove(session, found(session, model, ident))
            return url_for("console.groups")

        answer = posted_change(form, context.sessions, delete, done)
        if answer:
            return answer
        with context.sessions() as session:
            return question(session, form, found(session, model, ident))


def found(session: Any, model: Any, ident: int) -> Any:
    return or_404(session.get(model, ident))


def members_of(session: Any, group_id: int) -> int:
    return next((g.members for g in directory.groups_with_counts(session) if g.id == group_id), 0)


def name_refused(form: GroupForm | SegmentForm, exc: Exception) -> None:
    add_error(form.name, str(exc))


def prepare(form: SegmentForm) -> None:
    form.match.choices = choices("match")
    for entry in form.conditions:
        entry.form.kind.choices = choices("condition")


def spec_of(form: SegmentForm) -> dict[str, Any]:
    rows = [segment_rules.Condition(e.form.kind.data or "", e.form.value.data or "", e.form.key.data or "",
                                    bool(e.form.negate.data)) for e in form.conditions]
    spec = segment_rules.spec_of(form.match.data or "all", rows)
    segments.parse(spec)
    return spec


def fill(form: SegmentForm, name: str, spec: Any) -> None:
    match, rows = segment_rules.conditions_of(spec)
    form.name.data, form.match.data = name, match
    for entry, row in zip(form.conditions, rows):
        entry.form.kind.data, entry.form.value.data = row.kind, row.value
        entry.form.key.data, entry.form.negate.data = row.key, row.negate


def rule_message(exc: Exception) -> str:
    if isinstance(exc, segment_rules.RuleFormError) and exc.row:
        return gettext("Condition %(row)s: %(reason)s", row=exc.row, reason=str(exc))
    return str(exc)
