"""Signature helpers the sources share: HMAC digests compared in constant time, the body digest,
and the timestamped signature of events we sign ourselves (pollers, forwarders)."""
from __future__ import annotations

import base64
import hashlib
import hmac

from sources.base import InboundRequest, Source

__all__ = ["TIMESTAMPED_HEADERS", "verify_timestamped_request", "hmac_digest", "constant_time_equal", "body_digest"]

#: the headers of our own timestamped HMAC scheme (`sources.support.webhook_auth.sign_timestamped`),
#: used by platforms whose webhooks we send from a script or workflow on their side (Epicor, NetSuite)
TIMESTAMPED_HEADERS = ("x-invoicing-timestamp", "x-invoicing-signature")


def verify_timestamped_request(source: Source, request: InboundRequest) -> None:
    """Check *request* against our timestamped HMAC scheme with *source*'s secret and tolerance.

    Raises:
        SignatureError: missing, stale or not matching.
    """
    from sources.support.webhook_auth import verify_timestamped

    verify_timestamped(source.secret(), request.body, request.header(TIMESTAMPED_HEADERS[0]),
                       request.header(TIMESTAMPED_HEADERS[1]), source.settings.timestamp_tolerance, source.platform)


def hmac_digest(key: bytes, message: bytes, algorithm: str = "sha256", encoding: str = "base64") -> str:
    mac = hmac.new(key, message, getattr(hashlib, algorithm)).digest()
    return base64.b64encode(mac).decode() if encoding == "base64" else mac.hex()


def constant_time_equal(a: str | bytes, b: str | bytes) -> bool:
    a_b = a.encode() if isinstance(a, str) else a
    b_b = b.encode() if isinstance(b, str) else b
    return bool(a_b) and hmac.compare_digest(a_b, b_b)


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:32]


