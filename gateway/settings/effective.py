"""What is in force: the config file's values with the console's overrides, for the running code.

The send-time check asks for `rules()` before each send and the limit windows for `sim_limits()`
when `version()` moved, so a change in the console reaches the next claim without a restart.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from gateway.consent.rules import Rules
from gateway.consent.send_check import rules_from
from gateway.core.config import Config
from gateway.core.config_sections import ConsentSection
from gateway.settings.keys import effective_consent, effective_sim_limits
from gateway.settings.store import Snapshot
from gateway.sims.identity import SimLimits


class Effective:
    def __init__(self, config: Config, sessions: sessionmaker[Session]) -> None:
        self.config = config
        self.snapshot = Snapshot(sessions)
        self._lock = threading.Lock()
        self._built_for = -1
        self._consent = config.consent
        self._rules = rules_from(config.consent)
        self._sims = effective_sim_limits(config, {})

    def follow(self, listening: threading.Event) -> None:
        """PostgreSQL: a listener calls `changed` on every change, so the version is read only then."""
        self.snapshot.follow(listening)

    def changed(self) -> None:
        self.snapshot.changed()

    def close(self) -> None:
        """Let go of the connection the version is read on (the daemon is stopping)."""
        self.snapshot.close()

    def version(self) -> int:
        return self._refresh()

    def consent(self) -> ConsentSection:
        self._refresh()
        return self._consent

    def rules(self) -> Rules:
        self._refresh()
        return self._rules

    def sim_limits(self) -> SimLimits:
        self._refresh()
        return self._sims

    def _refresh(self) -> int:
        version, values = self.snapshot.values()
        with self._lock:
            if version != self._built_for:
                self._build(values)
                self._built_for = version
        return version

    def _build(self, values: dict[str, Any]) -> None:
        self._consent = effective_consent(self.config.consent, values)
        self._rules = rules_from(self._consent)
        self._sims = effective_sim_limits(self.config, values)
