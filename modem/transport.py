"""The AT transport: one serial port, one reader thread, one command in flight.

The reader thread turns bytes into text that `LineRouter` (`line_router.py`) routes line by line:
to the command in flight or to the unsolicited queue, even mid-answer. A command that times out is
abandoned cleanly (ESC if the modem sits in a `> ` prompt, an `AT` resync, a drain of late answers) so
the next command never receives the previous one's reply. When the port vanishes, every waiter fails at
once with ModemDisconnected.
"""

from __future__ import annotations

import codecs
import logging
import termios
import threading
import time
from collections.abc import Callable
from typing import Any

import serial

from modem.errors import CommandTimeout, ModemDisconnected, PromptTimeout, SubmitUncertain
from modem.exchange import DISCONNECTED, PendingCommand, Response, Unsolicited
from modem.line_router import LineRouter
from modem.lines import response_prefix
from modem.supervision import ModemSettings

__all__ = ["CTRL_Z", "DISCONNECTED", "ESC", "PROMPT_TIMEOUT", "AtTransport", "Response", "SerialFactory",
           "Unsolicited"]

CTRL_Z = "\x1a"
ESC = "\x1b"
PROMPT_TIMEOUT = 10.0  # seconds from AT+CMGS to the modem's "> "
RESYNC_TIMEOUT = 2.0  # seconds the resync's `AT` after a timed-out command waits for its OK
_AUTO: Any = object()

traffic_log = logging.getLogger("gsmgw.serial")
log = logging.getLogger("gsmgw.modem")

SerialFactory = Callable[..., Any]


class AtTransport(LineRouter):
    """Owns a serial port and speaks the AT line protocol over it (routing received lines as
    `LineRouter` does)."""

    def __init__(self, url: str, settings: ModemSettings | None = None, *,
                 open_serial: SerialFactory = serial.serial_for_url, resync_timeout: float = RESYNC_TIMEOUT) -> None:
        """`url`: the port (a device, a pty, socket://host:port), which may be one discovery found
        rather than `settings.port`; `settings`: its name, baud rate, flow control and command
        timeout (by default a modem named "modem" at 115200 baud); `resync_timeout`: how long the
        `AT` after a timed-out command waits (the technician's checks wait no longer than for any AT)."""
        self.settings = settings if settings is not None else ModemSettings("modem")
        super().__init__(self.settings.name)
        self.url = url
        self._open_serial = open_serial
        self._resync_timeout = resync_timeout
        self.last_received = 0.0
        self._serial: Any = None
        self._reader: threading.Thread | None = None
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._command_lock = threading.Lock()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    # ---- life cycle -------------------------------------------------------------------------
    def open(self) -> None:
        """Open the port and start the reader; raises ModemDisconnected if the port is not there."""
        try:
            self._serial = self._open_serial(
                self.url, baudrate=self.settings.baudrate, rtscts=self.settings.rtscts, xonxoff=False,
                timeout=1.0, write_timeout=5.0,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise ModemDisconnected(f"{self.name}: {exc}") from exc
        self._stopping.clear()
        self._reset_routing()
        self._decoder.reset()
        self._connected.set()
        self._reader = threading.Thread(target=self._read_loop, name=f"{self.name}-reader", daemon=True)
        self._reader.start()

    def close(self) -> None:
        """Stop the reader and close the port; safe to call twice."""
        self._stopping.set()
        port, self._serial = self._serial, None
        if port is not None:
            try:
                port.cancel_read()
            except (AttributeError, OSError, serial.SerialException):
                pass
            try:
                port.close()
            except (OSError, serial.SerialException):
                pass
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=5)
        self._reader = None
        self._lost("closed")

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # ---- commands ---------------------------------------------------------------------------
    def command(self, command: str, *, timeout: float | None = None, expect: Any = _AUTO) -> Response:
        """Send one command and return its information lines, or raise the modem's error."""
        timeout = self.settings.command_timeout_s if timeout is None else timeout
        expecting = response_prefix(command) if expect is _AUTO else expect
        with self._command_lock:
            pending = self._start(command, expecting)
            self._write(command + "\r")
            if not pending.wait(lambda: pending.done, timeout):
                self._abandon(pending, in_prompt=False)
                raise CommandTimeout(command, timeout)
            return self._result(pending)

    def command_with_prompt(
        self, command: str, payload: str, *, prompt_timeout: float = PROMPT_TIMEOUT, timeout: float = 60.0,
        meanwhile: Callable[[], None] | None = None, while_sending: Callable[[], None] | None = None,
    ) -> Response:
        """Send a command that answers `> `, then the payload and Ctrl-Z (AT+CMGS in PDU mode).

        `meanwhile` runs after the command went out and before the payload does (the caller's
        commit overlaps the modem's way to its prompt); if it raises, ESC cancels the input and
        nothing is sent. `while_sending` runs after the payload went out, while the modem works on
        it (it must not raise: the answer is still to be read). No prompt: ESC cancels whatever the
        modem is waiting for, so it doesn't swallow the next command as PDU text. No answer after
        the payload went out: SubmitUncertain, because the network may have the message.
        """
        with self._command_lock:
            pending = self._start(command, response_prefix(command), echoes=(payload,))
            self._write(command + "\r")
            if meanwhile is not None:
                try:
                    meanwhile()
                except BaseException:
                    pending.wait(lambda: pending.prompted or pending.done, prompt_timeout)
                    self._abandon(pending, in_prompt=not pending.done)
                    raise
            if not pending.wait(lambda: pending.prompted or pending.done, prompt_timeout):
                self._abandon(pending, in_prompt=True)
                raise PromptTimeout(f"{command!r}: no '> ' prompt within {prompt_timeout:g} s")
            if pending.done:  # answered before any prompt: an ERROR is its refusal ...
                self._result(pending)
                # ... but an OK is a late answer to an earlier command: the PDU never went, and the
                # modem may prompt for it yet (ESC cancels it, the resync drains what is left)
                self._abandon(pending, in_prompt=True)
                raise PromptTimeout(f"{command!r}: an OK before its '> ' prompt (a late answer); PDU not sent")
            self._write(payload + CTRL_Z)
            if while_sending is not None:
                while_sending()
            if not pending.wait(lambda: pending.done, timeout):
                self._abandon(pending, in_prompt=True)
                raise SubmitUncertain(command, f"no answer within {timeout:g} s after the PDU")
            try:
                return self._result(pending)
            except ModemDisconnected as exc:
                raise SubmitUncertain(command, f"port lost after the PDU ({exc})") from exc

    def cancel_input(self) -> None:
        """ESC: leaves a `> ` prompt that someone else (a crashed process) may have left open."""
        with self._command_lock:
            self._write(ESC)

    def _start(self, command: str, expecting: str | None, *, echoes: tuple[str, ...] = ()) -> PendingCommand:
        if not self.connected:
            raise ModemDisconnected(f"{self.name}: not connected")
        pending = PendingCommand(command, expecting, echoes=echoes)
        with self._state_lock:
            self._pending = pending
        return pending

    def _result(self, pending: PendingCommand) -> Response:
        with self._state_lock:
            if self._pending is pending:
                self._pending = None
        if pending.error is not None:
            raise pending.error
        return Response(pending.command, pending.lines)

    def _abandon(self, pending: PendingCommand, *, in_prompt: bool) -> None:
        """Forget a command that timed out and bring the line back to a known state."""
        with self._state_lock:
            if self._pending is pending:
                self._pending = None
        if not self.connected:
            return
        try:
            if in_prompt:
                self._write(ESC)
            self._resync()
        except ModemDisconnected:
            pass

    def _resync(self) -> None:
        """`AT` until OK, then drain late answers so they are not taken for the next command's."""
        probe = self._start("AT", None)
        self._write("AT\r")
        probe.wait(lambda: probe.done, self._resync_timeout)
        with self._state_lock:
            self._pending = None
        self._drain(quiet=0.3, limit=2.0)

    def _drain(self, *, quiet: float, limit: float) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and time.monotonic() - self.last_received < quiet:
            time.sleep(0.05)

    def _write(self, text: str) -> None:
        port = self._serial
        if port is None or not self.connected:
            raise ModemDisconnected(f"{self.name}: not connected")
        traffic_log.debug("%s TX %r", self.name, text)
        try:
            # no flush(): tcdrain would wait until the modem side has read the bytes, and the
            # caller has better things to do meanwhile (its commit); the kernel keeps the order
            port.write(text.encode("ascii", errors="replace"))
        except (serial.SerialException, OSError, termios.error, AttributeError, TypeError) as exc:
            # a port closed under us (unplug, shutdown) fails in any of these ways
            self._lost(f"write failed: {exc}")
            raise ModemDisconnected(f"{self.name}: write failed: {exc}") from exc

    # ---- reader thread ----------------------------------------------------------------------
    def _read_loop(self) -> None:
        port = self._serial
        reason = "closed"
        while not self._stopping.is_set() and port is not None:
            try:
                data = port.read(max(1, port.in_waiting))
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                # closed under us by close() (e.g. the supervisor found the modem hung), or lost
                reason = "closed" if self._stopping.is_set() else f"read failed: {exc}"
                break
            if data:
                self.last_received = time.monotonic()
                traffic_log.debug("%s RX %r", self.name, data)
                try:
                    self.feed(self._decoder.decode(data))
                except Exception:  # a line we cannot handle must never kill the reader
                    log.exception("%s: could not handle received data %r", self.name, data)
        if not self._stopping.is_set():
            log.warning("%s: port lost (%s)", self.name, reason)
        self._lost(reason)

    def _lost(self, reason: str) -> None:
        """Fail the command in flight and wake every consumer: the port is gone."""
        if not self._connected.is_set():
            return
        self._connected.clear()
        with self._state_lock:
            pending, self._pending = self._pending, None
        if pending is not None:
            pending.finish(ModemDisconnected(f"{self.name}: {reason}"))
        self.unsolicited.put(DISCONNECTED)
