"""Keeps one modem in service without restarting the daemon.

A loop per modem: open the port, initialise, sweep the SIM, wait for registration, then watch.
A modem that stops answering (hung) or whose port vanishes (USB unplug) is noticed, reported with
the reason, closed, and reopened with backoff when it returns; the port path is resolved anew on
every open, so a udev symlink that now points at a new tty is followed. Everything that sends goes
through `with supervisor.session() as s:` so a caller never talks to a modem that is not ready.

A SIM whose sends the SIM or its network refuses (barred, not subscribed, network failure) is taken
out of rotation for `rest_s` (`rest`): it sends nothing meanwhile, so its work goes to other SIMs. The
configured PIN is tried at most once per SIM until it changes (`modem.pin`), however often the loop
reconnects.

A modem configured by `imei` or `iccid` is looked for among the serial ports at every connect
(`modem.discovery`), so it keeps its name on another USB socket. A connection that fails climbs the
recovery ladder (`modem.recovery`: AT resync, AT+CFUN=1,1, reopening the port, a power cycle where the
modem has a switch), each step logged and kept in `recovery` for the status page. An `indicator` (the
modem's LED, `modem.gpio`) is told the state and whether a send is under way.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator

from modem import discovery
from modem.errors import CmsError, CommandFailed, CommandTimeout, ModemDisconnected, ModemError, NotRegistered
from modem.errors import SimError, not_ready
from modem.pin import PinMemory
from modem.recovery_steps import RecoverySteps
from modem.session import Health, Identity, InboundHandler, ModemSession
from modem.supervision import Indicator, ModemSettings, ModemState, PowerSwitch, RealTime, Timing
from modem.transport import AtTransport, SerialFactory

log = logging.getLogger("gsmgw.modem")


FULL_CHECK_EVERY = 6  # operator, SMSC and SIM storage once a minute at the default interval
RETRY_SWEEP_EVERY = 5  # full checks between sweeps for SMS a handler refused (5 minutes by default)
MEMORY_FULL = 322  # +CMS ERROR: memory full


def sweep_due(*, asked: bool, wanted: bool, fresh_used: int | None, left: int, retry_time: bool) -> bool:
    """Whether this check reads the SIM with AT+CMGL. Only when there is a reason: asked, a memory-full
    signal, more stored (by a fresh count) than the last sweep left there (SMS whose +CMTI we never
    saw), or now and then while something the handler refused is still there. A count that only
    says "not empty" is no reason: it would list the SIM every check."""
    if asked or wanted:
        return True
    if fresh_used is not None and fresh_used > left:
        return True
    return left > 0 and retry_time


class ModemSupervisor(RecoverySteps):
    """One modem's life: connect, initialise, serve, detect trouble, recover."""

    def __init__(
        self,
        settings: ModemSettings,
        handler: InboundHandler,
        *,
        on_state: Callable[[str, ModemState, str], None] | None = None,
        power: PowerSwitch | None = None,
        indicator: Indicator | None = None,
        claims: discovery.PortClaims | None = None,
        open_serial: SerialFactory | None = None,
        pin_memory: PinMemory | None = None,
        clock: Timing | None = None,
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self.handler = handler
        self.state = ModemState.STOPPED
        self.reason = ""
        self.identity: Identity | None = None
        self.health: Health | None = None
        self.ready_since: float | None = None
        self._on_state = on_state
        self._power = power
        self._indicator = indicator
        self._claims = claims if claims is not None else discovery.PortClaims()
        if settings.port and not (settings.imei or settings.iccid):
            self._claims.claim(settings.port, self.name)  # from the start: no scan probes it meanwhile
        self.port = settings.port  # where the modem was last found
        self.recovery = ""  # the last recovery step taken, while recovering
        self._power_cycles: list[float] = []
        self._sending = 0
        self._sending_lock = threading.Lock()
        self._sending_done = threading.Condition(self._sending_lock)  # a restart waits for sends in flight
        self._restart_asked = threading.Event()
        self._open_serial = open_serial
        self._session: ModemSession | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._sweep_wanted = threading.Event()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._last_trouble: tuple[ModemState, str] | None = None
        self._transport: AtTransport | None = None
        self._pin_memory = pin_memory if pin_memory is not None else PinMemory()  # outlives reconnects
        self._clock: Timing = clock if clock is not None else RealTime()
        self._rest_until: float | None = None
        self._rest_reason = ""
        self._rest_lock = threading.Lock()  # a rest and a health check's READY never cross

    # ---- public -----------------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-supervisor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 8.0, grace: float = 4.0) -> None:
        """Stop watching and close the port. The AT exchange in flight gets `grace` seconds to
        finish; a modem that does not answer is then cut off, so shutdown never hangs on it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(min(grace, timeout))
            transport = self._transport
            if self._thread.is_alive() and transport is not None:
                transport.close()  # fails the waiting command at once
            self._thread.join(max(0.0, timeout - grace))
        self._thread = None

    def wait_for(self, states: set[ModemState], timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.state in states, timeout)

    def wait_ready(self, timeout: float) -> bool:
        return self.wait_for({ModemState.READY}, timeout)

    @contextlib.contextmanager
    def session(self) -> Iterator[ModemSession]:
        """The live session, only while the modem is ready; ModemError otherwise."""
        session = self._session
        if session is None or self.state is not ModemState.READY:
            raise ModemError(f"{self.name}: not ready ({self.state.value}{': ' + self.reason if self.reason else ''})")
        self._count_sending(+1)
        try:
            yield session
        except ModemDisconnected:
            self._wake.set()
            raise
        except ModemError as exc:
            if _memory_full(exc):
                self.sweep_soon()
            raise
        finally:
            self._count_sending(-1)
            if session.needs_reinit:  # a restart this use noticed: set up again now, not at the next check
                self._wake.set()

    def _count_sending(self, change: int) -> None:
        with self._sending_lock:
            self._sending += change
            sending = self._sending > 0
            self._sending_done.notify_all()
        if self._indicator is not None:
            self._indicator.show(self.state.value, sending)

    def sweep_soon(self) -> None:
        """Read (and empty) the SIM's SMS memory at the next moment the watch loop can."""
        self._sweep_wanted.set()
        self._wake.set()

    def restart(self) -> None:
        """Restart the modem (AT+CFUN=1,1) as the recovery ladder's reset step does, then connect and
        initialise it again: asked for by a person. A send in flight finishes first; nothing new is
        given to the modem meanwhile."""
        self._restart_asked.set()
        self._wake.set()

    def check_now(self) -> None:
        """Ask for an immediate health check (after a command timed out, say)."""
        self._wake.set()

    def rest(self, reason: str) -> None:
        """The SIM or its network refused a send: out of rotation for `rest_s`, so that other SIMs
        take the work; back in service by itself afterwards."""
        seconds = self.settings.rest_s
        with self._rest_lock:
            self._rest_until = self._clock.time() + seconds
            self._rest_reason = f"{reason}; out of rotation for {seconds:g} s"
            if self.state is ModemState.READY:
                self._set_state(ModemState.OUT_OF_ROTATION, self._rest_reason)

    def _resting(self) -> bool:
        if self._rest_until is not None and self._clock.time() >= self._rest_until:
            self._rest_until = None
            log.info("%s: back in rotation", self.name)
        return self._rest_until is not None

    def _serving(self, state: ModemState, reason: str = "") -> None:
        """READY (or NO_NETWORK) as health says, unless the SIM is resting."""
        with self._rest_lock:
            if self._resting():
                self._set_state(ModemState.OUT_OF_ROTATION, self._rest_reason)
            else:
                self._set_state(state, reason)

    # ---- the loop ---------------------------------------------------------------------------
    def _set_state(self, state: ModemState, reason: str = "") -> None:
        with self._changed:
            changed = state is not self.state or reason != self.reason
            self.state, self.reason = state, reason
            self.ready_since = time.monotonic() if state is ModemState.READY else None
            self._changed.notify_all()
        if changed:
            if state is ModemState.READY:
                self.recovery = ""
            self._log_state(state, reason)
            if self._indicator is not None:
                self._indicator.show(state.value, self._sending > 0)
            if self._on_state is not None:
                self._on_state(self.name, state, reason)

    def _log_state(self, state: ModemState, reason: str) -> None:
        """Trouble is logged once per distinct cause, not on every reconnect attempt."""
        quiet = state in (ModemState.CONNECTING, ModemState.INITIALISING, ModemState.STOPPED)
        if state is ModemState.READY:
            self._last_trouble = None
            log.info("%s: ready", self.name)
        elif quiet:
            log.debug("%s: %s", self.name, state.value)
        elif (state, reason) != self._last_trouble:
            self._last_trouble = (state, reason)
            log.warning("%s: %s%s", self.name, state.value, f" ({reason})" if reason else "")

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            if self._restart_asked.is_set():
                self._restart_asked.clear()
                failures = 0
                self._clock.wait(self._stop, self._restart_on_request())
                continue
            served = self._serve_once()
            if self._stop.is_set():
                break
            if self._restart_asked.is_set():
                continue
            # a connection that served and was then lost is the first failure of a new series
            failures = 1 if served else failures + 1
            plan, unanswered = self._recover(failures)
            while unanswered and not self._stop.is_set():  # no use reconnecting: the next rung at once
                failures += 1
                plan, unanswered = self._recover(failures)
            self._clock.wait(self._stop, plan.delay)
        self._set_state(ModemState.STOPPED)

    def _serve_once(self) -> bool:
        """One connection's life. Returns True if the modem was in service at some point."""
        self._set_state(ModemState.CONNECTING, self.reason)
        events_stop = threading.Event()
        events: threading.Thread | None = None
        served = False
        transport: AtTransport | None = None
        try:
            self.port = self._locate()
            transport = self._step_transport()
            self._transport = transport
            transport.open()
            self._set_state(ModemState.INITIALISING)
            session = ModemSession(transport, self.settings, pin_memory=self._pin_memory, sim_key=self._sim_key())
            session.on_settings_lost = self._wake.set
            try:
                session.init()
            except SimError:
                with contextlib.suppress(ModemError):  # the modem itself answers: say what it is
                    self.identity = session.identity()
                raise
            self.identity = session.identity()
            events = threading.Thread(target=self._events, args=(session, events_stop),
                                      name=f"{self.name}-events", daemon=True)
            events.start()
            self._sweep(session)
            self._session = session
            self._register(session)
            served = True
            self._watch(session)
        except SimError as exc:
            self._set_state(ModemState.SIM_ERROR, str(exc))
        except ModemDisconnected as exc:
            self._set_state(ModemState.DISCONNECTED, str(exc))
        except CommandTimeout as exc:
            self._set_state(ModemState.HUNG, f"no answer: {exc}")
        except ModemError as exc:
            self._set_state(ModemState.HUNG, str(exc))
        finally:
            self._session = None
            events_stop.set()
            if transport is not None:
                transport.close()
            self._transport = None
            if events is not None:
                events.join(timeout=5)
        return served

    def _sim_key(self) -> str:
        """The PIN memory's key for a SIM whose ICCID can't be read: where it sits, or the modem's name
        when the modem is found by identity (its port may change)."""
        return f"port:{self.settings.port}" if self.settings.port else f"modem:{self.name}"

    def _sweep(self, session: ModemSession) -> None:
        """The stored SMS, read at start: a modem whose SMS service is not up yet says "not yet" (CMS
        500), and then settings and sweep are made again at the next check (or its `SMS Ready`)."""
        try:
            session.sweep(self.handler)
        except CommandFailed as exc:
            if not not_ready(exc):
                raise
            log.info("%s: SMS storage not ready yet (%s)", self.name, exc)
            session.needs_sms_setup = True

    def _register(self, session: ModemSession) -> None:
        try:
            self.health = session.wait_registered(self.settings.registration_timeout_s, stop=self._stop)
            self._serving(ModemState.READY)
        except NotRegistered as exc:
            self._set_state(ModemState.NO_NETWORK, str(exc))

    def _watch(self, session: ModemSession) -> None:
        """Health checks until the modem is lost or we are stopped: registration and signal every
        check (their first command is also the hang probe), operator, SMSC and storage every
        FULL_CHECK_EVERY checks or when asked (check_now), and the SIM's memories read when
        `sweep_due` finds a reason."""
        transport = session.transport
        checks = full_checks = 0
        while not self._stop.is_set():
            asked = self._wake.wait(self.settings.check_interval_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            if self._restart_asked.is_set():
                self._leave_for_restart()
                return
            if not transport.connected:
                raise ModemDisconnected(f"{self.name}: port lost")
            if session.needs_reinit:
                log.warning("%s: the modem restarted; initialising again", self.name)
                self._set_state(ModemState.INITIALISING, "modem restarted")
                session.init()
                session.sweep(self.handler)
            elif session.needs_sms_setup:
                log.info("%s: SMS service ready; SMS settings made again", self.name)
                session.sms_setup()
                self._sweep(session)
            full = asked or self.health is None or checks % FULL_CHECK_EVERY == 0
            self.health = session.health(None if full else self.health)
            checks += 1
            full_checks += full
            if self.health.registered:
                self._serving(ModemState.READY)
            else:
                self._serving(ModemState.NO_NETWORK, f"registration: {self.health.registration}")
            wanted = self._sweep_wanted.is_set()
            if sweep_due(asked=asked, wanted=wanted, fresh_used=self.health.storage_used if full else None,
                         left=session.left_on_sim, retry_time=full and full_checks % RETRY_SWEEP_EVERY == 0):
                self._sweep_wanted.clear()
                self._sweep(session)

    def _leave_for_restart(self) -> None:
        """Out of service (no new send starts), then wait for the sends in flight to be answered."""
        self._set_state(ModemState.INITIALISING, "restart asked")
        limit = self.settings.send_timeout_s + self.settings.command_timeout_s
        with self._sending_done:
            self._sending_done.wait_for(lambda: self._sending == 0, limit)

    def _events(self, session: ModemSession, stop: threading.Event) -> None:
        session.run_events(self.handler, stop)
        if not session.transport.connected:
            self._wake.set()  # tell the watch loop at once, not at the next check


def _memory_full(exc: BaseException) -> bool:
    """+CMS ERROR: 322, or a failed send caused by it."""
    cause = getattr(exc, "cause", exc)
    return isinstance(cause, CmsError) and cause.code == MEMORY_FULL
