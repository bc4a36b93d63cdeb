"""The REST API's server: the real waitress server in the daemon, and the `listen` address it is
bound to as written (a bare port on this machine only, an unclear one refused at load).
"""

from __future__ import annotations

import json

import pytest

from gateway.apikeys import keys
from gateway.core.clock import FakeClock

from .api_helpers import TO
from .daemon_helpers import database_section


def test_real_waitress_server_in_the_daemon(tmp_path):
    """The daemon's hook serves the app with waitress on web.listen, and stops it."""
    import urllib.request

    from gateway.core import config as config_module
    from gateway.daemon import Daemon

    cfg = config_module.from_dict({"gateway": {"data_dir": str(tmp_path)}, "web": {"listen": "127.0.0.1:0"},
                                   **database_section()})
    daemon = Daemon(cfg, clock=FakeClock())
    daemon.start()
    try:
        port = daemon.web_server.effective_port
        new = keys.create(daemon.queue.sessions, daemon.clock, "t", "send,read")
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/messages", method="POST",
            data=json.dumps({"to": TO, "text": "over real HTTP"}).encode(),
            headers={"Authorization": f"Bearer {new.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 202
            assert json.loads(response.read())["status"] == "queued"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=5) as response:
            assert json.loads(response.read())["checks"]["database"]["status"] == "pass"
    finally:
        daemon.stop()
    assert daemon.web_server is None


def test_a_bare_port_listens_on_this_machine_only_and_the_start_up_line_says_where(tmp_path, caplog):
    from gateway.core import config as config_module
    from gateway.daemon import Daemon

    cfg = config_module.from_dict({"gateway": {"data_dir": str(tmp_path)}, "web": {"listen": "0"}, **database_section()})
    daemon = Daemon(cfg, clock=FakeClock())
    with caplog.at_level("INFO", logger="gsmgw"):
        daemon.start()
    try:
        host, port = daemon.web_server.socket.getsockname()[:2]
        assert host == "127.0.0.1"
        line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("REST API on"))
        assert f"http://127.0.0.1:{port}/api/v1" in line and "this machine only" in line
    finally:
        daemon.stop()


@pytest.mark.parametrize(("listen", "address"), [
    ("8080", ("127.0.0.1", 8080)), ("0.0.0.0:8080", ("0.0.0.0", 8080)), ("[::1]:9000", ("::1", 9000)),
    ("box.lan:80", ("box.lan", 80))])
def test_listen_is_bound_as_written(listen, address):
    from gateway.core import config as config_module

    assert config_module.from_dict({"web": {"listen": listen}}).web.address == address


@pytest.mark.parametrize(("listen", "message"), [(":8080", "has no host"), ("::1:80", "brackets"),
                                                 ("127.0.0.1:http", "port must be a number"), ("99999", "0 to 65535")])
def test_a_listen_without_a_clear_address_is_refused_at_load(listen, message):
    from gateway.core import config as config_module

    with pytest.raises(config_module.ConfigError, match=message) as info:
        config_module.from_dict({"web": {"listen": listen}}, source="gsmgw.toml")
    assert "web.listen" in str(info.value)
