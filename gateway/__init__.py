"""The domain and the daemon, one package per room (see docs/architecture.md); daemon.py composes them."""
