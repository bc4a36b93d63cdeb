"""Unlocking the SIM at init: waiting out a SIM still being read, and the configured PIN sent at
most once per SIM and PIN (`modem.pin`), with the tries left said when it is refused.

A part of `ModemSession` (its init calls `_unlock_sim`); it speaks through the session's transport.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from modem.errors import CmeError, CommandFailed, SimError, not_ready
from modem.lines import payload_of
from modem.pin import TRIES_COMMANDS, PinMemory, tries_left
from modem.supervision import ModemSettings
from modem.transport import AtTransport


class SimUnlocking:
    """The SIM's side of init; the attributes below are the session's."""

    transport: AtTransport
    name: str
    settings: ModemSettings
    pin_memory: PinMemory
    sim_key: str
    _startup_until: float
    _sleep: Callable[[float], None]
    _optional: Callable[[str], bool]
    _optional_response: Callable[[str, str], str | None]
    _iccid: Callable[[], str | None]

    def _unlock_sim(self) -> None:
        plain_errors = busy = 0
        tried = False
        while True:
            if busy >= 10 and time.monotonic() >= self._startup_until:
                raise SimError(f"{self.name}: the SIM stayed busy")
            try:
                state = payload_of(self.transport.command("AT+CPIN?").first("+CPIN:") or "+CPIN: READY")
            except CmeError as exc:
                if not_ready(exc):  # SIM or modem busy: still booting
                    busy += 1
                    self._sleep(1.0)
                    continue
                if exc.code == 10:
                    raise SimError(f"{self.name}: SIM not inserted") from exc
                if exc.code == 13:
                    raise SimError(f"{self.name}: SIM failure") from exc
                raise SimError(f"{self.name}: SIM not usable ({exc})") from exc
            except CommandFailed as exc:  # plain ERROR: error codes were off or the modem forgot them
                plain_errors += 1
                if plain_errors >= 3:
                    raise SimError(f"{self.name}: SIM not ready (AT+CPIN? answers {exc}); "
                                   "is it inserted and seated?") from exc
                self._optional("AT+CMEE=1")
                self._sleep(0.5)
                continue
            if state == "READY":
                return
            if state == "NOT READY":  # the SIM is still being read: a wait, not a SIM fault
                busy += 1
                self._sleep(1.0)
                continue
            if state == "SIM PIN":
                if tried:
                    raise SimError(f"{self.name}: the SIM accepted the PIN but asks for it again")
                self._enter_pin()
                tried = True
                self._sleep(0.5)
                continue
            raise SimError(f"{self.name}: the SIM needs {state}; unlock it in a phone first")

    def _enter_pin(self) -> None:
        """Send the configured PIN, unless this SIM already refused it (or never answered it): a SIM
        locks itself after three wrong PINs, and every reconnect would send it again."""
        pin = self.settings.pin
        if not pin:
            raise SimError(f"{self.name}: the SIM asks for a PIN; set pin in the config")
        if self.pin_memory.problem:
            raise SimError(f"{self.name}: the SIM asks for its PIN, but {self.pin_memory.problem}")
        key = self._sim_identity()
        if not self.pin_memory.may_try(key, pin):
            what = ("the configured PIN was sent once and its answer was lost" if self.pin_memory.unanswered(key)
                    else "PIN refused")
            raise SimError(f"{self.name}: {what}, {self._tries_left()}; the configured PIN is not tried again "
                           "until it changes")
        self.pin_memory.attempting(key, pin)
        try:
            self.transport.command(f'AT+CPIN="{pin}"', timeout=20.0)
        except CommandFailed as exc:
            self.pin_memory.refused(key, pin)
            raise SimError(f"{self.name}: PIN refused, {self._tries_left()} ({exc}); the configured PIN is not "
                           "tried again until it changes") from exc
        self.pin_memory.accepted(key)

    def _sim_identity(self) -> str:
        """Which SIM this is, for the PIN rule: its ICCID where the modem shows it before the PIN."""
        iccid = self._iccid()
        return f"iccid:{iccid}" if iccid else self.sim_key

    def _tries_left(self) -> str:
        """"N tries left", as far as the modem can say how many."""
        for command, prefix in TRIES_COMMANDS:
            line = self._optional_response(command, prefix)
            left = tries_left(line) if line else None
            if left is not None:
                return f"{left} {'try' if left == 1 else 'tries'} left"
        return "tries left unknown"
