"""Who may see and do what in the console.

* Sessions: a signed cookie (itsdangerous: URL-safe JSON, its timestamp and an HMAC) holding
  the user name and the CSRF token; ``HttpOnly``, ``SameSite=Lax``, ``Secure`` when the request
  came over TLS (or ``X-Forwarded-Proto: https``, or ``INVOICING_CONSOLE_SECURE_COOKIES=true``).
  A sign-in lasts ``session_hours``; the user is looked up on every request, so a removed
  user is signed out at once.
* `AuthMiddleware`: every path but ``/login`` and ``/static/`` needs a signed-in user; a
  GET without one is sent to the sign-in page, anything else is refused (403). The register
  views (``/register/``) are read-only: only GET and HEAD pass.
* `action`: every state-changing endpoint is wrapped in it. It refuses (403) a request without
  the session's CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``) and, for
  operator actions, a viewer; refusals are written to the audit table too.
* `LoginLimiter`: failed sign-ins per user name and per address within a window; past the
  limit, 429 until the window has passed.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Awaitable, Callable
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from invoicing.console.accounts import User, get_user, record_action

__all__ = ["SESSION_COOKIE", "Sessions", "AuthMiddleware", "LoginLimiter", "action", "check_csrf", "current_user",
           "client_address", "audit", "Endpoint"]

SESSION_COOKIE = "invoicing_console"
_SAFE = ("GET", "HEAD")
Endpoint = Callable[[Request], Awaitable[Response]]


class Sessions:
    """Signed, timestamped session cookies."""

    def __init__(self, secret: bytes, max_age: float) -> None:
        self.serializer = URLSafeTimedSerializer(secret, salt="invoicing-console-session")
        self.max_age = max_age

    def load(self, cookie: str | None) -> dict[str, Any]:
        if not cookie:
            return {}
        try:
            data = self.serializer.loads(cookie, max_age=int(self.max_age))
        except (BadSignature, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def dump(self, data: dict[str, Any]) -> str:
        return str(self.serializer.dumps(data))


def _secure(scope: Scope, forced: bool | None) -> bool:
    if forced is not None:
        return forced
    if scope.get("scheme") == "https":
        return True
    for name, value in scope.get("headers", []):
        if name == b"x-forwarded-proto":
            return bytes(value).decode("latin-1").split(",")[0].strip().lower() == "https"
    return False


@dataclass(frozen=True)
class _Policy:
    sessions: Sessions
    engine: Any
    secure: bool | None


class AuthMiddleware:
    """Sessions, sign-in required, read-only register views. See the module docstring."""

    def __init__(self, app: ASGIApp, *, sessions: Sessions, engine: Any, secure_cookies: bool | None) -> None:
        self.app = app
        self.policy = _Policy(sessions, engine, secure_cookies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = self.policy
        request = Request(scope)
        raw = request.cookies.get(SESSION_COOKIE)
        session = policy.sessions.load(raw)
        original = json.dumps(session, sort_keys=True) if raw else None
        if not isinstance(session.get("csrf"), str):
            session = {"csrf": secrets.token_urlsafe(32)}
        user: User | None = None
        if isinstance(session.get("user"), str):
            user = await asyncio.to_thread(get_user, policy.engine, session["user"])
            if user is None:
                session = {"csrf": secrets.token_urlsafe(32)}
        state = scope.setdefault("state", {})
        state["console_session"] = session
        state["user"] = user
        secure = _secure(scope, policy.secure)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                now = state["console_session"]
                if json.dumps(now, sort_keys=True) != original:
                    headers = MutableHeaders(scope=message)
                    cookie = (f"{SESSION_COOKIE}={policy.sessions.dump(now)}; Path=/; Max-Age={int(policy.sessions.max_age)}; "
                              f"HttpOnly; SameSite=Lax")
                    headers.append("set-cookie", cookie + ("; Secure" if secure else ""))
            await send(message)

        path = scope["path"]
        method = scope["method"]
        public = path == "/login" or path.startswith("/static/")
        response: Response | None = None
        if not public and user is None:
            if method in _SAFE:
                target = path + (f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else "")
                response = RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
            else:
                response = PlainTextResponse("Sign in first.", status_code=403)
        elif path.startswith("/register/") and method not in _SAFE:
            response = PlainTextResponse("The register views are read-only.", status_code=403)
        if response is not None:
            await response(scope, receive, send_with_cookie)
            return
        await self.app(scope, receive, send_with_cookie)


def current_user(request: Request) -> User | None:
    user: User | None = request.state.user
    return user


def session_of(request: Request) -> dict[str, Any]:
    session: dict[str, Any] = request.state.console_session
    return session


def csrf_token(request: Request) -> str:
    return str(session_of(request)["csrf"])


async def check_csrf(request: Request) -> bool:
    """Whether the request carries this session's CSRF token (header ``X-CSRF-Token`` or field ``csrf_token``)."""
    expected = csrf_token(request)
    sent: Any = request.headers.get("x-csrf-token")
    if not sent:
        form = await request.form()
        sent = form.get("csrf_token")
    return isinstance(sent, str) and bool(sent) and hmac.compare_digest(sent.encode(), expected.encode())


def client_address(request: Request) -> str:
    return request.client.host if request.client else "?"


async def audit(request: Request, action_name: str, subject: str, result: str, detail: str = "") -> None:
    """Write one row to the audit table for the signed-in user (or ``-`` before sign-in)."""
    user = current_user(request)
    await asyncio.to_thread(record_action, request.app.state.console.engine, user=user.username if user else "-",
                            role=user.role if user else "-", action=action_name, subject=subject, result=result,
                            detail=detail, address=client_address(request))


def action(name: str, *, operator: bool = True) -> Callable[[Endpoint], Endpoint]:
    """Wrap a state-changing endpoint: CSRF token required, and the operator role unless *operator* is False."""
    def wrap(endpoint: Endpoint) -> Endpoint:
        async def guarded(request: Request) -> Response:
            if not await check_csrf(request):
                await audit(request, name, request.url.path, "refused", "missing or wrong CSRF token")
                return PlainTextResponse("Refused: this form has expired or did not come from the console "
                                         "(missing or wrong CSRF token). Reload the page and try again.", status_code=403)
            user = current_user(request)
            if operator and (user is None or not user.can_act):
                await audit(request, name, request.url.path, "refused", "viewers cannot do this")
                return PlainTextResponse("Refused: your role is viewer; replay, close and re-send need an operator.",
                                         status_code=403)
            return await endpoint(request)

        guarded.__name__ = getattr(endpoint, "__name__", name)
        guarded.__doc__ = endpoint.__doc__
        setattr(guarded, "console_action", name)
        return guarded

    return wrap


class LoginLimiter:
    """Failed sign-ins in a sliding window, per user name and per address (which allows four times as
    many, for offices behind one address)."""

    def __init__(self, attempts: int, window: float, max_keys: int = 10_000) -> None:
        self.attempts = attempts
        self.window = window
        self.max_keys = max_keys
        self._failures: "OrderedDict[str, deque[float]]" = OrderedDict()

    def _keys(self, name: str, address: str) -> list[tuple[str, int]]:
        return [(f"user:{name.lower()}", self.attempts), (f"addr:{address}", self.attempts * 4)]

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, name: str, address: str) -> float:
        """Seconds until a sign-in as *name* from *address* may be tried again (0: now)."""
        now = time.monotonic()
        wait = 0.0
        for key, limit in self._keys(name, address):
            times = self._recent(key, now)
            if len(times) >= limit:
                wait = max(wait, times[-limit] + self.window - now)
        return wait

    def failed(self, name: str, address: str) -> None:
        now = time.monotonic()
        for key, _limit in self._keys(name, address):
            self._failures.setdefault(key, deque()).append(now)
            self._failures.move_to_end(key)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, name: str) -> None:
        self._failures.pop(f"user:{name.lower()}", None)


def new_session(request: Request, user: User | None) -> None:
    """A fresh session (new CSRF token) for *user*, or signed out."""
    session = session_of(request)
    session.clear()
    session["csrf"] = secrets.token_urlsafe(32)
    if user is not None:
        session["user"] = user.username
        session["since"] = int(time.time())
