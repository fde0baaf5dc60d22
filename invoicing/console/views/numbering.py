"""The numbering audit: every series on the invoices topic, without holes or duplicates."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from invoicing.console.services import PipelineError, numbering_audit
from invoicing.console.web import context_of, render

__all__ = ["routes"]


async def numbering_page(request: Request) -> Response:
    c = context_of(request)
    try:
        report, error = await numbering_audit(c.settings, c.bootstrap), None
    except PipelineError as exc:
        report, error = None, str(exc)
    return render(request, "numbering.html", report=report, error=error)


def routes() -> list[Route]:
    return [Route("/numbering", numbering_page)]
