"""[[modems]] named by identity, their GPIO and power keys, [gpio]: accepted as documented, mistakes
named with the key (what `gsmgw config check` prints)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from gateway.core.config import ConfigError, from_dict

ROOT = Path(__file__).resolve().parent.parent
IMEI = "861234000000017"
ICCID = "8944150000000000017"


def modem(**keys):
    return {"name": "sim1", **keys}


def test_a_modem_may_be_named_by_imei_or_iccid_instead_of_its_port():
    config = from_dict({"modems": [modem(imei=IMEI), {"name": "sim2", "iccid": ICCID, "port": "/dev/ttyUSB1"}]})
    assert config.modems[0].port == "" and config.modems[0].imei == IMEI
    assert config.modems[1].iccid == ICCID and config.modems[1].port == "/dev/ttyUSB1"
    assert "/dev/serial/by-id/*" in config.gateway.serial_scan


def test_gpio_and_power_keys():
    config = from_dict({"gpio": {"system_led_pin": 4},
                        "modems": [modem(port="/dev/ttyAMA0", led_pin=17, power_pin=27, power_kind="pwrkey"),
                                   {"name": "sim2", "imei": IMEI, "power_kind": "uhubctl",
                                    "uhub_location": "1-1", "uhub_port": 2}]})
    assert config.gpio.system_led_pin == 4
    assert (config.modems[0].led_pin, config.modems[0].power_pin, config.modems[0].power_kind) == (17, 27, "pwrkey")
    assert config.modems[1].uhub_port == 2 and config.modems[1].led_pin is None


@pytest.mark.parametrize(("data", "message"), [
    ({"modems": [modem(imei="12345")]}, "modems[sim1].imei '12345' must be the 15 digits AT+CGSN shows"),
    ({"modems": [modem(iccid="89ab")]}, "modems[sim1].iccid '89ab' must be 18 to 22 digits"),
    ({"modems": [modem(imei=IMEI), {"name": "sim2", "imei": IMEI}]}, f"modems imei {IMEI} is given to two modems"),
    ({"modems": [modem(port="p", power_kind="mains")]}, "modems[sim1].power_kind 'mains' must be one of relay, pwrkey, uhubctl"),
    ({"modems": [modem(port="p", power_kind="uhubctl")]}, "needs uhub_location and uhub_port"),
    ({"modems": [modem(port="p", power_kind="uhubctl", power_pin=5, uhub_location="1-1", uhub_port=1)]},
     "modems[sim1].power_pin is not used with power_kind"),
    ({"modems": [modem(port="p", uhub_location="1-1")]}, "uhub_location and uhub_port need power_kind"),
    ({"modems": [modem(port="p", led_pin=60)]}, "modems[sim1].led_pin 60 is not a GPIO number"),
    ({"gpio": {"system_led_pin": 17}, "modems": [modem(port="p", led_pin=17)]},
     "modems[sim1].led_pin GPIO17 is already gpio.system_led_pin"),
    ({"gpio": {"heartbeat": 4}}, "unknown key gpio.heartbeat"),
])
def test_mistakes_name_the_key(data, message):
    with pytest.raises(ConfigError) as info:
        from_dict(data, source="gsmgw.toml")
    assert message in str(info.value)


def test_the_example_documents_the_new_keys_and_loads():
    text = (ROOT / "config" / "gsmgw.example.toml").read_text()
    from_dict(tomllib.loads(text))
    for key in ("imei", "iccid", "serial_scan", "led_pin", "power_kind", "power_pin", "uhub_location",
                "uhub_port", "power_cycles_per_hour", "system_led_pin", "registration_poll_s"):
        assert f"{key} =" in text or f"# {key} =" in text, key


def test_registration_poll_is_a_modem_key_a_simulated_run_takes_from_its_template():
    from gateway.daemon import simulated_section

    config = from_dict({"modems": [modem(port="unused", registration_poll_s=0.25)]})
    assert config.modems[0].registration_poll_s == 0.25
    assert simulated_section(config.modems[0], "sim2", "/dev/pts/9").registration_poll_s == 0.25
    assert from_dict({"modems": [modem(port="p")]}).modems[0].registration_poll_s == 1.0  # the default kept
    with pytest.raises(ConfigError) as info:
        from_dict({"modems": [modem(port="p", registration_poll_s="often")]}, source="gsmgw.toml")
    assert "modems[0].registration_poll_s must be a number" in str(info.value)


def test_config_check_prints_the_mistake(tmp_path):
    path = tmp_path / "gsmgw.toml"
    path.write_text('[[modems]]\nname = "sim1"\nimei = "35693803"\n')
    done = subprocess.run([sys.executable, "-m", "gateway.cli", "config", "check", "--config", str(path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode != 0
    assert "modems[sim1].imei '35693803' must be the 15 digits AT+CGSN shows" in done.stdout + done.stderr


def test_config_check_says_how_each_modem_is_found(tmp_path):
    path = tmp_path / "gsmgw.toml"
    path.write_text(f'[gateway]\nserial_scan = ["/dev/ttyUSB*"]\n\n[[modems]]\nname = "till"\nport = "/dev/ttyAMA0"\n\n'
                    f'[[modems]]\nname = "shop"\nimei = "{IMEI}"\n\n'
                    f'[[modems]]\nname = "sim3"\niccid = "{ICCID}"\nport = "/dev/ttyACM0"\n')
    done = subprocess.run([sys.executable, "-m", "gateway.cli", "config", "check", "--config", str(path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1:] == ["  till: on /dev/ttyAMA0",
                         f"  shop: the modem with IMEI {IMEI}, looked for on /dev/ttyUSB*",
                         f"  sim3: the modem with ICCID {ICCID}, looked for on /dev/ttyACM0, then /dev/ttyUSB*"]
