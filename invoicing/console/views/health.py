"""Health: per platform and per target, from the register, the topics and the /metrics of gateways and workers."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from invoicing.console.services import health
from invoicing.console.web import context_of, render

__all__ = ["routes"]


async def health_page(request: Request) -> Response:
    c = context_of(request)
    report = await health(c.settings, c.bootstrap, c.engine, c.worker_metrics_urls, c.gateway_metrics_urls)
    return render(request, "health.html", report=report)


def routes() -> list[Route]:
    return [Route("/health", health_page)]
