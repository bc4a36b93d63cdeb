"""One worker per modem: claim the most urgent due message, wait for a limit slot, send part by part.

The worker never leaves its modem idle while a message is due and the limits allow, and never
resends a part the network already accepted: each part's fate is committed before the next one goes.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from collections.abc import Callable
from dataclasses import dataclass

from gateway.clock import Clock
from gateway.limits import Limits, next_slot, prune
from gateway.models import MessageStatus
from gateway.queue import Claimed, Queue
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

@dataclass(frozen=True)
class Verdict:
    """What the send-time check (consent, quiet hours, frequency cap) says about a claimed message."""

    action: str  # "send", "suppress" (never sent: opted out, capped) or "defer" (wait until `until`)
    reason: str = ""
    until: datetime | None = None


SEND = Verdict("send")
PreSendCheck = Callable[[Claimed], Verdict]


class RetryPolicy:
    def __init__(self, *, max_attempts: int = 6, first_delay: float = 5.0, max_delay: float = 300.0) -> None:
        self.max_attempts = max_attempts
        self.first_delay = first_delay
        self.max_delay = max_delay

    def delay(self, attempts: int) -> float:
        return min(self.max_delay, self.first_delay * 2 ** max(0, attempts - 1))


class ModemWorker:
    def __init__(self, supervisor: ModemSupervisor, queue: Queue, limits: Limits, clock: Clock, *,
                 ref16: bool = False, retry: RetryPolicy | None = None,
                 may_take: Callable[[str], Callable[..., bool]] | None = None,
                 pre_send: PreSendCheck | None = None, poll_interval: float = 1.0) -> None:
        self.supervisor = supervisor
        self.name = supervisor.name
        self.queue = queue
        self.limits = limits
        self.clock = clock
        self.ref16 = ref16
        self.retry = retry or RetryPolicy()
        self.may_take = may_take
        self.pre_send = pre_send
        self.poll_interval = poll_interval
        self.wake = threading.Event()
        self.busy_seconds = 0.0  # time spent inside AT+CMGS exchanges (for utilisation figures)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._times: list[float] = []

    def start(self) -> None:
        since = self.clock.time() - max(self.limits.longest_window, self.limits.min_gap_s)
        self._times = self.queue.submission_times(self.name, datetime.fromtimestamp(since, UTC))
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
        return next_slot(self._times, self.limits, self.clock.time())

    # ---- loop -------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except Exception:  # the worker must outlive any single bad message or database hiccup
                log.exception("%s: worker step failed", self.name)
                self.clock.wait(self._stop, 1.0)

    def _step(self) -> None:
        if self.supervisor.state is not ModemState.READY:
            self._idle(self.poll_interval)
            return
        now = self.clock.time()
        slot = self.next_slot()
        if slot > now:
            self._idle(slot - now)
            return
        predicate = self.may_take(self.name) if self.may_take else (lambda m: True)
        claimed = self.queue.claim(self.name, may_take=predicate)
        if claimed is None:
            self._idle(self.poll_interval)
            return
        self._send(claimed)

    def _idle(self, seconds: float) -> None:
        self.clock.wait(self.wake, seconds)
        self.wake.clear()

    def _send(self, claimed: Claimed) -> None:
        if self.pre_send is not None and not self._allowed(claimed):
            return
        try:
            parts = encode_submit(claimed.to_number, claimed.text, concat_ref=claimed.concat_ref, ref16=self.ref16)
        except (InvalidNumber, ValueError) as exc:
            self.queue.finish(claimed.id, MessageStatus.FAILED, f"cannot encode: {exc}")
            return
        for part in parts:
            if part.seq not in claimed.pending_seqs:
                continue  # accepted by the network on an earlier attempt
            if not self._wait_for_slot():
                self.queue.release(claimed.id, "gateway stopping")
                return
            part_id = claimed.part_ids[part.seq]
            if not self._submit(claimed, part_id, part):
                return
        self.queue.finish(claimed.id, MessageStatus.SENT)

    def _allowed(self, claimed: Claimed) -> bool:
        """The send-time check: runs after the claim, so a STOP that arrived after queueing counts."""
        assert self.pre_send is not None
        verdict = self.pre_send(claimed)
        if verdict.action == "suppress":
            self.queue.finish(claimed.id, MessageStatus.SUPPRESSED, verdict.reason)
            return False
        if verdict.action == "defer" and verdict.until is not None:
            self.queue.defer(claimed.id, verdict.until, verdict.reason)
            return False
        return True

    def _wait_for_slot(self) -> bool:
        """Between parts: wait for the limits (a long message respects per-minute caps too)."""
        while not self._stop.is_set():
            now = self.clock.time()
            slot = self.next_slot()
            if slot <= now:
                return True
            self.clock.wait(self._stop, slot - now)
        return False

    def _submit(self, claimed: Claimed, part_id: int, part: SubmitPart) -> bool:
        """Send one part; record its fate. False when the message must not continue now."""
        self.queue.part_submitting(part_id, self.name)
        self._times.append(self.clock.time())
        prune(self._times, self.limits, self.clock.time())
        started = time.perf_counter()
        try:
            with self.supervisor.session() as session:
                reference = session.submit(part)
        except SubmitUncertain as exc:
            self.queue.part_unknown(part_id, str(exc))
            self.queue.finish(claimed.id, MessageStatus.UNKNOWN, str(exc))
            self.supervisor.check_now()
            return False
        except CmsError as exc:
            return self._refused(claimed, part_id, exc, permanent=exc.error_class in (ErrorClass.PERMANENT,))
        except CmeError as exc:
            return self._refused(claimed, part_id, exc, permanent=False)
        except (PromptTimeout, CommandTimeout, ModemDisconnected, ModemError) as exc:
            self.supervisor.check_now()
            return self._refused(claimed, part_id, exc, permanent=False)
        finally:
            self.busy_seconds += time.perf_counter() - started
        self.queue.part_sent(part_id, reference)
        return True

    def _refused(self, claimed: Claimed, part_id: int, exc: Exception, *, permanent: bool) -> bool:
        if permanent:
            self.queue.part_failed(part_id, str(exc))
            self.queue.finish(claimed.id, MessageStatus.FAILED, str(exc))
            log.warning("%s: message %d failed for good: %s", self.name, claimed.id, exc)
            return False
        self.queue.part_not_sent(part_id, str(exc))
        status = self.queue.retry(claimed.id, str(exc), delay=self.retry.delay(claimed.attempts),
                                  max_attempts=self.retry.max_attempts)
        log.info("%s: message %d not sent (%s); %s", self.name, claimed.id, exc, status)
        return False
