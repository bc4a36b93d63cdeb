"""Config: defaults in code, the file overrides, every mistake named with file and key."""

import pytest

from gateway.core.config import ConfigError, from_dict, load


@pytest.mark.sqlite_only  # the default database is the SQLite file in data_dir
def test_defaults_and_override(tmp_path):
    path = tmp_path / "gsmgw.toml"
    path.write_text(
        '[gateway]\ndata_dir = "%s"\n\n[[modems]]\nname = "sim1"\nport = "/dev/ttyUSB0"\n'
        "[modems.limits]\nper_minute = 3\n" % tmp_path
    )
    cfg = load(str(path))
    assert cfg.modems[0].limits.per_minute == 3
    assert cfg.modems[0].limits.per_day == 500  # default kept
    assert cfg.database_url == f"sqlite:///{tmp_path}/gsmgw.db"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"gateway": {"data_dri": "x"}}, "unknown key gateway.data_dri"),
        ({"modems": [{"name": "sim1", "port": "/dev/x", "baudrate": "fast"}]}, "modems[0].baudrate must be a whole number"),
        ({"modems": [{"name": "sim1"}]}, "modems[sim1]: give port, imei or iccid"),
        ({"modems": [{"name": "a", "port": "p"}, {"name": "a", "port": "q"}]}, "used twice"),
        ({"modems": [{"name": "a", "port": "p", "limits": {"per_hour": -1}}]}, "must not be negative"),
        ({"web": "8080"}, "[web] must be a table"),
        ({"consent": {"confirm_within_days": 0}}, "consent.confirm_within_days must be more than 0"),
    ],
)
def test_errors_name_the_key(data, message):
    with pytest.raises(ConfigError) as info:
        from_dict(data, source="/etc/gsmgw/gsmgw.toml")
    assert message in str(info.value)
    assert "/etc/gsmgw/gsmgw.toml" in str(info.value)


def test_bad_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[gateway\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(str(bad))
    with pytest.raises(ConfigError, match="no such file"):
        load(str(tmp_path / "missing.toml"))


def test_environment_overrides(tmp_path, monkeypatch):
    path = tmp_path / "gsmgw.toml"
    path.write_text("")
    monkeypatch.setenv("GSMGW_CONFIG", str(path))
    monkeypatch.setenv("GSMGW_DATABASE_URL", "postgresql+psycopg://gw@db/gsmgw")
    assert load().database_url == "postgresql+psycopg://gw@db/gsmgw"


def test_webhooks_allowed_hosts_are_checked_at_load():
    assert from_dict({"webhooks": {"allowed_hosts": ["127.0.0.1", "10.0.0.0/8", "pos.lan"]}}).webhooks.allowed_hosts == (
        "127.0.0.1", "10.0.0.0/8", "pos.lan")
    assert from_dict({}).webhooks.allowed_hosts == ()
    with pytest.raises(ConfigError, match="webhooks.allowed_hosts\\[1\\]"):
        from_dict({"webhooks": {"allowed_hosts": ["127.0.0.1", "http://x/"]}})
    with pytest.raises(ConfigError, match="webhooks.allowed_hosts must be a list"):
        from_dict({"webhooks": {"allowed_hosts": "127.0.0.1"}})


def test_prompt_timeout_reaches_the_modem_settings():
    """The wait for AT+CMGS's "> " is a setting (slow modems need longer), not a fixed 10 s."""
    from gateway.daemon import modem_settings

    config = from_dict({"modems": [{"name": "sim1", "port": "/dev/x", "prompt_timeout_s": 25}]})
    assert config.modems[0].prompt_timeout_s == 25.0
    assert modem_settings(config.modems[0]).prompt_timeout_s == 25.0
    assert from_dict({"modems": [{"name": "sim1", "port": "/dev/x"}]}).modems[0].prompt_timeout_s == 10.0


def test_the_confirmation_window_defaults_to_a_week_and_can_be_set():
    assert from_dict({}).consent.confirm_within_days == 7.0
    assert from_dict({"consent": {"confirm_within_days": 2}}).consent.confirm_within_days == 2.0
