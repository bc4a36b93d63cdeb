"""API keys for LAN apps: tokens, scopes, revocation."""
