"""Webhooks for the tests: a receiver, a real HTTP server on a loopback address (`Receiver`, the
`receivers` fixture that closes each one), the scheduler that dispatches, an endpoint registered
through the API."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

TO = "+447700900123"


class Receiver:
    """An HTTP server on `host` that counts every POST (`hits`) and answers it: 500 for the first
    `fail`; 401 when `check_signature` and the signature fails the documented recipe for `secret`;
    else `status` with `body` and `headers`. The events it accepted are in `received`."""

    def __init__(self, secret: str = "", fail: int = 0, *, host: str = "127.0.0.1", check_signature: bool = True,
                 status: int = 200, body: bytes = b"ok", headers: dict[str, str] | None = None) -> None:
        self.secret = secret
        self.fail = fail
        self.check_signature = check_signature
        self.received: list[dict] = []
        self.hits = 0
        self.bad_signatures = 0
        self.signatures: list[str] = []
        self.got = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                data = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.got:
                    receiver.hits += 1
                    ok = not receiver.check_signature or receiver.verify(self.headers, data)
                    if not ok:
                        receiver.bad_signatures += 1
                    failing = receiver.fail > 0
                    receiver.fail -= 1
                    if ok and not failing:
                        receiver.received.append(json.loads(data))
                    receiver.got.notify_all()
                code, answer = (500, b"nope") if failing else (status, body) if ok else (401, b"bad signature")
                self.send_response(code)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://{host}:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def verify(self, headers, body: bytes) -> bool:
        """The documented recipe: HMAC-SHA256 over "<timestamp>.<body>", hex, after "sha256="; any
        of the comma-separated values may match (two during a secret rotation)."""
        timestamp = headers["X-Gsmgw-Timestamp"]
        expected = hmac.new(self.secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        self.signatures = headers["X-Gsmgw-Signature"].split(",")
        return any(hmac.compare_digest(value.strip(), f"sha256={expected}") for value in self.signatures)

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        with self.got:
            return self.got.wait_for(lambda: len(self.received) >= count, timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scheduler(clock):
    from gateway.scheduler.service import Scheduler

    made = Scheduler(clock)
    made.start()
    yield made
    made.shutdown()


@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def make(**kwargs) -> Receiver:
        made.append(Receiver(**kwargs))
        return made[-1]
    yield make
    for receiver in made:
        receiver.close()


def register(client, key, url, events):
    response = client.post("/api/v1/webhooks", json={"url": url, "events": events}, headers=key.headers)
    assert response.status_code == 201, response.json
    return response.json
