"""The SIM PIN rule: a configured PIN is tried at most once per SIM until the configuration changes.

A SIM locks itself (PUK) after three wrong PINs, and a modem that is reconnected with backoff would
re-send the same wrong PIN on every init. So the attempt is remembered before it is made, keyed by
the SIM (its ICCID, or the port when the SIM hides it until unlocked) and a fingerprint of the PIN
(never the PIN itself): a refused or unanswered attempt is not repeated, across reconnects and, with
a file, across daemon restarts, until the configured PIN is a different one. Gammu smsd and
smstools3 stop at the first refusal the same way.

Also here: reading how many tries the SIM has left, which each vendor says differently.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path

from modem.lines import parse_fields, payload_of

log = logging.getLogger("gsmgw.modem")

ATTEMPTING, REFUSED = "attempting", "refused"

# Commands that tell how many PIN tries are left, with the answer's prefix: 3GPP TS 27.007 +CPINR,
# SIMCom +SPIC, Huawei ^CPIN, Quectel +QPINC. Tried in order; the first that answers counts.
TRIES_COMMANDS = (('AT+CPINR="SIM PIN"', "+CPINR:"), ("AT+SPIC", "+SPIC:"), ("AT^CPIN?", "^CPIN:"),
                  ('AT+QPINC="SC"', "+QPINC:"))


def fingerprint(key: str, pin: str) -> str:
    """Tells one configured PIN from another without storing it."""
    return hashlib.sha256(f"{key}\0{pin}".encode()).hexdigest()[:16]


class PinMemory:
    """Which (SIM, configured PIN) pairs must not be tried again; thread-safe, optionally on disk."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self.problem: str | None = None  # a file that could not be read: no PIN is tried, none written
        self._entries: dict[str, dict[str, str]] = self._load()

    def may_try(self, key: str, pin: str) -> bool:
        """False when this PIN was already tried on this SIM and not accepted (or never answered)."""
        with self._lock:
            entry = self._entries.get(key)
            return self.problem is None and (entry is None or entry["pin"] != fingerprint(key, pin))

    def unanswered(self, key: str) -> bool:
        """Was the last attempt on this SIM sent without an answer (a timeout, a crash)?"""
        with self._lock:
            entry = self._entries.get(key)
            return entry is not None and entry.get("state") == ATTEMPTING

    def attempting(self, key: str, pin: str) -> None:
        """Recorded before the PIN goes: an attempt whose answer is lost still counts."""
        self._set(key, {"pin": fingerprint(key, pin), "state": ATTEMPTING})

    def refused(self, key: str, pin: str) -> None:
        self._set(key, {"pin": fingerprint(key, pin), "state": REFUSED})

    def accepted(self, key: str) -> None:
        self._set(key, None)

    def _set(self, key: str, entry: dict[str, str] | None) -> None:
        with self._lock:
            if entry is None:
                self._entries.pop(key, None)
            else:
                self._entries[key] = entry
            self._save()

    def _load(self) -> dict[str, dict[str, str]]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            data = exc
        if not isinstance(data, dict):
            # every SIM counts as already tried, so no PIN can lock one by mistake
            self.problem = f"{self.path} is unreadable ({data}); fix or remove it to let the PIN be tried"
            log.error("%s", self.problem)
            return {}
        return {k: v for k, v in data.items() if isinstance(v, dict) and isinstance(v.get("pin"), str)}

    def _save(self) -> None:
        if self.path is None or self.problem is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        with open(temporary, "w") as handle:
            json.dump(self._entries, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)


def tries_left(line: str) -> int | None:
    """PIN tries left from one answer line of a TRIES_COMMANDS command, None if it does not say."""
    fields = parse_fields(payload_of(line))
    position = {"+CPINR:": 1,  # +CPINR: SIM PIN,<retries>,<default retries>
                "+SPIC:": 0,  # +SPIC: <pin1>,<pin2>,<puk1>,<puk2>
                "^CPIN:": 3,  # ^CPIN: <code>,[<times>],<puk times>,<pin times>,<puk2 times>,<pin2 times>
                "+QPINC:": 1}  # +QPINC: "SC",<pin counter>,<puk counter>
    prefix = line.split(":", 1)[0] + ":"
    at = position.get(prefix)
    if at is None or len(fields) <= at or not fields[at].strip().isdigit():
        return None
    return int(fields[at])
