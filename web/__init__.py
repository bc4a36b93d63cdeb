"""Flask console and REST API (served by the daemon)."""
