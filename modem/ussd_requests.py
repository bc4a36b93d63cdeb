"""USSD requests on a modem (balance, own number): the request coded in the character set the modem
is told to use for it, the network's answer waited for, a menu's session closed unless kept open.

A part of `ModemSession`; the `+CUSD` answers reach it through the session's event dispatch. What a
request and an answer look like is `modem.ussd` (pure).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from modem import ussd
from modem.errors import CommandFailed, CommandTimeout
from modem.transport import AtTransport

log = logging.getLogger("gsmgw.modem")


class UssdRequests:
    """The session's USSD; the attributes below are the session's."""

    transport: AtTransport
    name: str
    manufacturer: str
    charset: str
    charset_lock: threading.RLock
    _ussd_replies: queue.Queue[str]
    _optional: Callable[[str], bool]

    def ussd(self, code: str, *, timeout: float = 30.0, keep_open: bool = False) -> str:
        """Run a USSD code (balance, own number) and return the network's whole text.

        The text comes in UCS2 (as Gammu asks for it): nothing is lost to the GSM character set
        and a menu's line breaks stay inside its hex. Huawei sticks take and give packed septets
        instead. A menu (`+CUSD: 1`) is answered by calling again with the choice and
        `keep_open=True`; otherwise its session is closed with AT+CUSD=2, as it is after a
        timeout, so the next code is not taken for a reply. UssdFailed for `+CUSD: 2..5`.
        """
        while not self._ussd_replies.empty():
            self._ussd_replies.get_nowait()
        packed = "huawei" in self.manufacturer.lower()
        with self.charset_lock:  # the SMS settings must not set AT+CSCS back while the network answers
            charset = self.charset if packed or not self._optional('AT+CSCS="UCS2"') else "UCS2"
            try:
                request = ussd.encode_request(code, charset=charset, packed=packed)
                self.transport.command(f'AT+CUSD=1,"{request}",15', timeout=timeout, expect=None)
                try:
                    line = self._ussd_replies.get(timeout=timeout)
                except queue.Empty:
                    self._end_ussd()
                    raise CommandTimeout(f"USSD {code}", timeout) from None
                answer = ussd.parse_cusd(line, charset=charset, packed=packed)
            finally:
                if charset != self.charset and self.charset:
                    self._optional(f'AT+CSCS="{self.charset}"')
        if answer.failed:
            raise ussd.UssdFailed(code, answer)
        if answer.needs_reply and not keep_open:
            self._end_ussd()
        return answer.text

    def _end_ussd(self) -> None:
        """AT+CUSD=2: close the network's USSD session (a modem with none open may say ERROR)."""
        try:
            self.transport.command("AT+CUSD=2", expect=None)
        except CommandFailed as exc:
            log.debug("%s: AT+CUSD=2 refused: %s", self.name, exc)
