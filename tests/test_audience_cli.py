"""`gsmgw contacts import|export`, `gsmgw optout|optin` as an operator runs them: real processes."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from .daemon_helpers import database_url
from .process_helpers import gsmgw

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "gsmgw.toml"
    path.write_text(f'[gateway]\ndata_dir = "{tmp_path}"\n\n[consent]\ndouble_opt_in = true\n')
    return path


def test_import_reports_rows_and_exits_1_when_some_were_rejected(config, tmp_path):
    data = tmp_path / "people.csv"
    data.write_text("number,name,consent,consent_proof\n07700900001,Ann,yes,shop form\n12,Bad,,\n"
                    "07700 900001,Ann B,,\n")
    result = gsmgw("contacts", "import", str(data), config=config)
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        "line 3: rejected: 12: invalid number: '12' has the wrong number of digits for its country",
        "line 4: merged: +447700900001: duplicate of line 2",
        "1 created, 0 updated, 0 unchanged, 1 merged, 1 rejected",
    ]
    again = gsmgw("contacts", "import", str(data), "--json", config=config)
    assert json.loads(again.stdout)["summary"] == {"created": 0, "updated": 0, "unchanged": 1, "merged": 1, "rejected": 1}

    exported = gsmgw("contacts", "export", config=config)
    assert exported.returncode == 0
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [(r["number"], r["name"], r["consent_state"]) for r in rows] == [("+447700900001", "Ann B", "opted_in")]
    out = tmp_path / "out.csv"
    assert gsmgw("contacts", "export", "--output", str(out), config=config).returncode == 0
    assert out.read_text().startswith("number,name,")


def test_import_of_a_file_without_numbers_imports_nothing(config, tmp_path):
    data = tmp_path / "bad.csv"
    data.write_text("email\na@example.com\n")
    result = gsmgw("contacts", "import", str(data), config=config)
    assert result.returncode == 2 and "no number column" in result.stderr
    missing = gsmgw("contacts", "import", str(tmp_path / "nope.csv"), config=config)
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_optout_and_double_opt_in(config):
    result = gsmgw("optout", "07700 900123", "--detail", "asked at the till", config=config)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("+447700900123: opt_out (marketing, staff) recorded at")
    result = gsmgw("optin", "+447700900123", "--source", "web_form", config=config)
    assert "opt_in_requested" in result.stdout and "reply YES" in result.stdout
    bad = gsmgw("optout", "not a number", config=config)
    assert bad.returncode == 2 and "not recorded" in bad.stderr


def test_what_the_cli_changes_reaches_webhooks_through_the_outbox(config, tmp_path):
    """The CLI runs no dispatcher: it stores the events, and the daemon's dispatcher delivers them."""
    from gateway.core.clock import Clock
    from gateway.store import db
    from gateway.webhooks.outbox import Webhooks

    engine = db.make_engine(database_url(tmp_path))
    db.upgrade(engine)
    webhooks = Webhooks(db.sessions(engine), Clock())
    webhooks.create_endpoint("http://127.0.0.1:9/hook", ["message.status", "contact.opted_out"])
    try:
        assert gsmgw("optout", "07700 900124", config=config).returncode == 0
        sent = gsmgw("send", "07700 900125", "Your table is ready", config=config)
        assert sent.returncode == 0, sent.stderr
        payloads = [webhooks.delivery(d["id"])["payload"] for d in reversed(webhooks.deliveries())]
    finally:
        engine.dispose()
    assert [(p["type"], p["data"].get("number") or p["data"].get("to"), p["data"].get("status")) for p in payloads] == [
        ("contact.opted_out", "+447700900124", None), ("message.status", "+447700900125", "queued")]


def test_optin_after_an_optout_only_asks(tmp_path):
    path = tmp_path / "gsmgw.toml"
    path.write_text(f'[gateway]\ndata_dir = "{tmp_path}"\n')  # no double opt-in configured
    assert gsmgw("optout", "07700 900123", "--detail", "phoned the shop", config=path).returncode == 0
    result = gsmgw("optin", "07700 900123", "--detail", "changed their mind, says the manager", config=path)
    assert result.returncode == 0, result.stderr
    assert "opt_in_requested (marketing, staff)" in result.stdout
    assert "not opted in: the contact opted out (staff)" in result.stdout and "reply YES" in result.stdout


def test_optin_after_a_stopall_sends_nothing_and_says_why(tmp_path):
    path = tmp_path / "gsmgw.toml"
    path.write_text(f'[gateway]\ndata_dir = "{tmp_path}"\n')
    assert gsmgw("optout", "07700 900123", "--all", "--detail", "wants no texts at all", config=path).returncode == 0
    result = gsmgw("optin", "07700 900123", "--detail", "the manager says they changed their mind", config=path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("not recorded: the customer asked for no messages at all"), result.stderr
    assert "START" in result.stderr
