"""What one AT exchange is made of: a line the modem sent on its own, a command's answer, the
command in flight as the reader thread fills it in, and the error a final result code stands for."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from modem.errors import CmeError, CmsError, CommandFailed
from modem.lines import Classified, LineKind


@dataclass(frozen=True)
class Unsolicited:
    """A line the modem sent on its own; `pdu` holds the second line of +CMT / +CDS."""

    line: str
    pdu: str | None = None
    received_at: float = field(default_factory=time.monotonic)

    @property
    def name(self) -> str:
        """`+CMTI`, `RING`, `^RSSI`... (the text before the colon)."""
        return self.line.split(":", 1)[0].strip()


DISCONNECTED = Unsolicited("<disconnected>")


@dataclass
class Response:
    """The information lines of one answered command (final code excluded)."""

    command: str
    lines: list[str]

    def first(self, prefix: str) -> str | None:
        return next((line for line in self.lines if line.startswith(prefix)), None)

    def text(self) -> str:
        """The answer as one string, for commands that answer with a bare line (AT+CGMI)."""
        return "\n".join(self.lines).strip()


class PendingCommand:
    """The command in flight: collects its lines and learns its outcome from the reader thread."""

    def __init__(self, command: str, expecting: str | None, *, echoes: tuple[str, ...] = ()) -> None:
        self.command = command
        self.expecting = expecting
        self.echoes = {command, *echoes}
        self.lines: list[str] = []
        self.error: Exception | None = None
        self.done = False
        self.prompted = False
        self.changed = threading.Condition()

    def finish(self, error: Exception | None) -> None:
        with self.changed:
            self.error = error
            self.done = True
            self.changed.notify_all()

    def prompt(self) -> None:
        with self.changed:
            self.prompted = True
            self.changed.notify_all()

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(predicate, timeout)


def error_for(command: str, classified: Classified) -> Exception | None:
    """None for OK; otherwise the typed error of the final result code."""
    if classified.kind is LineKind.OK:
        return None
    if classified.kind is LineKind.CMS_ERROR:
        return CmsError(command, classified.code if classified.code is not None else -1, classified.text)
    if classified.kind is LineKind.CME_ERROR:
        return CmeError(command, classified.code if classified.code is not None else -1, classified.text)
    return CommandFailed(command, classified.line)
