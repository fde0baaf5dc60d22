"""How many documents one core renders per second (used by ``invoicing bench``)."""
from __future__ import annotations

import time
from typing import Any, Callable, Mapping

from domain.documents.pdf import render_pdf
from domain.documents.ubl import render_ubl

__all__ = ["documents_per_second", "bench_invoice"]


def bench_invoice() -> dict[str, Any]:
    """A realistic issued invoice: the demo's domestic German customer, 5 lines."""
    from demo.samples.invoices import sample_invoice  # the same builder the tests use

    return sample_invoice(7)


def _rate(fn: Callable[[Mapping[str, Any]], bytes], invoice: Mapping[str, Any], seconds: float) -> tuple[float, int]:
    fn(invoice)  # warm-up: fonts registered, caches filled
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        fn(invoice)
        count += 1
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start), count


def documents_per_second(seconds: float = 2.0, invoice: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Render the PDF and the UBL of one invoice for *seconds* each, on this core.

    Returns:
        ``{"pdf_per_second", "pdf_ms", "ubl_per_second", "ubl_ms", "pdf_and_ubl_per_second", "lines"}``.
    """
    inv = invoice if invoice is not None else bench_invoice()
    pdf_rate, _ = _rate(render_pdf, inv, seconds / 2)
    ubl_rate, _ = _rate(render_ubl, inv, seconds / 2)
    both = 1 / (1 / pdf_rate + 1 / ubl_rate)
    return {
        "pdf_per_second": round(pdf_rate, 1), "pdf_ms": round(1000 / pdf_rate, 3),
        "ubl_per_second": round(ubl_rate, 1), "ubl_ms": round(1000 / ubl_rate, 3),
        "pdf_and_ubl_per_second": round(both, 1), "lines": len(inv["lines"]),
    }

