"""What a worker records when a part does not go: held back by its `submitting` commit, refused by
the modem (the SIM's fault, the number's, or a passing one), or stopped by the send-time check."""

from __future__ import annotations

import logging

from gateway.core.retry import RetryPolicy
from gateway.outbound.claims import Claimed
from gateway.outbound.models import MessageStatus, PartStatus
from gateway.outbound.queue import Queue
from gateway.outbound.verdict import Verdict
from modem.errors import CmsError
from modem.supervisor import ModemSupervisor

log = logging.getLogger("gsmgw.worker")


class Held(Exception):
    """The `submitting` commit held the part back (raised before its PDU goes): a more urgent
    message came first, or the consent check, run again in that commit, said no."""

    def __init__(self, reason: object) -> None:
        super().__init__(str(reason))
        self.reason = reason


def obey(queue: Queue, claimed: Claimed, verdict: Verdict) -> None:
    """The send-time check said no: suppressed, or back to the queue until it allows."""
    if verdict.action == "suppress":
        queue.finish(claimed.id, MessageStatus.SUPPRESSED, verdict.reason)
    else:
        assert verdict.until is not None
        queue.defer(claimed.id, verdict.until, verdict.reason)


def sim_refused(supervisor: ModemSupervisor, queue: Queue, claimed: Claimed, part_id: int, exc: CmsError) -> bool:
    """The SIM or its network refused (barred, not subscribed), not the number: the SIM goes out
    of rotation and the message back to the queue, its attempt uncounted, for another SIM."""
    supervisor.rest(str(exc))
    queue.release(claimed.id, f"{supervisor.name} out of rotation: {exc}", part_id=part_id)
    log.warning("%s: out of rotation after %s; message %d back in the queue", supervisor.name, exc, claimed.id)
    return False


def refused(queue: Queue, retry: RetryPolicy, modem: str, claimed: Claimed, part_id: int, exc: Exception, *,
            permanent: bool) -> bool:
    """The number's or the message's own fault fails it; anything else puts it back with backoff."""
    if permanent:
        queue.finish(claimed.id, MessageStatus.FAILED, str(exc), part=(part_id, PartStatus.FAILED))
        log.warning("%s: message %d failed for good: %s", modem, claimed.id, exc)
        return False
    # the modem refused before taking the PDU: the part can go again (its send time still
    # counts against the limits, as the carrier may have counted it)
    status = queue.retry(claimed.id, str(exc), delay=retry.delay(claimed.attempts),
                         max_attempts=retry.max_attempts, part_id=part_id)
    log.info("%s: message %d not sent (%s); %s", modem, claimed.id, exc, status)
    return False
