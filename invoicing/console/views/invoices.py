"""Invoices: search, detail (lines, taxes, lineage, deliveries, credit notes), PDF and UBL, re-send."""
from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from invoicing.console.auth import action, audit
from invoicing.console.services import (InvoiceQuery, PipelineError, filter_choices, invoice_detail,
                                        invoice_documents_of, resend_invoice, search_invoices)
from invoicing.console.web import context_of, render

__all__ = ["routes"]


def _date(value: str | None) -> tuple[date | None, str | None]:
    if not value:
        return None, None
    try:
        return date.fromisoformat(value), None
    except ValueError:
        return None, f"{value!r} is not a date (YYYY-MM-DD)"


async def invoice_list(request: Request) -> Response:
    p = request.query_params
    date_from, err_from = _date(p.get("from"))
    date_to, err_to = _date(p.get("to"))
    query = InvoiceQuery(customer=p.get("customer", "")[:200], number=p.get("number", "")[:100], date_from=date_from,
                         date_to=date_to, status=p.get("status", "")[:20], platform=p.get("platform", "")[:50],
                         target=p.get("target", "")[:100])
    engine = context_of(request).engine
    rows, choices = await asyncio.gather(asyncio.to_thread(search_invoices, engine, query),
                                         asyncio.to_thread(filter_choices, engine))
    return render(request, "invoices.html", rows=rows, query=query, choices=choices, params=dict(p),
                  errors=[e for e in (err_from, err_to) if e])


async def _detail_or_404(request: Request) -> dict[str, Any] | Response:
    invoice = await asyncio.to_thread(invoice_detail, context_of(request).engine, request.path_params["invoice_id"])
    if invoice is None:
        return render(request, "message.html", status_code=404, title="Not found",
                      message="No invoice with this id is in the register.")
    return invoice


async def invoice_page(request: Request) -> Response:
    invoice = await _detail_or_404(request)
    if isinstance(invoice, Response):
        return invoice
    return render(request, "invoice.html", invoice=invoice, result=request.query_params.get("result"))


async def _document(request: Request, kind: str) -> Response:
    docs = await asyncio.to_thread(invoice_documents_of, context_of(request).engine, request.path_params["invoice_id"])
    if docs is None:
        return PlainTextResponse("No invoice with this id is in the register.", status_code=404)
    number, pdf, ubl = docs
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in number)
    if kind == "pdf":
        return Response(pdf, media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="{safe}.pdf"'})
    return Response(ubl, media_type="application/xml",
                    headers={"Content-Disposition": f'attachment; filename="{safe}.xml"'})


async def invoice_pdf(request: Request) -> Response:
    return await _document(request, "pdf")


async def invoice_ubl(request: Request) -> Response:
    return await _document(request, "ubl")


async def resend_confirm(request: Request) -> Response:
    invoice = await _detail_or_404(request)
    if isinstance(invoice, Response):
        return invoice
    target = request.query_params.get("target", "")
    delivery = next((d for d in invoice["deliveries"] if d["target"] == target), None)
    return render(request, "resend_confirm.html", invoice=invoice, target=target, delivery=delivery)


@action("re-send")
async def resend(request: Request) -> Response:
    console = context_of(request)
    invoice_id = request.path_params["invoice_id"]
    form = await request.form()
    target = str(form.get("target") or "")
    subject = f"invoice {invoice_id} to {target}"
    try:
        number = await resend_invoice(console.settings, console.bootstrap, console.engine, invoice_id, target)
    except PipelineError as exc:
        await audit(request, "re-send", subject, "failed", str(exc))
        return render(request, "message.html", status_code=409, title="Not re-sent", message=str(exc),
                      back=f"/invoices/{invoice_id}")
    detail = f"invoice {number} sent to {target} again (redeliver topic)"
    await audit(request, "re-send", f"invoice {number} to {target}", "ok", detail)
    invoice = await asyncio.to_thread(invoice_detail, console.engine, invoice_id)
    return render(request, "invoice.html", invoice=invoice,
                  result=f"Invoice {number} is on its way to {target} again. The worker delivers it unless {target} "
                         f"already has it (then nothing changes); the receipt below updates when it is done.")


def routes() -> list[Route]:
    return [
        Route("/invoices", invoice_list),
        Route("/invoices/{invoice_id}", invoice_page),
        Route("/invoices/{invoice_id}/pdf", invoice_pdf),
        Route("/invoices/{invoice_id}/ubl", invoice_ubl),
        Route("/invoices/{invoice_id}/resend", resend_confirm, methods=["GET"]),
        Route("/invoices/{invoice_id}/resend", resend, methods=["POST"]),
    ]
