"""The send engine: queue, one worker per modem, routing, the sweep (expiry, messages stuck in
`sending`), and status reports coming back (applied by `gateway.inbound.storing`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from gateway.core.clock import Clock
from gateway.core.liveness import Liveness
from gateway.outbound.claims import Candidate
from gateway.outbound.limits import Limits
from gateway.outbound.queue import Queue
from gateway.outbound.routing import ModemView, may_take
from gateway.outbound.worker import ModemWorker, PreSendCheck, RetryPolicy
from gateway.sims.models import Modem
from gateway.store import notify
from gateway.store.db import engine_of
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
        self.workers: dict[str, ModemWorker] = {}
        self._stop = threading.Event()
        self._expiry_wake = threading.Event()
        self._expiry: threading.Thread | None = None
        self._listener: notify.Listener | None = None  # PostgreSQL: messages other gateways queue
        queue.listeners.append(self.wake_all)

    # ---- wiring -----------------------------------------------------------------------------
    def add_modem(self, supervisor: ModemSupervisor, limits: Limits, *, ref16: bool = False) -> ModemWorker:
        worker = ModemWorker(supervisor, self.queue, limits, self.clock, ref16=ref16, retry=self.retry,
                             may_take=self._may_take_for, pre_send=self.pre_send,
                             resend_unknown=self.resend_unknown)
        self.workers[supervisor.name] = worker
        return worker

    def start(self) -> None:
        counts = self.queue.recover(resend_unknown=self.resend_unknown, modems=list(self.workers))
        if any(counts.values()):
            log.warning("recovered after restart: %s", counts)
        self._stop.clear()
        if self.liveness is not None:  # a round may also wait out a busy database (30 s)
            self.liveness.register("engine", 2 * SWEEP_INTERVAL + 30.0)
        for worker in self.workers.values():
            worker.start()
        self._expiry = threading.Thread(target=self._sweep_loop, name="sweep", daemon=True)
        self._expiry.start()
        self._listener = notify.listen(engine_of(self.queue.sessions), self.wake_all)

    def stop(self, timeout: float = 8.0) -> None:
        self._stop.set()
        self._expiry_wake.set()
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        for worker in self.workers.values():
            worker.stop()
        for worker in self.workers.values():
            worker.join(timeout)
        if self._expiry is not None:
            self._expiry.join(timeout)

    def wake_all(self) -> None:
        for worker in self.workers.values():
            worker.wake.set()
        self._expiry_wake.set()

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
        return {name: ModemView(name, w.supervisor.state is ModemState.READY, w.next_slot())
                for name, w in self.workers.items()}

    def _may_take_for(self, modem: str) -> Callable[[Candidate], bool]:
        if not self.sticky or len(self.workers) < 2:
            return lambda message: True
        views, now = self.views(), self.clock.time()
        return lambda message: may_take(modem, message.last_sim, views, now, sticky=True)

    # ---- the sweep ----------------------------------------------------------------------------
    def sweep(self) -> None:
        """Settle what each modem's worker lost in `sending` (claimed longer ago than its send could
        take: the worker died or could not settle it after an error), then expire what is due."""
        now = self.clock.time()
        for name, worker in self.workers.items():
            counts = self.queue.release_stuck([name], older_than=utc(now - worker.longest_send),
                                              resend_unknown=self.resend_unknown)
            if any(counts.values()):
                log.warning("%s: settled messages stuck in sending: %s", name, counts)
        self.queue.expire_due()

    def _sweep_loop(self) -> None:
        while not self._stop.is_set():
            if self.liveness is not None:
                self.liveness.tick("engine")
            try:
                self.sweep()
                nearest = self.queue.next_expiry()
            except Exception:
                log.exception("sweep failed")
                nearest = None
            wait = SWEEP_INTERVAL if nearest is None else max(0.0, nearest.timestamp() - self.clock.time()) + 0.001
            self.clock.wait(self._expiry_wake, min(wait, SWEEP_INTERVAL))
            self._expiry_wake.clear()


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
