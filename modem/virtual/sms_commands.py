"""The virtual modem's SMS command handlers: memories (CPMS, CMGL, CMGR, CMGD) and sending (CMGS,
CMGW, CNMA), following 3GPP TS 27.005 in PDU and text mode.
"""

from __future__ import annotations

import time
from typing import Any

from modem.errors import InvalidNumber, MalformedPdu
from modem.pdu import Deliver, StatusReport, Submit, decode, encode_submit
from modem.virtual.atparse import READ, SET, TEST, Command
from modem.virtual.commands import handles
from modem.virtual.line import Prompt, Reply
from modem.virtual.network import normalize
from modem.virtual.storage import REC_READ, REC_UNREAD, STAT_TEXT, STO_UNSENT, Storage, tpdu_length
from modem.virtual.texts import text_timestamp


class SmsCommands:
    """SMS memory and sending handlers; the memories and settings live on `VirtualModem`."""

    # -- SMS memories ------------------------------------------------------------------------------
    def _storage(self, which: int) -> Storage:
        name = self.cpms[which]
        return self.storages.get(name, self.storages["SM"])

    @handles("+CPMS")
    def _at_cpms(self, cmd: Command) -> Reply:
        if cmd.kind == TEST:
            return Reply([self.profile.cpms_test])
        if cmd.kind == READ:
            parts = [f'"{n}",{self._storage(i).used},{self._storage(i).capacity}' for i, n in enumerate(self.cpms)]
            return Reply(["+CPMS: " + ",".join(parts)])
        if cmd.kind != SET or not cmd.args:
            return Reply(final=self._bad())
        names = [a.upper() for a in cmd.args[:3]]
        known = set(self.storages) | {"MT", "SR"}
        if any(n not in known for n in names):
            return Reply(final=self._cms(302))
        for i, n in enumerate(names):
            self.cpms[i] = n
        parts = [f"{self._storage(i).used},{self._storage(i).capacity}" for i in range(3)]
        return Reply(["+CPMS: " + ",".join(parts)])

    def _index(self, text: str, storage: Storage) -> int | None:
        return int(text) if text.isdigit() and storage.valid_index(int(text)) else None

    def _listing(self, index: int, stat: int, pdu: str, header: str) -> list[str]:
        """+CMGL/+CMGR lines for one stored message, in PDU or text mode."""
        if self.cmgf == 0:
            suffix = ",0" if self._pdu_trailing_zero else ""
            return [f"{header}{stat},{self.profile.list_alpha},{tpdu_length(pdu)}", pdu + suffix]
        status = STAT_TEXT[stat]
        try:
            msg = decode(pdu)
        except MalformedPdu:
            return [f'{header}"{status}","","",""', ""]
        if isinstance(msg, Deliver):
            ts = text_timestamp(msg.timestamp)
            return [f'{header}"{status}","{self._text_out(msg.sender)}","","{ts}"', self._text_out(msg.text)]
        if isinstance(msg, StatusReport):
            return [f'{header}"{status}",6,{msg.reference},"{msg.recipient}",145,'
                    f'"{text_timestamp(msg.sent_at)}","{text_timestamp(msg.discharged_at)}",{msg.status}']
        return [f'{header}"{status}","{self._text_out(msg.recipient)}",""', self._text_out(msg.text)]

    @handles("+CMGL")
    def _at_cmgl(self, cmd: Command) -> Reply:
        stats = {"REC UNREAD": 0, "REC READ": 1, "STO UNSENT": 2, "STO SENT": 3, "ALL": 4}
        if cmd.kind == TEST:
            return Reply(["+CMGL: (0-4)" if self.cmgf == 0 else
                          '+CMGL: ("REC UNREAD","REC READ","STO UNSENT","STO SENT","ALL")'])
        arg = cmd.args[0] if cmd.kind == SET and cmd.args else ("0" if self.cmgf == 0 else "REC UNREAD")
        if self.cmgf == 0:
            if not arg.isdigit() or int(arg) > 4:
                return Reply(final=self._cms(304))
            wanted = int(arg)
        else:
            if arg.upper() not in stats:
                return Reply(final=self._cms(305))
            wanted = stats[arg.upper()]
        storage = self._storage(0)
        lines: list[str] = []
        for index, msg in storage.items():
            if wanted == 4 or msg.stat == wanted:
                lines += self._listing(index, msg.stat, msg.pdu, f"+CMGL: {index},")
                if msg.stat == REC_UNREAD:
                    msg.stat = REC_READ
        return Reply(lines, paired=True)

    @handles("+CMGR")
    def _at_cmgr(self, cmd: Command) -> Reply:
        if cmd.kind == TEST:
            return Reply()
        storage = self._storage(0)
        if cmd.kind != SET or not cmd.args or (index := self._index(cmd.args[0], storage)) is None:
            return Reply(final=self._cms(321))
        msg = storage.get(index)
        if msg is None:
            return Reply()
        lines = self._listing(index, msg.stat, msg.pdu, "+CMGR: ")
        if msg.stat == REC_UNREAD:
            msg.stat = REC_READ
        return Reply(lines, paired=True)

    @handles("+CMGD")
    def _at_cmgd(self, cmd: Command) -> Reply:
        storage = self._storage(0)
        if cmd.kind == TEST:
            used = ",".join(str(i) for i, _ in storage.items())
            return Reply([f"+CMGD: ({used}),(0-4)"])
        if cmd.kind != SET or not cmd.args:
            return Reply(final=self._cms(302))
        flag = int(cmd.args[1]) if len(cmd.args) > 1 and cmd.args[1].isdigit() else 0
        if flag == 0:
            index = self._index(cmd.args[0], storage)
            if index is None:
                return Reply(final=self._cms(321))
            storage.delete(index)
        elif flag <= 4:
            doomed = {1: {1}, 2: {1, 3}, 3: {1, 2, 3}, 4: {0, 1, 2, 3}}[flag]
            for index, msg in storage.items():
                if msg.stat in doomed:
                    storage.delete(index)
        else:
            return Reply(final=self._cms(302))
        return Reply(after=self._space_freed)

    # -- sending -----------------------------------------------------------------------------------
    @handles("+CMGS")
    def _at_cmgs(self, cmd: Command) -> Reply | Prompt:
        if cmd.kind == TEST:
            return Reply()
        if cmd.kind != SET or not cmd.args:
            return Reply(final=self._cms(304 if self.cmgf == 0 else 305))
        if self.cmgf == 0:
            if not cmd.args[0].isdigit() or not 7 <= int(cmd.args[0]) <= 164:
                return Reply(final=self._cms(304))
            return Prompt(cmd.name, length=int(cmd.args[0]))
        return Prompt(cmd.name, recipient=self._text_in(cmd.args[0]))

    @handles("+CMGW")
    def _at_cmgw(self, cmd: Command) -> Reply | Prompt:
        if cmd.kind == TEST:
            return Reply()
        if self._storage(1).full:
            return Reply(final=self._cms(322))
        if self.cmgf == 0:
            if cmd.kind != SET or not cmd.args or not cmd.args[0].isdigit():
                return Reply(final=self._cms(304))
            return Prompt(cmd.name, length=int(cmd.args[0]))
        return Prompt(cmd.name, recipient=self._text_in(cmd.args[0]) if cmd.args else "")

    @handles("+CNMA")
    def _at_cnma(self, cmd: Command) -> Reply:
        if cmd.kind == TEST:
            return Reply(["+CNMA: (0-2)"])
        if self.csms != 1 or not self._acks:
            return Reply(final=self._cms(340))
        ack = self._acks.pop(0)
        if ack.timer:
            ack.timer.cancel()
        return Reply()

    def _parse_pdu(self, prompt: Prompt, body: bytes) -> tuple[str, Any] | None:
        """(hex, decoded) when the body is hex whose TPDU length matches AT+CMGS=<n>, else None."""
        hexstr = body.decode("latin-1").strip().upper()
        try:
            data = bytes.fromhex(hexstr)
        except ValueError:
            return None
        if not data or len(data) - 1 - data[0] != prompt.length:
            return None
        try:
            return hexstr, decode(hexstr)
        except MalformedPdu:
            return None

    def _write(self, prompt: Prompt, body: bytes) -> Reply:
        storage = self._storage(1)
        if self.cmgf == 0:
            parsed = self._parse_pdu(prompt, body)
            if parsed is None:
                return Reply(final=self._cms(304))
            pdu = parsed[0]
        else:
            try:
                pdu = encode_submit(prompt.recipient or "0", self._text_in(body.decode("latin-1")))[0].hex
            except (InvalidNumber, ValueError):
                return Reply(final=self._cms(305))
        index = storage.add(STO_UNSENT, pdu)
        return Reply([f"+CMGW: {index}"]) if index is not None else Reply(final=self._cms(322))

    def _send(self, prompt: Prompt, body: bytes) -> Reply:
        received, started = time.time(), self.sched.now()
        delay = self.send_delay
        if self.cmgf == 0:
            parsed = self._parse_pdu(prompt, body)
            if parsed is None or not isinstance(parsed[1], Submit):
                return Reply(final=self._cms(304))
            raw, submit = parsed
            recipient, text, encoding = submit.recipient, submit.text, submit.encoding
            concat, report = submit.concat, submit.status_report
        else:
            text = self._text_in(body.decode("latin-1"))
            report = bool(self.csmp[0] & 0x20)
            try:
                parts = encode_submit(prompt.recipient or "", text, status_report=report)
            except (InvalidNumber, ValueError):
                return Reply(final=self._cms(305))
            if len(parts) > 1:
                return Reply(final=self._cms(305))
            raw, recipient, concat = parts[0].hex, prompt.recipient or "", None
            encoding = decode(raw).encoding  # type: ignore[union-attr]
        fault = self._take_fault("+CMGS", ("cms",))
        if fault:
            return Reply(final=self._cms(fault.code), delay=delay)
        refusal = self._barred if self._barred is not None else self._refused_numbers.get(normalize(recipient))
        if refusal is not None:
            return Reply(final=self._cms(refusal), delay=delay)
        if not self.registered:
            return Reply(final=self._cms(331), delay=delay)
        mr = self._mr
        self._mr = (self._mr + 1) % 256
        self.network.submit(self, mr=mr, recipient=recipient, text=text, encoding=encoding,
                            concat=concat, status_report=report, raw=raw,
                            busy=(received, received + self.latency + delay))
        # the send takes `delay` from the PDU's arrival: this modem's own bookkeeping is part of it
        return Reply([f"+CMGS: {mr}"], delay=max(0.0, delay - (self.sched.now() - started)))
