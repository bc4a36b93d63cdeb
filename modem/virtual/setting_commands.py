"""The virtual modem's host settings: AT+CMEE, +CMGF, ^CURC, +CSCS, +CSMS, +CSMP, +CNMI, +CSCA."""

from __future__ import annotations

from modem.lines import parse_ranges, payload_of
from modem.virtual.atparse import EXEC, READ, SET, TEST, Command
from modem.virtual.commands import handles
from modem.virtual.line import Reply


class SettingCommands:
    """Setting handlers; the state they read and set lives on `VirtualModem`."""

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
        chosen = self._chosen(cmd, "+CSMS", "(0,1)", f"{self.csms},1,1,1", ("0", "1"))
        if isinstance(chosen, Reply):
            return chosen
        self.csms = chosen
        return Reply(["+CSMS: 1,1,1"])

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
