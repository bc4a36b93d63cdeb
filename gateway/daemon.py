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

from gateway import db
from gateway.clock import Clock
from gateway.config import Config, LimitsSection, ModemSection
from gateway.engine import Engine, StoringInbound
from gateway.limits import Limits
from gateway.queue import Queue
from modem.supervisor import ModemSettings, ModemState, ModemSupervisor

log = logging.getLogger("gsmgw")


def modem_settings(section: ModemSection) -> ModemSettings:
    return ModemSettings(
        name=section.name, port=section.port, baudrate=section.baudrate, rtscts=section.rtscts,
        pin=section.pin, smsc=section.smsc, ref16=section.concat_ref16,
        command_timeout=section.command_timeout_s, send_timeout=section.send_timeout_s,
        check_interval=section.check_interval_s, registration_timeout=section.registration_timeout_s,
    )


def limits_of(section: ModemSection) -> Limits:
    lim = section.limits
    return Limits(lim.per_minute, lim.per_hour, lim.per_day, lim.per_month, lim.min_gap_s)


class Daemon:
    def __init__(self, config: Config, *, simulate: int = 0, clock: Clock | None = None) -> None:
        self.config = config
        self.simulate = simulate
        self.clock = clock or Clock()
        self.simulator: Any = None
        self.supervisors: list[ModemSupervisor] = []
        self.stopping = threading.Event()
        self.db = db.make_engine(config.database_url)
        self.queue = Queue(db.sessions(self.db), self.clock, default_region=config.gateway.default_region)
        self.engine = Engine(self.queue, self.clock, sticky=config.gateway.sticky_sim,
                             resend_unknown=config.gateway.resend_unknown)

    def start(self) -> None:
        sections = list(self.config.modems)
        if self.simulate:
            from modem.virtual.cli import run_simulator

            sim = self.config.simulator
            directory = Path(self.config.gateway.data_dir) / "virtual-modems"
            self.simulator = run_simulator(self.simulate, directory=str(directory), profile=sim.profile,
                                           latency=sim.latency_s, report_delay=sim.report_delay_s, out=None)
            limits = self.config.modems[0].limits if self.config.modems else LimitsSection()
            sections = [ModemSection(name=port.name, port=port.path, limits=limits) for port in self.simulator.ports.values()]
        if not sections:
            log.warning("no modems configured: add [[modems]] to %s or use --simulate N", self.config.source)
        db.upgrade(self.db)
        handler = StoringInbound(self.engine, self.clock)
        for section in sections:
            supervisor = ModemSupervisor(modem_settings(section), handler, on_state=self.engine.on_modem_state)
            self.supervisors.append(supervisor)
            self.engine.add_modem(supervisor, limits_of(section), ref16=section.concat_ref16)
        self.engine.start()
        for supervisor in self.supervisors:
            supervisor.start()

    def stop(self) -> None:
        """Claim nothing new, let the AT exchange in flight finish, close the ports."""
        self.stopping.set()
        self.engine.stop()
        threads = [threading.Thread(target=s.stop) for s in self.supervisors]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(9)
        if self.simulator is not None:
            self.simulator.close()
        self.db.dispose()

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
            lines.append(f"Virtual modems' record of sent PDUs: {self.simulator.network.record.path}")
            if self.simulator.control is not None:
                lines.append(f"Virtual modem control socket: {self.simulator.control.address}")
        lines.append(f"AT conversation log: {data_dir / 'serial.log'}")
        lines.append(f"Database: {self.config.database_url}")
        lines.append(f"Queue a message: .venv/bin/gsmgw send --config {self.config.source} +447700900123 'Hello'")
        lines.append("Press Ctrl-C to stop.")
        print("\n".join(lines), flush=True)
