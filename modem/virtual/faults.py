"""The virtual modem's control API: fault injection and run-time switches (hangs, error codes,
coverage, SIM swaps, line noise, slow output), safe to call from any thread.

`control.py` reaches these methods from Python or over a socket; faults survive reboots because they
model the environment, not the modem's settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from random import Random
from typing import Any

from modem.virtual.atparse import TEST, Command
from modem.virtual.commands import handles
from modem.virtual.line import Reply
from modem.virtual.network import normalize


@dataclass
class _Fault:
    kind: str  # "cms" | "cme"
    code: int
    remaining: int


class ControlApi:
    """Thread-safe control methods; each takes the modem's lock."""

    # -- incoming traffic and timing ---------------------------------------------------------------
    def inject_sms(self, sender: str, text: str, mode: str = "auto", split: bool = False,
                   flash: bool = False) -> list[str]:
        """An SMS from `sender` arrives. mode: "auto" follows AT+CNMI like a real modem, "cmti" forces
        store-and-notify, "cmt" forces direct delivery, "store" stores it with no URC at all (a +CMTI
        lost on the line, or one printed while no host listened). split=True delivers the parts of a
        long text in reverse order, 100 ms apart (networks do not keep order). flash=True sends it as
        class 0, which comes as +CMT under mt=1 too. Returns the PDUs."""
        if mode not in ("auto", "cmti", "cmt", "store"):
            raise ValueError("mode must be 'auto', 'cmti', 'cmt' or 'store'")
        pdus = self.network.deliver_pdus(sender, text, message_class=0 if flash else None)
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
                self._later(seconds, self._hang_over)

    def _hang_over(self) -> None:
        """A hung modem takes no traffic: what the network held meanwhile comes once it answers again."""
        if not self._hung() and self.registered:
            waiting, self._waiting_network = self._waiting_network, []
            for deliver in waiting:
                deliver()

    def reset(self) -> None:
        """The modem restarts by itself (a brown-out, its firmware's watchdog), as after AT+CFUN=1,1:
        a USB stick re-enumerates, a UART module reboots on the same port; its start-up window follows."""
        with self._lock:
            self._reset()

    # -- error codes -------------------------------------------------------------------------------
    def cms_error(self, code: int, times: int = 1, command: str = "CMGS") -> None:
        """The next `times` uses of `command` fail with +CMS ERROR: code (AT+CMGS: after the PDU)."""
        self._add_fault("cms", code, times, command)

    def cme_error(self, code: int, times: int = 1, command: str = "CMGS") -> None:
        """The next `times` uses of `command` fail at once with +CME ERROR: code (as CMEE formats it)."""
        self._add_fault("cme", code, times, command)

    def barred(self, code: int | None = 8) -> None:
        """Every send from this SIM fails with +CMS ERROR: code (8 operator barring, 10 call barred,
        50 no SMS subscription), whatever the number; None lifts the bar."""
        with self._lock:
            self._barred = None if code is None else int(code)

    def refuse_number(self, number: str, code: int | None = 1) -> None:
        """Sends to `number` fail with +CMS ERROR: code (1 unassigned number), from any SIM of this
        modem; None accepts the number again."""
        with self._lock:
            if code is None:
                self._refused_numbers.pop(normalize(number), None)
            else:
                self._refused_numbers[normalize(number)] = int(code)

    def _add_fault(self, kind: str, code: int, times: int, command: str) -> None:
        name = command.upper().removeprefix("AT")
        if not name.startswith(("+", "^", "$", "%")):
            name = "+" + name
        with self._lock:
            self._faults.setdefault(name, []).append(_Fault(kind, int(code), int(times)))

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

    # -- environment -------------------------------------------------------------------------------
    def no_network(self, on: bool = True) -> None:
        """Lose (or regain) coverage: CREG stat 2, CSQ 99,99, sends fail with +CMS ERROR: 331."""
        with self._lock:
            self._no_network = bool(on)
            if on:
                self._set_reg(2 if self.sim_state == "ready" and self.cfun == 1 else 0)
            elif self.powered and not self.registered:
                self._start_registration()

    def registration_denied(self, on: bool = True, cause: int | None = 3) -> None:
        """The network refuses this SIM (CREG stat 3), with 3GPP TS 24.008 reject `cause` in AT+CEER
        (3 illegal MS, 11 PLMN not allowed, 13 roaming not allowed, 15 no suitable cells; None: no
        cause). The modem still hears the network (CSQ stays); sends fail with +CMS ERROR: 331."""
        with self._lock:
            self._denied = bool(on)
            self._reject_cause = cause if on else None
            self._no_network = bool(on)
            if on:
                self._set_reg(3 if self.sim_state == "ready" and self.cfun == 1 else 0)
            elif self.powered and not self.registered:
                self._set_reg(0)
                self._start_registration()

    @handles("+CEER")
    def _at_ceer(self, cmd: Command) -> Reply:
        """The extended error report: why the last registration failed, when the network said."""
        if cmd.kind == TEST:
            return Reply()
        if self._reject_cause is not None:
            return Reply([f"+CEER: Registration rejected, cause {self._reject_cause}"])
        return Reply(["+CEER: No cause information available"])

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
            self._pin_tries, self._puk_tries = 3, 10
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

    def vendor_noise(self, interval: float = 0.5, seed: int | None = None) -> None:
        """The profile's `vendor_urcs` (^CSNR, +CGEV, *RADIOPOWER, +ZEND...) at random moments, about
        every `interval` seconds, about half of them inside the next answer that has information
        lines; interval <= 0 stops them. Like line noise, it survives reboots."""
        with self._lock:
            rng = Random(seed) if interval > 0 and self.profile.vendor_urcs else None
            self._vendor_noise = rng
            if rng is not None:
                self._vendor_tick(rng, float(interval))

    def _vendor_tick(self, rng: Random, interval: float) -> None:
        if self._vendor_noise is not rng:
            return  # switched off or restarted meanwhile
        line = rng.choice(self.profile.vendor_urcs)
        if rng.random() < 0.5 and len(self._mid_urcs) < 2:
            self._mid_urcs.append(line)
        else:
            self._urc([line])

        def again() -> None:
            with self._lock:
                self._vendor_tick(rng, interval)

        self.sched.call_later(rng.uniform(0.0, 2 * interval), again)

    def pdu_trailing_zero(self, on: bool = True) -> None:
        """PDU lines of +CMGR/+CMGL end with ",0", as some phones print them (Gammu strips it)."""
        with self._lock:
            self._pdu_trailing_zero = bool(on)

    def urc_inside_pair(self, line: str) -> None:
        """Put `line` between the first header of the next +CMGL/+CMGR answer and its PDU (real
        modems let a URC through there too)."""
        with self._lock:
            self._pair_urcs.append(line)

    def split_lines(self, on: bool = True) -> None:
        """Write output in 8-byte chunks a few ms apart, and lines ~50 ms apart."""
        with self._lock:
            self._split = bool(on)

    def ussd_reply(self, text: str | None, status: int = 0) -> None:
        """What the network answers the next USSD codes: `text` with `+CUSD: <status>` (0 done, 1 a
        menu that keeps the session open, 2 terminated, 4 not supported), or nothing (text None)."""
        if status not in (0, 1, 2, 3, 4, 5):
            raise ValueError("status must be 0..5")
        with self._lock:
            self.ussd_text, self.ussd_status = text, int(status)

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
                "powered": self.powered, "sim": self.sim_state, "creg": self.reg_stat, "denied": self._denied,
                "echo": self.echo, "cmee": self.cmee, "cmgf": self.cmgf, "cnmi": list(self.cnmi),
                "stored": {n: s.used for n, s in self.storages.items()},
                "hung": self._hung_forever or self._hung_until is not None, "latency": self.latency,
                "ussd_open": self.ussd_open, "awaiting_ack": len(self._acks),


                "pin_attempts": self.pin_attempts, "pin_tries_left": self._pin_tries, "barred": self._barred,
                "reports_discarded": self.reports_discarded,
            }
