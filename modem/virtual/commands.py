"""The virtual modem's AT command handlers: dispatch by full command name, result codes, identity,
settings, SIM and power, network queries (the SMS memory and sending ones are in `sms_commands.py`).

A handler takes a parsed `Command` and returns a `Reply` (or a `Prompt` for a body); it never writes
to the line itself. Handlers are registered under the full name with its prefix (`@handles("^CURC")`),
so `AT+CURC` is not taken for Huawei's `AT^CURC`.
"""

from __future__ import annotations

from typing import Callable

from modem.lines import parse_ranges, payload_of
from modem.virtual.atparse import EXEC, READ, SET, TEST, Command
from modem.virtual.line import Prompt, Reply
from modem.virtual.texts import CME_TEXT, CMS_TEXT, swap_pairs

# Commands that need a usable SIM; SMS ones fail with +CMS ERROR 31x, the rest with +CME ERROR 1x.
_SMS_NEEDS_SIM = {"+CMGS", "+CMGW", "+CMGL", "+CMGR", "+CMGD", "+CPMS", "+CSCA", "+CNMA", "+CMSS"}
_NEEDS_SIM = {"+CIMI", "+CCID", "+QCCID", "^ICCID", "+CNUM", "+CUSD"}
# Commands of the SMS service, refused during the start-up window (until "SMS Ready"); AT+CMGF and
# AT+CSCS are the host interface's and work from the start.
_SMS_SERVICE = _SMS_NEEDS_SIM | {"+CNMI", "+CSMS", "+CSMP"}

# Full command name ("+CMGS", "^CURC") -> name of the handler method.
HANDLERS: dict[str, str] = {}

_F = Callable[..., "Reply | Prompt"]


def handles(*names: str) -> Callable[[_F], _F]:
    """Register a handler method for the full command names given (prefix included)."""

    def register(fn: _F) -> _F:
        for name in names:
            if name in HANDLERS:
                raise ValueError(f"two handlers for AT{name}")
            HANDLERS[name] = fn.__name__
        return fn

    return register


class AtCommands:
    """Command handlers; the state they read and set lives on `VirtualModem`."""

    # -- result codes ------------------------------------------------------------------------------
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

    # -- dispatch ----------------------------------------------------------------------------------
    def _dispatch(self, cmd: Command) -> Reply | Prompt:
        name = cmd.name
        if not name.startswith(("+", "^", "$", "%")):
            return self._basic(cmd)
        fault = self._take_fault(name, ("cme",) if name in ("+CMGS", "+CMGW") else ("cme", "cms"))
        if fault:
            return self._fault_reply(fault)
        if (refusal := self._not_ready_yet(name)) is not None:
            return Reply(final=refusal)
        handler_name = HANDLERS.get(name)
        if handler_name is None:
            if name in self.profile.accepted:
                return self._accepted(cmd)
            if name in ("+CCID", "+QCCID", "^ICCID"):
                return self._iccid(cmd)
            return Reply(final=self._unsupported())
        if cmd.kind != TEST and (err := self._sim_error(name)):
            return Reply(final=err)
        return getattr(self, handler_name)(cmd)

    def _not_ready_yet(self, name: str) -> str | None:
        """During the start-up window the SMS service answers the model's "not yet"."""
        if name not in _SMS_SERVICE or not self._sms_service_down():
            return None
        kind, code = self.profile.startup_refusal
        return self._cms(code) if kind == "cms" else self._cme(code)

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

    @handles("+CGMI", "+GMI")
    def _at_cgmi(self, cmd: Command) -> Reply:
        return self._ident(cmd, self.profile.manufacturer)

    @handles("+CGMM", "+GMM")
    def _at_cgmm(self, cmd: Command) -> Reply:
        return self._ident(cmd, self.profile.model)

    @handles("+CGMR", "+GMR")
    def _at_cgmr(self, cmd: Command) -> Reply:
        return self._ident(cmd, self.profile.revision)

    @handles("+CGSN", "+GSN")
    def _at_cgsn(self, cmd: Command) -> Reply:
        return self._ident(cmd, self.imei)

    @handles("+CIMI")
    def _at_cimi(self, cmd: Command) -> Reply:
        return self._ident(cmd, self.imsi)

    @handles("+GCAP")
    def _at_gcap(self, cmd: Command) -> Reply:
        return self._ident(cmd, self.profile.gcap)

    @handles("+CNUM")
    def _at_cnum(self, cmd: Command) -> Reply:
        return self._ident(cmd, f'+CNUM: "","{self.msisdn}",145')

    @handles("+CPAS")
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

    @handles("+CMEE")
    def _at_cmee(self, cmd: Command) -> Reply:
        return self._int_setting(cmd, "cmee", "+CMEE", range(3), "(0-2)")

    @handles("+CMGF")
    def _at_cmgf(self, cmd: Command) -> Reply:
        return self._int_setting(cmd, "cmgf", "+CMGF", (0, 1), "(0,1)")

    @handles("^CURC")
    def _at_curc(self, cmd: Command) -> Reply:
        if not self.profile.noise:
            return Reply(final=self._unsupported())
        was = self.curc
        reply = self._int_setting(cmd, "curc", "^CURC", (0, 1), "(0,1)")
        if self.curc and not was:
            self._later(self.noise_interval, lambda: self._noise(0))
        return reply

    @handles("+CSCS")
    def _at_cscs(self, cmd: Command) -> Reply:
        if cmd.kind == TEST:
            return Reply([self.profile.cscs_test])
        if cmd.kind == READ:
            return Reply([f'+CSCS: "{self.cscs}"'])
        if cmd.kind == SET and cmd.args and f'"{cmd.args[0].upper()}"' in self.profile.cscs_test:
            self.cscs = cmd.args[0].upper()
            return Reply()
        return Reply(final=self._bad())

    @handles("+CSMS")
    def _at_csms(self, cmd: Command) -> Reply:
        if cmd.kind == TEST:
            return Reply(["+CSMS: (0,1)"])
        if cmd.kind == READ:
            return Reply([f"+CSMS: {self.csms},1,1,1"])
        if cmd.kind == SET and cmd.args and cmd.args[0] in ("0", "1"):
            self.csms = int(cmd.args[0])
            return Reply(["+CSMS: 1,1,1"])
        return Reply(final=self._bad())

    @handles("+CSMP")
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

    @handles("+CNMI")
    def _at_cnmi(self, cmd: Command) -> Reply:
        if cmd.kind == TEST:
            return Reply([self.profile.cnmi_test])
        if cmd.kind == READ:
            return Reply(["+CNMI: " + ",".join(map(str, self.cnmi))])
        if cmd.kind != SET:
            return Reply()
        allowed = parse_ranges(payload_of(self.profile.cnmi_test))  # what AT+CNMI=? offers, no more
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

    @handles("+CSCA")
    def _at_csca(self, cmd: Command) -> Reply:
        if cmd.kind == READ:
            return Reply([f'+CSCA: "{self._text_out(self.smsc)}",145'])
        if cmd.kind == SET and cmd.args and cmd.args[0]:
            self.smsc = self._text_in(cmd.args[0])
            return Reply()
        return Reply() if cmd.kind == TEST else Reply(final=self._bad())

    # -- SIM and power -----------------------------------------------------------------------------
    @handles("+CPIN")
    def _at_cpin(self, cmd: Command) -> Reply:
        if cmd.kind == TEST:
            return Reply()
        if self.sim_state == "missing":
            return Reply(final=self._cme(10))
        if cmd.kind == READ:
            if self.sched.now() < self._sim_ready_at:
                return Reply(["+CPIN: NOT READY"])
            return Reply(["+CPIN: " + {"ready": "READY", "pin": "SIM PIN", "puk": "SIM PUK"}[self.sim_state]])
        if cmd.kind != SET or not cmd.args:
            return Reply(final=self._bad())
        if self.sim_state == "ready":
            return Reply(final=self._cme(3))
        self.pin_attempts += 1
        if self.sim_state == "pin" and len(cmd.args) == 1:
            if cmd.args[0] == self.pin:
                return Reply(after=self._sim_unlocked)
            self._pin_tries -= 1
            if self._pin_tries <= 0:
                self.sim_state = "puk"
            return Reply(final=self._cme(16))
        if self.sim_state == "puk" and len(cmd.args) == 2:
            if cmd.args[0] == self.puk:
                self.pin = cmd.args[1]
                return Reply(after=self._sim_unlocked)
            self._puk_tries = max(0, self._puk_tries - 1)
        return Reply(final=self._cme(16))

    @handles("+CPINR", "+SPIC", "^CPIN", "+QPINC")
    def _pin_counter(self, cmd: Command) -> Reply:
        """PIN and PUK tries left, in the one form this model answers."""
        if cmd.name != self.profile.pin_counter:
            return Reply(final=self._unsupported())
        if cmd.kind == TEST:
            return Reply()
        if self.sim_state == "missing":
            return Reply(final=self._cme(10))
        pin, puk = self._pin_tries, self._puk_tries
        code, current = {"ready": ("READY", ""), "pin": ("SIM PIN", str(pin)),
                         "puk": ("SIM PUK", str(puk))}[self.sim_state]
        line = {"+CPINR": f"+CPINR: SIM PIN,{pin},3",
                "+SPIC": f"+SPIC: {pin},3,{puk},10",
                "^CPIN": f"^CPIN: {code},{current},{puk},{pin},10,3",
                "+QPINC": f'+QPINC: "SC",{pin},{puk}'}[cmd.name]
        return Reply([line])

    def _sim_unlocked(self) -> None:
        self.sim_state = "ready"
        self._pin_tries, self._puk_tries = 3, 10
        if any("+CPIN" in line for _, line in self.profile.boot_lines):
            self._urc(["+CPIN: READY"])
        self._start_registration()

    @handles("+CFUN")
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

    @handles("+CREG")
    def _at_creg(self, cmd: Command) -> Reply:
        return self._reg_query(cmd, "creg_n", "+CREG")

    @handles("+CGREG")
    def _at_cgreg(self, cmd: Command) -> Reply:
        return self._reg_query(cmd, "cgreg_n", "+CGREG")

    @handles("+CEREG")
    def _at_cereg(self, cmd: Command) -> Reply:
        return self._reg_query(cmd, "cereg_n", "+CEREG")

    @handles("+COPS")
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

    @handles("+CSQ")
    def _at_csq(self, cmd: Command) -> Reply:
        if cmd.kind == TEST:
            return Reply(["+CSQ: (0-31,99),(0-7,99)"])
        if self._no_network or self.cfun != 1:
            return Reply(["+CSQ: 99,99"])
        return Reply(["+CSQ: %d,%d" % self.profile.csq])
