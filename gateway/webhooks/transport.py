"""How a webhook POST leaves the gateway: only to addresses the target policy allows, checked on the
address each connection is made to (after name resolution), never following a redirect; and what a
failing receiver answered, cut to a printable excerpt."""

from __future__ import annotations

import http.client
import ipaddress
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from gateway.webhooks.targets import TargetPolicy


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook POST is not followed to another address: a redirect is a failed attempt (so a
    receiver cannot bounce the gateway to a loopback or link-local address)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class RefusedTarget(OSError):
    """The receiver's host resolves only to addresses the target policy refuses."""


def _guarded(connection_class: type[http.client.HTTPConnection], policy: TargetPolicy) -> Callable[..., Any]:
    """A connection class for urllib whose socket goes only to an address the policy allows: the
    check is on the address actually connected to, after name resolution, not on the URL's text."""

    def make(host: str, **kwargs: Any) -> http.client.HTTPConnection:
        connection = connection_class(host, **kwargs)
        connection._create_connection = (  # type: ignore[attr-defined]
            lambda address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None:  # type: ignore[attr-defined]
            _connect(policy, address, timeout, source_address))
        return connection
    return make


def _connect(policy: TargetPolicy, address: tuple[str, int], timeout: Any, source_address: Any) -> socket.socket:
    host, port = address
    refusal: str | None = None
    last_error: OSError | None = None
    for family, kind, proto, _name, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        refusal_here = policy.refusal_of_address(host, ipaddress.ip_address(str(sockaddr[0]).split("%")[0]))
        if refusal_here is not None:
            refusal = refusal_here
            continue
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:  # type: ignore[attr-defined]
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            last_error = exc
    if last_error is not None:
        raise last_error
    raise RefusedTarget(refusal or f"{host} has no address")


class _GuardedHTTP(urllib.request.HTTPHandler):
    def __init__(self, policy: TargetPolicy) -> None:
        super().__init__()
        self._connection = _guarded(http.client.HTTPConnection, policy)

    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(self._connection, req)


class _GuardedHTTPS(urllib.request.HTTPSHandler):
    def __init__(self, policy: TargetPolicy) -> None:
        super().__init__()
        self._connection = _guarded(http.client.HTTPSConnection, policy)

    def https_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(self._connection, req, context=self._context)


def guarded_opener(policy: TargetPolicy) -> urllib.request.OpenerDirector:
    """The opener webhook POSTs go through: no proxy, no redirects, sockets only to allowed addresses."""
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect(),
                                       _GuardedHTTP(policy), _GuardedHTTPS(policy))


def post(opener: urllib.request.OpenerDirector, url: str, body: bytes, *, headers: dict[str, str],
         timeout: float) -> tuple[int | None, str | None, int]:
    """One JSON POST through `opener`: (the receiver's HTTP status or None if it never answered, the
    error as one printable line or None, milliseconds taken). A receiver's failure is an answer, never
    an exception."""
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "gsmgw-webhooks/1", **headers})
    started = time.monotonic()
    http_status: int | None = None
    error: str | None = None
    try:
        with opener.open(request, timeout=timeout) as response:
            http_status = response.status
            response.read(1024)
    except urllib.error.HTTPError as exc:
        http_status = exc.code
        error = f"HTTP {exc.code}: {excerpt(exc)}"
        exc.close()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        error = sanitised(str(getattr(exc, "reason", None) or exc), 300) or type(exc).__name__
    return http_status, error, int((time.monotonic() - started) * 1000)


EXCERPT_CHARS = 120  # of a failing receiver's answer, kept in last_error and the attempt log


def excerpt(exc: urllib.error.HTTPError) -> str:
    """The start of a failing receiver's body as one line of printable text: enough to see what
    went wrong, never a page of whatever the receiver (or a host it points at) answers."""
    try:
        raw = exc.read(EXCERPT_CHARS * 4)
    except Exception:
        raw = b""
    return sanitised(raw.decode("utf-8", "replace")) or sanitised(str(exc.reason)) or "no body"


def sanitised(text: str, limit: int = EXCERPT_CHARS) -> str:
    """`text` without control characters, its whitespace collapsed, cut to `limit` characters."""
    line = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return line if len(line) <= limit else line[:limit - 1] + "…"
