"""The virtual modem's USSD: AT+CUSD, the network's answer and its session.

The network answers one configured text with one configured `<m>` (0 done, 1 a menu waiting for a
reply, 2 terminated, 4 not supported) or not at all; a menu keeps the session open until the host
says AT+CUSD=2. How the text goes on the line is the profile's `ussd_coding`:

    "text"    GSM-7 (DCS 15) in the TE character set: hex under UCS2, one septet value per byte under
              GSM (a menu's line breaks are raw line breaks then), UCS-2 (DCS 72) when not GSM-7
    "ucs2"    UCS-2 with a language code first (DCS 0x11), as some networks code every answer
    "packed"  Huawei's default: requests and GSM-7 answers are hex of packed septets, whatever AT+CSCS
"""

from __future__ import annotations

from modem.encoding import from_gsm_text, is_gsm7, to_gsm_text
from modem.lines import is_hex
from modem.ussd import pack_text, unpack_text
from modem.virtual.atparse import Command
from modem.virtual.commands import handles
from modem.virtual.line import Reply
from modem.virtual.texts import from_ucs2_hex, ucs2_hex

LANGUAGE = "en"  # ISO 639 code sent before DCS 0x11 texts


class UssdService:
    """The +CUSD handler; the state it reads and sets lives on `VirtualModem`."""

    @handles("+CUSD")
    def _at_cusd(self, cmd: Command) -> Reply:
        n = self._chosen(cmd, "+CUSD", "(0,1,2)", str(self.cusd_n), ("0", "1", "2"))
        if isinstance(n, Reply):
            return n
        if n == 2:
            self.ussd_open = False
            return Reply()
        self.cusd_n = n
        if len(cmd.args) < 2:
            return Reply()
        if not self.registered:
            return Reply(final=self._cme(30))
        code = self._ussd_code(cmd.args[1])
        if code is None:
            return Reply(final=self._cme(50))
        self.ussd_requests.append(code)
        self.ussd_open = True
        return Reply(after=lambda: self._later(self.ussd_delay, self._ussd_answer))

    def _ussd_code(self, text: str) -> str | None:
        """The code as the host meant it, in the form this modem reads (None: it cannot)."""
        if self.profile.ussd_coding == "packed":
            return unpack_text(text) if is_hex(text) and len(text) % 2 == 0 else None
        if self.cscs == "UCS2":
            return from_ucs2_hex(text)
        return from_gsm_text(text) if self.cscs == "GSM" else text

    def _ussd_answer(self) -> None:
        status, text = self.ussd_status, self.ussd_text
        if text is None and status in (0, 1):
            return  # the network never answers: the session stays open until AT+CUSD=2
        self.ussd_open = status == 1
        if self.cusd_n == 0 and status in (0, 1):
            return  # result presentation disabled
        if status not in (0, 1, 2) or not text:
            self._urc([f"+CUSD: {status}"])
            return
        encoded, dcs = self._ussd_text_out(text)
        self._urc([f'+CUSD: {status},"{encoded}",{dcs}'])

    def _ussd_text_out(self, text: str) -> tuple[str, int]:
        coding = self.profile.ussd_coding
        if coding == "ucs2":
            return pack_text(LANGUAGE)[:4] + ucs2_hex(text), 0x11
        if not is_gsm7(text):
            return ucs2_hex(text), 72
        if coding == "packed":
            return pack_text(text), 15
        if self.cscs == "UCS2":
            return ucs2_hex(text), 15
        return (to_gsm_text(text) if self.cscs == "GSM" else text), 15
