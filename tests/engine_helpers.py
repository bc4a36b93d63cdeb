"""The send engine end to end for the tests: `Gateway`, the real daemon on virtual modems with time
from the test's FakeClock, and the `gateway_factory` fixture that stops every one it made."""

from __future__ import annotations

import pytest

from gateway.store import db
from modem.supervisor import ModemSupervisor

from .daemon_helpers import build_daemon, stopped_after
from .modem_helpers import wait_settled, wait_until

NO_LIMITS = {"per_minute": 0, "per_hour": 0, "per_day": 0, "per_month": 0, "min_gap_s": 0}
# No periodic health check within a test's time: a scenario with a modem slow on purpose gets only
# the checks its own events ask for (wait_settled's, the worker's check_now after a send timed out),
# never one that finds the modem hung before the send it is about.
ONLY_ASKED_CHECKS = 3600.0


class Gateway:
    """The real daemon (gateway.daemon.Daemon): send-time consent check, inbound pipeline, webhooks
    and contact health attached as in production, the REST API on a free port, virtual modems on
    ptys, time from the test's FakeClock."""

    def __init__(self, tmp_path, clock, *, modems: int = 1, limits: dict | None = None, sticky: bool = True,
                 pre_send=None, start: bool = True, send_timeout: float = 5.0, modem_timing=None,
                 check_interval: float = 0.5) -> None:
        self.tmp_path = tmp_path
        self.clock = clock
        self.daemon = build_daemon(
            tmp_path, clock, modems, modem_timing=modem_timing, gateway={"sticky_sim": sticky}, simulator={"report_delay_s": 0.1},
            modems=[{"name": "template", "port": "unused", "limits": {**NO_LIMITS, **(limits or {})},
                     "command_timeout_s": 1.0, "send_timeout_s": send_timeout, "check_interval_s": check_interval,
                     "registration_timeout_s": 5.0}])
        if pre_send is not None:
            self.daemon.engine.pre_send = pre_send  # a check that fails on purpose, in place of the consent check
        self.queue = self.daemon.queue
        self.engine = self.daemon.engine
        db.upgrade(self.daemon.db)  # messages may be queued before the start
        self.images: list = []  # crash images' engines
        if start:
            self.start()

    def start(self) -> None:
        """Start the daemon; return once every modem is ready and has settled (see wait_settled)."""
        self.daemon.start()
        assert self.daemon.wait_ready(15), self.daemon.status_line()
        for supervisor in self.daemon.supervisors:
            wait_settled(supervisor, self.sim.ports[supervisor.name].modem)

    @property
    def sim(self):
        return self.daemon.simulator

    @property
    def supervisors(self) -> dict[str, ModemSupervisor]:
        return {s.name: s for s in self.daemon.supervisors}

    def stop(self) -> None:
        self.daemon.stop()
        for image in self.images:
            image.dispose()

    def status(self, message_id: int) -> str:
        return self.queue.get(message_id).status

    def wait_status(self, message_id: int, *statuses: str, timeout: float = 10) -> None:
        wait_until(lambda: self.status(message_id) in statuses, timeout,
                   f"message {message_id} to become {statuses} (is {self.status(message_id)})")

    def submitted(self) -> list[dict]:
        return list(self.sim.network.record.submitted)

    def wait_idle_until(self, thread: str, moment: float, *, since: float) -> None:
        """The event a negative check rests on: `thread` began, at clock time `since` or later, a
        wait on the clock that ends at `moment` or later, so it does nothing before then."""
        def idle() -> bool:
            waiting = self.clock.waiting(thread)
            return waiting is not None and waiting[0] >= since and waiting[1] >= moment - 1e-6

        wait_until(idle, 10, f"{thread} idle until {moment} (waits {self.clock.waiting(thread)})")


@pytest.fixture
def gateway_factory(tmp_path, clock):
    with stopped_after(lambda **options: Gateway(tmp_path, clock, **options)) as make:
        yield make
