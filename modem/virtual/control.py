"""Run-time control of virtual modems: one dispatcher, reachable from Python and over a socket.

Python: `apply(ports, {"cmd": "hang", "modem": "sim1", "seconds": 5})`, or call the methods on
`VirtualModem` / `VirtualModemPort` directly.

Socket (`ControlServer`): JSON lines over a Unix socket (a path) or TCP ("127.0.0.1:9000" or
"tcp:127.0.0.1:9000"). Each request is one object with "cmd", usually "modem" (the port name,
e.g. "sim1"), and the command's arguments by name; each answer is one line
`{"ok": true, "result": ...}` or `{"ok": false, "error": "..."}`. Example:

    {"cmd": "inject_sms", "modem": "sim2", "sender": "+447700900123", "text": "hello", "mode": "cmt"}
    {"cmd": "garbage", "modem": "sim1", "hex": "fffe"}
    {"cmd": "unplug", "modem": "sim1", "replug_after": 2.0}
    {"cmd": "replug", "modem": "sim1", "path": "usb-socket-2"}     (back on another port)
    {"cmd": "power_input", "modem": "sim1", "on": false}           (its supply cut; true boots it)
"""

from __future__ import annotations

import json
import os
import select
import socket
import threading
from typing import Any, Mapping

from modem.virtual.server import VirtualModemPort

# Commands forwarded to the VirtualModem, with the arguments they accept.
MODEM_COMMANDS = {
    "inject_sms": ("sender", "text", "mode", "split", "flash"),
    "set_latency": ("seconds",),
    "hang": ("seconds",),
    "reset": (),
    "cms_error": ("code", "times", "command"),
    "cme_error": ("code", "times", "command"),
    "barred": ("code",),
    "refuse_number": ("number", "code"),
    "no_network": ("on",),
    "registration_denied": ("on", "cause"),
    "sim": ("state", "pin"),
    "urc_midresponse": ("line",),
    "urc_inside_pair": ("line",),
    "split_lines": ("on",),
    "ussd_reply": ("text", "status"),
    "storage_full": ("on",),
    "no_prompt": ("times",),
    "send_urc": ("line",),
    "vendor_noise": ("interval", "seed"),
    "pdu_trailing_zero": ("on",),
    "status": (),
    "power_input": ("on",),
}
PORT_COMMANDS = {"unplug": ("replug_after",), "replug": ("after", "path")}


class ControlError(ValueError):
    pass


def apply(ports: Mapping[str, VirtualModemPort], request: Mapping[str, Any]) -> Any:
    """Execute one control request; raises ControlError for bad requests."""
    cmd = request.get("cmd")
    if cmd == "list":
        return [{"name": n, "path": p.path, "pty": p.pty_path, "tcp": p.tcp_url, "msisdn": p.modem.msisdn,
                 "profile": p.modem.profile.name, "plugged": p.plugged} for n, p in ports.items()]
    if cmd == "submitted":
        first = next(iter(ports.values()), None)
        return list(first.modem.network.record.submitted) if first else []
    name = request.get("modem")
    if name not in ports:
        raise ControlError(f"unknown modem {name!r}; have {', '.join(ports)}")
    port = ports[name]
    if cmd == "set_outcome":
        port.modem.network.set_outcome(str(request["number"]), [int(s) for s in request.get("statuses", [])])
        return None
    if cmd == "garbage":
        data = bytes.fromhex(request["hex"]) if "hex" in request else str(request.get("data", "")).encode("latin-1")
        port.modem.garbage(data)
        return None
    if cmd in PORT_COMMANDS:
        target, allowed = port, PORT_COMMANDS[cmd]
    elif cmd in MODEM_COMMANDS:
        target, allowed = port.modem, MODEM_COMMANDS[cmd]
    else:
        raise ControlError(f"unknown command {cmd!r}")
    unknown = set(request) - {"cmd", "modem"} - set(allowed)
    if unknown:
        raise ControlError(f"{cmd}: unknown argument(s) {', '.join(sorted(unknown))}")
    kwargs = {k: request[k] for k in allowed if k in request}
    try:
        return getattr(target, cmd)(**kwargs)
    except TypeError as exc:
        raise ControlError(f"{cmd}: {exc}") from None


def _parse_address(address: str) -> tuple[int, Any]:
    if address.startswith("tcp:"):
        address = address[4:]
    if ":" in address and not address.startswith(("/", ".")):
        host, port = address.rsplit(":", 1)
        return socket.AF_INET, (host, int(port))
    return socket.AF_UNIX, address


class ControlServer:
    """JSON-lines control socket for a simulator process (see module doc)."""

    def __init__(self, ports: Mapping[str, VirtualModemPort], address: str) -> None:
        self.ports = ports
        family, addr = _parse_address(address)
        self._unix_path = addr if family == socket.AF_UNIX else None
        if self._unix_path and os.path.exists(self._unix_path):
            os.unlink(self._unix_path)
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        if family == socket.AF_INET:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(addr)
        self._sock.listen()
        self.address = addr if family == socket.AF_UNIX else "tcp:%s:%d" % self._sock.getsockname()[:2]
        self._clients: dict[socket.socket, bytearray] = {}
        self._wake_r, self._wake_w = socket.socketpair()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="virtual-modem-control")
        self._thread.start()

    def _run(self) -> None:
        while not self._closing:
            readable, _, _ = select.select([self._sock, self._wake_r, *self._clients], [], [], 1.0)
            for sock in readable:
                if sock is self._wake_r:
                    continue
                if sock is self._sock:
                    conn, _ = self._sock.accept()
                    self._clients[conn] = bytearray()
                    continue
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    del self._clients[sock]
                    sock.close()
                    continue
                buf = self._clients[sock]
                buf += data
                while b"\n" in buf:
                    line, _, rest = bytes(buf).partition(b"\n")
                    buf[:] = rest
                    if line.strip():
                        try:
                            sock.sendall(self.handle(line) + b"\n")
                        except OSError:
                            break

    def handle(self, line: bytes) -> bytes:
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ControlError("request must be a JSON object")
            answer = {"ok": True, "result": apply(self.ports, request)}
        except (ControlError, ValueError, KeyError) as exc:
            answer = {"ok": False, "error": str(exc)}
        return json.dumps(answer, default=str).encode()

    def close(self) -> None:
        self._closing = True
        self._wake_w.send(b"x")
        self._thread.join(5)
        for sock in self._clients:
            sock.close()
        self._clients.clear()
        self._sock.close()
        self._wake_r.close()
        self._wake_w.close()
        if self._unix_path and os.path.exists(self._unix_path):
            os.unlink(self._unix_path)


def send_command(address: str, request: Mapping[str, Any], timeout: float = 5.0) -> Any:
    """Client helper: send one request, return its result or raise ControlError."""
    family, addr = _parse_address(address)
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(addr)
        sock.sendall(json.dumps(request).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
    answer = json.loads(buf)
    if not answer.get("ok"):
        raise ControlError(answer.get("error", "failed"))
    return answer.get("result")
