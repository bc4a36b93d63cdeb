"""The campaigns list (`/campaigns`), each campaign's progress and results (`/campaigns/<id>`, its
live partial and its CSV), and pause / resume / cancel / pick-a-winner as confirmed POSTs.

Everything is read through the domain: `progress.newest` pages the list, the REST API's
`campaign_dict` gives the campaign with its counts, `results.document` and `results.to_csv` the
results; the actions are `Campaigns.pause/resume/cancel/decide`, each with an audit entry.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import SubmitField

from gateway.campaigns import progress, results
from gateway.campaigns.ab import label as variant_label
from gateway.campaigns.models import Campaign, CampaignStatus
from gateway.campaigns.service import CampaignError, Campaigns
from gateway.users import audit
from web.api.campaigns import campaign_dict
from web.api.paging import decode_cursor, encode_cursor
from web.api.problems import ApiError
from web.console.charts import bar_chart
from web.console.forms import require_posted
from web.console.security import client_address
from web.context import WebContext

PAGE = 25
BIG = 2**31
# what each action does: the service's method, the statuses it applies to, its audit action
ACTIONS = {
    "pause": (Campaigns.pause, CampaignStatus.LIVE, audit.CAMPAIGN_PAUSED),
    "resume": (Campaigns.resume, frozenset({CampaignStatus.PAUSED}), audit.CAMPAIGN_RESUMED),
    "cancel": (Campaigns.cancel, frozenset({CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.RUNNING,
                                            CampaignStatus.PAUSED}), audit.CAMPAIGN_CANCELLED),
}


class ActionForm(FlaskForm):
    submit = SubmitField(lazy_gettext("Confirm"))


def still_open(counts: dict[str, int]) -> int:
    """The recipients a cancel stops: not texted yet (pending, held) or still waiting in the queue."""
    return counts["pending"] + counts["held"] + counts["queued"]


def decides_at(campaign: dict[str, Any], started_at: datetime | None) -> datetime | None:
    """When an undecided A/B test picks its winner by itself (None: not a test, decided, not started)."""
    test = campaign["ab_test"]
    if test is None or test["winner"] is not None or started_at is None:
        return None
    return started_at + timedelta(seconds=test["decide_after"])


def results_charts(document: dict[str, Any]) -> list[Any]:
    """Per variant: the outcomes side by side, and the replies and opt-outs attributed to it."""
    rows = document["variants"]
    labels = [variant_label(v["variant"]) for v in rows]
    outcomes = bar_chart("outcomes", gettext("Outcomes per variant"), labels, series=[
        (gettext("Sent"), "sent", [v["sent"] for v in rows]),
        (gettext("Delivered"), "delivered", [v["delivered"] for v in rows]),
        (gettext("Failed"), "failed", [v["failed"] for v in rows]),
        (gettext("Suppressed"), "other", [v["suppressed"] for v in rows])], stacked=False)
    answers = bar_chart("answers", gettext("Replies and opt-outs per variant"), labels, series=[
        (gettext("Replies"), "delivered", [v["replies"] for v in rows]),
        (gettext("Opt-outs"), "failed", [v["opt_outs"] for v in rows])], stacked=False)
    return [outcomes, answers]


def register(blueprint: Blueprint, context: WebContext) -> None:
    blueprint.add_app_template_global(variant_label, "ab_label")

    def days() -> float:
        return context.campaigns.attribution_days if context.campaigns is not None else results.ATTRIBUTION_DAYS

    def load(campaign_id: int) -> tuple[dict[str, Any], datetime | None]:
        if campaign_id >= BIG:
            abort(404)
        with context.sessions() as session:
            campaign = session.get(Campaign, campaign_id)
            if campaign is None:
                abort(404)
            return campaign_dict(session, campaign, days()), campaign.started_at

    @blueprint.route("/campaigns", endpoint="campaigns")
    @login_required
    def list_page() -> Any:
        try:
            before = decode_cursor(request.args.get("cursor"))
        except ApiError:
            before = None
        with context.sessions() as session:
            found, last = progress.newest(session, before=before, limit=PAGE)
            rows = [campaign_dict(session, c, days()) | {"send_at_time": c.send_at, "started_time": c.started_at}
                    for c in found]
        older = url_for("console.campaigns", cursor=encode_cursor(last)) if last is not None else None
        newest = url_for("console.campaigns") if before is not None else None
        return render_template("console/campaigns.html", campaigns=rows, older=older, newest=newest)

    def detail(campaign_id: int, template: str) -> Any:
        campaign, started_at = load(campaign_id)
        with context.sessions() as session:
            document = results.document(session.connection(), campaign_id, days())
        return render_template(template, c=campaign, started_at=started_at, document=document,
                               charts=results_charts(document), open_count=still_open(campaign["counts"]),
                               decides_at=decides_at(campaign, started_at),
                               available=[name for name, (_, applies, _) in ACTIONS.items() if campaign["status"] in applies],
                               live=campaign["status"] in CampaignStatus.LIVE, form=ActionForm(),
                               is_admin=current_user.account.role == "admin",
                               can_pick=current_user.account.role == "admin" and campaign["ab_test"] is not None
                               and campaign["ab_test"]["winner"] is None and campaign["status"] in CampaignStatus.LIVE
                               | {CampaignStatus.PAUSED})

    @blueprint.route("/campaigns/<int:campaign_id>", endpoint="campaign")
    @login_required
    def campaign_page(campaign_id: int) -> Any:
        return detail(campaign_id, "console/campaign.html")

    @blueprint.route("/campaigns/<int:campaign_id>/progress", endpoint="campaign_progress")
    @login_required
    def progress_partial(campaign_id: int) -> Any:
        return detail(campaign_id, "console/_campaign_progress.html")

    @blueprint.route("/campaigns/<int:campaign_id>/results.csv", endpoint="campaign_results_csv")
    @login_required
    def results_csv(campaign_id: int) -> Any:
        load(campaign_id)
        with context.sessions() as session:
            document = results.document(session.connection(), campaign_id, days())
        return Response(results.to_csv(document), content_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="campaign-{campaign_id}-results.csv"'})

    @blueprint.route("/campaigns/<int:campaign_id>/<any(pause, resume, cancel):action>", methods=["GET", "POST"],
                     endpoint="campaign_action")
    @login_required
    def action_page(campaign_id: int, action: str) -> Any:
        campaign, _ = load(campaign_id)
        method, applies, audited = ACTIONS[action]
        form = ActionForm()
        if request.method == "GET" or not form.validate_on_submit():
            return render_template("console/campaign_action.html", c=campaign, action=action, form=form,
                                   can=campaign["status"] in applies, open_count=still_open(campaign["counts"]))
        if context.campaigns is None:
            abort(503)
        try:
            status = method(context.campaigns, campaign_id)
        except CampaignError as exc:
            flash(str(exc.reason), "info")
            return redirect(url_for("console.campaign", campaign_id=campaign_id))
        with context.sessions.begin() as session:
            audit.record(session, context.clock, audited, actor=current_user.account.name, address=client_address(),
                         detail=f"campaign {campaign_id} ({campaign['name']}): {status}")
        flash(gettext("Done: the campaign is now %(status)s.", status=campaign_status(status)), "info")
        return redirect(url_for("console.campaign", campaign_id=campaign_id))

    @blueprint.route("/campaigns/<int:campaign_id>/winner/<int:seq>", methods=["POST"], endpoint="campaign_winner")
    @login_required
    def winner(campaign_id: int, seq: int) -> Any:
        if current_user.account.role != "admin":
            abort(403)
        campaign, _ = load(campaign_id)
        form = ActionForm()
        require_posted(form)
        if context.campaigns is None:
            abort(503)
        try:
            context.campaigns.decide(campaign_id, seq)
        except CampaignError as exc:
            flash(str(exc.reason), "info")
            return redirect(url_for("console.campaign", campaign_id=campaign_id))
        with context.sessions.begin() as session:
            audit.record(session, context.clock, audit.CAMPAIGN_WINNER, actor=current_user.account.name,
                         address=client_address(), detail=f"campaign {campaign_id} ({campaign['name']}): {variant_label(seq)}")
        flash(gettext("Variant %(variant)s goes to the rest of the audience.", variant=variant_label(seq)), "info")
        return redirect(url_for("console.campaign", campaign_id=campaign_id))


def campaign_status(code: str) -> str:
    from web.console.labels import label

    return label("campaign", code)
