"""The customer PDF: every EU VAT Directive Art. 226 field, pagination, scripts, currencies."""
from __future__ import annotations

import hashlib
import io
import re

import pytest
from pypdf import PdfReader

from domain.documents import document_hashes, render_facturx, render_pdf
from demo.documents_bench import documents_per_second
from domain.documents.pdf import cjk_font_embedded, money_text, price_text, quantity_text
from tests.domain.documents.conftest import SAMPLES, long_invoice
from tests.support import sample_invoice

WORDING = {"AE": "Reverse charge", "K": "Intra-Community supply", "G": "Export outside the EU",
           "E": "Exempt", "O": "Not subject to VAT"}


def _pages(pdf: bytes) -> list[str]:
    return [" ".join((p.extract_text() or "").split()) for p in PdfReader(io.BytesIO(pdf)).pages]


def _required(invoice: dict) -> list[str]:
    cur = invoice["currency"]
    need = [invoice["number"], invoice["issue_date"].isoformat(), invoice["due_date"].isoformat()]
    if invoice.get("supply_date") and invoice["supply_date"] != invoice["issue_date"]:
        need.append(invoice["supply_date"].isoformat())
    for party in (invoice["seller"], invoice["buyer"]):
        a = party["address"]
        need += [party["name"], a["line1"], a["city"], a["postal_code"], a["country"]]
        if party.get("vat_id"):
            need.append(party["vat_id"])
    for ln in invoice["lines"]:
        need += [ln["description"], quantity_text(ln["quantity"]), price_text(ln["unit_price"], cur),
                 money_text(ln["net_amount"], cur)]
        if ln["allowance"]:
            need.append(price_text(ln["allowance"], cur))
    for g in invoice["tax_breakdown"]:
        need += [f"{g['rate'].normalize():f}%", money_text(g["taxable_amount"], cur), money_text(g["tax_amount"], cur)]
        if g["category"] in WORDING:
            need.append(WORDING[g["category"]])
    need += [money_text(invoice[k], cur) for k in ("line_total", "tax_total", "total", "amount_due")]
    need.append(invoice["payment_terms"])
    if invoice.get("preceding_invoice"):
        need.append(invoice["preceding_invoice"])
    return [n for n in need if n]


@pytest.mark.parametrize("document_type", ["INVOICE", "CREDIT_NOTE"])
@pytest.mark.parametrize("n", SAMPLES)
def test_pdf_shows_every_required_field(n: int, document_type: str) -> None:
    invoice = sample_invoice(n, document_type=document_type)
    text = " ".join(_pages(render_pdf(invoice)))
    missing = [f for f in _required(invoice) if " ".join(f.split()) not in text]
    assert missing == []
    if invoice.get("payment_iban"):
        assert invoice["payment_iban"] in text.replace(" ", "")
    assert ("CREDIT NOTE" if document_type == "CREDIT_NOTE" else "INVOICE") in text


def test_twelve_line_invoice_is_one_page() -> None:
    invoice = long_invoice(12, "C-1002")
    assert len(invoice["lines"]) >= 12
    pages = _pages(render_pdf(invoice))
    assert len(pages) == 1
    assert "Page 1 of 1" in pages[0]
    assert [f for f in _required(invoice) if f not in pages[0]] == []


def test_sixty_line_invoice_paginates_with_repeated_header() -> None:
    invoice = long_invoice(60, "C-1002")
    pages = _pages(render_pdf(invoice))
    assert len(pages) > 1
    for i, page in enumerate(pages, start=1):
        assert f"Page {i} of {len(pages)}" in page
        assert invoice["number"] in page and invoice["seller"]["name"] in page
    for page in pages[:-1]:
        assert "Description" in page and "Net amount" in page  # table header on every page with lines
    text = " ".join(pages)
    assert [f for f in _required(invoice) if f not in text] == []
    assert money_text(invoice["amount_due"], "EUR") in pages[-1]


def test_japanese_customer_name_is_extractable() -> None:
    invoice = sample_invoice(8)
    assert invoice["buyer"]["name"] == "東京エアテック株式会社"
    assert "東京エアテック株式会社" in " ".join(_pages(render_pdf(invoice)))


def _fonts(pdf: bytes) -> dict[str, bool]:
    """BaseFont -> embedded, for every font any page uses."""
    out = {}
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for ref in page["/Resources"]["/Font"].values():
            font = ref.get_object()
            desc = font.get("/FontDescriptor")
            if font.get("/Subtype") == "/Type0":
                desc = font["/DescendantFonts"][0].get_object().get("/FontDescriptor")
            desc = desc.get_object() if desc is not None else {}
            out[str(font["/BaseFont"])] = any(k in desc for k in ("/FontFile", "/FontFile2", "/FontFile3"))
    return out


@pytest.mark.skipif(not cjk_font_embedded(), reason="matplotlib-fontja (IPAexGothic) not installed: "
                    "Japanese text falls back to the non-embedded CID font (see domain.documents.facturx)")
@pytest.mark.parametrize("n", [8, 4])
def test_every_font_of_the_facturx_pdf_is_embedded(n: int) -> None:
    invoice = sample_invoice(n)
    fonts = _fonts(render_facturx(invoice))
    assert fonts and all(fonts.values()), fonts
    assert not any("Helvetica" in f or "Heisei" in f for f in fonts)
    if n == 8:
        assert any("IPAexGothic" in f for f in fonts)
        assert "東京エアテック株式会社" in " ".join(_pages(render_pdf(invoice)))


def test_jpy_amounts_have_no_decimals() -> None:
    invoice = sample_invoice(8)
    assert invoice["currency"] == "JPY"
    text = " ".join(_pages(render_pdf(invoice)))
    amounts = re.findall(r"([\d,.]+) JPY", text)
    assert amounts and all("." not in a for a in amounts), amounts
    assert money_text(invoice["total"], "JPY") in text


def test_rendering_is_deterministic() -> None:
    assert document_hashes(sample_invoice(2)) == document_hashes(sample_invoice(2))
    assert set(document_hashes(sample_invoice(2))) == {"pdf", "ubl", "cii"}
    assert document_hashes(sample_invoice(2)) != document_hashes(sample_invoice(3))
    with_fx = document_hashes(sample_invoice(8), facturx=True)
    assert set(with_fx) == {"pdf", "ubl", "cii", "facturx"}
    assert with_fx == document_hashes(sample_invoice(8), facturx=True)
    assert with_fx["facturx"] == hashlib.sha256(render_facturx(sample_invoice(8))).hexdigest()


def test_bench_reports_rates() -> None:
    r = documents_per_second(0.2)
    assert r["pdf_per_second"] > 0 and r["ubl_per_second"] > 0 and r["pdf_and_ubl_per_second"] > 0
