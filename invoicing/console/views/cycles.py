"""Billing cycles: the open ones per customer, and "close now"."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from invoicing.console.auth import action, audit
from invoicing.console.services import PipelineError, close_cycle_now, open_cycles
from invoicing.console.web import context_of, render

__all__ = ["routes"]


async def cycle_list(request: Request) -> Response:
    console = context_of(request)
    try:
        cycles, error = await open_cycles(console.settings, console.bootstrap), None
    except PipelineError as exc:
        cycles, error = [], str(exc)
    return render(request, "cycles.html", cycles=cycles, error=error)


@action("close-cycle")
async def close_now(request: Request) -> Response:
    console = context_of(request)
    form = await request.form()
    customer, cycle_id = str(form.get("customer") or "")[:200], str(form.get("cycle") or "")[:50]
    subject = f"cycle {cycle_id} of customer {customer}"
    try:
        cycle = await close_cycle_now(console.settings, console.bootstrap, customer, cycle_id)
    except PipelineError as exc:
        await audit(request, "close-cycle", subject, "failed", str(exc))
        return render(request, "message.html", status_code=409, title="Not closed", message=str(exc), back="/cycles")
    detail = f"close command sent for {cycle.orders} order(s), as of {cycle.closes_at.isoformat()} or now"
    await audit(request, "close-cycle", subject, "ok", detail)
    return render(request, "cycle_closed.html", cycle=cycle)


def routes() -> list[Route]:
    return [Route("/cycles", cycle_list), Route("/cycles/close", close_now, methods=["POST"])]
