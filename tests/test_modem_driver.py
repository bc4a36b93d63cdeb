"""The real serial driver (transport, session, supervisor) against virtual modems over ptys: start-up
and identity on each profile, sending in any script, single and multipart, failures and retries,
inbound SMS and status reports, USSD.

The defects of python-gsmmodem-new the driver fixes are in test_modem_driver_defects.py, the fault
kinds of the virtual modem in test_modem_driver_faults.py.
"""

from __future__ import annotations

import pytest

from modem.encoding import segment_info
from modem.errors import CmsError, ErrorClass
from modem.report_match import matches_any
from modem.session import SendFailed

from .modem_helpers import Inbox, fail_nth_send, start_supervisor, submitted, virtual_modems, wait_until
from .modem_helpers import inbox, modem1, sim800_and_e3131  # noqa: F401  (fixtures)

pytestmark = pytest.mark.timeout(60)


SCRIPTS = {
    "english": "Your order #1234 is ready for collection. Thank you!",
    "arabic": "طلبك جاهز للاستلام. شكرا لك!",
    "russian": "Ваш заказ готов к выдаче. Спасибо!",
    "chinese": "您的订单已准备好取货。谢谢！",
    "emoji": "Sale today 🎉🛍️ 50% off 👍🏽",
    "extension": "Symbols €[]{}~^|\\ all here",
}


@pytest.mark.parametrize("profile", ["sim800", "e3131", "ec25", "generic"])
def test_init_and_identity_on_each_profile(tmp_path, profile):
    simulation = virtual_modems(tmp_path, profile=profile, report_delay=1.0)
    try:
        supervisor = start_supervisor("sim1", simulation.ports["sim1"].path, Inbox())
        try:
            with supervisor.session() as session:
                identity = session.identity()
                health = session.health()
            assert identity.imei.isdigit() and len(identity.imei) == 15
            assert identity.imsi and identity.imsi.isdigit()
            assert identity.iccid and identity.iccid.startswith("89")
            assert identity.manufacturer and identity.model
            assert health.registered and health.operator == "Virtual Tel"
            assert 0 < health.signal.bars <= 5 and health.signal.dbm < 0
            assert health.smsc and health.smsc.startswith("+")
        finally:
            supervisor.stop()
    finally:
        simulation.close()


@pytest.mark.parametrize("script", sorted(SCRIPTS))
@pytest.mark.parametrize("repeat", [1, 4])  # one part, then several
def test_send_any_script_single_and_multipart(sim, modem1, inbox, script, repeat):
    text = " ".join([SCRIPTS[script]] * repeat)
    with modem1.session() as session:
        parts = session.send("+447700900123", text)
    info = segment_info(text)
    assert len(parts) == info.parts
    assert [p.seq for p in parts] == list(range(1, info.parts + 1))
    references = [p.reference for p in parts]
    assert len(set(references)) == len(references)  # every part's reference kept, not only the last
    records = submitted(sim, to="+447700900123")
    assert [r["mr"] for r in records] == references
    assert "".join(r["text"] for r in sorted(records, key=lambda r: r["concat_seq"])) == text
    if info.parts > 1:
        assert len({r["concat_ref"] for r in records}) == 1
    # status reports come back and match every part by reference
    outstanding = [("+447700900123", ref) for ref in references]
    wait_until(lambda: len(inbox.reports) >= len(parts), 10, "status reports")
    assert all(matches_any(r, outstanding) for r in inbox.reports)
    assert {r.reference for r in inbox.reports} == set(references)
    assert all(r.outcome == "delivered" for r in inbox.reports)


def test_failed_status_report_and_permanent_error(sim, modem1, inbox):
    with modem1.session() as session:
        [part] = session.send("+447700900000", "to a number that will fail")
    wait_until(lambda: inbox.reports, 10, "report")
    assert inbox.reports[0].outcome == "failed" and inbox.reports[0].reference == part.reference
    sim.ports["sim1"].modem.cms_error(21, times=1)  # short message transfer rejected
    with modem1.session() as session, pytest.raises(SendFailed) as info:
        session.send("+447700900123", "rejected")
    assert isinstance(info.value.cause, CmsError) and info.value.cause.error_class is ErrorClass.PERMANENT


def test_transient_error_then_success_keeps_accepted_parts(sim, modem1):
    """A multipart whose part 2 hits a transient error: part 1's reference is reported as sent."""
    text = "x" * 400  # three parts
    fail_nth_send(sim.ports["sim1"].modem, 2, 42)  # congestion, on the second part only
    with modem1.session() as session, pytest.raises(SendFailed) as info:
        session.send("+447700900123", text)
    assert [p.seq for p in info.value.sent] == [1]
    assert info.value.failed_seq == 2 and info.value.cause.transient


def test_inbound_cmti_and_cmt_single_and_multipart(sim, modem1, inbox):
    modem = sim.ports["sim1"].modem
    long_text = "Привет! " * 30
    modem.inject_sms("+447700900555", "hello via CMTI", mode="cmti")
    modem.inject_sms("+447700900556", "hello via CMT", mode="cmt")
    modem.inject_sms("+447700900557", long_text, mode="cmti", split=True)
    modem.inject_sms("+447700900558", long_text, mode="cmt")
    wait_until(lambda: len(inbox.sms) >= 2 + 2 * segment_info(long_text).parts, 10, "all inbound parts")
    assert "hello via CMTI" in inbox.texts() and "hello via CMT" in inbox.texts()
    for sender in ("+447700900557", "+447700900558"):
        parts = [s.message for s in inbox.sms if s.message and s.message.sender == sender]
        joined = "".join(p.text for p in sorted(parts, key=lambda p: p.concat.seq))
        assert joined == long_text
    # stored ones were deleted from the SIM after the handler kept them
    wait_until(lambda: modem.status()["stored"].get("SM", 0) == 0, 10, "SIM emptied")


def test_stored_messages_read_at_start(sim, inbox):
    modem = sim.ports["sim2"].modem
    modem.power_off()
    sim.ports["sim2"].modem.boot()
    modem.inject_sms("+447700900777", "waiting on the SIM before we started", mode="cmti")
    supervisor = start_supervisor("sim2", sim.ports["sim2"].path, inbox)
    try:
        wait_until(lambda: "waiting on the SIM before we started" in inbox.texts(), 10, "stored SMS")
    finally:
        supervisor.stop()


def test_ussd(sim, modem1):
    sim.ports["sim1"].modem.ussd_reply("Balance 5.00 GBP. RING 0800 123 for offers")
    with modem1.session() as session:
        assert session.ussd("*100#", timeout=5) == "Balance 5.00 GBP. RING 0800 123 for offers"


def test_virtual_modems_text_each_other(sim, modem1, inbox):
    other = Inbox()
    modem2 = start_supervisor("sim2", sim.ports["sim2"].path, other)
    try:
        with modem1.session() as session:
            session.send(sim.ports["sim2"].modem.msisdn, "hi from sim1 👋")
        wait_until(lambda: "hi from sim1 👋" in other.texts(), 10, "delivery to sim2")
        assert other.sms[0].message.sender.endswith(sim.ports["sim1"].modem.msisdn[-9:])
    finally:
        modem2.stop()
