"""Routing of received text, line by line, for the AT transport's reader thread.

Each line goes to the command in flight (its echo, its `> ` prompt, its answer and final result code)
or to the unsolicited queue (+CMTI, +CMT + PDU, +CDS + PDU, RING, vendor noise), even when an
unsolicited line lands in the middle of an answer; an unsolicited line whose quoted text spans
several lines (a USSD menu) is joined first.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time

from modem.exchange import PendingCommand, Unsolicited, error_for
from modem.lines import LineKind, classify, open_quote, pdu_line

# Whitespace and C0 controls (line noise, NULs of a booting modem) are trimmed from the ends of a
# line only: inside one they are characters (GSM-7 bytes under AT+CSCS="GSM": @ is 0x00, £ 0x01).
EDGES = "".join(map(chr, range(33)))
_LINE_ENDS = re.compile(r"[\r\n]+")
MAX_CONTINUATION = 32  # lines of one unsolicited code split inside a quoted string

log = logging.getLogger("gsmgw.modem")


class LineRouter:
    """The routing state (the command in flight, a +CMT header waiting for its PDU, quoted text
    that goes on) and the rules; the transport's reader feeds it what the port gives."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.unsolicited: queue.Queue[Unsolicited] = queue.Queue()
        self.last_echo_at = 0.0  # time.monotonic() when the modem last echoed a command: its echo is on
        self._state_lock = threading.Lock()
        self._pending: PendingCommand | None = None
        self._pdu_header: str | None = None
        self._continued: list[str] | None = None  # an unsolicited line whose quoted text goes on
        self._buffer = ""

    def _reset_routing(self) -> None:
        """Forget half-received lines (a new port, a new start)."""
        self._buffer = ""
        self._pdu_header = None
        self._continued = None

    def feed(self, text: str) -> None:
        """Split received text into lines and route each one (public for table tests)."""
        *lines, self._buffer = _LINE_ENDS.split(self._buffer + text)  # the last piece is unfinished
        for raw in lines:
            if not raw or self._continued is not None and self._continue(raw):
                continue
            line = raw.strip(EDGES)
            if line:
                self._route(line, raw)
        if self._buffer.strip() == ">":
            self._buffer = ""
            with self._state_lock:
                pending = self._pending
            if pending is not None:
                pending.prompt()

    def _route(self, line: str, raw: str | None = None) -> None:
        """Route one trimmed line; `raw` is the line as received (the end of quoted text is kept)."""
        with self._state_lock:
            pending = self._pending
            header, self._pdu_header = self._pdu_header, None
        if header is not None:
            pdu = pdu_line(line)
            if pdu is not None:
                self._emit(Unsolicited(header, pdu=pdu))
                return
            self._emit(Unsolicited(header))  # the PDU line never came; keep the header anyway
        if pending is not None and line in pending.echoes:
            self.last_echo_at = time.monotonic()
            return
        if pending is not None and line == ">" and not pending.prompted:
            pending.prompt()  # the prompt, followed by a line end from a chatty modem
            return
        classified = classify(line, expecting=pending.expecting if pending else None)
        if classified.kind is LineKind.UNSOLICITED_WITH_PDU:
            with self._state_lock:
                self._pdu_header = line
            return
        if classified.kind is LineKind.UNSOLICITED:
            if open_quote(line):
                # `+CUSD: 1,"Menu @` and the menu's lines still to come
                self._continued = [(raw or line).lstrip(EDGES)]
                return
            self._emit(Unsolicited(line))
            return
        if pending is None or pending.done:
            log.debug("%s: stray line %r", self.name, line)
            return
        if classified.kind is LineKind.RESPONSE:
            pending.lines.append(line)
        else:
            pending.finish(error_for(pending.command, classified))

    def _continue(self, raw: str) -> bool:
        """Add the `raw` line (untrimmed: inside quotes every byte is a character) to the
        unsolicited line whose quoted text it continues; False if it is not part of it (an echo, a
        final result code, a known URC, or too many lines: the quote never closes)."""
        parts = self._continued
        assert parts is not None
        line = raw.strip(EDGES)
        with self._state_lock:
            pending = self._pending
        echo = pending is not None and line in pending.echoes
        if not echo and classify(line).kind is LineKind.RESPONSE and len(parts) < MAX_CONTINUATION:
            parts.append(raw)
            if open_quote("\n".join(parts)):
                return True
            consumed = True
        else:
            consumed = False
        self._continued = None
        self._emit(Unsolicited("\n".join(parts)))
        return consumed

    def _emit(self, event: Unsolicited) -> None:
        log.debug("%s: unsolicited %r", self.name, event.line)
        self.unsolicited.put(event)
