"""When a modem's newest kept early status report came, so a part's `sent` looks for kept ones only
when one could apply.

A status report that matches no recorded part is kept (`early_reports`) and applied when a part of
that modem is recorded `sent` with its reference, if the report came after the part was submitted.
Nearly always none is kept, and the lookup is a round trip in the `submitting` commit between two
sends. A modem's reports all arrive through this process (a modem belongs to one gateway), so it
knows when the newest came: read once per modem from the database (a restart still finds the ones
kept before it), then raised by every report kept here. A part submitted after that time cannot be
answered by a kept report, and is spared the lookup.
"""

from __future__ import annotations

import threading
from datetime import datetime

from sqlalchemy import Connection, bindparam, func, select

from gateway.outbound.models import EarlyReport
from gateway.store.db import Prepared

_NEWEST = Prepared(select(func.max(EarlyReport.received_at))
                   .where(EarlyReport.modem == bindparam("modem"), EarlyReport.part_id.is_(None)))


class KeptEarly:
    def __init__(self) -> None:
        self._newest: dict[str, datetime] = {}  # per modem: the newest kept report known
        self._read: set[str] = set()  # the modems whose kept reports were read from the database
        self._lock = threading.Lock()

    def may_apply(self, conn: Connection, modem: str, submitted_at: datetime | None) -> bool:
        """Whether a report kept for this modem may have come after a part submitted then."""
        with self._lock:
            read = modem in self._read
        if not read:
            stored = _NEWEST(conn, {"modem": modem}).scalar()
            with self._lock:
                self._read.add(modem)
                if stored is not None:
                    self._newest[modem] = _later(self._newest.get(modem), stored)
        with self._lock:
            newest = self._newest.get(modem)
        return newest is not None and submitted_at is not None and newest >= submitted_at

    def kept(self, modem: str, received_at: datetime) -> None:
        """A report for this modem was kept (told inside its transaction: a rollback only costs a
        lookup). Known even before the modem's first read, which may not see that transaction yet."""
        with self._lock:
            self._newest[modem] = _later(self._newest.get(modem), received_at)


def _later(a: datetime | None, b: datetime) -> datetime:
    return b if a is None else max(a, b)
