"""One worker per modem: claim the most urgent due message, wait for a limit slot, send part by part.

The worker never leaves its modem idle while a message is due and the limits allow, and never
resends a part the network already accepted: each part's fate is committed before the next one goes.
Between two sends there is one commit: the next part `submitting`, which also records the part the
modem answered just before as `sent` (so no answered part waits for a later commit, and no second
commit per send is needed). During a message's last part the claim of the modem's next message is
committed and its send-time check (consent, quiet hours) made while the modem works on the PDU (a
real modem takes seconds per AT+CMGS), so the next send can start the moment the modem answers. The
expiry check runs just before a message goes, and the send-time check again inside the commit that
marks its first part `submitting`: that one decides (an earlier "no" only spares the modem a command). Each outcome (a part's fate with its message's) is one transaction; an error
the worker does not expect settles what it claimed as a restart would, and what it could not settle
the engine's sweep does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta

from sqlalchemy import Connection

from gateway.core.clock import Clock
from gateway.core.retry import RetryPolicy
from gateway.outbound.claims import Accepted, Claimed
from gateway.outbound.models import MessageStatus, PartStatus
from gateway.outbound.queue import Queue
from gateway.outbound.send_outcomes import Held, obey, refused, sim_refused
from gateway.outbound.transitions import NOT_SENDING
from gateway.outbound.verdict import Verdict
from gateway.sims.windows import SimWindows
from modem.errors import (
    CmeError,
    CmsError,
    CommandTimeout,
    ErrorClass,
    InvalidNumber,
    ModemDisconnected,
    ModemError,
    PromptTimeout,
    SubmitUncertain,
)
from modem.pdu import SubmitPart, encode_submit
from modem.supervisor import ModemState, ModemSupervisor

log = logging.getLogger("gsmgw.worker")
PROMPT_TIMEOUT = 10.0  # the transport's wait for AT+CMGS's `> ` prompt
DATABASE_WAIT = 30.0  # the longest a commit waits for the database's lock (db.make_engine)


PreSendCheck = Callable[[Claimed], Verdict]  # may also offer within(connection, claimed): run in the commit


class ModemWorker:
    def __init__(self, supervisor: ModemSupervisor, queue: Queue, windows: SimWindows, clock: Clock, *,
                 ref16: bool = False, retry: RetryPolicy | None = None,
                 may_take: Callable[[str], Callable[..., bool]] | None = None,
                 pre_send: PreSendCheck | None = None,
                 wall_clock: Callable[[], AbstractContextManager[datetime]] | None = None,
                 poll_interval: float = 1.0,
                 resend_unknown: bool = False) -> None:
        self.supervisor = supervisor
        self.name = supervisor.name
        self.queue = queue
        self.windows = windows  # the limits and recent sends of the SIM the modem holds
        self.clock = clock
        self.ref16 = ref16
        self.retry = retry or RetryPolicy()
        self.may_take = may_take
        self.pre_send = pre_send
        # the wall clock as the stored times know it, held while a claim compares with them
        # (ClockJumps.held: a step moves them first, and not during the claim)
        self.wall_clock = wall_clock or (lambda: nullcontext(clock.now()))
        self.poll_interval = poll_interval
        self.resend_unknown = resend_unknown
        self.wake = threading.Event()
        self.busy_seconds = 0.0  # time spent inside AT+CMGS exchanges (for utilisation figures)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next: Claimed | None = None  # claimed while the modem sent the last message's last part
        self._accepted: Accepted | None = None  # recorded while the modem sends the next part
        self._ahead: int | None = None  # the message being sent was claimed ahead (it may step aside)
        self._checked: tuple[Claimed, Verdict] | None = None  # its send-time check, made while the modem sent

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Claim nothing new; the AT exchange in flight finishes."""
        self._stop.set()
        self.wake.set()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def next_slot(self) -> float:
        """When (wall clock) the limits next allow a part; now itself when they allow one already."""
        return self.clock.time() + self.windows.wait()

    @property
    def holds(self) -> str:
        """The identity of the SIM the modem holds, as its windows know it or its last init read it
        (routing names SIMs so)."""
        return self.windows.sim or self.windows.key(self.supervisor.identity)

    # ---- loop -------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self._step()
                except Exception:  # the worker must outlive any single bad message or database hiccup
                    log.exception("%s: worker step failed", self.name)
                    self.clock.wait(self._stop, 1.0)
        finally:
            try:
                self._give_back_next("gateway stopping")
            except Exception:  # a restart's recovery puts it back anyway
                log.exception("%s: could not give back the message claimed ahead", self.name)

    def _step(self) -> None:
        looked = self.clock.monotonic()  # what the step reads (state, limits, queue) is as of now
        if self.supervisor.state is not ModemState.READY:
            self._give_back_next(f"{self.name} is {self.supervisor.state.value}")
            self._idle(self.poll_interval, since=looked)
            return
        self.windows.follow(self.supervisor.identity)
        wait = self.windows.wait()
        if wait > 0:
            self._give_back_next("waiting for the limits")
            self._idle(wait, since=looked)
            return
        claimed = self._take_next() or self._claim()
        if claimed is None:
            self._idle(self.poll_interval, since=looked)
            return
        try:
            while claimed is not None:
                self._send(claimed)
                claimed = self._next_in_line()
            self._record_accepted()
        except Exception:
            self._settle_after_error(claimed)
            raise

    @property
    def longest_send(self) -> float:
        """The longest a claimed message can stay `sending` while this worker is alive: two AT+CMGS
        exchanges (the message claimed ahead waits for the one in flight) and two waits for the
        database's lock. A message `sending` longer than this was lost by its worker."""
        settings = self.supervisor.settings
        return 2 * (PROMPT_TIMEOUT + settings.send_timeout_s + settings.command_timeout_s + DATABASE_WAIT)

    def _settle_after_error(self, claimed: Claimed | None) -> None:
        """After an error the worker did not expect (a database error after the lock wait): record
        what the network accepted, then settle every message it holds as a restart would (queued
        again, or `unknown` if a part is in doubt). What fails here too is left to the sweep."""
        try:
            self._record_accepted()
        except Exception:
            log.exception("%s: could not record the part the modem accepted", self.name)
        accepted, self._accepted = self._accepted, None
        held = [c.id for c in (claimed, self._collect_next()) if c is not None]
        if accepted is not None and accepted.message_id not in held:
            held.append(accepted.message_id)
        if not held:
            return
        try:
            self.queue.settle(held, resend_unknown=self.resend_unknown, detail="settled after a worker error")
        except Exception:
            log.exception("%s: could not settle messages %s; the sweep will", self.name, held)

    def _next_in_line(self) -> Claimed | None:
        """The message claimed ahead, to go at once after the one just sent: the limits let it
        through when it was claimed, so nothing is read between the modem's answer and its AT+CMGS
        but the `submitting` commit."""
        if self._accepted is None or self._stop.is_set() or self.supervisor.state is not ModemState.READY:
            return None
        return self._take_next()

    def _record_accepted(self) -> None:
        """Commit a postponed `sent` now (nothing else is about to carry it)."""
        if self._accepted is not None:
            accepted = self._accepted
            self.queue.part_sent(accepted.part_id, accepted.reference, last=accepted.last)
            self._accepted = None

    def _take_accepted(self) -> Accepted | None:
        accepted, self._accepted = self._accepted, None
        return accepted

    def _routing(self) -> Callable[..., bool]:
        return self.may_take(self.name) if self.may_take else (lambda m: True)

    def _claim(self) -> Claimed | None:
        with self.wall_clock() as now:
            return self.queue.claim(self.name, may_take=self._routing(), now=now)

    def _claim_ahead(self) -> Callable[..., bool] | None:
        """The routing predicate for claiming the next message while the modem sends a message's
        last part, if the limits will let it go right after (None: claim nothing ahead)."""
        if self._next is not None or self._stop.is_set():
            return None
        return self._routing() if self.windows.wait() <= 0 else None

    def _collect_next(self) -> Claimed | None:
        claimed, self._next = self._next, None
        return claimed

    def _take_next(self) -> Claimed | None:
        """The message claimed ahead; its first part's `submitting` commit makes it step aside if a
        more urgent message came meanwhile."""
        claimed = self._collect_next()
        self._ahead = claimed.id if claimed is not None else None
        return claimed

    def _give_back_next(self, reason: str) -> None:
        """A message claimed ahead goes back to the queue unchanged (modem down, stopping, limits)."""
        claimed = self._collect_next()
        if claimed is not None:
            self.queue.release(claimed.id, reason)

    def _idle(self, seconds: float, *, since: float) -> None:
        """Wait `seconds` counted from `since` (monotonic), when the step read what it found: the
        time its reads took is not waited again, so a message that fell due meanwhile (a long
        claim, a clock stepped forward) is looked for at once."""
        self.clock.wait(self.wake, seconds - (self.clock.monotonic() - since))
        self.wake.clear()

    def _send(self, claimed: Claimed) -> None:
        if claimed.expires_at_monotonic is not None and claimed.expires_at_monotonic <= self.clock.monotonic():
            self._record_accepted()
            self.queue.finish(claimed.id, MessageStatus.EXPIRED, "expired before it could be sent")
            return
        if self.pre_send is not None and not self._allowed(claimed):
            return  # what is known before the prompt (quiet hours, a STOP) costs the modem no command
        try:
            # the validity period asked for is the queue's report wait: no report comes after it
            parts = encode_submit(claimed.to_number, claimed.text, concat_ref=claimed.concat_ref, ref16=self.ref16,
                                  validity_minutes=self.queue.validity_minutes)
        except (InvalidNumber, ValueError) as exc:
            self._record_accepted()
            self.queue.finish(claimed.id, MessageStatus.FAILED, f"cannot encode: {exc}")
            return
        to_send = [part for part in parts if part.seq in claimed.pending_seqs]  # others: went or settled earlier
        if not to_send:  # its parts say what it is (sent, or unknown if one is in doubt)
            self._record_accepted()
            self.queue.settle([claimed.id], resend_unknown=False, detail="no part left to send")
            return
        for part in to_send:
            if not self._wait_for_slot(claimed):
                return
            if not self._submit(claimed, claimed.part_ids[part.seq], part, first=part is to_send[0],
                                last=part is to_send[-1]):
                return

    def _allowed(self, claimed: Claimed) -> bool:
        """The send-time check before AT+CMGS; one with `within` runs again in the `submitting` commit.
        A message claimed ahead was checked while the modem sent the one before (`_check_ahead`), so
        the modem does not wait for it; the check in the commit is the one a STOP cannot slip past."""
        assert self.pre_send is not None
        checked, self._checked = self._checked, None
        verdict = checked[1] if checked is not None and checked[0] is claimed else self.pre_send(claimed)
        if not verdict.stops:
            return True
        self._record_accepted()
        obey(self.queue, claimed, verdict)
        return False

    def _recheck(self, claimed: Claimed) -> Callable[[Connection], Verdict | None] | None:
        """The send-time check inside the first part's `submitting` commit, if it can run on that
        commit's connection (None there means go): nothing can change what it read before the part
        is marked, so a STOP that arrived any time before is obeyed. A check that says no only there
        (a STOP since the check before the prompt) costs the modem one AT+CMGS cancelled with ESC."""
        within = getattr(self.pre_send, "within", None)
        if within is None:
            return None
        return lambda conn: verdict if (verdict := within(conn, claimed)).stops else None

    def _check_ahead(self) -> None:
        """The send-time check of the message just claimed ahead, while the modem still works on the
        last PDU: between the modem's answer and the next AT+CMGS only the `submitting` commit runs."""
        claimed = self._next
        if claimed is None or self.pre_send is None:
            return
        try:
            self._checked = (claimed, self.pre_send(claimed))
        except Exception:  # the answer must still be read; the check runs again before the send
            log.exception("%s: could not check message %d ahead", self.name, claimed.id)

    def _wait_for_slot(self, claimed: Claimed) -> bool:
        """Before each part: the limits allow it now (a long message respects per-minute caps too),
        or the message goes back to the queue until they do, rather than wait in `sending` (which
        only a send in progress may); being partly sent, only this SIM takes it again. A message
        claimed ahead was let through by the limits while the modem sent the part before, with that
        part counted (`_claim_ahead`): since then time has only moved on, so its first part goes
        without asking them again (a console change of the limits reaches the message after)."""
        wait = 0.0 if self._ahead == claimed.id else self.windows.wait()
        if wait <= 0 and not self._stop.is_set():
            return True
        self._record_accepted()
        if self._stop.is_set():
            self.queue.release(claimed.id, "gateway stopping")
        else:
            until = self.clock.now() + timedelta(seconds=wait)
            self.queue.release(claimed.id, "waiting for the limits", not_before=until)
        return False

    def _submit(self, claimed: Claimed, part_id: int, part: SubmitPart, *, first: bool, last: bool) -> bool:
        """Send one part; record its fate (the message's too after its last part). False when the
        message must not continue now.

        The `submitting` commit, which also records the part answered before as `sent`, runs
        while the modem answers AT+CMGS with its prompt, and the PDU goes only once that commit is
        done; the claim of the next message is committed while the modem works on the last PDU."""
        after = self._take_accepted()
        yield_to = claimed.priority if self._ahead == claimed.id else None
        self._ahead = None
        check = self._recheck(claimed) if first else None  # the send-time check, first part only

        def record_submitting() -> None:
            nonlocal after
            held = self.queue.part_submitting(part_id, self.name, after=after, unless_more_urgent_than=yield_to,
                                              check=check, send=lambda: self.windows.stamped(claimed.to_number))
            after = None
            if held is not None:
                raise Held(held)
            self.windows.sent()

        def while_sending() -> None:
            ahead = self._claim_ahead() if last else None
            if ahead is None:
                return
            try:
                with self.wall_clock() as now:
                    self._next = self.queue.claim(self.name, may_take=ahead, now=now)
            except Exception:  # the answer must still be read; the next claim is made later
                log.exception("%s: could not claim ahead while the modem sends", self.name)
                return
            self._check_ahead()

        started = time.perf_counter()
        try:
            with self.supervisor.session() as session:
                reference = session.submit(part, before_pdu=record_submitting, after_pdu=while_sending)
        except Held as held:  # the modem was told ESC: nothing went
            if isinstance(held.reason, Verdict):
                obey(self.queue, claimed, held.reason)
            elif held.reason == NOT_SENDING:
                log.info("%s: message %d was settled while it was being sent; stopped", self.name, claimed.id)
            else:
                self.queue.release(claimed.id, str(held.reason))
            return False
        except SubmitUncertain as exc:
            self.queue.finish(claimed.id, MessageStatus.UNKNOWN, str(exc), part=(part_id, PartStatus.UNKNOWN))
            self.supervisor.check_now()
            return False
        except CmsError as exc:
            if exc.error_class in (ErrorClass.SIM, ErrorClass.NETWORK):
                return sim_refused(self.supervisor, self.queue, claimed, part_id, exc)
            return refused(self.queue, self.retry, self.name, claimed, part_id, exc,
                           permanent=exc.error_class in (ErrorClass.PERMANENT,))
        except CmeError as exc:
            return refused(self.queue, self.retry, self.name, claimed, part_id, exc, permanent=False)
        except (PromptTimeout, CommandTimeout, ModemDisconnected, ModemError) as exc:
            self.supervisor.check_now()
            return refused(self.queue, self.retry, self.name, claimed, part_id, exc, permanent=False)
        finally:
            self.busy_seconds += time.perf_counter() - started
            if after is not None:  # the modem failed before the commit that carries it: recorded next
                self._accepted = after
        accepted = Accepted(part_id, reference, last, claimed.id)
        self._accepted = accepted  # recorded by the next part's `submitting` commit...
        if last and self._next is None:
            self._record_accepted()  # ...or now, when nothing follows at once
        return True
