"""REST API through Flask's test client, on a real SQLite file (or the suite's PostgreSQL): API keys:
who may call what (401s, scopes, throttled guesses, the open health check), keys made, listed and
revoked through the API and the CLI, stored hashed.
"""

from __future__ import annotations

import json

import pytest

from gateway.apikeys import keys
from gateway.store import db

from .api_helpers import PROBLEM, TO, get, post


# ---- auth -------------------------------------------------------------------------------------
def test_no_key_wrong_key_revoked_key_are_401(client, make_key, database, clock):
    assert client.get("/api/v1/messages").status_code == 401
    assert client.get("/api/v1/messages", headers={"Authorization": "Bearer gsk_wrong"}).status_code == 401
    assert client.get("/api/v1/messages", headers={"Authorization": "Basic dXNlcjpwdw=="}).status_code == 401
    key = make_key("read")
    assert get(client, "/messages", key).status_code == 200
    keys.revoke(db.sessions(database), clock, key.id)
    response = get(client, "/messages", key)
    assert response.status_code == 401 and response.mimetype == PROBLEM
    assert "WWW-Authenticate" in response.headers


@pytest.mark.parametrize("scopes, method, path, body, allowed", [
    ("read", "POST", "/messages", {"to": TO, "text": "hi"}, False),
    ("send", "POST", "/messages", {"to": TO, "text": "hi"}, True),
    ("send", "GET", "/messages", None, False),
    ("read", "GET", "/inbound", None, True),
    ("send,read", "GET", "/keys", None, False),
    ("send,read", "POST", "/webhooks", {"url": "http://127.0.0.1:9/x", "events": ["message.status"]}, False),
    ("admin", "POST", "/messages", {"to": TO, "text": "hi"}, True),
    ("admin", "GET", "/keys", None, True),
])
def test_scopes_are_enforced_per_endpoint(client, make_key, scopes, method, path, body, allowed):
    response = client.open(f"/api/v1{path}", method=method, json=body, headers=make_key(scopes).headers)
    assert (response.status_code < 300) is allowed, response.json
    if not allowed:
        assert response.status_code == 403 and response.mimetype == PROBLEM


def test_failed_auth_is_throttled_per_address_and_key_never_for_a_valid_key(client, make_key, clock):
    good = make_key("read")
    bad = {"Authorization": "Bearer gsk_guess"}
    for _ in range(10):
        assert client.get("/api/v1/messages", headers=bad).status_code == 401
    response = client.get("/api/v1/messages", headers=bad)
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    # the POS's valid key on the same address is never held off by someone else's wrong key
    assert get(client, "/messages", good).status_code == 200
    # nor is another wrong key (a typo elsewhere), nor the same wrong key from another address
    assert client.get("/api/v1/messages", headers={"Authorization": "Bearer gsk_typo1234"}).status_code == 401
    other = client.get("/api/v1/messages", headers=bad, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 401
    clock.advance(61)
    assert client.get("/api/v1/messages", headers=bad).status_code == 401


def test_fresh_guesses_from_one_address_are_held_off_too_but_not_its_valid_key(client, make_key):
    good = make_key("read")
    answers = [client.get("/api/v1/messages", headers={"Authorization": f"Bearer gsk_{i:08d}xyz"}).status_code
               for i in range(101)]
    assert answers[:100] == [401] * 100 and answers[100] == 429
    assert get(client, "/messages", good).status_code == 200


def test_health_needs_no_key_and_says_fail_with_503(client, modem_list):
    response = client.get("/api/v1/health")
    assert response.status_code == 200 and response.json["status"] == "warn"  # no modems
    modem_list[:] = [{"name": "sim1", "state": "ready", "signal": {"bars": 4}, "limits": {}}]
    assert client.get("/api/v1/health").json["status"] == "pass"
    modem_list.append({"name": "sim2", "state": "hung", "reason": "no answer", "limits": {}})
    response = client.get("/api/v1/health")
    assert response.status_code == 503 and response.json["status"] == "fail"
    assert response.json["checks"]["modems"][1] == {"name": "sim2", "status": "fail", "detail": "hung: no answer"}
    assert response.json["checks"]["database"]["status"] == "pass"


def test_keys_create_list_revoke_through_the_api(client, make_key):
    admin = make_key("admin")
    created = post(client, "/keys", {"name": "booking system", "scopes": ["send"]}, admin)
    assert created.status_code == 201 and created.json["token"].startswith("gsk_")
    new = {"Authorization": f"Bearer {created.json['token']}"}
    assert client.post("/api/v1/messages", json={"to": TO, "text": "hi"}, headers=new).status_code == 202
    listed = get(client, "/keys", admin).json["items"]
    assert all("token" not in k and "token_hash" not in k for k in listed)
    assert client.delete(f"/api/v1/keys/{created.json['id']}", headers=admin.headers).json["revoked_at"]
    assert client.post("/api/v1/messages", json={"to": TO, "text": "hi"}, headers=new).status_code == 401
    assert post(client, "/keys", {"name": "x", "scopes": ["root"]}, admin).status_code == 422
    assert client.delete("/api/v1/keys/999", headers=admin.headers).status_code == 404


def test_keys_are_stored_hashed(database, clock):
    new = keys.create(db.sessions(database), clock, "shop", "send")
    with database.connect() as connection:
        dump = "\n".join(str(row) for row in connection.exec_driver_sql("SELECT * FROM api_keys"))
    assert new.token not in dump and keys.hash_token(new.token) in dump
    assert new.token[:12] in dump  # the display prefix


def test_apikey_cli_create_list_revoke(tmp_path, capsys):
    from gateway.cli.main import main

    config = tmp_path / "gsmgw.toml"
    config.write_text(f'[gateway]\ndata_dir = "{tmp_path}"\n')
    assert main(["apikey", "create", "--config", str(config), "--name", "shop", "--scopes", "send,read"]) == 0
    out = capsys.readouterr().out
    token = next(w for w in out.split() if w.startswith("gsk_"))
    assert main(["apikey", "list", "--config", str(config)]) == 0
    listing = capsys.readouterr().out
    assert "shop" in listing and token not in listing and "active" in listing
    assert main(["apikey", "revoke", "1", "--config", str(config)]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["apikey", "list", "--config", str(config), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["revoked_at"]
    assert main(["apikey", "create", "--config", str(config), "--name", "x", "--scopes", "root"]) == 2
    assert main(["apikey", "revoke", "7", "--config", str(config)]) == 1


def test_apikey_cli_scopes_gives_an_existing_key_the_contacts_scope(tmp_path, capsys):
    """How a till's key from before the `contacts` scope gets it back, without a new token."""
    from gateway.cli.main import main

    config = tmp_path / "gsmgw.toml"
    config.write_text(f'[gateway]\ndata_dir = "{tmp_path}"\n')
    assert main(["apikey", "create", "--config", str(config), "--name", "till", "--scopes", "send"]) == 0
    capsys.readouterr()
    assert main(["apikey", "scopes", "1", "send,contacts", "--config", str(config)]) == 0
    assert "scopes contacts,send" in capsys.readouterr().out
    assert main(["apikey", "list", "--config", str(config), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["scopes"] == ["contacts", "send"]
    assert main(["apikey", "scopes", "1", "root", "--config", str(config)]) == 2
    assert main(["apikey", "scopes", "9", "send", "--config", str(config)]) == 1
