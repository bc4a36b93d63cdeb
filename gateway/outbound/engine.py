"""The send engine: queue, one worker per modem, routing, the sweep (expiry, messages stuck in
`sending`: `sweep_round`, run by the daemon's scheduler), and status reports coming back (applied
by `gateway.inbound.storing`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from gateway.core.clock import Clock
from gateway.core.retry import RetryPolicy
from gateway.core.liveness import Liveness
from gateway.outbound import report_wait
from gateway.outbound.claims import Candidate
from gateway.outbound.clock_jumps import ClockJumps
from gateway.outbound.limits import Limits
from gateway.outbound.queue import Queue
from gateway.outbound.routing import ModemView, may_take
from gateway.outbound.worker import ModemWorker, PreSendCheck
from gateway.sims.history import SendHistory
from gateway.sims.models import Modem
from gateway.sims.windows import LimitsFor, SimWindows
from modem.supervisor import ModemState, ModemSupervisor

log = logging.getLogger("gsmgw.engine")
SWEEP_INTERVAL = 60.0  # seconds between sweeps when no expiry is nearer


class Engine:
    def __init__(self, queue: Queue, clock: Clock, *, sticky: bool = True, resend_unknown: bool = False,
                 retry: RetryPolicy | None = None,
                 pre_send: PreSendCheck | None = None, liveness: Liveness | None = None) -> None:
        self.queue = queue
        self.clock = clock
        self.sticky = sticky
        self.resend_unknown = resend_unknown
        self.retry = retry
        self.pre_send = pre_send
        self.liveness = liveness
        self.history = SendHistory(queue.sessions, clock)
        self.clock_jumps = ClockJumps(queue.sessions, clock)  # checked before each claim and sweep
        self.workers: dict[str, ModemWorker] = {}
        # brings the next sweep forward (the scheduler's run_soon): a change may set a nearer expiry
        self.sweep_soon: Callable[[], None] = lambda: None
        queue.listeners.append(self.wake_all)

    # ---- wiring -----------------------------------------------------------------------------
    def add_modem(self, supervisor: ModemSupervisor, limits: Limits, *, ref16: bool = False,
                  limits_for: LimitsFor | None = None, limits_version: Callable[[], int] | None = None) -> ModemWorker:
        """A worker for the modem; `limits` are the modem entry's, `limits_for` gives those of the
        SIM it holds (by default the modem's), asked again whenever `limits_version` moves."""
        windows = SimWindows(supervisor.name, self.history, self.clock, limits, limits_for, limits_version)
        worker = ModemWorker(supervisor, self.queue, windows, self.clock, ref16=ref16, retry=self.retry,
                             may_take=self._may_take_for, pre_send=self.pre_send, wall_clock=self.clock_jumps.held,
                             resend_unknown=self.resend_unknown)
        self.workers[supervisor.name] = worker
        return worker

    def start(self) -> None:
        self.clock_jumps.check()  # a step while the daemon was down, before anything reads the times
        counts = self.queue.recover(resend_unknown=self.resend_unknown, modems=list(self.workers))
        if any(counts.values()):
            log.warning("recovered after restart: %s", counts)
        if self.liveness is not None:  # a round may also wait out a busy database (30 s)
            self.liveness.register("engine", 2 * SWEEP_INTERVAL + 30.0)
        for worker in self.workers.values():
            worker.start()

    def stop(self, timeout: float = 8.0) -> None:
        for worker in self.workers.values():
            worker.stop()
        for worker in self.workers.values():
            worker.join(timeout)

    def wake_all(self) -> None:
        for worker in self.workers.values():
            worker.wake.set()
        self.sweep_soon()

    def on_modem_state(self, name: str, state: ModemState, reason: str) -> None:
        """A modem changed state: others may now take its work, or it may take theirs."""
        worker = self.workers.get(name)
        supervisor = worker.supervisor if worker else None
        try:
            with self.queue.sessions.begin() as session:
                row = session.get(Modem, name) or Modem(name=name)
                row.state, row.reason, row.updated_at = state.value, reason or None, self.clock.now()
                if supervisor is not None and supervisor.identity is not None:
                    ident = supervisor.identity
                    row.manufacturer, row.model, row.imei = ident.manufacturer, ident.model, ident.imei
                    row.imsi, row.iccid = ident.imsi, ident.iccid
                if supervisor is not None and supervisor.health is not None:
                    row.operator, row.signal_bars = supervisor.health.operator, supervisor.health.signal.bars
                session.add(row)
        except Exception:
            log.exception("could not record the state of %s", name)
        self.wake_all()

    # ---- routing ----------------------------------------------------------------------------
    def views(self) -> dict[str, ModemView]:
        """Each SIM in a modem, by its identity."""
        return {w.holds: ModemView(w.holds, w.supervisor.state is ModemState.READY, w.next_slot())
                for w in self.workers.values()}

    def _may_take_for(self, modem: str) -> Callable[[Candidate], bool]:
        sim = self.workers[modem].holds
        if not self.sticky or len(self.workers) < 2:
            return lambda message: True
        views, now = self.views(), self.clock.time()
        holds = {name: w.holds for name, w in self.workers.items()}

        def sticky_to(message: Candidate) -> str | None:
            """The SIM sending to the number now (messages to one number stay in order), else the one it
            last heard from."""
            return holds.get(message.sending_on) if message.sending_on in holds else message.last_sim

        return lambda message: may_take(sim, sticky_to(message), views, now, sticky=True)

    # ---- the sweep ----------------------------------------------------------------------------
    def sweep(self) -> None:
        """Settle what each modem's worker lost in `sending` (claimed longer ago than its send could
        take: the worker died or could not settle it after an error), then expire what is due and
        record the sent parts whose wait for a status report is over as having none."""
        with self.clock_jumps.held() as wall_now:
            now = wall_now.timestamp()
            for name, worker in self.workers.items():
                counts = self.queue.release_stuck([name], older_than=utc(now - worker.longest_send),
                                                  resend_unknown=self.resend_unknown)
                if any(counts.values()):
                    log.warning("%s: settled messages stuck in sending: %s", name, counts)
            self.queue.expire_due(wall_now)
            self.queue.record_no_reports(wall_now)

    def sweep_round(self) -> float:
        """One sweep, as the scheduler runs it every SWEEP_INTERVAL: the seconds until it is wanted
        again (the next expiry, or the next part's report deadline, if nearer). A failure is logged
        and the round comes again."""
        if self.liveness is not None:
            self.liveness.tick("engine")
        waits = [SWEEP_INTERVAL]
        try:
            self.sweep()
            nearest = self.queue.next_expiry()
            if nearest is not None:
                waits.append(max(0.0, nearest.timestamp() - self.clock.time()) + 0.001)
            deadline = self.queue.next_report_deadline()
            report_in = report_wait.next_sweep_in(
                None if deadline is None else deadline.timestamp() - self.clock.time() + 0.001, self.queue.report_wait)
            if report_in is not None:
                waits.append(report_in)
        except Exception:
            log.exception("sweep failed")
        return min(waits)


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
