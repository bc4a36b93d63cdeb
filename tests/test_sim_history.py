"""Send history keyed by the SIM, on a wall clock that can jump: the real daemon on virtual modems
(each SIM with its ICCID and IMSI) on ptys, time from the test's FakeClock.

Limit windows and stickiness belong to the SIM: renaming its modem, re-plugging it or moving the SIM
to another modem keeps its counts and its customers. NTP stepping a Pi's wall clock either way, while
the daemon runs or while it is down, neither lets a window overrun nor stalls it.
"""

from __future__ import annotations

import re
import sys
import threading

import pytest

from gateway.core.clock import FakeClock
from gateway.sims import status
from gateway.sims.identity import sim_key
from gateway.store import db

from .daemon_helpers import build_daemon
from .modem_helpers import wait_settled, wait_until

pytestmark = pytest.mark.timeout(120)
HOUR, DAY = 3600.0, 86400.0
NO_LIMITS = {"per_minute": 0, "per_hour": 0, "per_day": 0, "per_month": 0, "min_gap_s": 0}
TWO_AN_HOUR = {**NO_LIMITS, "per_hour": 2}


@pytest.fixture
def sim_options() -> dict:
    return {"count": 2, "profile": "sim800"}


class Shop:
    """The daemon, its modems named in [[modems]] by the port of a virtual modem."""

    def __init__(self, tmp_path, clock: FakeClock, sim, modems: dict[str, str], *,
                 limits: dict | None = None, sims: list[dict] | None = None) -> None:
        self.clock = clock
        self.sim = sim
        self.ports = modems  # modem name -> virtual modem
        entries = [{"name": name, "port": sim.ports[port].path, "limits": limits or NO_LIMITS,
                    "command_timeout_s": 1.0, "send_timeout_s": 5.0, "check_interval_s": 0.5,
                    "registration_timeout_s": 5.0} for name, port in modems.items()]
        self.daemon = build_daemon(tmp_path, clock, 0, modems=entries, **({"sims": sims} if sims else {}))
        self.queue = self.daemon.queue
        self.daemon.start()
        assert self.daemon.wait_ready(15), self.daemon.status_line()
        for supervisor in self.daemon.supervisors:
            wait_settled(supervisor, sim.ports[modems[supervisor.name]].modem)

    def stop(self) -> None:
        self.daemon.stop()

    def status(self, message_id: int) -> str:
        return self.queue.get(message_id).status

    def wait_sent(self, message_id: int) -> None:
        wait_until(lambda: self.status(message_id) in ("sent", "delivered"), 10,
                   f"message {message_id} sent (is {self.status(message_id)})")

    def send(self, count: int, *, to: str = "+447700900123", via: str | None = None) -> list[int]:
        ids = [self.queue.enqueue(to, f"text {i}", sim=via).id for i in range(count)]
        for message_id in ids:
            self.wait_sent(message_id)
        return ids

    def wait_idle_until(self, modem: str, moment: float, *, since: float) -> None:
        """The event a negative check rests on: the modem's worker began, at wall-clock time `since`
        or later, a wait that ends at `moment` or later, so it sends nothing before then."""
        thread = f"{modem}-worker"

        def idle() -> bool:
            waiting = self.clock.waiting(thread)
            return waiting is not None and waiting[0] >= since and waiting[1] >= moment - 1e-6

        wait_until(idle, 10, f"{thread} idle until {moment} (waits {self.clock.waiting(thread)})")

    def wake(self) -> None:
        self.daemon.engine.wake_all()


@pytest.fixture
def shops(tmp_path, clock, sim):
    made: list[Shop] = []

    def make(modems: dict[str, str], **kwargs) -> Shop:
        shop = Shop(tmp_path, clock, sim, modems, **kwargs)
        made.append(shop)
        return shop

    yield make
    for shop in made:
        try:
            shop.stop()
        except Exception:
            pass


def swap_sims(sim) -> None:
    """Take the SIMs out of the two (switched-off) virtual modems and put each into the other."""
    one, two = sim.ports["sim1"].modem, sim.ports["sim2"].modem
    (one.iccid, one.imsi), (two.iccid, two.imsi) = (two.iccid, two.imsi), (one.iccid, one.imsi)


def test_a_sim_at_its_hourly_limit_moved_to_another_modem_stays_at_its_limit(shops, clock, sim):
    start = clock.time()
    first = shops({"till": "sim1", "door": "sim2"}, limits=TWO_AN_HOUR)
    first.send(2, via="till")  # the till's SIM has used its hour
    first.stop()
    swap_sims(sim)
    second = shops({"till": "sim1", "door": "sim2"}, limits=TWO_AN_HOUR)
    held = second.queue.enqueue("+447700900124", "from the moved SIM", sim="door").id
    second.wait_idle_until("door", start + HOUR, since=start)  # its SIM's hour is still used up
    assert second.status(held) == "queued"
    second.send(2, via="till")  # the other SIM, now in the till, has its own hour
    clock.advance(HOUR + 1)
    second.wake()
    second.wait_sent(held)


def test_renaming_the_modem_keeps_its_sims_counts(shops, clock):
    start = clock.time()
    first = shops({"till": "sim1"}, limits=TWO_AN_HOUR)
    first.send(2)
    first.stop()
    second = shops({"counter": "sim1"}, limits=TWO_AN_HOUR)
    held = second.queue.enqueue("+447700900123", "third").id
    second.wait_idle_until("counter", start + HOUR, since=start)
    assert second.status(held) == "queued"
    [shown] = status.describe([(s, second.daemon.engine.workers[s.name]) for s in second.daemon.supervisors])
    assert shown["limits"]["hour"] == {"used": 2, "left": 0, "cap": 2}  # the SIM's use, not a fresh modem's


def test_a_sims_own_limits_follow_it_to_another_modem(shops, clock, sim):
    moved = sim.ports["sim1"].modem.iccid
    own = [{"iccid": moved, "limits": {**NO_LIMITS, "per_hour": 1}}]
    first = shops({"till": "sim1", "door": "sim2"}, limits={**NO_LIMITS, "per_hour": 5}, sims=own)
    till = first.daemon.engine.workers["till"].windows
    wait_until(lambda: till.sim == f"iccid:{moved}", 10, "the till to hold the SIM")
    assert till.limits.per_hour == 1
    first.stop()
    swap_sims(sim)
    second = shops({"till": "sim1", "door": "sim2"}, limits={**NO_LIMITS, "per_hour": 5}, sims=own)
    door, till = (second.daemon.engine.workers[name].windows for name in ("door", "till"))
    wait_until(lambda: door.sim == f"iccid:{moved}" and till.sim is not None, 10, "each modem to hold its SIM")
    assert (door.limits.per_hour, till.limits.per_hour) == (1, 5)
    second.send(1, via="door")
    held = second.queue.enqueue("+447700900124", "over the SIM's own hour", sim="door").id
    second.wait_idle_until("door", clock.time() + HOUR, since=clock.time())
    assert second.status(held) == "queued"


def test_sticky_routing_follows_the_sim_to_another_modem(shops, clock, sim):
    first = shops({"till": "sim1", "door": "sim2"})
    [message] = first.send(1)
    sent_by = first.queue.get(message).sim
    first.stop()
    swap_sims(sim)
    second = shops({"till": "sim1", "door": "sim2"})
    other = "door" if sent_by == "till" else "till"  # the modem that holds that SIM now
    for message_id in second.send(3):
        assert second.queue.get(message_id).sim == other


def hour_used_up(shops, clock) -> Shop:
    """The till's SIM at its hourly limit, and a message queued behind it."""
    shop = shops({"till": "sim1"}, limits=TWO_AN_HOUR)
    start = clock.time()
    shop.send(2)
    shop.queue.enqueue("+447700900123", "queued before the jump")
    shop.wait_idle_until("till", start + HOUR, since=start)
    return shop


def step(shops, shop: Shop, clock, seconds: float, *, restart: bool) -> Shop:
    """NTP steps the wall clock, while the daemon runs or while it is down."""
    if restart:
        shop.stop()
    clock.jump(seconds)
    return shops({"till": "sim1"}, limits=TWO_AN_HOUR) if restart else shop


def held_for_one_hour(shop: Shop, clock, *ids: int) -> None:
    """The till waits out the rest of the hour of real time (and no more), then sends `ids`."""
    now = clock.time()
    shop.wake()
    shop.wait_idle_until("till", now + HOUR, since=now)
    shop.daemon.engine.sweep()  # expiry too reads the times
    assert [shop.status(i) for i in ids] == ["queued"] * len(ids)
    clock.advance(HOUR + 1)
    shop.wake()
    for message_id in ids:
        shop.wait_sent(message_id)


@pytest.mark.parametrize("restart", [False, True], ids=["running", "across a restart"])
def test_a_forward_jump_right_after_the_sends_does_not_let_the_limit_overrun(shops, clock, restart):
    shop = hour_used_up(shops, clock)
    code = shop.queue.enqueue("+447700900125", "your code is 1234", expires_in=2 * HOUR).id
    shop = step(shops, shop, clock, DAY, restart=restart)  # the sends now look a day old
    held_for_one_hour(shop, clock, 3, code)  # and the code does not expire at once


@pytest.mark.parametrize("restart", [False, True], ids=["running", "across a restart"])
def test_a_backward_jump_does_not_stall_sending_for_a_day(shops, clock, restart):
    shop = hour_used_up(shops, clock)
    shop = step(shops, shop, clock, -DAY, restart=restart)  # the sends and message 3 now look a day ahead
    later = shop.queue.enqueue("+447700900124", "queued after the jump").id
    held_for_one_hour(shop, clock, 3, later)


class StepRightAfterTheSweepLooked(FakeClock):
    """NTP steps the wall clock the moment the expiry sweep has looked for a step
    (`ClockJumps.check` reading the monotonic clock): the step lands between that look and the
    sweep's comparison of the clock with the stored expiry times."""

    def __init__(self) -> None:
        super().__init__()
        self._step: float | None = None

    def step_after_the_sweep_looks(self, seconds: float) -> None:
        self._step = seconds

    def monotonic(self) -> float:
        if self._step is not None and _looking_in_the_sweep():
            step, self._step = self._step, None
            self.jump(step)
        return super().monotonic()


def _looking_in_the_sweep() -> bool:
    frame = sys._getframe(2)
    if frame.f_code.co_name != "check":
        return False
    callers = []
    while frame is not None and len(callers) < 4:
        callers.append(frame.f_code.co_name)
        frame = frame.f_back
    return "sweep" in callers


def test_a_step_landing_right_after_the_sweep_looked_does_not_expire_a_code(tmp_path):
    clock = StepRightAfterTheSweepLooked()
    daemon = build_daemon(tmp_path, clock, 0)  # no modem: the scheduler's sweep is the only one looking
    daemon.start()
    try:
        since = clock.time()
        code = daemon.queue.enqueue("+447700900125", "your code is 1234", expires_in=2 * HOUR).id
        clock.step_after_the_sweep_looks(DAY)
        daemon.engine.sweep_soon()  # the sweep looks, the clock steps, the sweep compares
        wait_until(lambda: (clock.waiting("scheduler") or (0, 0))[0] >= since + DAY, 10, "a sweep after the step")
        assert daemon.queue.get(code).status == "queued"
        daemon.engine.sweep()  # the next look moves the code's expiry with the clock
        assert daemon.queue.get(code).expires_at.timestamp() == since + DAY + 2 * HOUR
        clock.advance(2 * HOUR)
        daemon.engine.sweep()
        assert daemon.queue.get(code).status == "expired"  # two hours after it was queued, not at once
    finally:
        daemon.stop()


def _recorded_or_waiting(thread: threading.Thread) -> bool:
    """`thread` is done, or waits in ClockJumps for the comparisons under way to end."""
    if not thread.is_alive():
        return True
    frame = sys._current_frames().get(thread.ident)
    while frame is not None:
        if frame.f_code.co_name == "_until_compared":
            return True
        frame = frame.f_back
    return False


def test_a_step_back_another_thread_records_while_the_sweep_compares_expires_no_code(tmp_path):
    """A worker's claim sees NTP's step back a day and moves the stored times with it just as the
    sweep, which read the clock before the step, compares that reading with the expiry times: it
    must not meet times moved to the new clock, which would make a code due two hours from now
    look a day overdue."""
    clock = FakeClock()
    daemon = build_daemon(tmp_path, clock, 0)  # not started: no scheduler sweeping on its own
    db.upgrade(daemon.db)
    engine, queue = daemon.engine, daemon.queue
    engine.clock_jumps.check()  # the boot's offset recorded, as at the start
    since = clock.time()
    code = queue.enqueue("+447700900125", "your code is 1234", expires_in=2 * HOUR).id
    expire_due = queue.expire_due
    claim = threading.Thread(target=engine.clock_jumps.check, name="a worker's claim")

    def step_while_the_sweep_compares(*args, **kwargs):
        clock.jump(-DAY)
        claim.start()
        wait_until(lambda: _recorded_or_waiting(claim), 10, "the claim's look at the clock")
        return expire_due(*args, **kwargs)

    queue.expire_due = step_while_the_sweep_compares
    try:
        engine.sweep()
    finally:
        queue.expire_due = expire_due
        claim.join(10)
    assert not claim.is_alive()
    assert queue.get(code).status == "queued"
    assert queue.get(code).expires_at.timestamp() == since - DAY + 2 * HOUR  # moved with the clock
    engine.sweep()
    assert queue.get(code).status == "queued"
    clock.advance(2 * HOUR)
    engine.sweep()
    assert queue.get(code).status == "expired"  # two hours after it was queued, not at once


def test_sends_of_an_earlier_boot_count_by_the_wall_clock_and_never_from_the_future(shops, clock):
    hour_used_up(shops, clock).stop()
    clock.reboot(boot="second-boot")  # the monotonic readings of the sends mean nothing now
    clock.jump(-DAY)  # and the wall clock starts a day behind (message 3 waits for NTP to set it)
    shop = shops({"till": "sim1"}, limits=TWO_AN_HOUR)
    later = shop.queue.enqueue("+447700900124", "queued after the boot").id
    held_for_one_hour(shop, clock, later)  # the sends counted as made just now: an hour, not a day


def test_the_sim_key_prefers_the_iccid_then_the_imsi_then_the_modem():
    assert sim_key("8944150000000000017", "234150000000001", "till") == "iccid:8944150000000000017"
    assert sim_key(None, "234150000000001", "till") == "imsi:234150000000001"
    assert sim_key("", None, "till") == "modem:till"


def test_an_upgrade_carries_the_sends_over_to_the_sim_the_modem_held(old_database, clock):
    from datetime import timedelta

    from sqlalchemy import text

    from gateway.sims.history import SendHistory
    from gateway.store import db

    sent = clock.now() - timedelta(minutes=10)
    with old_database("0008") as (engine, conn):
        conn.execute(text("INSERT INTO modems (name, state, iccid, imsi) VALUES "
                          "('till', 'ready', '8944150000000000017', '234150000000001'), ('door', 'ready', NULL, NULL)"))
        for message_id, modem in ((1, "till"), (2, "till"), (3, "door")):
            conn.execute(text("INSERT INTO messages (id, to_number, text, kind, priority, status, encoding, segments, "
                              "sim, source, attempts, created_at, not_before, updated_at) VALUES (:id, "
                              "'+447700900123', 'x', 'transactional', 1, 'sent', 'gsm7', 1, :modem, 'cli', 1, "
                              ":t, :t, :t)"),
                         {"id": message_id, "modem": modem, "t": sent.replace(tzinfo=None)})
            conn.execute(text("INSERT INTO message_parts (message_id, seq, total, status, modem, submitted_at) "
                              "VALUES (:id, 1, 1, 'sent', :modem, :t)"), {"id": message_id, "modem": modem,
                                                                          "t": sent.replace(tzinfo=None)})
    db.upgrade(engine)
    history = SendHistory(db.sessions(engine), clock)
    assert len(history.times("iccid:8944150000000000017", HOUR)) == 2  # the till's SIM keeps its hour
    assert len(history.times("modem:door", HOUR)) == 1  # a SIM never identified: by its modem
    assert history.times("iccid:8944150000000000017", 60) == []  # ten minutes ago, by the wall clock


@pytest.mark.parametrize(("sims", "error"), [
    ([{"limits": {"per_hour": 1}}], "sims[0]: give iccid"),
    ([{"iccid": "12ab"}], "sims[0].iccid '12ab' must be 18 to 22 digits"),
    ([{"imsi": "23415x"}], "sims[0].imsi '23415x' must be"),
    ([{"iccid": "8944150000000000017"}, {"iccid": "8944150000000000017"}], "sims iccid 8944150000000000017 is given to two"),
])
def test_a_bad_sims_entry_is_refused_with_what_to_fix(sims, error):
    from gateway.core.config import ConfigError, from_dict

    with pytest.raises(ConfigError, match=re.escape(error)):
        from_dict({"sims": sims})


def test_a_read_that_shows_less_of_the_same_sim_keeps_its_windows(tmp_path, clock):
    from gateway.outbound.limits import Limits
    from gateway.sims import history
    from gateway.sims.history import SendHistory
    from gateway.sims.windows import SimWindows
    from gateway.store import db
    from modem.session import Identity

    engine = db.make_engine(f"sqlite:///{tmp_path / 'gsmgw.db'}")
    db.upgrade(engine)
    windows = SimWindows("till", SendHistory(db.sessions(engine), clock), clock, Limits(per_hour=2))
    full = Identity("SIMCOM", "SIM800", "1", "861234000000017", "234150000000001", "8944150000000000017")
    windows.follow(full)
    with engine.begin() as conn:
        history.record(conn, {**windows.stamped("+447700900123"), "part_id": None})
    windows.sent()
    for less in (Identity("SIMCOM", "SIM800", "1", "861234000000017", "234150000000001", None), None):
        windows.follow(less)  # AT+CCID timed out, or nothing was read
        assert windows.sim == "iccid:8944150000000000017" and windows.usage()[0].used == 1
    windows.follow(Identity("SIMCOM", "SIM800", "1", "861234000000017", "234150000000002", None))
    assert windows.sim == "imsi:234150000000002" and windows.usage()[0].used == 0  # another SIM
    engine.dispose()
