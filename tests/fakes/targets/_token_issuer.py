"""An OAuth 2.0 token endpoint for the fake targets (client credentials or refresh token, RFC 6749)."""
from __future__ import annotations

import base64
import secrets
from decimal import Decimal
from typing import Any

from tests.fakes.target_base import Reply, Req

__all__ = ["TokenIssuer", "SECRET", "REFRESH", "dec_json", "out"]

SECRET = "s3cr3t-client-secret-XYZ"
REFRESH = "r3fr3sh-token-ABC"


def dec_json(req: Req) -> Any:
    """The request body as JSON with numbers as Decimal (to check amounts exactly)."""
    import json

    return json.loads(req.body or b"null", parse_float=Decimal, parse_int=Decimal)


class TokenIssuer:
    """Issues opaque bearer tokens; `revoke()` makes every issued token invalid (the next call gets 401)."""

    def __init__(self, grant: str, client_id: str = "cid", client_secret: str = SECRET,
                 refresh_token: str = REFRESH, basic: bool = False, ttl: int = 3600, rotate: bool = False) -> None:
        self.grant, self.client_id, self.client_secret = grant, client_id, client_secret
        self.refresh_token, self.basic, self.ttl = refresh_token, basic, ttl
        self.rotate = rotate  # Xero and QuickBooks: every refresh spends the refresh token and returns a new one
        self.tokens: set[str] = set()
        self.issued = 0
        self.scopes: list[str | None] = []

    def issue(self, req: Req) -> Reply:
        form = req.form()
        cid, csecret = form.get("client_id"), form.get("client_secret")
        auth = req.headers.get("authorization", "")
        if auth.startswith("Basic "):
            cid, _, csecret = base64.b64decode(auth[6:]).decode().partition(":")
        elif self.basic:
            return Reply(401, {"error": "invalid_client", "error_description": "client authentication must use HTTP Basic"})
        if (cid, csecret) != (self.client_id, self.client_secret):
            return Reply(401, {"error": "invalid_client", "error_description": "client authentication failed"})
        if form.get("grant_type") != self.grant:
            return Reply(400, {"error": "unsupported_grant_type"})
        if self.grant == "refresh_token" and form.get("refresh_token") != self.refresh_token:
            return Reply(400, {"error": "invalid_grant"})
        self.scopes.append(form.get("scope"))
        token = "tok-" + secrets.token_hex(8)
        self.tokens.add(token)
        self.issued += 1
        body: dict[str, Any] = {"access_token": token, "token_type": "Bearer", "expires_in": self.ttl}
        if self.grant == "refresh_token" and self.rotate:
            self.refresh_token = body["refresh_token"] = "rt-" + secrets.token_hex(12)
        return Reply(200, body)

    def revoke(self) -> None:
        self.tokens.clear()

    def authorised(self, req: Req, scheme: str = "Bearer") -> bool:
        value = req.headers.get("authorization", "")
        return value.startswith(scheme + " ") and value[len(scheme) + 1:] in self.tokens


def out(doc: Any) -> Any:
    """A stored document as a JSON-able reply (Decimals → JSON numbers)."""
    if isinstance(doc, Decimal):
        return int(doc) if doc == doc.to_integral_value() and "." not in str(doc) else float(doc)
    if isinstance(doc, dict):
        return {k: out(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [out(v) for v in doc]
    return doc
