"""What real modems answer that a driver must read right: USSD (multi-line menus, failures, UCS-2,
Huawei's packed septets, sessions), GSM-7 bytes under AT+CSCS="GSM", vendor URCs inside answers,
reboot markers, PDU lines ending ",0", flash SMS, SMSC numbers without "+", the prompt timeout.

The real driver (transport, session, supervisor) against virtual modems on ptys.
"""

from __future__ import annotations

import threading

import pytest

from modem.errors import CommandTimeout, PromptTimeout
from modem.session import SendFailed
from modem.ussd import UssdFailed

from .modem_helpers import Inbox, start_supervisor, wait_settled, wait_until

pytestmark = pytest.mark.timeout(60)

PROFILES = ["sim800", "e3131", "ec25"]
MODELS = {"sim800": "SIMCOM_SIM800", "e3131": "E3131", "ec25": "EC25", "generic": "GSM Modem"}
MENU = "Balance 5.00 GBP\n1 Top up\n2 Offers\n3 Exit"


@pytest.fixture(params=PROFILES)
def profile(request):
    return request.param


@pytest.fixture
def sim_options(profile) -> dict:
    return {"profile": profile, "modem_options": {"ussd_delay": 0.05}}


@pytest.fixture
def inbox():
    return Inbox()


@pytest.fixture
def modem(sim):
    return sim.ports["sim1"].modem


@pytest.fixture
def supervisor(sim, inbox):
    running = start_supervisor("sim1", sim.ports["sim1"].path, inbox)
    yield running
    running.stop()


def commands_seen(modem) -> list[str]:
    """Record the command lines the virtual modem receives from now on."""
    seen: list[str] = []
    buffer = bytearray()
    lock = threading.Lock()
    original = modem.feed

    def feed(data: bytes) -> None:
        with lock:
            buffer.extend(data)
            while b"\r" in buffer:
                line, _, rest = bytes(buffer).partition(b"\r")
                buffer[:] = rest
                seen.append(line.decode("latin-1").strip())
        original(data)

    modem.feed = feed
    return seen


# ---- USSD (item 7) ------------------------------------------------------------------------------

def test_ussd_multi_line_reply_comes_back_whole(modem, supervisor):
    modem.ussd_reply(MENU)
    with supervisor.session() as session:
        assert session.ussd("*100#", timeout=5) == MENU


def test_ussd_text_keeps_every_character(modem, supervisor):
    text = "Cost @ 5 £ $ è Δ _ ok"
    modem.ussd_reply(text)
    with supervisor.session() as session:
        assert session.ussd("*100#", timeout=5) == text


def test_ussd_ucs2_text(modem, supervisor):
    modem.ussd_reply("Баланс: 5 ₽\nСпасибо")
    with supervisor.session() as session:
        assert session.ussd("*100#", timeout=5) == "Баланс: 5 ₽\nСпасибо"


def test_ussd_in_the_gsm_set_when_ucs2_is_refused(modem, supervisor):
    """A modem that will not take AT+CSCS="UCS2" answers in GSM-7 bytes, line breaks and all."""
    text = "Menu @\n" + MENU + "\n@ £ $ è Δ _"
    modem.ussd_reply(text)
    modem.cme_error(4, command="CSCS")
    with supervisor.session() as session:
        assert session.ussd("*100#", timeout=5) == text


def test_ussd_code_reaches_the_network_as_typed(modem, supervisor):
    """Huawei reads the code as packed septets, a UCS2 session as hex: the network must get *100#."""
    with supervisor.session() as session:
        session.ussd("*100#", timeout=5)
    assert modem.ussd_requests == ["*100#"]


@pytest.mark.parametrize("status,reason", [(4, "not supported"), (2, "terminated by the network")])
def test_ussd_failure_is_not_success(modem, supervisor, status, reason):
    modem.ussd_reply("Service unavailable" if status == 2 else "", status=status)
    with supervisor.session() as session:
        with pytest.raises(UssdFailed, match=reason):
            session.ussd("*100#", timeout=5)


def test_ussd_menu_session_is_closed_when_no_reply_is_wanted(modem, supervisor):
    modem.ussd_reply(MENU, status=1)
    with supervisor.session() as session:
        assert session.ussd("*100#", timeout=5) == MENU
    assert modem.status()["ussd_open"] is False


def test_ussd_menu_session_kept_open_for_a_reply(modem, supervisor):
    modem.ussd_reply(MENU, status=1)
    with supervisor.session() as session:
        session.ussd("*100#", timeout=5, keep_open=True)
        assert modem.status()["ussd_open"] is True
        modem.ussd_reply("Topped up", status=0)
        assert session.ussd("1", timeout=5) == "Topped up"
    assert modem.ussd_requests == ["*100#", "1"]
    assert modem.status()["ussd_open"] is False


def test_ussd_session_closed_after_a_timeout(modem, supervisor):
    modem.ussd_reply(None)  # the network never answers
    with supervisor.session() as session:
        with pytest.raises(CommandTimeout):
            session.ussd("*100#", timeout=0.5)
    assert modem.status()["ussd_open"] is False


def test_ussd_leaves_the_gsm_character_set(modem, supervisor):
    with supervisor.session() as session:
        session.ussd("*100#", timeout=5)
        assert session.transport.command("AT+CSCS?").first("+CSCS:") == '+CSCS: "GSM"'


# ---- GSM-7 bytes under AT+CSCS="GSM" (item 8) ---------------------------------------------------

def test_operator_name_in_gsm_bytes_keeps_its_characters(sim, supervisor):
    sim.network.operator = "Tel@£$è Δ_"
    with supervisor.session() as session:
        assert session.transport.command("AT+CSCS?").first("+CSCS:") == '+CSCS: "GSM"'
        assert session.health().operator == "Tel@£$è Δ_"


def test_a_urc_broken_inside_its_quotes_arrives_whole(sim, supervisor, inbox):
    """A menu in the GSM set has raw line breaks: a network-initiated +CUSD is one event, and its
    lines do not land in the answer of the command in flight."""
    modem = sim.ports["sim1"].modem
    with supervisor.session() as session:
        modem.urc_midresponse('+CUSD: 1,"Offer\n1 Yes\n2 No",15')
        assert session.transport.command("AT+CGMM").text() == MODELS[modem.profile.name]


# ---- smaller items (item 10) --------------------------------------------------------------------

@pytest.mark.parametrize("urc", ["^CSNR:-100,-9", "+CGEV: ME PDN ACT 1", "*RADIOPOWER: 1", "+ZEND"])
def test_unknown_urc_inside_an_answer_is_not_its_value(modem, supervisor, urc):
    with supervisor.session() as session:
        modem.urc_midresponse(urc)
        assert session.identity().model == MODELS[modem.profile.name]
        modem.urc_midresponse(urc)
        assert session.health().signal.csq == 21


def test_vendor_noise_at_random_moments(modem, supervisor):
    modem.vendor_noise(interval=0.02, seed=13)
    try:
        with supervisor.session() as session:
            for _ in range(15):
                identity = session.identity()
                assert identity.model == MODELS[modem.profile.name]
                assert identity.imei == modem.imei and identity.imsi == modem.imsi
                assert session.health().operator == "Virtual Tel"
            [part] = session.send("+447700900123", "through the noise")
    finally:
        modem.vendor_noise(0)
    assert part.reference is not None


def test_start_marker_reinitialises(sim, modem, inbox):
    wait_until(lambda: modem.status()["creg"] in (1, 5), 10, "boot and registration done")  # no boot URCs later
    running = start_supervisor("sim1", sim.ports["sim1"].path, inbox)
    try:
        seen = commands_seen(modem)
        before = running.health
        running.check_now()  # a round of the watch loop, which is where a restarted modem is initialised
        wait_until(lambda: running.health is not before, 10, "a health check")
        assert "AT+CMGF=0" not in seen  # no init without a reason
        modem.send_urc("START")
        wait_until(lambda: "AT+CMGF=0" in seen, 10, "init after START")
    finally:
        running.stop()


def test_lines_a_modem_prints_again_without_a_reboot_do_not_set_it_up_again(sim, modem, inbox):
    # +CFUN: 1 and +CPIN: READY come again after a PIN or AT+CFUN=1, PB DONE late in a boot: none
    # says the settings are gone, and taking them for a reboot set up a modem in the middle of its work
    wait_until(lambda: modem.status()["creg"] in (1, 5), 10, "boot and registration done")
    running = start_supervisor("sim1", sim.ports["sim1"].path, inbox)
    try:
        wait_settled(running, modem)
        seen = commands_seen(modem)
        for line in ("+CFUN: 1", "+CPIN: READY", "PB DONE"):
            modem.send_urc(line)
        with running.session() as session:
            session.transport.command("AT")  # answered after the lines above were read
        wait_until(lambda: running._session is not None and running._session.transport.unsolicited.empty(),
                   10, "the lines handled")
        before = running.health
        running.check_now()
        wait_until(lambda: running.health is not before, 10, "a round of the watch loop")
        assert "AT+CMGF=0" not in seen
        assert not running._session.needs_reinit
    finally:
        running.stop()


def test_a_modem_that_says_it_rebooted_is_set_up_at_once_not_at_the_next_check(sim, modem, inbox):
    # every status report it gets before its CNMI is set again is dropped (ds=0)
    wait_until(lambda: modem.status()["creg"] in (1, 5), 10, "boot and registration done")
    running = start_supervisor("sim1", sim.ports["sim1"].path, inbox, check_interval_s=60.0)
    try:
        wait_settled(running, modem)
        seen = commands_seen(modem)
        modem.send_urc("RDY")
        wait_until(lambda: "AT+CMGF=0" in seen, 10, "init right after RDY")
    finally:
        running.stop()


def test_pdu_line_ending_in_comma_zero_is_read(modem, supervisor, inbox):
    modem.pdu_trailing_zero(True)
    modem.inject_sms("+447700900001", "with a trailing zero", mode="cmti")
    wait_until(lambda: "with a trailing zero" in inbox.texts(), 10, "SMS read by AT+CMGR")
    modem.inject_sms("+447700900002", "swept", mode="cmti")
    with supervisor.session() as session:
        stored = session.read_stored()
    assert all(s.message is not None for s in stored)


def test_flash_sms_arrives_as_cmt_and_stays_flash(modem, supervisor, inbox):
    assert modem.status()["cnmi"][1] == 1  # store and announce with +CMTI
    modem.inject_sms("+447700900001", "flash sale now", flash=True)
    wait_until(lambda: inbox.sms, 10, "flash SMS")
    [sms] = inbox.sms
    assert sms.storage_index is None  # came as +CMT: never stored on the SIM
    assert sms.message.flash and sms.message.text == "flash sale now"


@pytest.mark.parametrize("number", ["447785016005", "4477850160051234"])
def test_smsc_without_plus_is_digits(supervisor, number):
    with supervisor.session() as session:
        session.transport.command(f'AT+CSCA="{number}",129')
        assert session.health().smsc == number


def test_prompt_timeout_is_a_setting(sim, inbox):
    running = start_supervisor("sim1", sim.ports["sim1"].path, inbox, prompt_timeout_s=0.3)
    try:
        sim.ports["sim1"].modem.no_prompt(1)
        with running.session() as session:
            with pytest.raises(SendFailed) as info:
                session.send("+447700900123", "no prompt")
            assert isinstance(info.value.cause, PromptTimeout)
            assert "0.3 s" in str(info.value.cause)
    finally:
        running.stop()
