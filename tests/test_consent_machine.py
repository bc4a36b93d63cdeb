"""A hypothesis state machine: whatever the interleaving of the customer's texts (STOP however
polite, START, YES), the shop's actions (opt-ins by staff, a form or the API; marketing queued, or a
marketing template sent through the API, also asking for `kind: transactional`), sends, time passing
and restarts (with or without a crash in the middle), no marketing message reaches an opted-out
number unless the customer's own START or confirmation came after the opt-out, and a consented
contact's marketing is never held back. However often the shop opts a customer in again, they get
at most one confirmation request per open window, and none after STOPALL.

Real parts throughout: a SQLite file, Queue, the inbound pipeline (keywords arrive as stored
inbound parts, as from a modem), the REST API (Flask's test client) and the send-time check the
workers run. "Sending" is what the worker does: claim, check, then record the parts.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import func, select

from gateway.apikeys import keys
from gateway.audience.models import Contact
from gateway.consent import ledger
from gateway.consent.models import ConsentEvent, ConsentKind, ConsentSource
from gateway.consent.optin import OptInRefused
from gateway.consent.send_check import ConsentCheck, rules_from
from gateway.core.clock import FakeClock
from gateway.core.config import Config
from gateway.core.config_sections import ConsentSection
from gateway.outbound.models import Message, MessageStatus
from gateway.outbound.queue import Queue
from gateway.store import db
from gateway.webhooks.outbox import Webhooks

from .audience_helpers import make_rig

NUMBERS = ("+447700900201", "+447700900202")
STOPS = ("STOP", "Stop.", "СТОП", "退订", "إلغاء", "unsubscribe", "STOPALL", "STOP please", "stop stop",
         "Пожалуйста, СТОП", "请退订", "إلغاء من فضلك")
STARTS = ("START", "Unstop", "СТАРТ", "订阅", "اشتراك")  # explicit: opt in whatever came before
YESES = ("yes", "Yes!", "ДА", "是", "نعم")  # only an answer to a confirmation request sent within the window
WINDOW = timedelta(days=ConsentSection().confirm_within_days)
RULES = ConsentSection(quiet_hours_start="00:00", quiet_hours_end="00:00", frequency_cap=0)
_TEMPLATE: list[Path] = []
SCRATCH = "/dev/shm" if Path("/dev/shm").is_dir() else None  # a real file, in memory: fsyncs cost nothing


def template() -> Path:
    """One migrated database, copied for every example (migrations take longer than an example)."""
    if not _TEMPLATE:
        directory = tempfile.mkdtemp(prefix="gsmgw-consent-", dir=SCRATCH)
        atexit.register(shutil.rmtree, directory, True)
        path = Path(directory) / "template.db"
        engine = db.make_engine(f"sqlite:///{path}")
        db.upgrade(engine)
        engine.dispose()
        _TEMPLATE.append(path)
    return _TEMPLATE[0]


class ConsentMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="gsmgw-machine-", dir=SCRATCH))
        self.path = self.dir / "gsmgw.db"
        shutil.copy(template(), self.path)
        self.clock = FakeClock()
        self.opted_in = {n: False for n in NUMBERS}  # the model: consent now
        self.asked_at: dict[str, object] = {}  # the model: an open confirmation request, and when
        self.stopped_all = {n: False for n in NUMBERS}  # the model: the newest decision is STOPALL
        self.unprocessed: list[tuple[str, bool, bool]] = []  # keywords stored, not processed (crash)
        self.marketing_sent: list[tuple[str, int]] = []  # (number, newest ledger id when it went)
        self._open()

    def _open(self) -> None:
        from web import create_app
        from web.context import WebContext

        self.engine = db.make_engine(f"sqlite:///{self.path}")
        self.queue = Queue(db.sessions(self.engine), self.clock)
        self.check = ConsentCheck(self.queue.sessions, self.clock, rules_from(RULES), default_timezone="Europe/London")
        self.rig = make_rig(self.queue, self.clock)
        self.webhooks = Webhooks(self.queue.sessions, self.clock)
        context = WebContext(queue=self.queue, sessions=self.queue.sessions, clock=self.clock, config=Config(),
                             webhooks=self.webhooks, audience=self.rig.audience, inbound=self.rig.pipeline)
        self.api = create_app(context, {"TESTING": True}).test_client()

    def _close(self) -> None:
        self.rig.pipeline.stop()
        self.webhooks.stop()
        self.engine.dispose()

    def teardown(self) -> None:
        self._close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _post(self, path: str, body: dict):
        return self.api.post(f"/api/v1{path}", json=body, headers=self.key)

    def _decided(self, number: str, opted_in: bool, everything: bool = False) -> None:
        self.opted_in[number] = opted_in
        self.stopped_all[number] = everything
        self.asked_at.pop(number, None)  # a decision closes any open request

    @initialize()
    def everyone_signed_up(self) -> None:
        self.key = {"Authorization": f"Bearer {keys.create(self.queue.sessions, self.clock, 'shop', 'admin').token}"}
        assert self._post("/templates", {"name": "promo", "kind": "marketing", "body": "Sale!"}).status_code == 201
        for number in NUMBERS:
            self.rig.audience.opt_in(number, source="web_form", detail="signup form")
            self._decided(number, True)

    # ---- the shop -------------------------------------------------------------------------------
    @rule(number=st.sampled_from(NUMBERS), kind=st.sampled_from(("marketing", "marketing", "transactional")))
    def enqueue(self, number: str, kind: str) -> None:
        self.queue.enqueue(number, "Sale!" if kind == "marketing" else "Your code is 4711", kind=kind,
                           source="campaign" if kind == "marketing" else "api")

    @rule(number=st.sampled_from(NUMBERS), kind=st.sampled_from((None, "marketing", "transactional")))
    def shop_sends_the_marketing_template(self, number: str, kind: str | None) -> None:
        """A marketing template stays marketing: asking for transactional is refused, nothing stored."""
        body = {"to": number, "template": "promo", **({"kind": kind} if kind else {})}
        response = self._post("/messages", body)
        if kind == "transactional":
            assert response.status_code == 422 and response.json["errors"][0]["field"] == "kind", response.json
        else:
            assert response.status_code == 202, response.json
            assert self.queue.get(response.json["id"]).kind == "marketing"

    @rule(number=st.sampled_from(NUMBERS), via=st.sampled_from(("api", "staff", "web_form")), times=st.integers(1, 3))
    def shop_opts_in(self, number: str, via: str, times: int) -> None:
        """Anyone but the customer (a button pressed again, a till re-syncing): after their opt-out
        this only asks them to confirm, once while a request is open, and never after STOPALL."""
        for _ in range(times):
            self._shop_opts_in(number, via)

    def _shop_opts_in(self, number: str, via: str) -> None:
        if via == "api":
            response = self._post("/consent/opt-in", {"number": number, "detail": "the shop's system"})
            refused = response.status_code == 409
            requested = response.status_code == 202
            assert response.status_code in (201, 202, 409), response.json
            assert (response.json.get("consent") == "requested") is requested, response.json
            texted = requested and response.json["confirmation_message_id"] is not None
        else:
            try:
                outcome = self.rig.audience.opt_in(number, source=via, detail="asked at the till")
            except OptInRefused:
                refused, requested, texted = True, False, False
            else:
                refused, requested, texted = False, outcome.requested, outcome.confirmation_id is not None
        stopped = not self.opted_in[number]
        assert refused is (stopped and self.stopped_all[number]), (number, refused)  # STOPALL: nothing goes
        assert requested is (stopped and not refused), (number, requested)  # asks exactly when opted out
        asked = self.asked_at.get(number)
        still_open = asked is not None and self.clock.now() - asked <= WINDOW
        assert texted is (requested and not still_open), (number, texted, asked)
        if texted:
            self.asked_at[number] = self.clock.now()
        elif not stopped:
            self._decided(number, True)

    # ---- the customer ---------------------------------------------------------------------------
    @rule(number=st.sampled_from(NUMBERS), text=st.sampled_from(STOPS), processed=st.booleans())
    def customer_stops(self, number: str, text: str, processed: bool) -> None:
        self.rig.receive(number, text, deliver=processed)
        if processed:
            self._decided(number, False, text == "STOPALL")
        else:
            self.unprocessed.append((number, False, text == "STOPALL"))

    @rule(number=st.sampled_from(NUMBERS), processed=st.booleans())
    def customer_stops_everything(self, number: str, processed: bool) -> None:
        """STOPALL, as its own rule: what the shop may do after it differs from after a STOP."""
        self.customer_stops(number, "STOPALL", processed)

    @rule(number=st.sampled_from(NUMBERS), text=st.sampled_from(STARTS))
    def customer_starts(self, number: str, text: str) -> None:
        self.rig.receive(number, text)
        self._decided(number, True)

    @rule(number=st.sampled_from(NUMBERS), text=st.sampled_from(YESES))
    def customer_says_yes(self, number: str, text: str) -> None:
        """To our confirmation request it is an opt-in; to anything else (a reminder) just a reply."""
        self.rig.receive(number, text)
        asked = self.asked_at.get(number)
        if asked is not None and self.clock.now() - asked <= WINDOW:
            self._decided(number, True)

    @rule(days=st.sampled_from((1, 3, 8)))
    def time_passes(self, days: int) -> None:
        self.clock.advance(days * 86400)

    # ---- the gateway ----------------------------------------------------------------------------
    @rule(count=st.integers(1, 3))
    def send(self, count: int) -> None:
        for _ in range(count):
            self._send_one()

    def _send_one(self) -> None:
        claimed = self.queue.claim("sim1")
        if claimed is None:
            return
        verdict = self.check(claimed)
        if claimed.kind == "marketing":
            assert verdict.action == ("send" if self.opted_in[claimed.to_number] else "suppress"), verdict
        if verdict.action == "suppress":
            self.queue.finish(claimed.id, MessageStatus.SUPPRESSED, verdict.reason)
            return
        assert verdict.action == "send"
        for part_id in claimed.part_ids.values():
            self.queue.part_submitting(part_id, "sim1")
            self.queue.part_sent(part_id, 1)
        self.queue.finish(claimed.id, MessageStatus.SENT)
        if claimed.kind == "marketing":
            with self.queue.sessions() as session:
                newest = session.scalar(select(ConsentEvent.id).order_by(ConsentEvent.id.desc()).limit(1))
            self.marketing_sent.append((claimed.to_number, newest))

    @rule()
    def claim_then_crash(self) -> None:
        """The process dies after a claim, before the check: the restart puts the message back."""
        if self.queue.claim("sim1") is not None:
            self.restart()

    @rule()
    def restart(self) -> None:
        self._close()
        self._open()  # the pipeline's start() processes keywords stored before the crash
        self.queue.recover(modems=["sim1"])
        for number, opted_in, everything in self.unprocessed:
            self._decided(number, opted_in, everything)
        self.unprocessed.clear()

    # ---- what must always hold ------------------------------------------------------------------
    @invariant()
    def nothing_left_sending(self) -> None:
        assert MessageStatus.SENDING not in self.queue.depth()

    @invariant()
    def no_marketing_after_an_opt_out_without_the_customers_own_opt_in(self) -> None:
        """Read from the ledger itself, not from ledger.derive: for every marketing message sent,
        the number's newest opt-out before it is followed by an opt-in the customer texted."""
        with self.queue.sessions() as session:
            for number, upto in self.marketing_sent:
                ledger = session.execute(
                    select(ConsentEvent.kind, ConsentEvent.source, ConsentEvent.inbound_message_id).join(Contact)
                    .where(Contact.number == number, ConsentEvent.id <= upto).order_by(ConsentEvent.id)).all()
                outs = [i for i, e in enumerate(ledger) if e.kind == ConsentKind.OPT_OUT]
                if outs:
                    after = ledger[outs[-1] + 1:]
                    assert any(e.kind == ConsentKind.OPT_IN and e.source == ConsentSource.KEYWORD
                               and e.inbound_message_id is not None for e in after), (number, ledger)

    @invariant()
    def the_ledger_says_what_the_model_says(self) -> None:
        """Consent changes exactly when the rules say (a YES to nothing or a shop's opt-in after a STOP
        changes nothing), seen at once rather than only when a marketing message happens to go."""
        with self.queue.sessions() as session:
            for number in NUMBERS:
                contact_id = session.scalar(select(Contact.id).where(Contact.number == number))
                assert ledger.state_of(session, contact_id).marketing_allowed is self.opted_in[number], number

    @invariant()
    def at_most_one_confirmation_request_per_open_window(self) -> None:
        """From the ledger and the outbox: each "Reply YES" has its request entry, and a second
        request comes only after a decision closed the first or its window lapsed."""
        with self.queue.sessions() as session:
            for number in NUMBERS:
                ledger = session.execute(select(ConsentEvent.kind, ConsentEvent.at).join(Contact)
                                         .where(Contact.number == number).order_by(ConsentEvent.id)).all()
                texted = session.scalar(select(func.count(Message.id)).where(Message.to_number == number,
                                                                             Message.source == "consent"))
                assert texted == sum(e.kind == ConsentKind.REQUESTED for e in ledger), number
                open_since = None
                for event in ledger:
                    if event.kind == ConsentKind.REQUESTED:
                        assert open_since is None or event.at - open_since > WINDOW, (number, ledger)
                        open_since = event.at
                    else:
                        open_since = None  # a decision closes the request

    @invariant()
    def no_marketing_template_went_as_transactional(self) -> None:
        with self.queue.sessions() as session:
            assert session.scalar(select(Message.id).where(Message.text == "Sale!",
                                                           Message.kind != "marketing")) is None


ConsentMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=20, deadline=None,
                                            suppress_health_check=[HealthCheck.too_slow])
# a passing run takes seconds; shrinking a failure to its shortest story can take minutes
TestConsentMachine = pytest.mark.timeout(900)(ConsentMachine.TestCase)
