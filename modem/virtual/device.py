"""The virtual modem's AT interpreter: bytes in (`feed`), bytes out (the `output` callback).

It is a state machine with no I/O and no threads of its own, so it can be driven by a pty server, a
TCP socket or a unit test alike. Everything that takes time (answer latency, registration, USSD
replies, status reports, hangs, Huawei's periodic noise, +CNMA re-delivery) is a callback on the
`Scheduler` it is given. All entry points take the modem's lock, so the scheduler thread and the
port's reader thread never interleave inside the interpreter.

Behaviour follows 3GPP TS 27.005/27.007 plus the per-model quirks in `profiles.py`; see
/work/shared/modems.md for the real-modem facts it reproduces.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from modem.errors import InvalidNumber, MalformedPdu
from modem.pdu import Deliver, StatusReport, Submit, decode, encode_submit
from modem.virtual import atparse
from modem.virtual.atparse import EXEC, READ, SET, TEST, Command
from modem.virtual.network import VirtualNetwork, normalize
from modem.virtual.profiles import Profile, get_profile
from modem.virtual.scheduler import Scheduler, Timer
from modem.virtual.storage import REC_READ, REC_UNREAD, STAT_TEXT, STO_UNSENT, Storage, tpdu_length
from modem.virtual.texts import (CME_TEXT, CMS_TEXT, from_ucs2_hex, luhn, swap_pairs, text_timestamp,
                                 ucs2_hex)

CTRL_Z, ESC = 0x1A, 0x1B
DEFAULT_USSD_REPLY = "Your balance is 5.00 GBP. RING 123 for offers"
MAX_LINE = 556  # SIM800's command buffer; longer lines are answered with ERROR
MAX_CNMA_RESENDS = 3

# Commands that need a usable SIM; SMS ones fail with +CMS ERROR 31x, the rest with +CME ERROR 1x.
_SMS_NEEDS_SIM = {"+CMGS", "+CMGW", "+CMGL", "+CMGR", "+CMGD", "+CPMS", "+CSCA", "+CNMA", "+CMSS"}
_NEEDS_SIM = {"+CIMI", "+CCID", "+QCCID", "^ICCID", "+CNUM", "+CUSD"}


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


@dataclass
class _Fault:
    kind: str  # "cms" | "cme"
    code: int
    remaining: int


@dataclass
class _AwaitingAck:
    """A +CMT/+CDS sent while AT+CSMS=1: the host must AT+CNMA it or it comes again."""

    lines: list[str]
    resends: int = 0
    timer: Timer | None = None


class VirtualModem:
    """A GSM modem with a virtual SIM on a `VirtualNetwork`.

    Control methods (`inject_sms`, `hang`, `cms_error`, ...) are safe to call from any thread.
    """

    def __init__(
        self,
        name: str = "modem",
        profile: str | Profile = "sim800",
        *,
        network: VirtualNetwork | None = None,
        scheduler: Scheduler | None = None,
        output: Callable[[bytes], None] | None = None,
        msisdn: str | None = None,
        pin: str = "1234",
        puk: str = "12345678",
        sim: str = "ready",
        latency: float = 0.0,
        send_delay: float = 0.0,
        register_delay: float = 0.2,
        cnma_timeout: float = 10.0,
        ussd_delay: float = 0.2,
        ussd_reply: str = DEFAULT_USSD_REPLY,
        roaming: bool = False,
        line_gap: float = 0.05,
        chunk_delay: float = 0.003,
        noise_interval: float | None = None,
        power_on: bool = True,
    ) -> None:
        self.name = name
        self.profile = get_profile(profile)
        self._own_network = network is None
        self.network = network if network is not None else VirtualNetwork(scheduler=scheduler)
        self.sched: Scheduler = scheduler if scheduler is not None else self.network.scheduler
        self.output: Callable[[bytes], None] = output or (lambda data: None)
        self.msisdn = self.network.attach(self, msisdn)
        serial = int(normalize(self.msisdn)[-7:])
        self.imei = luhn(f"8612340{serial:07d}")
        self.imsi = f"23415{serial:010d}"
        self.iccid = luhn(f"894415{serial:013d}")
        self.pin, self.puk = pin, puk
        self.latency = latency
        self.send_delay = send_delay
        self.register_delay = register_delay
        self.cnma_timeout = cnma_timeout
        self.ussd_delay = ussd_delay
        self.ussd_text = ussd_reply
        self.roaming = roaming
        self.line_gap = line_gap
        self.chunk_delay = chunk_delay
        self.noise_interval = self.profile.noise_interval if noise_interval is None else noise_interval
        self.reset_hook: Callable[[], None] | None = None  # set by the port: USB re-enumeration
        self._lock = threading.RLock()
        cap = self.profile.capacity
        self.storages = {n: Storage(n, c, self.profile.first_index) for n, c in cap.items()}
        self._mr = 0
        self._gen = 0
        self.powered = False
        # SIM: present? PIN lock enabled? current state "ready" | "pin" | "puk" | "missing"
        self._sim_present = sim != "missing"
        self._pin_enabled = sim in ("pin", "puk")
        self.sim_state = sim
        self._pin_tries = 3
        # Faults and run-time switches (survive reboots: they model the environment).
        self._faults: dict[str, list[_Fault]] = {}
        self._no_network = False
        self._hung_until: float | None = None
        self._hung_forever = False
        self._mid_urcs: list[str] = []
        self._split = False
        self._no_prompt = 0
        self._out_until = 0.0
        self._waiting_network: list[Callable[[], None]] = []
        self._waiting_space: list[str] = []
        self._reset_settings()
        if power_on:
            self.boot()

    # ==============================================================================================
    # Power
    def _reset_settings(self) -> None:
        """Volatile settings a power cycle or ATZ restores."""
        self.echo = True
        self.cmee = 0
        self.cmgf = 0
        self.cscs = "GSM"
        self.csms = 0
        self.cnmi = list(self.profile.cnmi_default)
        self.creg_n = self.cgreg_n = self.cereg_n = 0
        self.cops_format = 0
        self.curc = 1
        self.csmp = [17, 167, 0, 0]
        self.cpms = ["SM", "SM", "SM"]
        self.smsc = self.network.smsc

    def boot(self) -> None:
        """Power on: echo on, defaults, boot noise, SIM check, then network registration."""
        with self._lock:
            self._gen += 1
            self.powered = True
            self._reset_settings()
            self.cfun = 1
            self._mode = "cmd"
            self._line = bytearray()
            self._body = bytearray()
            self._prompt: Prompt | None = None
            self._last_cr = False
            self._busy = False
            self._inbuf = bytearray()
            self._urc_buffer: list[list[str]] = []
            self._acks: list[_AwaitingAck] = []
            self._hung_until, self._hung_forever = None, False
            self._out_until = 0.0
            self.reg_stat = 0
            self._full_announced = False
            if not self._sim_present:
                self.sim_state = "missing"
            elif self._pin_enabled:
                self.sim_state = "puk" if self.sim_state == "puk" else "pin"
            else:
                self.sim_state = "ready"
            cpin = {"ready": "READY", "pin": "SIM PIN", "puk": "SIM PUK", "missing": "NOT INSERTED"}
            words = {"cpin": cpin[self.sim_state], "simst": 255 if self.sim_state == "missing" else 1}
            for delay, line in self.profile.boot_lines:
                text = line.format(**words)
                self._later(delay, lambda text=text: self._emit_lines([text]))
            if self.sim_state == "ready":
                self._start_registration()
            if self.profile.noise:
                self._later(self.noise_interval, lambda: self._noise(0))

    def power_off(self) -> None:
        """Like pulling the plug: nothing more comes out, pending answers are lost."""
        with self._lock:
            self._gen += 1
            self.powered = False
            self.reg_stat = 0
            for ack in getattr(self, "_acks", []):
                if ack.timer:
                    ack.timer.cancel()

    def close(self) -> None:
        self.power_off()
        self.network.detach(self)
        if self._own_network:
            self.network.close()

    def _later(self, delay: float, fn: Callable[[], None]) -> Timer:
        """Schedule `fn` under the lock, dropped if the modem rebooted or lost power meanwhile."""
        gen = self._gen

        def run() -> None:
            with self._lock:
                if self._gen == gen and self.powered:
                    fn()

        return self.sched.call_later(delay, run)

    # ==============================================================================================
    # Output
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

    def _sms_urc(self, lines: list[str]) -> None:
        """+CMTI/+CMT/+CDS/+CDSI obey AT+CNMI <mode>: 0 buffers them in the modem."""
        if self.cnmi[0] == 0:
            self._urc_buffer.append(lines)
        else:
            self._urc(lines)

    # ==============================================================================================
    # Input
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

    # ==============================================================================================
    # Result codes
    def _error(self) -> str:
        return "ERROR"

    def _cme(self, code: int) -> str:
        if self.cmee == 0:
            return "ERROR"
        if self.cmee == 2:
            return f"+CME ERROR: {CME_TEXT.get(code, 'unknown')}"
        return f"+CME ERROR: {code}"

    def _cms(self, code: int) -> str:
        """+CMS ERROR is a final result code of its own (27.005 §3.2.5): coded even with CMEE=0."""
        if self.cmee == 2:
            return f"+CMS ERROR: {CMS_TEXT.get(code, 'Unknown error')}"
        return f"+CMS ERROR: {code}"

    def _unsupported(self) -> str:
        if self.profile.unknown_reply:
            return self.profile.unknown_reply
        return self._cme(4)

    def _bad(self) -> str:
        return self._cme(50)

    def _sim_error(self, name: str) -> str | None:
        if self.sim_state == "ready" or name not in _SMS_NEEDS_SIM | _NEEDS_SIM:
            return None
        if name in _SMS_NEEDS_SIM:
            return self._cms({"missing": 310, "pin": 311, "puk": 316}[self.sim_state])
        return self._cme({"missing": 10, "pin": 11, "puk": 12}[self.sim_state])

    def _take_fault(self, name: str, kinds: tuple[str, ...]) -> _Fault | None:
        faults = self._faults.get(name)
        if not faults or faults[0].kind not in kinds:
            return None
        fault = faults[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            faults.pop(0)
        return fault

    def _fault_reply(self, fault: _Fault) -> Reply:
        return Reply(final=self._cms(fault.code) if fault.kind == "cms" else self._cme(fault.code))

    def _text_out(self, text: str) -> str:
        """Text in the character set the host chose with AT+CSCS."""
        return ucs2_hex(text) if self.cscs == "UCS2" else text

    def _text_in(self, text: str) -> str:
        return from_ucs2_hex(text) if self.cscs == "UCS2" else text

    @property
    def registered(self) -> bool:
        return self.reg_stat in (1, 5)

    # ==============================================================================================
    # Dispatch
    def _dispatch(self, cmd: Command) -> Reply | Prompt:
        name = cmd.name
        if not name.startswith(("+", "^", "$", "%")):
            return self._basic(cmd)
        fault = self._take_fault(name, ("cme",) if name in ("+CMGS", "+CMGW") else ("cme", "cms"))
        if fault:
            return self._fault_reply(fault)
        handler = getattr(self, "_at_" + name[1:].lower(), None)
        if handler is None:
            if name in self.profile.accepted:
                return self._accepted(cmd)
            if name in ("+CCID", "+QCCID", "^ICCID"):
                return self._iccid(cmd)
            return Reply(final=self._unsupported())
        if cmd.kind != TEST and (err := self._sim_error(name)):
            return Reply(final=err)
        return handler(cmd)

    def _basic(self, cmd: Command) -> Reply:
        arg = cmd.args[0] if cmd.args else "0"
        if cmd.name == "E" and arg in ("0", "1"):
            self.echo = arg == "1"
            return Reply()
        if cmd.name in ("Z", "&F"):
            self._reset_settings()
            return Reply()
        if cmd.name == "I":
            return Reply([line.format(imei=self.imei) for line in self.profile.ati])
        if cmd.name in ("V", "Q", "X", "&W", "&D", "&C", "&K", "M", "L", "H") or cmd.name.startswith("S"):
            return Reply()
        if cmd.name == "D":
            return Reply(final="NO CARRIER" if self.registered else "NO DIALTONE")
        return Reply(final=self._error())

    def _accepted(self, cmd: Command) -> Reply:
        if cmd.name == "+QURCCFG" and cmd.kind == SET and len(cmd.args) == 1:
            return Reply(['+QURCCFG: "urcport","usbat"'])
        return Reply()

    def _iccid(self, cmd: Command) -> Reply:
        key = cmd.name + ("?" if cmd.kind == READ else "")
        template = self.profile.iccid.get(key)
        if template is None or cmd.kind not in (EXEC, READ):
            return Reply(final=self._unsupported() if template is None else self._error())
        if err := self._sim_error(cmd.name):
            return Reply(final=err)
        return Reply([template.format(iccid=self.iccid, iccid_swapped=swap_pairs(self.iccid))])

    # -- identity ----------------------------------------------------------------------------------
    def _ident(self, cmd: Command, value: str) -> Reply:
        return Reply([value]) if cmd.kind == EXEC else Reply()

    def _at_cgmi(self, cmd: Command) -> Reply:
        return self._ident(cmd, self.profile.manufacturer)

    def _at_cgmm(self, cmd: Command) -> Reply:
        return self._ident(cmd, self.profile.model)

    def _at_cgmr(self, cmd: Command) -> Reply:
        return self._ident(cmd, self.profile.revision)

    def _at_cgsn(self, cmd: Command) -> Reply:
        return self._ident(cmd, self.imei)

    _at_gmi, _at_gmm, _at_gmr, _at_gsn = _at_cgmi, _at_cgmm, _at_cgmr, _at_cgsn

    def _at_cimi(self, cmd: Command) -> Reply:
        return self._ident(cmd, self.imsi)

    def _at_gcap(self, cmd: Command) -> Reply:
        return self._ident(cmd, self.profile.gcap)

    def _at_cnum(self, cmd: Command) -> Reply:
        return self._ident(cmd, f'+CNUM: "","{self.msisdn}",145')

    def _at_cpas(self, cmd: Command) -> Reply:
        return Reply(["+CPAS: (0-5)"]) if cmd.kind == TEST else Reply(["+CPAS: 0"])

    # -- settings ----------------------------------------------------------------------------------
    def _int_setting(self, cmd: Command, attr: str, label: str, allowed: range | tuple[int, ...],
                     test: str) -> Reply:
        if cmd.kind == TEST:
            return Reply([f"{label}: {test}"])
        if cmd.kind == READ:
            return Reply([f"{label}: {getattr(self, attr)}"])
        if cmd.kind == SET and len(cmd.args) >= 1 and cmd.args[0].isdigit() and int(cmd.args[0]) in allowed:
            setattr(self, attr, int(cmd.args[0]))
            return Reply()
        if cmd.kind == EXEC:
            return Reply()
        return Reply(final=self._bad())

    def _at_cmee(self, cmd: Command) -> Reply:
        return self._int_setting(cmd, "cmee", "+CMEE", range(3), "(0-2)")

    def _at_cmgf(self, cmd: Command) -> Reply:
        return self._int_setting(cmd, "cmgf", "+CMGF", (0, 1), "(0,1)")

    def _at_curc(self, cmd: Command) -> Reply:
        if not self.profile.noise:
            return Reply(final=self._unsupported())
        was = self.curc
        reply = self._int_setting(cmd, "curc", "^CURC", (0, 1), "(0,1)")
        if self.curc and not was:
            self._later(self.noise_interval, lambda: self._noise(0))
        return reply

    def _at_cscs(self, cmd: Command) -> Reply:
        if cmd.kind == TEST:
            return Reply([self.profile.cscs_test])
        if cmd.kind == READ:
            return Reply([f'+CSCS: "{self.cscs}"'])
        if cmd.kind == SET and cmd.args and f'"{cmd.args[0].upper()}"' in self.profile.cscs_test:
            self.cscs = cmd.args[0].upper()
            return Reply()
        return Reply(final=self._bad())

    def _at_csms(self, cmd: Command) -> Reply:
        if cmd.kind == TEST:
            return Reply(["+CSMS: (0,1)"])
        if cmd.kind == READ:
            return Reply([f"+CSMS: {self.csms},1,1,1"])
        if cmd.kind == SET and cmd.args and cmd.args[0] in ("0", "1"):
            self.csms = int(cmd.args[0])
            return Reply(["+CSMS: 1,1,1"])
        return Reply(final=self._bad())

    def _at_csmp(self, cmd: Command) -> Reply:
        if cmd.kind == READ:
            return Reply(["+CSMP: " + ",".join(map(str, self.csmp))])
        if cmd.kind == SET:
            try:
                for i, value in enumerate(cmd.args[:4]):
                    if value != "":
                        self.csmp[i] = int(value)
            except ValueError:
                return Reply(final=self._cms(305))
        return Reply()

    def _at_cnmi(self, cmd: Command) -> Reply:
        if cmd.kind == TEST:
            return Reply([self.profile.cnmi_test])
        if cmd.kind == READ:
            return Reply(["+CNMI: " + ",".join(map(str, self.cnmi))])
        if cmd.kind != SET:
            return Reply()
        allowed = (range(4), range(4), (0, 2), self.profile.cnmi_ds, (0, 1))
        values = list(self.cnmi)
        try:
            for i, arg in enumerate(cmd.args):
                if arg == "":
                    continue
                if i >= 5 or int(arg) not in allowed[i]:
                    return Reply(final=self._error())  # modems answer a bare ERROR here
                values[i] = int(arg)
        except ValueError:
            return Reply(final=self._error())
        self.cnmi = values

        def flush() -> None:
            buffered, self._urc_buffer = self._urc_buffer, []
            if values[0] and values[4] == 0:
                for lines in buffered:
                    self._urc(lines)

        return Reply(after=flush if values[0] else None)

    def _at_csca(self, cmd: Command) -> Reply:
        if cmd.kind == READ:
            return Reply([f'+CSCA: "{self._text_out(self.smsc)}",145'])
        if cmd.kind == SET and cmd.args and cmd.args[0]:
            self.smsc = self._text_in(cmd.args[0])
            return Reply()
        return Reply() if cmd.kind == TEST else Reply(final=self._bad())

    # -- SIM and power -----------------------------------------------------------------------------
    def _at_cpin(self, cmd: Command) -> Reply:
        if cmd.kind == TEST:
            return Reply()
        if self.sim_state == "missing":
            return Reply(final=self._cme(10))
        if cmd.kind == READ:
            return Reply(["+CPIN: " + {"ready": "READY", "pin": "SIM PIN", "puk": "SIM PUK"}[self.sim_state]])
        if cmd.kind != SET or not cmd.args:
            return Reply(final=self._bad())
        if self.sim_state == "ready":
            return Reply(final=self._cme(3))
        if self.sim_state == "pin" and len(cmd.args) == 1:
            if cmd.args[0] == self.pin:
                return Reply(after=self._sim_unlocked)
            self._pin_tries -= 1
            if self._pin_tries <= 0:
                self.sim_state = "puk"
            return Reply(final=self._cme(16))
        if self.sim_state == "puk" and len(cmd.args) == 2 and cmd.args[0] == self.puk:
            self.pin = cmd.args[1]
            return Reply(after=self._sim_unlocked)
        return Reply(final=self._cme(16))

    def _sim_unlocked(self) -> None:
        self.sim_state = "ready"
        self._pin_tries = 3
        if any("+CPIN" in line for _, line in self.profile.boot_lines):
            self._urc(["+CPIN: READY"])
        self._start_registration()

    def _at_cfun(self, cmd: Command) -> Reply:
        if cmd.kind == TEST:
            return Reply(["+CFUN: (0,1,4),(0,1)"])
        if cmd.kind == READ:
            return Reply([f"+CFUN: {self.cfun}"])
        if cmd.kind != SET or not cmd.args or cmd.args[0] not in ("0", "1", "4"):
            return Reply(final=self._bad())
        level = int(cmd.args[0])
        if len(cmd.args) > 1 and cmd.args[1] == "1":
            return Reply(after=lambda: self._later(0.05, self._reset))
        self.cfun = level
        if level == 1 and not self.registered and self.sim_state == "ready":
            self._start_registration()
        elif level != 1:
            self.reg_stat = 0
        return Reply()

    def _reset(self) -> None:
        """AT+CFUN=1,1: a USB stick re-enumerates (the port does that), a UART module just reboots."""
        if self.reset_hook is not None:
            self.reset_hook()
        else:
            self.boot()

    # -- network -----------------------------------------------------------------------------------
    def _start_registration(self) -> None:
        if self.cfun != 1 or self.sim_state != "ready":
            return
        self._set_reg(2)
        if not self._no_network:
            self._later(self.register_delay, self._registered)

    def _registered(self) -> None:
        if self._no_network or self.cfun != 1 or self.sim_state != "ready" or self.registered:
            return
        first = not getattr(self, "_ready_sent", False) or self._ready_gen != self._gen
        self._set_reg(5 if self.roaming else 1)
        if first:
            self._ready_sent, self._ready_gen = True, self._gen
            for line in self.profile.ready_lines:
                self._urc([line])
        waiting, self._waiting_network = self._waiting_network, []
        for deliver in waiting:
            deliver()

    def _set_reg(self, stat: int) -> None:
        if stat == self.reg_stat:
            return
        self.reg_stat = stat
        lines: list[str] = []
        for n, label in ((self.creg_n, "+CREG"), (self.cgreg_n, "+CGREG"), (self.cereg_n, "+CEREG")):
            if n == 1 or (n == 2 and not self.registered):
                lines.append(f"{label}: {stat}")
            elif n == 2:
                lines.append(f'{label}: {stat},"1A2B","00C3"')
        for line in lines:
            self._urc([line])

    def _reg_query(self, cmd: Command, attr: str, label: str) -> Reply:
        if cmd.kind == TEST:
            return Reply([f"{label}: (0-2)"])
        if cmd.kind == SET:
            if not cmd.args or cmd.args[0] not in ("0", "1", "2"):
                return Reply(final=self._bad())
            setattr(self, attr, int(cmd.args[0]))
            return Reply()
        n = getattr(self, attr)
        extra = ',"1A2B","00C3"' if n == 2 and self.registered else ""
        return Reply([f"{label}: {n},{self.reg_stat}{extra}"])

    def _at_creg(self, cmd: Command) -> Reply:
        return self._reg_query(cmd, "creg_n", "+CREG")

    def _at_cgreg(self, cmd: Command) -> Reply:
        return self._reg_query(cmd, "cgreg_n", "+CGREG")

    def _at_cereg(self, cmd: Command) -> Reply:
        return self._reg_query(cmd, "cereg_n", "+CEREG")

    def _at_cops(self, cmd: Command) -> Reply:
        net = self.network
        if cmd.kind == TEST:
            return Reply([f'+COPS: (2,"{net.operator}","VirtTel","{net.mccmnc}"),,(0-4),(0-2)'])
        if cmd.kind == SET:
            if not cmd.args or cmd.args[0] not in ("0", "1", "2", "3", "4"):
                return Reply(final=self._bad())
            if len(cmd.args) > 1 and cmd.args[1] in ("0", "1", "2"):
                self.cops_format = int(cmd.args[1])
            if cmd.args[0] == "2":
                self._set_reg(0)
            elif cmd.args[0] in ("0", "1", "4") and not self.registered:
                self._start_registration()
            return Reply()
        if not self.registered:
            return Reply(["+COPS: 0"])
        name = {0: net.operator, 1: "VirtTel", 2: net.mccmnc}[self.cops_format]
        if self.cops_format != 2:
            name = self._text_out(name)
        return Reply([f'+COPS: 0,{self.cops_format},"{name}"{self.profile.cops_act}'])

    def _at_csq(self, cmd: Command) -> Reply:
        if cmd.kind == TEST:
            return Reply(["+CSQ: (0-31,99),(0-7,99)"])
        if self._no_network or self.cfun != 1:
            return Reply(["+CSQ: 99,99"])
        return Reply(["+CSQ: %d,%d" % self.profile.csq])

    def _at_cusd(self, cmd: Command) -> Reply:
        if cmd.kind == TEST:
            return Reply(["+CUSD: (0,1,2)"])
        if cmd.kind == READ:
            return Reply(["+CUSD: 1"])
        if cmd.kind != SET or not cmd.args or cmd.args[0] not in ("0", "1", "2"):
            return Reply(final=self._bad())
        if cmd.args[0] == "2" or len(cmd.args) < 2:
            return Reply()
        if not self.registered:
            return Reply(final=self._cme(30))
        text, dcs = self._text_out(self.ussd_text), 72 if self.cscs == "UCS2" else 15
        return Reply(after=lambda: self._later(self.ussd_delay, lambda: self._urc([f'+CUSD: 0,"{text}",{dcs}'])))

    # -- SMS memories ------------------------------------------------------------------------------
    def _storage(self, which: int) -> Storage:
        name = self.cpms[which]
        return self.storages.get(name, self.storages["SM"])

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
            return [f"{header}{stat},{self.profile.list_alpha},{tpdu_length(pdu)}", pdu]
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

    def _space_freed(self) -> None:
        """Messages the network could not store while memory was full are delivered again."""
        self._full_announced = False
        waiting, self._waiting_space = self._waiting_space, []
        for pdu in waiting:
            self._incoming_deliver(pdu)

    # -- sending -----------------------------------------------------------------------------------
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

    def _at_cnma(self, cmd: Command) -> Reply:
        if cmd.kind == TEST:
            return Reply(["+CNMA: (0-2)"])
        if self.csms != 1 or not self._acks:
            return Reply(final=self._cms(340))
        ack = self._acks.pop(0)
        if ack.timer:
            ack.timer.cancel()
        return Reply()

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
        if not self.registered:
            return Reply(final=self._cms(331), delay=delay)
        mr = self._mr
        self._mr = (self._mr + 1) % 256
        self.network.submit(self, mr=mr, recipient=recipient, text=text, encoding=encoding,
                            concat=concat, status_report=report, raw=raw,
                            busy=(received, received + self.latency + delay))
        # the send takes `delay` from the PDU's arrival: this modem's own bookkeeping is part of it
        return Reply([f"+CMGS: {mr}"], delay=max(0.0, delay - (self.sched.now() - started)))

    # ==============================================================================================
    # From the network
    def network_deliver(self, pdus: list[str], mode: str = "auto") -> None:
        """SMS-DELIVER parts arriving from the network (held by the network while unregistered)."""
        with self._lock:
            if not self.powered or not self.registered or self._hung_forever:
                self._waiting_network.append(lambda: self.network_deliver(pdus, mode))
                return
            for pdu in pdus:
                self._incoming_deliver(pdu, mode)

    def network_status_report(self, pdu: str) -> None:
        with self._lock:
            if not self.powered or not self.registered:
                self._waiting_network.append(lambda: self.network_status_report(pdu))
                return
            ds = self.cnmi[3]
            if ds == 1:
                if self.cmgf == 0:
                    lines = [f"+CDS: {tpdu_length(pdu)}", pdu]
                else:
                    rep = decode(pdu)
                    assert isinstance(rep, StatusReport)
                    lines = [f'+CDS: 6,{rep.reference},"{rep.recipient}",145,"{text_timestamp(rep.sent_at)}",'
                             f'"{text_timestamp(rep.discharged_at)}",{rep.status}']
                self._indicate_direct(lines)
            elif ds == 2:
                storage = self._storage(2)
                index = storage.add(REC_UNREAD, pdu)
                if index is not None:
                    self._sms_urc([f'+CDSI: "{self.cpms[2]}",{index}'])
                else:
                    self._memory_full()

    def _incoming_deliver(self, pdu: str, mode: str = "auto") -> bool:
        mt = self.cnmi[1]
        direct = mode == "cmt" or (mode == "auto" and mt == 2)
        if direct:
            if self.cmgf == 0:
                lines = [self.profile.cmt_header.format(length=tpdu_length(pdu)), pdu]
            else:
                msg = decode(pdu)
                assert isinstance(msg, Deliver)
                lines = [f'+CMT: "{self._text_out(msg.sender)}","","{text_timestamp(msg.timestamp)}"',
                         self._text_out(msg.text)]
            self._indicate_direct(lines)
            return True
        storage = self._storage(2)
        index = storage.add(REC_UNREAD, pdu)
        if index is None:
            self._waiting_space.append(pdu)
            self._memory_full()
            return False
        if mode == "cmti" or mt in (1, 3):
            self._sms_urc([f'+CMTI: "{self.cpms[2]}",{index}'])
        return True

    def _memory_full(self) -> None:
        if self.profile.storage_full_urc and not self._full_announced:
            self._full_announced = True
            self._urc([self.profile.storage_full_urc])

    def _indicate_direct(self, lines: list[str]) -> None:
        """+CMT/+CDS; with AT+CSMS=1 the host must AT+CNMA within cnma_timeout or it comes again."""
        self._sms_urc(lines)
        if self.csms != 1:
            return
        ack = _AwaitingAck(lines)
        self._acks.append(ack)

        def resend() -> None:
            if ack not in self._acks:
                return
            if ack.resends >= MAX_CNMA_RESENDS:
                self._acks.remove(ack)
                return
            ack.resends += 1
            self._sms_urc(ack.lines)
            ack.timer = self._later(self.cnma_timeout, resend)

        ack.timer = self._later(self.cnma_timeout, resend)

    def _noise(self, i: int) -> None:
        if not self.curc or not self.profile.noise:
            return
        self._urc([self.profile.noise[i % len(self.profile.noise)]])
        self._later(self.noise_interval, lambda: self._noise(i + 1))

    # ==============================================================================================
    # Control API (thread-safe)
    def inject_sms(self, sender: str, text: str, mode: str = "auto", split: bool = False) -> list[str]:
        """An SMS from `sender` arrives. mode: "auto" follows AT+CNMI like a real modem, "cmti" forces
        store-and-notify, "cmt" forces direct delivery. split=True delivers the parts of a long text
        in reverse order, 100 ms apart (networks do not keep order). Returns the PDUs."""
        if mode not in ("auto", "cmti", "cmt"):
            raise ValueError("mode must be 'auto', 'cmti' or 'cmt'")
        pdus = self.network.deliver_pdus(sender, text)
        if split and len(pdus) > 1:
            for i, pdu in enumerate(reversed(pdus)):
                self.sched.call_later(0.1 * i, lambda pdu=pdu: self.network_deliver([pdu], mode))
        else:
            self.network_deliver(pdus, mode)
        return pdus

    def set_latency(self, seconds: float) -> None:
        """Delay before every answer (a busy modem)."""
        with self._lock:
            self.latency = max(0.0, float(seconds))

    def hang(self, seconds: float | None = None) -> None:
        """Answer nothing at all (no echo, no URCs) for `seconds`; None or <= 0: until a power cycle."""
        with self._lock:
            if seconds is None or seconds <= 0:
                self._hung_forever = True
            else:
                self._hung_until = self.sched.now() + seconds

    def cms_error(self, code: int, times: int = 1, command: str = "CMGS") -> None:
        """The next `times` uses of `command` fail with +CMS ERROR: code (AT+CMGS: after the PDU)."""
        self._add_fault("cms", code, times, command)

    def cme_error(self, code: int, times: int = 1, command: str = "CMGS") -> None:
        """The next `times` uses of `command` fail at once with +CME ERROR: code (as CMEE formats it)."""
        self._add_fault("cme", code, times, command)

    def _add_fault(self, kind: str, code: int, times: int, command: str) -> None:
        name = command.upper().removeprefix("AT")
        if not name.startswith(("+", "^", "$", "%")):
            name = "+" + name
        with self._lock:
            self._faults.setdefault(name, []).append(_Fault(kind, int(code), int(times)))

    def no_network(self, on: bool = True) -> None:
        """Lose (or regain) coverage: CREG stat 2, CSQ 99,99, sends fail with +CMS ERROR: 331."""
        with self._lock:
            self._no_network = bool(on)
            if on:
                self._set_reg(2 if self.sim_state == "ready" and self.cfun == 1 else 0)
            elif self.powered and not self.registered:
                self._start_registration()

    def sim(self, state: str = "ready", pin: str | None = None) -> None:
        """Swap the SIM: "ready" (no PIN lock), "missing", "pin" (locked with `pin`), "puk"."""
        if state not in ("ready", "missing", "pin", "puk"):
            raise ValueError("state must be ready, missing, pin or puk")
        with self._lock:
            if pin is not None:
                self.pin = str(pin)
            self._sim_present = state != "missing"
            self._pin_enabled = state in ("pin", "puk")
            self.sim_state = state
            self._pin_tries = 3
            if state == "ready":
                if self.powered:
                    self._start_registration()
            else:
                self._set_reg(0)

    def garbage(self, data: bytes | str) -> None:
        """Raw unsolicited bytes (line noise, a half-rebooted modem)."""
        if isinstance(data, str):
            data = data.encode("latin-1")
        with self._lock:
            self._emit(data)

    def send_urc(self, line: str) -> None:
        """Any unsolicited line now, e.g. "RING"."""
        with self._lock:
            self._urc([line])

    def urc_midresponse(self, line: str) -> None:
        """Put `line` between the lines of the next answer that has information lines."""
        with self._lock:
            self._mid_urcs.append(line)

    def split_lines(self, on: bool = True) -> None:
        """Write output in 8-byte chunks a few ms apart, and lines ~50 ms apart."""
        with self._lock:
            self._split = bool(on)

    def ussd_reply(self, text: str) -> None:
        with self._lock:
            self.ussd_text = text

    def storage_full(self, on: bool = True) -> None:
        """All SMS memories report full: incoming messages wait in the network, CMGW -> CMS 322."""
        with self._lock:
            for storage in self.storages.values():
                storage.forced_full = bool(on)
            if not on:
                self._space_freed()

    def no_prompt(self, times: int = 1) -> None:
        """The next `times` AT+CMGS/CMGW give no "> " but still swallow input until Ctrl-Z/ESC."""
        with self._lock:
            self._no_prompt += int(times)

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "name": self.name, "msisdn": self.msisdn, "profile": self.profile.name,
                "powered": self.powered, "sim": self.sim_state, "creg": self.reg_stat,
                "echo": self.echo, "cmee": self.cmee, "cmgf": self.cmgf, "cnmi": list(self.cnmi),
                "stored": {n: s.used for n, s in self.storages.items()},
                "hung": self._hung_forever or self._hung_until is not None, "latency": self.latency,
            }
