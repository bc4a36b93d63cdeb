"""The virtual modem's SIM, power and registration: AT+CPIN and the PIN counters, +CFUN, +CREG,
+CGREG, +CEREG, +COPS, +CSQ."""

from __future__ import annotations

from modem.virtual.atparse import READ, SET, TEST, Command
from modem.virtual.commands import handles
from modem.virtual.line import Reply


class SimCommands:
    """SIM, power and network handlers; the state they read and set lives on `VirtualModem`."""

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
        level = self._chosen(cmd, "+CFUN", "(0,1,4),(0,1)", str(self.cfun), ("0", "1", "4"))
        if isinstance(level, Reply):
            return level
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
        if (self._no_network and not self._denied) or self.cfun != 1:
            return Reply(["+CSQ: 99,99"])
        return Reply(["+CSQ: %d,%d" % self.profile.csq])
