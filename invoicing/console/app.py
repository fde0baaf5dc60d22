"""The console's Starlette app, and serving it.

`create_app` wires the pages (``views/``), the read-only register tables (``/register/``,
sqladmin), the static files (htmx, the style sheet) and the security layers: `AuthMiddleware`
outside everything, security headers, and `invoicing.console.auth.action` on every POST.
"""
from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import Any, Iterator

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from invoicing.console.admin import mount_register_views
from invoicing.console.auth import AuthMiddleware, LoginLimiter, Sessions
from invoicing.console.config import ConsoleSettings
from invoicing.console.services import Settings, open_register
from invoicing.console.views import audit, cycles, dead_letters, health, invoices, login, numbering
from invoicing.console.web import STATIC_DIR, Console, make_templates

__all__ = ["create_app", "serve_console", "metrics_urls"]

_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


class SecurityHeaders:
    """No framing, no sniffing, no referrer to other sites; a strict CSP on the console's own pages
    (the sqladmin pages under /register/ carry inline scripts of their own, so they get no CSP)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Frame-Options"] = "DENY"
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "same-origin"
                if not scope["path"].startswith("/static/"):
                    headers.setdefault("Cache-Control", "no-store")
                if not scope["path"].startswith("/register/"):
                    headers["Content-Security-Policy"] = _CSP
            await send(message)

        await self.app(scope, receive, send_headers)


async def home(request: Request) -> Response:
    return RedirectResponse("/invoices", status_code=303)


def metrics_urls(settings: Settings, config: ConsoleSettings) -> tuple[list[str], list[str]]:
    """(workers', gateways') /metrics URLs: as configured, else the defaults on this machine."""
    workers = config.worker_metrics_urls
    if workers is None:
        workers = [f"http://127.0.0.1:{settings.metrics_port}/metrics"] if settings.metrics_port else []
    gateways = config.gateway_metrics_urls
    if gateways is None:
        port = settings.gateway_metrics_port or 8080
        gateways = [f"http://127.0.0.1:{port}/metrics"]
    return list(workers), list(gateways)


def create_app(settings: Settings, bootstrap: str, config: ConsoleSettings | None = None) -> Starlette:
    """The console over the register of *settings* and the topics on *bootstrap*.

    Raises:
        ConfigError: the register's DSN is bad.
        sqlalchemy.exc.SQLAlchemyError: the register cannot be opened or migrated.
    """
    config = config or ConsoleSettings()
    engine = open_register(settings)
    secret = config.secret_key.get_secret_value().encode() if config.secret_key else secrets.token_bytes(32)
    routes: list[BaseRoute] = [Route("/", home)]
    for page in (login, invoices, dead_letters, cycles, health, numbering, audit):
        routes.extend(page.routes())
    routes.append(Mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static"))
    middleware = [Middleware(AuthMiddleware, sessions=Sessions(secret, config.session_hours * 3600), engine=engine,
                             secure_cookies=config.secure_cookies),
                  Middleware(SecurityHeaders)]
    app = Starlette(routes=routes, middleware=middleware)
    workers, gateways = metrics_urls(settings, config)
    app.state.console = Console(settings=settings, bootstrap=bootstrap, engine=engine, config=config,
                                templates=make_templates(), limiter=LoginLimiter(config.login_attempts, config.login_window),
                                worker_metrics_urls=workers, gateway_metrics_urls=gateways)
    mount_register_views(app, engine)
    return app


class _SignalsLeftAlone(uvicorn.Server):
    """A server that leaves SIGINT and SIGTERM to its caller (uvicorn's own handlers re-raise them after it stops)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_console(app: Starlette, host: str, port: int, *, ready: Any = None, handle_signals: bool = True) -> None:
    """Serve *app* until cancelled or interrupted; *ready*, when given, is an `asyncio.Event` set once listening.
    *handle_signals* False: SIGINT and SIGTERM are the caller's (as when the demo serves it beside its pipeline)."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off",
                            proxy_headers=False, server_header=False)
    server = uvicorn.Server(config) if handle_signals else _SignalsLeftAlone(config)
    task = asyncio.ensure_future(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                return
            await asyncio.sleep(0.02)
        if ready is not None:
            ready.set()
        await asyncio.shield(task)
    finally:
        server.should_exit = True
        if not task.done():
            await task
