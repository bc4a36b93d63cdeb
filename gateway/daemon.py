"""`gsmgw run`: the composition root of the daemon.

Builds every part from the config in one place and hands each what it needs (no globals): the
virtual modems when simulating, one supervisor per modem, and the inbound handler. Stops on SIGINT or
SIGTERM: supervisors finish the AT exchange in flight and close their ports.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
from pathlib import Path
from typing import Any

from gateway.audience.contacts import ContactHealth
from gateway.campaigns.service import Campaigns
from gateway.campaigns.timing import Sim
from gateway.consent.optin import Audience
from gateway.consent.send_check import ConsentCheck
from gateway.settings.effective import Effective
from gateway.core.clock import Clock
from gateway.core.config import Config
from gateway.core.config_sections import SAFE_LIMITS, ModemSection, SimSection
from gateway.core.liveness import Liveness
from gateway.core.sd_notify import Notifier, Watchdog
from gateway.inbound.pipeline import InboundPipeline
from gateway.inbound.storing import StoringInbound
from gateway.metrics.counters import GatewayMetrics
from gateway.outbound.engine import SWEEP_INTERVAL, Engine
from gateway.outbound.limits import Limits
from gateway.outbound.models import MessageStatus
from gateway.outbound.queue import Queue
from gateway.scheduler import jobs
from gateway.scheduler.service import Scheduler
from gateway.store import db, notify
from gateway.store.retention import RetentionPolicy
from gateway.webhooks.outbox import Webhooks
from modem import gpio
from modem.discovery import PortClaims
from modem.pin import PinMemory
from modem.supervisor import ModemSettings, ModemState, ModemSupervisor, Timing

log = logging.getLogger("gsmgw")
WEB_STALL_ALLOWANCE = 30.0  # the web loop polls every second; a request runs in waitress's own threads


def modem_settings(section: ModemSection, scan: tuple[str, ...] = ()) -> ModemSettings:
    """The entry is the supervisor's settings; a modem named by identity is looked for on `scan`."""
    return dataclasses.replace(section, scan=scan) if scan else section


def stall_allowance(settings: ModemSettings) -> float:
    """The longest a healthy supervisor goes without a new health reading or a new state: a
    registration wait, a check interval, a send it waits behind, and a round of commands."""
    return (settings.registration_timeout_s + settings.check_interval_s + settings.send_timeout_s
            + 10 * settings.command_timeout_s)


def limits_of(section: ModemSection | SimSection) -> Limits:
    return section.limits


def simulated_section(template: ModemSection | None, name: str, port: str) -> ModemSection:
    """A virtual modem's section: the first [[modems]] entry, if any, lends it its limits and
    timeouts (not its port, PIN or SMSC), so a simulated run can be tuned like a real one."""
    if template is None:
        return ModemSection(name=name, port=port, limits=SAFE_LIMITS)
    return ModemSection(name=name, port=port, limits=template.limits, command_timeout_s=template.command_timeout_s,
                        send_timeout_s=template.send_timeout_s, prompt_timeout_s=template.prompt_timeout_s,
                        check_interval_s=template.check_interval_s,
                        registration_timeout_s=template.registration_timeout_s,
                        registration_poll_s=template.registration_poll_s)


def with_status_hooks(queue: Queue, clock: Clock, *, allowed_hosts: tuple[str, ...] = ()) -> Webhooks:
    """Give a queue the status hooks every process needs (the contact reachability flag, the webhook
    outbox); the Webhooks returned can also hear an Audience or an InboundPipeline. In the CLI it
    runs no dispatcher: what it stores, the daemon's dispatcher delivers."""
    queue.status_hooks.append(ContactHealth(clock))
    webhooks = Webhooks(queue.sessions, clock, allowed_hosts=allowed_hosts)
    webhooks.attach(queue)
    return webhooks


def _reach(host: str) -> str:
    """Who can reach a server bound to `host`, for the start-up line."""
    if host in ("0.0.0.0", "::", ""):
        return "every interface: the LAN can reach it"
    if host in ("127.0.0.1", "::1", "localhost") or host.startswith("127."):
        return "this machine only; [web] listen = \"0.0.0.0:8080\" serves the LAN"
    return f"on {host} only"


class Daemon:
    def __init__(self, config: Config, *, simulate: int = 0, clock: Clock | None = None,
                 modem_timing: Timing | None = None) -> None:
        self.config = config
        self.simulate = simulate
        self.clock = clock or Clock()
        self.modem_timing = modem_timing  # the supervisors' rest periods and backoff; None: real time
        self.simulator: Any = None
        self.setup_code: str | None = None  # the first-run code printed at start, while no user exists
        self.web_server: Any = None
        self.supervisors: list[ModemSupervisor] = []
        self.gpio_devices: list[Any] = []  # LEDs and power switches, closed at stop
        self.stopping = threading.Event()
        self.liveness = Liveness(self.clock)  # systemd's watchdog is fed while these threads progress
        self.notifier = Notifier()
        self.watchdog = Watchdog(self.notifier, self.liveness, self.clock, self.status_line)
        self.db = db.make_engine(config.database_url)
        self.queue = Queue(db.sessions(self.db), self.clock, default_region=config.gateway.default_region,
                           report_wait_hours=config.reports.wait_hours)
        # audience and consent (issue 4): send-time check, ledger, inbound pipeline, list hygiene
        # the config file's values with the console's overrides (limits per SIM, quiet hours, cap)
        self.settings = Effective(config, self.queue.sessions)
        self.consent = ConsentCheck(self.queue.sessions, self.clock, self.settings.rules,
                                    default_timezone=config.gateway.timezone)
        self.audience = Audience(self.queue.sessions, self.clock, self.queue, settings=self.settings.consent,
                                 default_region=config.gateway.default_region)
        self.inbound = InboundPipeline(self.queue.sessions, self.clock, self.queue, self.audience,
                                       settings=config.inbound, default_region=config.gateway.default_region,
                                       default_language=config.consent.default_language)
        self.engine = Engine(self.queue, self.clock, sticky=config.gateway.sticky_sim,
                             resend_unknown=config.gateway.resend_unknown, pre_send=self.consent,
                             liveness=self.liveness)
        # the periodic jobs (sweep, retention) on the daemon's clock, its job store in the database
        self.scheduler = Scheduler(self.clock, self.db)
        self.engine.sweep_soon = lambda: self.scheduler.run_soon(jobs.SWEEP)
        # PostgreSQL: what other gateways (and `gsmgw` commands) queue wakes the workers at once, and
        # the settings are read again when a console changed them (else before every send)
        self.listener = notify.listener(self.db, {notify.QUEUE: self.engine.wake_all,
                                                  notify.SETTINGS: self.settings.changed})
        if self.listener is not None:
            self.settings.follow(self.listener.listening)
        # campaigns: their starts and rounds are jobs in the scheduler's database store
        self.modem_limits: dict[str, Limits] = {}  # each modem's own limits, for the campaigns' ETA
        self.campaigns = Campaigns(self.queue.sessions, self.clock, self.queue, rules=self.settings.rules,
                                   default_timezone=config.gateway.timezone,
                                   attribution_days=config.campaigns.attribution_days,
                                   round_interval_s=config.campaigns.round_interval_s,
                                   sims=self.campaign_sims)
        self.campaigns.attach(self.scheduler)
        # webhooks hear every status change, stored inbound message and consent change from the start
        self.webhooks = with_status_hooks(self.queue, self.clock, allowed_hosts=config.webhooks.allowed_hosts)
        self.webhooks.attach(self.queue, inbound=self.inbound, audience=self.audience)
        self.metrics = GatewayMetrics(self.queue)  # counted as the work happens, for /metrics
        self.metrics.attach(queue=self.queue, inbound=self.inbound, webhooks=self.webhooks)

    def start(self) -> None:
        sections = list(self.config.modems)
        if self.simulate:
            from modem.virtual.cli import run_simulator

            sim = self.config.simulator
            directory = Path(self.config.gateway.data_dir) / "virtual-modems"
            self.simulator = run_simulator(self.simulate, directory=str(directory), profile=sim.profile,
                                           latency=sim.latency_s, report_delay=sim.report_delay_s, out=None,
                                           now=self.clock.now)
            template = self.config.modems[0] if self.config.modems else None
            sections = [simulated_section(template, port.name, port.path) for port in self.simulator.ports.values()]
        if not sections:
            log.warning("no modems configured: add [[modems]] to %s or use --simulate N", self.config.source)
        self.attach_modems(sections)
        self._issue_setup_code()
        self.start_engine()
        self._start_scheduler()
        for supervisor in self.supervisors:
            supervisor.start()
            self.liveness.register(f"modem {supervisor.name}", stall_allowance(supervisor.settings),
                                   lambda s=supervisor: (s.health, s.state, s.reason))
        self._start_web()
        self.notifier.send(READY="1", STATUS=self.status_line())  # the database is open, the API listens
        self.watchdog.start()

    def start_engine(self) -> None:
        """The workers, and the listener that hears other gateways' changes."""
        self.engine.start()
        if self.listener is not None:
            self.listener.start()

    def campaign_sims(self) -> list[Sim]:
        """Each modem with the limits it sends under now, as its worker does: those of the SIM it
        holds (the console's if set), else its own entry's; the campaigns' ETA spreads parts over them."""
        held = {s.name: s.identity for s in self.supervisors}
        in_force = self.settings.sim_limits()
        return [Sim(name, in_force.of(held.get(name), own)) for name, own in self.modem_limits.items()]

    def _issue_setup_code(self) -> None:
        """While no console user exists, a new one-time setup code, printed and logged: only someone
        who sees this output or the log can make the first admin at the console's `/`."""
        from gateway.users import setup

        self.setup_code = setup.issue(self.queue.sessions, self.clock)
        if self.setup_code:
            log.warning("no console user yet: open the console and enter the setup code %s "
                        "(or: gsmgw user add NAME --role admin)", self.setup_code)

    def _start_scheduler(self) -> None:
        retention = self.config.retention
        self.scheduler.every(jobs.SWEEP, SWEEP_INTERVAL, self.engine.sweep_round)
        self.scheduler.every(jobs.RETENTION, retention.prune_every_s,
                             jobs.pruning(self.db, self.clock, RetentionPolicy.of(retention), retention.batch))
        self.scheduler.start()
        self.campaigns.restore_jobs()

    def status_line(self) -> str:
        """systemd's STATUS=: `2 modems ready, 14 queued`, naming the modems that are not."""
        ready = [s for s in self.supervisors if s.state is ModemState.READY]
        line = f"{len(ready)} modem{'s' if len(ready) != 1 else ''} ready"
        others = [f"{s.name} {s.state.value}" for s in self.supervisors if s.state is not ModemState.READY]
        if others:
            line = f"{len(ready)} of {len(self.supervisors)} modems ready ({', '.join(others)})"
        queued = self.queue.open_counts((MessageStatus.QUEUED,))[MessageStatus.QUEUED]
        return f"{line}, {queued} queued"

    def attach_modems(self, sections: list[ModemSection]) -> None:
        """The schema brought up to date, the inbound pipeline running, and a supervisor and worker
        per modem, not started yet (the benchmarks start them in their own order)."""
        db.upgrade(self.db)
        handler = StoringInbound(self.engine, self.clock)
        handler.received.append(self.inbound)
        self.inbound.start()
        # a SIM that refused the configured PIN is not given it again after a restart either
        pins = PinMemory(Path(self.config.gateway.data_dir) / "sim-pin.json")
        claims = PortClaims()  # a modem found by identity never probes a port another modem holds
        if self.config.gpio.system_led_pin is not None:
            system_led = gpio.SystemLed(self.config.gpio.system_led_pin)
            self.gpio_devices.append(system_led)
            self.watchdog.fed.append(system_led.beat)
        for section in sections:
            led = gpio.StatusLed(section.led_pin) if section.led_pin is not None else None
            power = gpio.power_switch(section.power)
            self.gpio_devices += [d for d in (led, power) if d is not None]
            supervisor = ModemSupervisor(modem_settings(section, self.config.gateway.serial_scan), handler,
                                         on_state=self.engine.on_modem_state, pin_memory=pins,
                                         power=power, indicator=led, claims=claims,
                                         clock=self.modem_timing)
            self.supervisors.append(supervisor)
            modem_limits = limits_of(section)
            self.modem_limits[section.name] = modem_limits
            self.engine.add_modem(supervisor, modem_limits, ref16=section.concat_ref16,
                                  # a SIM's own limits (the console's if set) follow it to any modem
                                  limits_for=lambda identity, own=modem_limits: self.settings.sim_limits().of(identity, own),
                                  limits_version=self.settings.version)

    def _start_web(self) -> None:
        """The REST API (waitress, in a thread) and the webhook dispatcher on `web.listen`."""
        from gateway.sims import status
        from gateway.sims.control import ModemControl
        from web import create_app
        from web.context import WebContext

        import waitress

        pairs = lambda: [(s, self.engine.workers.get(s.name)) for s in self.supervisors]  # noqa: E731
        context = WebContext(queue=self.queue, sessions=self.queue.sessions, clock=self.clock, config=self.config,
                             webhooks=self.webhooks, audience=self.audience, inbound=self.inbound,
                             campaigns=self.campaigns, modems=lambda: status.describe(pairs()),
                             control=ModemControl(lambda: self.supervisors), metrics=self.metrics)
        host, port = self.config.web.address
        app = create_app(context, {"AUTH_FAILURES_PER_MINUTE": self.config.web.auth_failures_per_minute})
        self.web_server = waitress.create_server(app, host=host, port=port, threads=8, ident="gsmgw")
        self._web_stopping = threading.Event()
        self._web_thread = threading.Thread(target=self._serve_web, args=(self.web_server,), name="web", daemon=True)
        self.liveness.register("web", WEB_STALL_ALLOWANCE)
        self._web_thread.start()
        self.webhooks.start(self.scheduler)  # the dispatcher: a job of the scheduler
        log.info("REST API on %s (%s)", self.api_url(), _reach(host))

    def api_url(self) -> str:
        """Where the REST API listens, as bound (the port the system gave for port 0)."""
        host = getattr(self.web_server, "effective_host", None) or self.config.web.address[0]
        port = getattr(self.web_server, "effective_port", None) or self.config.web.address[1]
        return f"http://{f'[{host}]' if ':' in str(host) else host}:{port}/api/v1"

    def _serve_web(self, server: Any) -> None:
        """waitress's loop one poll at a time (as server.run() does), ticking between polls."""
        try:
            while server._map and not self._web_stopping.is_set():
                server.asyncore.loop(timeout=server.adj.asyncore_loop_timeout, map=server._map,
                                     use_poll=server.adj.asyncore_use_poll, count=1)
                self.liveness.tick("web")
        except OSError:
            # the sockets closed by _stop_web after a join that gave up (a request stuck) can land in select(): EBADF
            if not self._web_stopping.is_set():
                raise

    def _stop_web(self) -> None:
        if getattr(self, "web_server", None) is not None:
            from waitress import wasyncore

            server, self.web_server = self.web_server, None
            self._web_stopping.set()
            server.task_dispatcher.shutdown(timeout=5)  # requests in flight finish
            server.pull_trigger()  # the loop's poll wakes now, not at its 1 s timeout, and sees the flag
            self._web_thread.join(5)
            wasyncore.close_all(server._map)  # the listening socket and open connections
        self.webhooks.stop()

    def stop(self) -> None:
        """Claim nothing new, let the AT exchange in flight finish, close the ports."""
        self.notifier.send(STOPPING="1")
        self.watchdog.stop()
        self.scheduler.shutdown()
        self._stop_web()
        self.stopping.set()
        if self.listener is not None:
            self.listener.stop()
        self.engine.stop()
        threads = [threading.Thread(target=s.stop, daemon=True) for s in self.supervisors]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(9)
        self.inbound.stop()
        for device in self.gpio_devices:
            device.close()
        if self.simulator is not None:
            self.simulator.close()
        self.queue.group.close()
        self.consent.close()
        self.settings.close()
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
            lines.append(f"  {s.name:<6} {s.state.value:<12} {s.port or s.settings.port}  ({model})")
        if self.simulator is not None:
            lines.append(f"Virtual modems' record of sent PDUs: {self.simulator.network.record.path}")
            if self.simulator.control is not None:
                lines.append(f"Virtual modem control socket: {self.simulator.control.address}")
        lines.append(f"AT conversation log: {data_dir / 'serial.log'}")
        lines.append(f"Database: {self.config.database_url}")
        lines.append(f"Queue a message: .venv/bin/gsmgw send --config {self.config.source} +447700900123 'Hello'")
        if self.web_server is not None:
            lines.append(f"REST API: {self.api_url()} ({_reach(self.config.web.address[0])}; docs/api.md); a key for it: "
                         f".venv/bin/gsmgw apikey create --config {self.config.source} --name me --scopes send,read")
        if self.setup_code:
            lines.append(f"Console: {self.api_url().removesuffix('/api/v1')}/ — first-run setup code {self.setup_code} "
                         "(valid until the first user is made)")
        lines.append("Press Ctrl-C to stop.")
        print("\n".join(lines), flush=True)
