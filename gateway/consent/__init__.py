"""Consent: the append-only ledger, opt-in and opt-out, keywords, the rules and the send-time check."""
