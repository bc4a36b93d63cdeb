"""The recovery ladder's steps as a supervisor takes them on the port: AT resync, AT+CFUN=1,1, a
power cycle, and finding the port again (the configured one, or the one the modem's IMEI/ICCID is
found on). Which step comes next is `modem.recovery` (pure); each step taken is logged and kept in
`recovery` for the status page.

A part of `ModemSupervisor`; the attributes below are the supervisor's.
"""

from __future__ import annotations

import dataclasses
import logging

from modem import discovery
from modem.errors import CommandFailed, CommandTimeout, ModemDisconnected, ModemError
from modem.recovery import HOUR, Plan, RecoveryPolicy, Step, next_step
from modem.session import Identity, ModemSession
from modem.sms_memory import InboundHandler, keep_received
from modem.supervision import ModemSettings, ModemState, PowerSwitch, Timing
from modem.transport import AtTransport, SerialFactory

log = logging.getLogger("gsmgw.modem")

NO_ANSWER = "no answer"


class RecoverySteps:
    """Taking the ladder's steps for one modem."""

    name: str
    settings: ModemSettings
    handler: InboundHandler
    state: ModemState
    port: str
    recovery: str
    _power: PowerSwitch | None
    _power_cycles: list[float]
    _claims: discovery.PortClaims
    _open_serial: SerialFactory | None
    _clock: Timing

    def _recover(self, failures: int) -> tuple[Plan, bool]:
        """The ladder's next step, logged, shown in `recovery`, and taken. True with it when the step
        spoke to the modem and got no answer (a connection attempt would only time out again)."""
        s = self.settings
        policy = RecoveryPolicy(backoff=s.backoff, can_power_cycle=self._power is not None,
                                power_cycles_per_hour=s.power_cycles_per_hour, boot_s=s.boot_s)
        if self.state is ModemState.SIM_ERROR:  # the modem answers; its SIM is the trouble: retry only
            policy = RecoveryPolicy(backoff=s.backoff)
        port_present = self.state not in (ModemState.DISCONNECTED, ModemState.SIM_ERROR)
        plan = next_step(failures, self._power_cycles, self._clock.time(), policy, port_present=port_present)
        if plan.step is Step.REOPEN and plan.rung == 1 and not plan.note:
            return plan, False  # a vanished port is simply looked for again: nothing to say each time
        line = plan.line(self.name, failures)
        self.recovery = line
        log.warning("%s", line)
        unanswered = False
        try:
            if plan.step is Step.RESYNC:
                answered = self._resync()
                unanswered = not answered
                self.recovery += "; the modem answers" if answered else "; no answer"
            elif plan.step is Step.RESET:
                outcome = self._restart_modem()
                unanswered = outcome == NO_ANSWER
                self.recovery += "; " + outcome
            elif plan.step is Step.POWER_CYCLE:
                now = self._clock.time()
                self._power_cycles = [t for t in self._power_cycles if now - t < HOUR] + [now]
                self._power.cycle()  # type: ignore[union-attr]
                self.recovery += "; power restored"
        except (OSError, ModemError) as exc:
            self.recovery += f"; failed: {exc}"
        if self.recovery != line:
            log.info("%s", self.recovery)
        return plan, unanswered

    def _restart_on_request(self) -> float:
        """The reset step because a person asked for it (the port is closed already): logged, shown
        in `recovery`, taken. Returns how long to let the modem boot."""
        line = f"{self.name}: restart asked: {Step.RESET.value}"
        self.recovery = line
        log.warning("%s", line)
        try:
            outcome = self._restart_modem()
        except (OSError, ModemError) as exc:
            outcome = f"failed: {exc}"
        self.recovery = f"{line}; {outcome}"
        log.info("%s", self.recovery)
        return self.settings.boot_s

    def _step_transport(self) -> AtTransport:
        kwargs = {"open_serial": self._open_serial} if self._open_serial else {}
        return AtTransport(self.port or self.settings.port, self.settings, **kwargs)

    def _close_step(self, transport: AtTransport) -> None:
        """Close a step's port; a +CMT that came on it meanwhile (a hang ended) is kept."""
        transport.close()
        keep_received(transport.unsolicited, self.name, self.handler, lambda: transport.connected)

    def _resync(self) -> bool:
        """ESC (a prompt left open) and `AT` on the port as it is (a timed-out `AT` is followed by the
        transport's own resync: a second `AT`). True if the modem answered."""
        transport = self._step_transport()
        transport.open()
        try:
            transport.cancel_input()
            transport.command("AT")
            return True
        except (CommandTimeout, CommandFailed):
            return False
        finally:
            self._close_step(transport)

    def _restart_modem(self) -> str:
        """AT+CFUN=1,1: the modem restarts itself (its answer may never come; a hung one ignores it)."""
        transport = self._step_transport()
        transport.open()
        try:
            transport.cancel_input()
            transport.command("AT+CFUN=1,1")
            return "restarting"
        except CommandTimeout:
            return NO_ANSWER
        except CommandFailed as exc:
            return f"refused: {exc}"
        finally:
            self._close_step(transport)

    def _locate(self) -> str:
        """The port to open: the configured one, or the port the modem's IMEI/ICCID is found on."""
        s = self.settings
        self._claims.release(self.name)
        if not (s.imei or s.iccid):
            self._claims.claim(s.port, self.name)
            return s.port
        found, tried = discovery.find(s.scan, self._probe, self._claims, self.name,
                                      imei=s.imei, iccid=s.iccid, first=s.port)
        if found is None:
            where = "; ".join(tried) if tried else f"no free serial port in {', '.join(s.scan)}"
            raise ModemDisconnected(f"{self.name}: no modem with {discovery.wanted(s.imei, s.iccid)} ({where})")
        if found != self.port:
            log.info("%s: found %s on %s", self.name, discovery.wanted(s.imei, s.iccid), found)
        return found

    def _probe(self, path: str) -> Identity | None:
        """Who answers on `path`: its IMEI and ICCID, or None for a port that does not speak AT."""
        kwargs = {"open_serial": self._open_serial} if self._open_serial else {}
        probe = dataclasses.replace(self.settings, name=f"{self.name}-probe",
                                    command_timeout_s=min(self.settings.command_timeout_s, 2.0))
        transport = AtTransport(path, probe, **kwargs)
        try:
            transport.open()
            transport.cancel_input()
            transport.command("AT")
            return ModemSession(transport).identity()
        except ModemError:
            return None
        finally:
            transport.close()
