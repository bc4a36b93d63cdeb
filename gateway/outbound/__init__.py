"""Sending: the persistent queue, one worker per modem, limits, routing, the engine and its sweep."""
