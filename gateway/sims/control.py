"""What a person may ask of a running modem: restart it, or run a USSD code (a balance check).

A USSD answer takes the network seconds, so `ussd` answers at once with a `Job` that a thread
finishes; the console shows the job until its answer (or its error) is there. Jobs live in memory
(a few per modem, the oldest forgotten): they are answers to a person looking at a page, not records.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from modem import ussd as ussd_codes

log = logging.getLogger("gsmgw.modem")

KEPT_JOBS = 50
USSD_TIMEOUT_S = 30.0
MAX_CODE = 32


class Controllable(Protocol):
    name: str

    def restart(self) -> None: ...

    def session(self) -> Any: ...


class UnknownModem(LookupError):
    """No modem of that name."""


class BadCode(ValueError):
    """Not a USSD code (`*100#`, `#123*1#`: digits, * and #)."""


@dataclass
class Job:
    """One USSD request: `answer` or `error` once it is done."""

    id: int
    modem: str
    code: str
    done: threading.Event = field(default_factory=threading.Event, repr=False)
    answer: str | None = None
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.done.is_set()


def check_code(code: str) -> str:
    code = code.strip()
    if not code or len(code) > MAX_CODE or any(c not in "0123456789*#" for c in code):
        raise BadCode("a USSD code is digits, * and # (such as *100#)")
    return code


class ModemControl:
    """Restart and USSD for the daemon's modems (`modems()`: its supervisors, looked up by name)."""

    def __init__(self, modems: Callable[[], Sequence[Controllable]], *, ussd_timeout: float = USSD_TIMEOUT_S) -> None:
        self._modems = modems
        self._timeout = ussd_timeout
        self._jobs: OrderedDict[int, Job] = OrderedDict()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def _modem(self, name: str) -> Controllable:
        for modem in self._modems():
            if modem.name == name:
                return modem
        raise UnknownModem(name)

    def names(self) -> list[str]:
        return [modem.name for modem in self._modems()]

    def restart(self, name: str) -> None:
        self._modem(name).restart()

    def ussd(self, name: str, code: str) -> Job:
        """Start the request; the job is done when the network answered, refused or timed out."""
        modem, code = self._modem(name), check_code(code)
        with self._lock:
            job = Job(next(self._ids), name, code)
            self._jobs[job.id] = job
            while len(self._jobs) > KEPT_JOBS:
                self._jobs.popitem(last=False)
        threading.Thread(target=self._run, args=(modem, job), name=f"{name}-ussd", daemon=True).start()
        return job

    def job(self, job_id: int) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def _run(self, modem: Controllable, job: Job) -> None:
        try:
            with modem.session() as session:
                job.answer = session.ussd(job.code, timeout=self._timeout)
        except ussd_codes.UssdFailed as exc:
            job.error = str(exc)
        except Exception as exc:  # noqa: BLE001  (a modem's trouble is the answer shown, never a crash)
            log.info("%s: USSD %s failed: %s", job.modem, job.code, exc)
            job.error = str(exc) or type(exc).__name__
        finally:
            job.done.set()
