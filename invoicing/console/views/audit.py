"""Audit: every operator action and sign-in, newest first."""
from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from invoicing.console.accounts import audit_entries
from invoicing.console.web import context_of, render

__all__ = ["routes"]


async def audit_page(request: Request) -> Response:
    p = request.query_params
    entries = await asyncio.to_thread(audit_entries, context_of(request).engine, limit=500,
                                      username=p.get("user") or None, action=p.get("action") or None)
    return render(request, "audit.html", entries=entries, params=dict(p))


def routes() -> list[Route]:
    return [Route("/audit", audit_page)]
