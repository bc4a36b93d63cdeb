"""The modems and their SIMs as last seen: identity, state, status for the API and CLI."""
