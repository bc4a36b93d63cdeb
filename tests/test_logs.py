"""Logs carry no secrets: the SIM PIN the driver really sends, API keys and webhook secrets are masked
in every handler `gateway.core.logs.configure` sets up."""

from __future__ import annotations

import logging

import pytest

from gateway.core import logs

from .modem_helpers import Inbox, start_supervisor, virtual_modems


@pytest.fixture
def configured(tmp_path):
    """logs.configure as the daemon calls it; its handlers removed afterwards."""
    root, serial = logging.getLogger(), logging.getLogger("gsmgw.serial")
    before = (list(root.handlers), list(serial.handlers), root.level, serial.level, serial.propagate)
    logs.configure(str(tmp_path))
    yield tmp_path / "serial.log"
    for logger, handlers in ((root, before[0]), (serial, before[1])):
        for handler in logger.handlers[:]:
            if handler not in handlers:
                logger.removeHandler(handler)
                handler.close()
    root.setLevel(before[2])
    serial.setLevel(before[3])
    serial.propagate = before[4]


@pytest.mark.timeout(60)
def test_the_sim_pin_sent_to_the_modem_is_masked_in_the_serial_log(configured, tmp_path):
    simulation = virtual_modems(tmp_path / "ports", report_delay=1.0)
    try:
        simulation.ports["sim1"].modem.sim("pin", pin="4321")
        start_supervisor("sim1", simulation.ports["sim1"].path, Inbox(), pin="4321").stop()
    finally:
        simulation.close()
    for handler in logging.getLogger("gsmgw.serial").handlers:
        handler.flush()
    text = configured.read_text()
    assert "AT+CPIN?" in text and "AT+CPIN=***" in text  # the conversation is there...
    assert "4321" not in text  # ...without the PIN


def test_every_configured_handler_masks_keys_secrets_and_url_passwords(configured):
    import io

    [console] = [h for h in logging.getLogger().handlers if getattr(h, "_gsmgw", False)]
    console.setStream(out := io.StringIO())
    logging.getLogger("gsmgw.webhooks").warning(
        "webhook to %s failed with key %s, secret %s; %s", "http://pos:hunter2@10.0.0.5/hook",
        "gsk_abcdefgh1234567890XYZ", "whsec_s3cr3tvalue", 'AT+CPWD="SC","1234","5678" refused')
    try:
        raise RuntimeError('AT+CPIN="9876" answered ERROR')
    except RuntimeError:
        logging.getLogger("gsmgw.modem").exception("init failed")
    err = out.getvalue()
    assert "http://***@10.0.0.5/hook" in err and "gsk_abcdefgh…" in err and "whsec_…" in err
    assert "AT+CPWD=*** refused" in err and "AT+CPIN=*** answered" in err
    for secret in ("hunter2", "1234567890XYZ", "s3cr3tvalue", "5678", "9876"):
        assert secret not in err


@pytest.mark.parametrize(("text", "masked"), [
    ("'AT+CPIN=\"4321\"\\r'", "'AT+CPIN=***\\r'"),
    ('AT+CPIN="12345678","0000" failed', "AT+CPIN=*** failed"),
    ('AT+CLCK="SC",0,"1111"', "AT+CLCK=***"),
    ("AT+CPIN?", "AT+CPIN?"),
    ("+CPIN: SIM PIN", "+CPIN: SIM PIN"),
    ("http://pos.lan/x?a=1", "http://pos.lan/x?a=1"),
])
def test_mask(text, masked):
    assert logs.mask(text) == masked
