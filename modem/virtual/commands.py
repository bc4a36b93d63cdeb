"""The virtual modem's AT command handlers: dispatch by full command name, result codes, identity.

The other handlers are in `setting_commands.py` (host settings), `sim_commands.py` (SIM, power and
registration), `sms_commands.py` (SMS memory and sending) and `ussd_service.py` (USSD).
A handler takes a parsed `Command` and returns a `Reply` (or a `Prompt` for a body); it never writes
to the line itself. Handlers are registered under the full name with its prefix (`@handles("^CURC")`),
so `AT+CURC` is not taken for Huawei's `AT^CURC`.
"""

from __future__ import annotations

from typing import Callable

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

    def _chosen(self, cmd: Command, label: str, test: str, current: str,
                choices: tuple[str, ...]) -> Reply | int:
        """A setting's `=?` and `?` answers and a bad `=`'s refusal as a Reply, or the value a good
        `=` chose, which the caller applies."""
        if cmd.kind == TEST:
            return Reply([f"{label}: {test}"])
        if cmd.kind == READ:
            return Reply([f"{label}: {current}"])
        if cmd.kind != SET or not cmd.args or cmd.args[0] not in choices:
            return Reply(final=self._bad())
        return int(cmd.args[0])

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
