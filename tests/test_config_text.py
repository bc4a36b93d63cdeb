"""The config text a program writes for its own `gsmgw run`: read back by the gateway's loader as
written, every modem without send limits."""

from __future__ import annotations

from pathlib import Path

from gateway.core.config import load
from gateway.core.config_text import run_config
from gateway.outbound.limits import Limits


def test_a_written_config_loads_with_its_values_and_no_send_limits(tmp_path: Path) -> None:
    odd_port = str(tmp_path / 'ports "a" \\ é \x7f tab\t' / "sim1")
    modems = {"sim1": {"port": odd_port, "pin": "1234", "rtscts": True, "check_interval_s": 2.5,
                       "registration_poll_s": 1e-05, "power_cycles_per_hour": 7},
              "sim2": {"port": "/dev/ttyUSB1"}}
    path = tmp_path / "gsmgw.toml"
    path.write_text(run_config(tmp_path / "data", "127.0.0.1:0", modems, '[reports]\nwait_hours = 0.5\n\n'))

    config = load(str(path))

    assert config.gateway.data_dir == str(tmp_path / "data") and config.web.listen == "127.0.0.1:0"
    assert config.reports.wait_hours == 0.5
    first, second = config.modems
    assert (first.name, first.port, first.pin, first.rtscts) == ("sim1", odd_port, "1234", True)
    assert (first.check_interval_s, first.registration_poll_s, first.power_cycles_per_hour) == (2.5, 1e-05, 7)
    assert (second.name, second.port) == ("sim2", "/dev/ttyUSB1")
    assert first.limits == second.limits == Limits()
    assert not any(cap for _, _, cap in first.limits.windows()) and first.limits.min_gap_s == 0
