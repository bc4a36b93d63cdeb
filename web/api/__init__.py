"""The REST API under /api/v1. Each module has `register(api)`; to add a resource (contacts, groups,
consent, templates, keywords, campaigns), write a module like `messages.py` and list it here: its
routes, validation and OpenAPI entries come from the same declarations."""

from __future__ import annotations

from web.api import (
    campaigns, consent, contacts, health, inbound, keys, keywords, messages, metrics, modems, openapi, segments, settings,
    templates, webhooks,
)

MODULES = (messages, templates, inbound, contacts, consent, keywords, campaigns, modems, segments, health, metrics, webhooks,
           keys, settings, openapi)
