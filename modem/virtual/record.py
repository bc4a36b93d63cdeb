"""What left the virtual modems: one JSON line per submitted part.

Crash tests read this file to prove "no (recipient, part) was submitted twice", so every line is
written and flushed the moment the network accepts the part, before the modem even answers
`+CMGS:` — exactly the window in which a real gateway can crash and lose the answer.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from typing import IO, Any


class SubmitRecord:
    """Append-only log of submitted parts, in memory (`.submitted`) and optionally in a JSON-lines file."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self.submitted: list[dict[str, Any]] = []
        self.reports: list[dict[str, Any]] = []  # status reports the network produced (in memory only)
        self._lock = threading.Lock()
        self._file: IO[str] | None = open(path, "a", encoding="utf-8") if path else None

    def add(self, entry: dict[str, Any]) -> dict[str, Any]:
        entry = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                 "epoch": round(time.time(), 3), **entry}
        with self._lock:
            self.submitted.append(entry)
            if self._file is not None:
                self._file.write(json.dumps(entry, ensure_ascii=False) + "\n")
                self._file.flush()
        return entry

    def add_report(self, entry: dict[str, Any]) -> None:
        """A status report on its way to the sending modem: what a test may expect the gateway to apply."""
        with self._lock:
            self.reports.append({"epoch": round(time.time(), 3), **entry})

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def read_record(path: str) -> list[dict[str, Any]]:
    """Entries of a record file; a torn last line (crash mid-write) is skipped, not fatal."""
    entries = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return entries


def duplicates(entries: list[dict[str, Any]]) -> list[tuple[str, str, Any, Any, Any]]:
    """(modem, recipient, concat ref, seq, text) keys that appear more than once."""
    seen: set[tuple] = set()
    dups = []
    for e in entries:
        key = (e.get("msisdn"), e.get("recipient"), e.get("concat_ref"), e.get("concat_seq"), e.get("text"))
        if key in seen:
            dups.append(key)
        seen.add(key)
    return dups
