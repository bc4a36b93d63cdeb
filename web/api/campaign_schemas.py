"""The JSON Schemas of /campaigns (web/api/campaigns.py): what a campaign, its A/B test, its dry
run, recipients and results look like in and out, and so in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from gateway.campaigns import ab, progress, results
from gateway.campaigns.models import CampaignStatus, RecipientState
from gateway.outbound.new_message import MAX_TEXT
from web.api.schemas import ID, NULLABLE_TIMESTAMP, TIMESTAMP, page_of

MAX_VARIANTS = 10
HHMM = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$", "examples": ["10:00"]}
TEXT = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT, "examples": ["Hi {first_name|friend}, 20% off today"],
        "description": "placeholders: {first_name}, {name}, custom fields; `{first_name|friend}` has a fallback"}
TEMPLATE_NAME = {"type": "string", "minLength": 1, "maxLength": 100, "description": "a template's name (/templates)"}
VARIANT_IN = {"type": "object", "additionalProperties": False, "properties": {
    "text": TEXT, "template": TEMPLATE_NAME, "weight": {"type": "integer", "minimum": 1, "maximum": 100, "default": 1}}}
AUDIENCE = {
    "type": "object", "additionalProperties": False, "minProperties": 1,
    "description": "contacts in any of the groups, with any of the tags, or in the segment; each once; "
                   "marketing consent and the contact's flag are applied",
    "properties": {
        "groups": {"type": "array", "maxItems": 100, "items": {
            "oneOf": [{"type": "string", "minLength": 1, "maxLength": 100}, ID]}},
        "tags": {"type": "array", "maxItems": 100, "items": {"type": "string", "minLength": 1, "maxLength": 100}},
        "segment": {"type": "object", "description": "a rule segment, as POST /segments takes"},
    },
}
AB_TEST_IN = {
    "type": "object", "additionalProperties": False, "required": ["sample", "decide_after"],
    "description": "an A/B test of the variants (two or more): `sample` percent of the audience, drawn at random "
                   "and split over the variants (each as likely) from the seed; `decide_after` seconds after the start the "
                   "variant best by `measure` in the sample (a rate per message sent; a tie goes to the earliest "
                   "variant) goes to the rest, unless the owner picked one first (POST .../winner). Clicks are "
                   "no measure: links are not tracked",
    "properties": {
        "sample": {"type": "integer", "minimum": 1, "maximum": 100, "examples": [20]},
        "decide_after": {"type": "integer", "minimum": 0, "maximum": 90 * 86400, "examples": [14400]},
        "measure": {"type": "string", "enum": list(ab.MEASURES), "default": "replies"},
        "seed": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1,
                 "description": "the split's seed (by default a random one): the same seed, the same split"},
    },
}
AB_TEST = {"type": ["object", "null"], "properties": {
    "sample": {"type": "integer"}, "decide_after": {"type": "integer"}, "measure": {"type": "string"},
    "seed": {"type": "integer"}, "winner": {"type": ["integer", "null"], "description": "the variant the rest gets"},
    "decided_at": NULLABLE_TIMESTAMP, "decision": {"type": ["string", "null"], "description": "how it was chosen"}}}
CAMPAIGN_IN = {
    "type": "object", "additionalProperties": False, "required": ["name", "audience"],
    "description": "`text`, `template` or `variants`: one of the three",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "text": TEXT, "template": TEMPLATE_NAME,
        "variants": {"type": "array", "minItems": 1, "maxItems": MAX_VARIANTS, "items": VARIANT_IN},
        "audience": AUDIENCE,
        "send_at": {**TIMESTAMP, "description": "start then (POST .../start); by default at once"},
        "window": {"type": "object", "additionalProperties": False, "required": ["start", "end"],
                   "description": "send only between these times of day in each contact's timezone",
                   "properties": {"start": HHMM, "end": HHMM}},
        "footer": {"oneOf": [{"type": "boolean"}, {"type": "string", "enum": ["every", "first"]}], "default": False,
                   "description": "the opt-out footer in the contact's language, counted in the parts: on every "
                                  "message (`every`, or `true`), only on a contact's first marketing message from "
                                  "the shop (`first`), or none (`false`)"},
        "ab_test": AB_TEST_IN,
    },
}
STATUS = {"type": "string", "enum": list(CampaignStatus.ALL)}
CREATED = {"type": "object", "required": ["id", "status"], "properties": {"id": ID, "status": STATUS}}
COUNTS = {"type": "object", "properties": {name: {"type": "integer"} for name in progress.COUNTS}}
CAMPAIGN_PROPERTIES: dict[str, Any] = {
    "id": ID, "name": {"type": "string"}, "status": STATUS, "counts": COUNTS,
    "variants": {"type": "array", "items": {"type": "object", "properties": {
        "variant": {"type": "integer"}, "text": {"type": "string"}, "template_id": {"type": ["integer", "null"]},
        "weight": {"type": "integer"}, "recipients": {"type": "integer"}, "sent": {"type": "integer"}}}},
    "audience": {"type": "object"}, "ab_test": AB_TEST,
    "footer": {"oneOf": [{"type": "boolean", "enum": [False]}, {"type": "string", "enum": ["every", "first"]}]},
    "send_at": NULLABLE_TIMESTAMP,
    "window": {"type": ["object", "null"]}, "created_at": TIMESTAMP, "started_at": NULLABLE_TIMESTAMP,
    "finished_at": NULLABLE_TIMESTAMP,
}
CAMPAIGN = {"type": "object", "required": list(CAMPAIGN_PROPERTIES), "properties": CAMPAIGN_PROPERTIES}
NULLABLE_STR = {"type": ["string", "null"]}
PLANNED = {"type": "object", "properties": {
    "contact_id": ID, "to": {"type": "string"}, "name": NULLABLE_STR, "variant": {"type": "integer"},
    "in_sample": {"type": ["boolean", "null"], "description": "an A/B test's: in its sample, or the rest (which "
                                                              "gets the winner)"},
    "text": NULLABLE_STR, "encoding": {"type": ["string", "null"], "enum": ["gsm7", "ucs2", None]},
    "parts": {"type": "integer"}, "sim": NULLABLE_STR,
    "send_at": {**NULLABLE_TIMESTAMP, "description": "the earliest it may go (window, quiet hours)"},
    "skip": {**NULLABLE_STR, "description": "why it is not sent: opted out, no consent, frequency cap, invalid number..."},
    "warning": {**NULLABLE_STR, "description": "a value of this contact's pushes the text into UCS-2 or another part"}}}
TOTALS = {"type": "object", "properties": {
    "recipients": {"type": "integer"}, "to_send": {"type": "integer"}, "skipped": {"type": "integer"},
    "skipped_by_reason": {"type": "object", "additionalProperties": {"type": "integer"}},
    "parts": {"type": "integer"}, "parts_per_sim": {"type": "object", "additionalProperties": {"type": "integer"}},
    "warnings": {"type": "integer"},
    "eta_seconds": {"type": ["number", "null"], "description": "from the SIMs' limits; null without a SIM"}}}
PREVIEW = {"type": "object", "required": ["items", "next_cursor"], "properties": {
    **page_of(PLANNED)["properties"], "totals": {**TOTALS, "description": "with `totals=true`: over the whole audience"}}}
RECIPIENT = {"type": "object", "properties": {
    "id": ID, "contact_id": ID, "to": {"type": "string"}, "variant": {"type": "integer"},
    "state": {"type": "string", "enum": [RecipientState.PENDING, RecipientState.HELD, RecipientState.QUEUED,
                                         RecipientState.SKIPPED, RecipientState.CANCELLED]},
    "in_sample": {"type": ["boolean", "null"], "description": "an A/B test's: in its sample, or the rest"},
    "reason": NULLABLE_STR, "message_id": {"type": ["integer", "null"]}, "message_status": NULLABLE_STR}}
FIGURES = {"type": "object", "properties": {
    **{name: {"type": "integer"} for name in results.FIGURES},
    "suppressed_by_reason": {"type": "object", "additionalProperties": {"type": "integer"}},
    "parts_per_sim": {"type": "object", "additionalProperties": {"type": "integer"}}}}
RESULTS = {"type": "object", "required": ["id", "attribution_days", "totals", "variants"], "properties": {
    "id": ID, "attribution_days": {"type": "number", "description": "a reply or opt-out this soon after a "
                                                                      "recipient's message counts for it"},
    "totals": FIGURES,
    "variants": {"type": "array", "items": {"type": "object", "properties": {
        "variant": {"type": "integer"}, "text": {"type": "string"}, **FIGURES["properties"]}}}}}
WINNER_IN = {"type": "object", "additionalProperties": False, "required": ["variant"],
             "properties": {"variant": {"type": "integer", "minimum": 0, "maximum": 99}}}
WINNER = {"type": "object", "required": ["id", "winner", "decision"], "properties": {
    "id": ID, "winner": {"type": "integer"}, "decision": {"type": "string"}}}
CHANGED = {"type": "object", "required": ["id", "status"], "properties": {"id": ID, "status": STATUS}}
CAMPAIGN_ID = {"campaign_id": ID}
