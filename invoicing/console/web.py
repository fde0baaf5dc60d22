"""What every page shares: the console's context (settings, register, templates) and `render`."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from invoicing.console.auth import LoginLimiter, csrf_token, current_user
from invoicing.console.config import ConsoleSettings
from invoicing.console.services import Settings

__all__ = ["Console", "render", "context_of", "TEMPLATES_DIR", "STATIC_DIR", "NAV"]

PACKAGE = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE / "templates"
STATIC_DIR = PACKAGE / "static"

#: (path, label) of the navigation bar
NAV = (("/invoices", "Invoices"), ("/dead-letters", "Dead letters"), ("/cycles", "Billing cycles"),
       ("/health", "Health"), ("/numbering", "Numbering audit"), ("/audit", "Audit"), ("/register/", "Register tables"))


@dataclass
class Console:
    settings: Settings
    bootstrap: str
    engine: Engine
    config: ConsoleSettings
    templates: Jinja2Templates
    limiter: LoginLimiter
    worker_metrics_urls: list[str]
    gateway_metrics_urls: list[str]


def context_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def _money(value: Any, currency: str = "") -> str:
    if value is None:
        return ""
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    text = f"{d:,.2f}" if d == d.quantize(Decimal("0.01")) else f"{d.normalize():,f}"
    return f"{text} {currency}".strip()


def _number(value: Any) -> str:
    if value is None:
        return ""
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    return format(d.normalize(), "f")


def _when(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        v = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return v.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _ago(value: datetime | None) -> str:
    if value is None:
        return "never"
    seconds = max(0, int((datetime.now(timezone.utc) - value).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    env = templates.env
    env.filters.update(money=_money, number=_number, when=_when, ago=_ago, q=lambda v: quote(str(v), safe=""))
    env.globals["nav"] = NAV
    return templates


def render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    """*template* with the signed-in user, the CSRF token and the current path."""
    console = context_of(request)
    user = current_user(request)
    context = {"user": user, "can_act": bool(user and user.can_act), "csrf": csrf_token(request),
               "path": request.url.path, **values}
    return console.templates.TemplateResponse(request, template, context, status_code=status_code)
