"""Webhook signatures: HMAC-SHA256 of "<timestamp>.<body>" with the receiver's secret (docs/api.md)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """One signature of a body sent at `timestamp`: "sha256=<hex>"."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signature_header(secrets_: Iterable[str], timestamp: int | str, body: bytes) -> str:
    """The X-Gsmgw-Signature value: one "sha256=<hex>" per valid secret, the current one first,
    comma-separated (two during a rotation's grace period)."""
    return ",".join(sign(secret, timestamp, body) for secret in secrets_)


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)
