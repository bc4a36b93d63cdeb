"""`gsmgw run`: the composition root of the daemon.

Builds every part from the config in one place and hands each what it needs (no globals): the
virtual modems when simulating, one supervisor per modem, and the inbound handler. Stops on SIGINT or
SIGTERM: supervisors finish the AT exchange in flight and close their ports.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Any

from gateway.config import Config, ModemSection
from modem.pdu import StatusReport
from modem.session import InboundSms
from modem.supervisor import ModemSettings, ModemState, ModemSupervisor

log = logging.getLogger("gsmgw")


def modem_settings(section: ModemSection) -> ModemSettings:
    return ModemSettings(
        name=section.name, port=section.port, baudrate=section.baudrate, rtscts=section.rtscts,
        pin=section.pin, smsc=section.smsc, ref16=section.concat_ref16,
        command_timeout=section.command_timeout_s, send_timeout=section.send_timeout_s,
        check_interval=section.check_interval_s, registration_timeout=section.registration_timeout_s,
    )


class LoggingInbound:
    """Inbound handler of the thin daemon: logs what arrives (the inbound pipeline replaces it)."""

    def on_sms(self, modem: str, sms: InboundSms) -> bool:
        if sms.message is None:
            log.warning("%s: inbound SMS kept raw (%s): %s", modem, sms.error, sms.raw_pdu)
        else:
            part = f" part {sms.message.concat.seq}/{sms.message.concat.total}" if sms.message.concat else ""
            log.info("%s: SMS from %s%s: %r", modem, sms.message.sender, part, sms.message.text)
        return True

    def on_status_report(self, modem: str, report: StatusReport) -> bool:
        log.info("%s: status report for ref %d to %s: %s", modem, report.reference, report.recipient,
                 report.outcome)
        return True


class Daemon:
    def __init__(self, config: Config, *, simulate: int = 0) -> None:
        self.config = config
        self.simulate = simulate
        self.simulator: Any = None
        self.supervisors: list[ModemSupervisor] = []
        self.stopping = threading.Event()

    def start(self) -> None:
        sections = list(self.config.modems)
        if self.simulate:
            from modem.virtual.cli import run_simulator

            sim = self.config.simulator
            directory = Path(self.config.gateway.data_dir) / "virtual-modems"
            self.simulator = run_simulator(self.simulate, directory=str(directory), profile=sim.profile,
                                           latency=sim.latency_s, report_delay=sim.report_delay_s,
                                           echo=False)
            sections = [ModemSection(name=port.name, port=port.path) for port in self.simulator.ports]
        if not sections:
            log.warning("no modems configured: add [[modems]] to %s or use --simulate N", self.config.source)
        handler = LoggingInbound()
        for section in sections:
            supervisor = ModemSupervisor(modem_settings(section), handler)
            self.supervisors.append(supervisor)
            supervisor.start()

    def stop(self) -> None:
        self.stopping.set()
        threads = [threading.Thread(target=s.stop) for s in self.supervisors]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(9)
        if self.simulator is not None:
            self.simulator.close()

    def wait_ready(self, timeout: float) -> bool:
        return all(s.wait_for({ModemState.READY}, timeout) for s in self.supervisors)

    def run_forever(self) -> None:
        """Run until SIGINT/SIGTERM."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: self.stopping.set())
        self.start()
        self.wait_ready(30)
        self._print_summary()
        self.stopping.wait()
        log.info("stopping")
        self.stop()
        log.info("stopped")

    def _print_summary(self) -> None:
        data_dir = Path(self.config.gateway.data_dir).resolve()
        lines = ["gsmgw is running. Modems:"]
        for s in self.supervisors:
            ident = s.identity
            model = f"{ident.manufacturer} {ident.model}" if ident else "?"
            lines.append(f"  {s.name:<6} {s.state.value:<12} {s.settings.port}  ({model})")
        if self.simulator is not None:
            lines.append(f"Virtual modems' record of sent PDUs: {self.simulator.record_path}")
            if getattr(self.simulator, "control_address", None):
                lines.append(f"Virtual modem control socket: {self.simulator.control_address}")
        lines.append(f"AT conversation log: {data_dir / 'serial.log'}")
        lines.append("Press Ctrl-C to stop.")
        print("\n".join(lines), flush=True)
