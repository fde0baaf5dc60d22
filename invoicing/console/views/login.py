"""Sign-in and sign-out."""
from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from invoicing.console.accounts import authenticate
from invoicing.console.auth import action, audit, check_csrf, client_address, current_user, new_session
from invoicing.console.web import context_of, render

__all__ = ["routes"]


def _next(value: object) -> str:
    """Only a path of this console (no other site, no scheme-relative URL)."""
    text = str(value or "")
    return text if text.startswith("/") and not text.startswith("//") and "\\" not in text else "/invoices"


async def login(request: Request) -> Response:
    if request.method == "GET":
        if current_user(request) is not None:
            return RedirectResponse(_next(request.query_params.get("next")), status_code=303)
        return render(request, "login.html", next=_next(request.query_params.get("next")))
    form = await request.form()
    name = str(form.get("username") or "").strip()[:64]
    password = str(form.get("password") or "")
    target = _next(form.get("next"))
    if not await check_csrf(request):
        await audit(request, "sign-in", name or "-", "refused", "missing or wrong CSRF token")
        return render(request, "login.html", status_code=403, next=target, username=name,
                      error="This sign-in form has expired. Please try again.")
    console = context_of(request)
    address = client_address(request)
    wait = console.limiter.retry_after(name, address)
    if wait > 0:
        await audit(request, "sign-in", name or "-", "refused", f"too many failed sign-ins; blocked for {wait:.0f} s")
        response = render(request, "login.html", status_code=429, next=target, username=name,
                          error=f"Too many failed sign-ins. Try again in {int(wait) + 1} seconds.")
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    user = await asyncio.to_thread(authenticate, console.engine, name, password) if name and password else None
    if user is None:
        console.limiter.failed(name, address)
        await audit(request, "sign-in", name or "-", "failed", "wrong user name or password")
        return render(request, "login.html", status_code=401, next=target, username=name,
                      error="Wrong user name or password.")
    console.limiter.succeeded(name)
    new_session(request, user)
    request.state.user = user
    await audit(request, "sign-in", user.username, "ok", f"role {user.role}")
    return RedirectResponse(target, status_code=303)


@action("sign-out", operator=False)
async def logout(request: Request) -> Response:
    new_session(request, None)
    return RedirectResponse("/login", status_code=303)


def routes() -> list[Route]:
    return [Route("/login", login, methods=["GET", "POST"]), Route("/logout", logout, methods=["POST"])]
