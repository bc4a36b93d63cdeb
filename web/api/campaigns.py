"""/campaigns: create a campaign (draft, an A/B test if asked), see its dry run, start it (now or
at `send_at`), pause, resume, cancel it, pick an A/B test's winner, and follow its progress,
recipients and results (JSON or CSV). Writes need `send`, reads `read`, as for messages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.campaigns import progress, results
from gateway.campaigns.models import Campaign, CampaignStatus, Recipient, Variant
from gateway.campaigns.preview import planned_dict
from gateway.campaigns.service import AbTest, CampaignError, Campaigns, VariantIn
from web.api.campaign_schemas import (CAMPAIGN, CAMPAIGN_ID, CAMPAIGN_IN, CHANGED, CREATED, PREVIEW, RECIPIENT, RESULTS,
                                      STATUS, WINNER, WINNER_IN)
from web.api.core import Api, Call
from web.api.messages import iso
from web.api.paging import decode_cursor, encode_cursor, paginate
from web.api.problems import PREFIX, ApiError, invalid
from web.api.schemas import CURSOR, LIMIT, page_of
from web.api.validation import parse_time


# a campaign's controls, one operation each: (action, the service's change, status, summary, conflict,
# what it answers, description)
CONTROLS: tuple[tuple[str, Callable[..., str], int, str, str, str, str], ...] = (
    ("start", Campaigns.start, 202, "Start a draft: now, or at its `send_at`", "the campaign is not a draft",
     "running or scheduled", "The start is a job in the scheduler's database store: it survives a restart, and "
                             "a campaign due while the gateway was off starts when it is back."),
    ("pause", Campaigns.pause, 200, "Pause: nothing more is queued; messages still queued are taken back",
     "the campaign is not running or scheduled", "paused", ""),
    ("resume", Campaigns.resume, 200, "Resume a paused campaign", "the campaign is not paused", "running", ""),
    ("cancel", Campaigns.cancel, 200, "Cancel: queued messages and the recipients not texted yet are cancelled",
     "the campaign is done or cancelled already", "cancelled", ""),
)


def register(api: Api) -> None:
    @api.operation("POST", "/campaigns", summary="Create a campaign (a draft: nothing is sent until it is started)",
                   tag="campaigns", scopes=("send",), body=CAMPAIGN_IN, idempotent=True,
                   responses={201: ("the draft", CREATED)})
    def create_campaign(call: Call) -> tuple[int, Any, dict[str, str]]:
        body = call.body
        where = _not_text(body, "")
        if where is not None:
            raise invalid(where, "contains an unpaired surrogate (not text)")
        variants = _variants(call)
        send_at = _send_at(body.get("send_at"))
        window = (body["window"]["start"], body["window"]["end"]) if "window" in body else None
        footer = body.get("footer", False)
        test = body.get("ab_test")
        ab_test = AbTest(test["sample"], test["decide_after"], test.get("measure", "replies"),
                         test.get("seed")) if test else None
        try:
            campaign_id = _service(call).create(body["name"], variants, body["audience"], send_at=send_at,
                                                window=window, footer=footer is not False, footer_first=footer == "first",
                                                ab_test=ab_test)
        except CampaignError as exc:
            raise _problem(exc) from None
        return 201, {"id": campaign_id, "status": CampaignStatus.DRAFT}, {"Location": f"{PREFIX}/campaigns/{campaign_id}"}

    @api.operation("GET", "/campaigns", summary="Campaigns, newest first", tag="campaigns", scopes=("read",),
                   query={"status": STATUS, "limit": LIMIT, "cursor": CURSOR},
                   responses={200: ("a page of campaigns", page_of(CAMPAIGN))})
    def list_campaigns(call: Call) -> tuple[int, Any]:
        query = select(Campaign)
        if "status" in call.query:
            query = query.where(Campaign.status == call.query["status"])
        return paginate(call, query, Campaign.id, campaign_dict)

    @api.operation("GET", "/campaigns/{campaign_id}", summary="A campaign with its progress, live",
                   tag="campaigns", scopes=("read",), path_params=CAMPAIGN_ID,
                   responses={200: ("the campaign", CAMPAIGN)})
    def get_campaign(call: Call) -> tuple[int, Any]:
        with call.ctx.sessions() as session:
            return 200, campaign_dict(session, _campaign(session, call.path["campaign_id"]), _attribution_days(call))

    @api.operation("GET", "/campaigns/{campaign_id}/preview",
                   summary="The dry run: per recipient the final text, parts, likely SIM, earliest time or why skipped",
                   tag="campaigns", scopes=("read",), path_params=CAMPAIGN_ID,
                   query={"limit": LIMIT, "cursor": CURSOR,
                          "totals": {"type": "boolean", "default": False,
                                     "description": "add totals and the ETA over the whole audience (slower)"}},
                   responses={200: ("a page of the dry run", PREVIEW)},
                   description="Nothing is written. The audience is read as it is now; the send-time check "
                               "decides again for each message when it goes.")
    def preview_campaign(call: Call) -> tuple[int, Any]:
        service = _service(call)
        after = decode_cursor(call.query.get("cursor")) or 0  # opaque to the client: the last contact id shown
        with call.ctx.sessions() as session:
            dry = service.dry_run(session.connection(), _campaign(session, call.path["campaign_id"]))
            items, last = dry.page(after=after, limit=call.query["limit"])
            out: dict[str, Any] = {"items": [planned_dict(p) for p in items],
                                   "next_cursor": encode_cursor(last) if last is not None else None}
            if call.query.get("totals"):
                out["totals"] = dry.totals()
        return 200, out

    for action, change, status, summary, conflict, answer, description in CONTROLS:
        api.operation("POST", f"/campaigns/{{campaign_id}}/{action}", summary=summary, tag="campaigns",
                      scopes=("send",), path_params=CAMPAIGN_ID, conflict=conflict,
                      responses={status: (answer, CHANGED)}, description=description)(
            _control_operation(f"{action}_campaign", change, status))

    @api.operation("POST", "/campaigns/{campaign_id}/winner",
                   summary="An A/B test's winner, picked by the owner: the rest gets it at once",
                   tag="campaigns", scopes=("send",), path_params=CAMPAIGN_ID, body=WINNER_IN,
                   conflict="not an A/B test, not started or finished, or its winner is decided already",
                   responses={200: ("the winner", WINNER)},
                   description="`variant` is the variant's index (0 for A). Without a pick the decision job "
                               "picks by the test's measure at the start plus `decide_after`.")
    def pick_winner(call: Call) -> tuple[int, Any]:
        campaign_id = call.path["campaign_id"]
        try:
            winner, why = _service(call).decide(campaign_id, call.body["variant"])
        except CampaignError as exc:
            raise _problem(exc) from None
        return 200, {"id": campaign_id, "winner": winner, "decision": why}

    @api.operation("GET", "/campaigns/{campaign_id}/results",
                   summary="Results per variant and in total: sent, delivered, failed, suppressed by reason, "
                           "replies, opt-outs, parts per SIM", tag="campaigns", scopes=("read",),
                   path_params=CAMPAIGN_ID, responses={200: ("the results", RESULTS)},
                   description="A reply is an inbound message from a recipient, an opt-out one of theirs in the "
                               "consent ledger, within `[campaigns] attribution_days` after their message went.")
    def get_results(call: Call) -> tuple[int, Any]:
        return 200, _results(call)

    @api.operation("GET", "/campaigns/{campaign_id}/results.csv", summary="The results as CSV",
                   tag="campaigns", scopes=("read",), path_params=CAMPAIGN_ID, response_type="text/csv",
                   responses={200: ("one row per variant and one for the campaign (`all`)", {"type": "string"})},
                   description="A cell that begins with = + - or @ is prefixed with ' so a spreadsheet "
                               "never takes it for a formula.")
    def get_results_csv(call: Call) -> Response:
        campaign_id = call.path["campaign_id"]
        return Response(results.to_csv(_results(call)), content_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="campaign-{campaign_id}-results.csv"'})

    @api.operation("GET", "/campaigns/{campaign_id}/recipients",
                   summary="The campaign's recipients, newest first, with their state and message",
                   tag="campaigns", scopes=("read",), path_params=CAMPAIGN_ID,
                   query={"state": RECIPIENT["properties"]["state"], "limit": LIMIT, "cursor": CURSOR},
                   responses={200: ("a page of recipients", page_of(RECIPIENT))})
    def list_recipients(call: Call) -> tuple[int, Any]:
        campaign_id, limit = call.path["campaign_id"], call.query["limit"]
        query = progress.recipients_query(campaign_id).order_by(Recipient.id.desc()).limit(limit + 1)
        if "state" in call.query:
            query = query.where(Recipient.state == call.query["state"])
        before = decode_cursor(call.query.get("cursor"))
        if before is not None:
            query = query.where(Recipient.id < before)
        with call.ctx.sessions() as session:
            _campaign(session, campaign_id)
            rows = session.execute(query).all()
        page, more = rows[:limit], len(rows) > limit
        return 200, {"items": [progress.recipient_dict(row) for row in page],
                     "next_cursor": encode_cursor(page[-1].id) if more else None}


def _service(call: Call) -> Campaigns:
    if call.ctx.campaigns is None:
        raise ApiError(503, "campaigns are not available in this process")
    return call.ctx.campaigns


def _control_operation(name: str, change: Callable[..., str], status: int) -> Callable[[Call], tuple[int, Any]]:
    """The handler of one control: `change` on the campaign, its new status answered with `status`."""
    def handler(call: Call) -> tuple[int, Any]:
        return status, _control(call, change)
    handler.__name__ = handler.__qualname__ = name
    return handler


def _control(call: Call, action: Any) -> dict[str, Any]:
    campaign_id = call.path["campaign_id"]
    try:
        status = action(_service(call), campaign_id)
    except CampaignError as exc:
        raise _problem(exc) from None
    return {"id": campaign_id, "status": status}


def _problem(exc: CampaignError) -> ApiError:
    if exc.missing:
        return ApiError(404, exc.reason)
    if exc.field is not None:
        return invalid(exc.field, exc.reason)
    return ApiError(409, exc.reason)


def _variants(call: Call) -> list[VariantIn]:
    """The texts: `text`, `template` or `variants` (templates read now: the campaign keeps its body)."""
    from web.api.templates import find

    body = call.body
    given = [name for name in ("text", "template", "variants") if name in body]
    if len(given) != 1:
        raise invalid("text", "give one of text, template or variants")
    items = body["variants"] if "variants" in body else [body]
    out: list[VariantIn] = []
    with call.ctx.sessions() as session:
        for i, item in enumerate(items):
            where = f"variants[{i}]." if "variants" in body else ""
            if ("text" in item) == ("template" in item):
                raise invalid(f"{where}text", "give either text or template")
            if "template" in item:
                template = find(session, item["template"])
                if template is None:
                    raise invalid(f"{where}template", f"no template named {item['template']!r}")
                out.append(VariantIn(template.body, item.get("weight", 1), template.id))
            else:
                out.append(VariantIn(item["text"], item.get("weight", 1)))
    return out


def _not_text(value: Any, where: str) -> str | None:
    """The field of the first string (or key) holding an unpaired surrogate, which no database
    stores as text; None if there is none."""
    if isinstance(value, str):
        return where or "body" if any(0xD800 <= ord(c) <= 0xDFFF for c in value) else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        name = f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}" if where else str(key)
        found = _not_text(key, name) if isinstance(key, str) else None
        found = found or _not_text(item, name)
        if found is not None:
            return found
    return None


def _send_at(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError as exc:
        raise invalid("send_at", str(exc)) from None


def _campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise ApiError(404, f"no campaign {campaign_id}")
    return campaign


def _results(call: Call) -> dict[str, Any]:
    campaign_id, days = call.path["campaign_id"], _attribution_days(call)
    with call.ctx.sessions() as session:
        _campaign(session, campaign_id)
        return results.document(session.connection(), campaign_id, days)


def _attribution_days(call: Call) -> float:
    return call.ctx.campaigns.attribution_days if call.ctx.campaigns is not None else results.ATTRIBUTION_DAYS


def campaign_dict(session: Session, c: Campaign, days: float = results.ATTRIBUTION_DAYS) -> dict[str, Any]:
    conn = session.connection()
    figures = results.per_variant(conn, c.id, days)
    variants = session.scalars(select(Variant).where(Variant.campaign_id == c.id).order_by(Variant.seq)).all()
    seq_of = {v.id: v.seq for v in variants}
    empty = results.Figures()
    return {
        "id": c.id, "name": c.name, "status": c.status, "counts": progress.summed(figures),
        "variants": [{"variant": v.seq, "text": v.body, "template_id": v.template_id, "weight": v.weight,
                      "recipients": figures.get(v.id, empty).counts["recipients"],
                      "sent": figures.get(v.id, empty).counts["sent"]} for v in variants],
        "audience": c.audience, "footer": ("first" if c.footer_first else "every") if c.footer else False,
        "ab_test": None if c.sample is None else {
            "sample": c.sample, "decide_after": c.decide_after_s, "measure": c.measure, "seed": c.seed,
            "winner": seq_of.get(c.winner_id) if c.winner_id is not None else None,
            "decided_at": iso(c.decided_at), "decision": c.decision},
        "send_at": iso(c.send_at),
        "window": {"start": c.window_start, "end": c.window_end} if c.window_start else None,
        "created_at": iso(c.created_at), "started_at": iso(c.started_at), "finished_at": iso(c.finished_at),
    }


