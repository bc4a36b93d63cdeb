"""The virtual modem's byte line discipline: echo, command lines, the "> " body, answers in order.

Bytes from the host arrive through `feed`; a finished command line goes to the AT command handlers
(`_dispatch`), a finished SMS body to `_write`/`_send`, and their `Reply` goes out after the
configured latency while later input waits its turn, as on a real modem's single command channel.
Output may be chopped into slow pieces (`split_lines`) and is swallowed while the modem hangs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from modem.virtual import atparse

CTRL_Z, ESC = 0x1A, 0x1B
MAX_LINE = 556  # SIM800's command buffer; longer lines are answered with ERROR


@dataclass
class Reply:
    """One command's answer: information lines, a final result code, when, and what comes after."""

    lines: list[str] = field(default_factory=list)
    final: str = "OK"
    delay: float = 0.0
    after: Callable[[], None] | None = None
    paired: bool = False  # lines come as header+PDU pairs (CMGL/CMGR): never split a pair
    blocks: list[list[str]] | None = None  # a multi-command line: one block of lines per command


@dataclass
class Prompt:
    """AT+CMGS / AT+CMGW: answer "> " and read a body up to Ctrl-Z (send) or ESC (cancel)."""

    command: str  # "+CMGS" or "+CMGW"
    length: int | None = None  # PDU mode: declared TPDU length
    recipient: str | None = None  # text mode


class LineDiscipline:
    """Bytes in, bytes out, one command line at a time; the state lives on `VirtualModem`."""

    # -- output ------------------------------------------------------------------------------------
    def _hung(self) -> bool:
        if self._hung_forever:
            return True
        if self._hung_until is not None:
            if self.sched.now() < self._hung_until:
                return True
            self._hung_until = None
            self._busy = False  # whatever was in flight was lost in the hang
            self._mode = "cmd"
            self._line.clear()
        return False

    def _emit(self, data: bytes) -> None:
        """Write bytes to the host, in order, chopped into slow pieces when split_lines is on."""
        if not data or not self.powered or self._hung():
            return
        now = self.sched.now()
        if not self._split:
            if self._out_until > now:
                self._later(self._out_until - now, lambda: self.output(data))
            else:
                self.output(data)
            return
        offset = max(now, self._out_until) - now
        for segment in re.split(rb"(?<=\r\n)", data):  # each segment ends with its CR LF
            for i in range(0, len(segment), 8):
                chunk = segment[i:i + 8]
                self._later(offset, lambda chunk=chunk: self.output(chunk))
                offset += self.chunk_delay
            if segment.strip():
                offset += self.line_gap  # the next line arrives in a later read
        self._out_until = now + offset

    def _emit_lines(self, lines: list[str]) -> None:
        """One block of information text: CR LF, the lines joined by CR LF, CR LF (V.250 §5.7)."""
        if lines:
            self._emit(b"\r\n" + "\r\n".join(lines).encode("latin-1", "replace") + b"\r\n")

    def _urc(self, lines: list[str]) -> None:
        """An unsolicited result code: goes out at once, even between the lines of an answer."""
        self._emit_lines(lines)

    # -- input -------------------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Bytes from the host (serial port)."""
        with self._lock:
            if not self.powered or self._hung():
                return
            if self._busy:
                self._inbuf += data
                return
            self._consume(data)

    def _consume(self, data: bytes) -> None:
        echo = bytearray()
        for i, b in enumerate(data):
            if self._busy or not self.powered:
                self._emit(bytes(echo))
                self._inbuf += data[i:]
                return
            if self._mode == "cmd":
                if self.echo:
                    echo.append(b)
                if b in (0x0D, 0x0A):
                    lone_lf = b == 0x0A and not self._last_cr
                    self._last_cr = b == 0x0D
                    if b == 0x0D or lone_lf:
                        line = bytes(self._line)
                        self._line.clear()
                        self._emit(bytes(echo))
                        echo.clear()
                        self._command_line(line)
                    continue
                self._last_cr = False
                if b in (0x08, 0x7F):
                    del self._line[-1:]
                elif len(self._line) <= MAX_LINE:
                    self._line.append(b)
            else:
                if b in (CTRL_Z, ESC):
                    self._emit(bytes(echo))
                    echo.clear()
                    self._end_body(cancel=b == ESC)
                    continue
                if self.echo:
                    echo.append(b)
                if self._mode == "text" and b == 0x0D:
                    self._body.append(0x0A)
                    self._emit(bytes(echo) + b"\r\n> ")
                    echo.clear()
                elif self._mode == "text" and b != 0x0A or self._mode == "pdu" and b not in b"\r\n \t":
                    self._body.append(b)
        self._emit(bytes(echo))

    def _command_line(self, raw: bytes) -> None:
        text = raw.decode("latin-1")
        start = text.upper().find("AT")
        if start < 0:
            return  # line noise without "AT": real modems ignore it
        text = text[start + 2:].strip()
        if len(raw) > MAX_LINE:
            self._answer(Reply(final="ERROR"))
            return
        try:
            commands = atparse.parse(text)
        except atparse.ParseError:
            self._answer(Reply(final=self._error()))
            return
        blocks: list[list[str]] = []
        delay = 0.0
        afters: list[Callable[[], None]] = []
        paired = False
        if not commands:
            self._answer(Reply())
            return
        for i, cmd in enumerate(commands):
            result = self._dispatch(cmd)
            if isinstance(result, Prompt):
                if i != len(commands) - 1:
                    self._answer(Reply(final=self._error(), blocks=blocks))
                    return
                self._start_prompt(result, blocks)
                return
            if result.lines:
                blocks.append(result.lines)
            delay += result.delay
            paired = paired or result.paired
            if result.after:
                afters.append(result.after)
            if result.final != "OK":
                self._answer(Reply([], result.final, delay, None, paired, blocks))
                return
        after = (lambda: [f() for f in afters]) if afters else None
        self._answer(Reply([], "OK", delay, after, paired, blocks))

    def _answer(self, reply: Reply) -> None:
        """Send `reply` after the configured latency; input arriving meanwhile waits its turn."""
        delay = self.latency + reply.delay
        if delay > 0:
            self._busy = True
            self._later(delay, lambda: self._finish(reply))
        else:
            self._finish(reply)

    def _finish(self, reply: Reply) -> None:
        blocks = [list(b) for b in reply.blocks] if reply.blocks is not None else [list(reply.lines)]
        blocks = [b for b in blocks if b]
        if self._mid_urcs and blocks:
            lines = blocks[0]
            pos = len(lines) // 2
            if reply.paired and pos % 2:
                pos += 1
            blocks[0:1] = [b for b in (lines[:pos], [self._mid_urcs.pop(0)], lines[pos:]) if b]
        if self._pair_urcs and reply.paired and blocks:
            lines = blocks[0]
            blocks[0:1] = [lines[:1], [self._pair_urcs.pop(0)], lines[1:]]
        for block in blocks:
            self._emit_lines(block)
        self._emit_lines([reply.final])
        self._busy = False
        if reply.after:
            reply.after()
        if self._inbuf and not self._busy:
            data = bytes(self._inbuf)
            self._inbuf.clear()
            self._consume(data)

    def _start_prompt(self, prompt: Prompt, blocks: list[list[str]]) -> None:
        self._prompt = prompt
        self._body.clear()
        self._mode = "pdu" if prompt.length is not None else "text"
        for block in blocks:
            self._emit_lines(block)
        if self._no_prompt > 0:
            self._no_prompt -= 1
            return
        self._emit(b"\r\n> ")

    def _end_body(self, cancel: bool) -> None:
        prompt, body = self._prompt, bytes(self._body)
        self._prompt, self._mode = None, "cmd"
        self._body.clear()
        if cancel or prompt is None:
            self._answer(Reply())
            return
        if prompt.command == "+CMGW":
            self._answer(self._write(prompt, body))
        else:
            self._answer(self._send(prompt, body))
