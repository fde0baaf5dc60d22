"""The invoice PDF for the customer: ReportLab canvas, A4, paginated, every Art. 226 field.

Fonts are registered once per process; no system font is needed. Each text run is drawn
with the first font that covers all of it:

1. Bitstream Vera (TrueType shipped inside the reportlab wheel; embedded, subset): Latin text.
2. IPAexGothic (``ipaexg.ttf``, TrueType, IPA Font License v1.0, which allows embedding in
   documents) from the PyPI package ``matplotlib-fontja`` (or ``japanize-matplotlib``), found
   on disk without importing the package: Japanese text (JIS X 0213), embedded and subset,
   so the Factur-X PDF/A-3 stays conformant.
3. ReportLab's built-in ``HeiseiKakuGo-W5`` CID font: anything else, and Japanese text when
   no IPAex package is installed. It is **not embedded** (the reader substitutes a font),
   which PDF/A forbids; :func:`cjk_font_embedded` tells which case a process is in. The
   choice changes the PDF's bytes, so every worker of one deployment must have the same
   packages for the document hashes of a replay to match.

Example::

    pdf = render_pdf(invoice)      # bytes; the same invoice gives the same bytes
"""
from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from domain.documents._fields import exemption_text, is_credit_note, percent
from domain.money import minor_units, round_amount
from domain.tax import EU_COUNTRIES

__all__ = ["render_pdf", "money_text", "quantity_text", "price_text", "date_text", "CATEGORY_NAMES",
           "cjk_font_file", "cjk_font_embedded"]

REGULAR, BOLD, CJK_TTF, CJK = "InvVera", "InvVeraBd", "InvIPAexG", "HeiseiKakuGo-W5"
# (package, file inside it) of an embeddable Japanese TrueType font, first found wins.
CJK_FONT_FILES = (("matplotlib_fontja", "fonts/ipaexg.ttf"), ("japanize_matplotlib", "fonts/ipaexg.ttf"))
CATEGORY_NAMES = {
    "S": "Standard rate", "Z": "Zero rated", "E": "Exempt", "AE": "Reverse charge",
    "K": "Intra-Community supply", "G": "Export outside the EU", "O": "Not subject to VAT",
    "L": "Canary Islands IGIC", "M": "Ceuta and Melilla IPSI",
}

_W, _H = float(A4[0]), float(A4[1])
_M = 40.0  # margin
_LINE_H = 11.0
_FOOTER_Y = 28.0
# Lines table columns: (title, x of the column's right edge or left edge, align)
_COLS = (("#", _M, "l"), ("Description", _M + 18, "l"), ("Qty", 330, "r"), ("Unit price", 398, "r"),
         ("Discount", 448, "r"), ("VAT", 486, "r"), ("Net amount", _W - _M, "r"))
_DESC_W = 330 - 40 - (_M + 18)

_lock = threading.Lock()
_ready = False


_BUNDLED_CJK_FONT = Path(__file__).resolve().parent / "fonts" / "ipaexg.ttf"


@lru_cache(maxsize=1)
def cjk_font_file() -> Path | None:
    """Path of the embeddable Japanese TrueType font (IPAexGothic): the copy shipped in
    ``domain/documents/fonts`` (IPA Font License v1.0, unmodified, license beside it), else an
    installed package's copy, else None."""
    import importlib.util

    if _BUNDLED_CJK_FONT.is_file():
        return _BUNDLED_CJK_FONT
    for package, rel in CJK_FONT_FILES:
        try:
            spec = importlib.util.find_spec(package)  # finds, does not import (no matplotlib needed)
        except (ImportError, ValueError):
            continue
        for base in (spec.submodule_search_locations or []) if spec else []:
            path = Path(base) / rel
            if path.is_file():
                return path
    return None


def cjk_font_embedded() -> bool:
    """True when Japanese text is drawn with an embedded font (PDF/A conformant)."""
    return cjk_font_file() is not None


def _register_fonts() -> None:
    """Register the fonts, once per process (IPAexGothic ≈ 30 ms, when installed)."""
    global _ready
    if _ready:
        return
    with _lock:
        if not _ready:
            pdfmetrics.registerFont(TTFont(REGULAR, "Vera.ttf"))
            pdfmetrics.registerFont(TTFont(BOLD, "VeraBd.ttf"))
            cjk = cjk_font_file()
            if cjk is not None:
                pdfmetrics.registerFont(TTFont(CJK_TTF, str(cjk)))
            pdfmetrics.registerFont(UnicodeCIDFont(CJK))
            _ready = True


def _chars(name: str) -> frozenset[int]:
    return frozenset(pdfmetrics.getFont(name).face.charToGlyph)


@lru_cache(maxsize=1)
def _coverage() -> tuple[frozenset[int], frozenset[int]]:
    """(characters Vera draws, characters the embedded CJK font draws)."""
    _register_fonts()
    return _chars(REGULAR), (_chars(CJK_TTF) if cjk_font_file() is not None else frozenset())


@lru_cache(maxsize=4096)
def _font_for(text: str, bold: bool) -> str:
    vera, cjk = _coverage()
    if all(ord(ch) in vera for ch in text):
        return BOLD if bold else REGULAR
    if cjk and all(ord(ch) in cjk for ch in text):
        return CJK_TTF
    return CJK


def money_text(value: Decimal, currency: str) -> str:
    """``1,234.50 EUR``; zero-decimal currencies without decimals: ``123,457 JPY``."""
    return f"{round_amount(value, currency):,f} {currency}"


def price_text(value: Decimal, currency: str) -> str:
    """A unit price: the currency's decimals, more when the price has them (``0.1234``)."""
    places = min(minor_units(currency), 2)
    shown = value.normalize()
    exp = -shown.as_tuple().exponent if shown.as_tuple().exponent < 0 else 0  # type: ignore[operator]
    return f"{value.quantize(Decimal(1).scaleb(-max(places, exp))):,f}"


def quantity_text(value: Decimal) -> str:
    return f"{value.normalize():,f}"


def date_text(value: Any) -> str:
    return value.isoformat() if value else ""


@dataclass
class _Row:
    cells: Sequence[str]
    desc_lines: list[str]

    @property
    def height(self) -> float:
        return _LINE_H * max(1, len(self.desc_lines))


class _Doc:
    """Draws one invoice; pages are planned before drawing so that each shows "page x of y"."""

    def __init__(self, invoice: Mapping[str, Any]) -> None:
        self.inv = invoice
        self.cur = invoice["currency"]
        self.buf = io.BytesIO()
        self.font: tuple[str, float] = ("", 0.0)
        self.c = Canvas(self.buf, pagesize=A4, invariant=True, pageCompression=0,
                        initialFontName=REGULAR)  # no unembedded Helvetica (PDF/A)
        title = "Credit note" if is_credit_note(invoice) else "Invoice"
        self.title = title
        self.eu = (invoice["seller"].get("address") or {}).get("country") in EU_COUNTRIES
        self.tax = "VAT" if self.eu else "Tax"  # US sales tax is not VAT
        self.c.setTitle(f"{title} {invoice['number']}")
        self.c.setAuthor(invoice["seller"]["name"])
        self.c.setSubject(f"{title} {invoice['number']} for {invoice['buyer']['name']}")
        self.c.setCreator("invoicing-pipeline")

    # -- text helpers ---------------------------------------------------------------------
    def text(self, x: float, y: float, s: str, size: float = 8.5, bold: bool = False, align: str = "l") -> None:
        if not s:
            return
        font = (_font_for(s, bold), size)
        if font != self.font:
            self.c.setFont(*font)
            self.font = font
        if align == "r":
            self.c.drawRightString(x, y, s)
        elif align == "c":
            self.c.drawCentredString(x, y, s)
        else:
            self.c.drawString(x, y, s)

    def block(self, x: float, y: float, lines: Sequence[str], size: float = 8.5, first_bold: bool = False) -> float:
        for i, s in enumerate(lines):
            self.text(x, y, s, size, bold=first_bold and i == 0)
            y -= size + 2.5
        return y

    # -- layout -----------------------------------------------------------------------------
    def party_lines(self, party: Mapping[str, Any], label: str, show_vat: bool) -> list[str]:
        a = party.get("address") or {}
        city = " ".join(x for x in (a.get("postal_code"), a.get("city")) if x)
        if a.get("region"):
            city = f"{city}, {a['region']}" if city else a["region"]
        out = [party["name"], a.get("line1") or "", a.get("line2") or "", city, a.get("country") or ""]
        out = [s for s in out if s]
        if show_vat and party.get("vat_id"):
            out.append(f"VAT ID: {party['vat_id']}")
        return out

    def rows(self) -> list[_Row]:
        out = []
        for ln in self.inv["lines"]:
            desc = ln["description"] + (f" ({ln['sku']})" if ln.get("sku") else "")
            lines = simpleSplit(desc, _font_for(desc, False), 8.5, _DESC_W) or [""]
            allowance = ln.get("allowance") or Decimal(0)
            out.append(_Row((
                ln["line_id"], "", f"{quantity_text(ln['quantity'])} {_unit(ln.get('unit_code'))}",
                price_text(ln["unit_price"], self.cur),
                price_text(allowance, self.cur) if allowance else "",
                f"{percent(ln['tax_rate'])}% {ln['tax_category']}",
                money_text(ln["net_amount"], self.cur),
            ), lines))
        return out

    def summary_height(self) -> float:
        groups = len(self.inv["tax_breakdown"])
        notes = len(self.inv.get("notes") or ()) + sum(1 for g in self.inv["tax_breakdown"] if _exempt(g))
        return 40 + 13 * (groups + 1) + 13 * 5 + 11 * notes + 70

    def plan(self, rows: list[_Row]) -> list[list[_Row]]:
        first_top, other_top, bottom = _H - 265, _H - 130, _FOOTER_Y + 30
        pages: list[list[_Row]] = [[]]
        y = first_top
        for row in rows:
            if y - row.height < bottom:
                pages.append([])
                y = other_top
            pages[-1].append(row)
            y -= row.height
        if y - self.summary_height() < bottom:
            pages.append([])
        return pages

    # -- drawing ----------------------------------------------------------------------------
    def header(self, page: int, pages: int) -> float:
        inv, s = self.inv, self.inv["seller"]
        self.block(_M, _H - _M - 4, self.party_lines(s, "Seller", show_vat=False), 9, first_bold=True)
        y = _H - _M - 4
        self.text(_W - _M, y, self.title.upper(), 16, bold=True, align="r")
        self.text(_W - _M, y - 16, f"No. {inv['number']}", 10, bold=True, align="r")
        self.text(_W - _M, y - 29, f"Page {page} of {pages}", 8, align="r")
        ids = []
        if s.get("vat_id"):
            ids.append(f"VAT ID: {s['vat_id']}")
        if s.get("tax_registration"):
            ids.append(f"Registration: {s['tax_registration']}")
        self.text(_W - _M, y - 42, "   ".join(ids), 8, align="r")
        self.c.setLineWidth(0.5)
        self.c.line(_M, _H - 112, _W - _M, _H - 112)
        return _H - 112

    def first_page_parties(self) -> float:
        inv = self.inv
        y = _H - 128
        self.text(_M, y, "Bill to", 7.5, bold=True)
        self.block(_M, y - 12, self.party_lines(inv["buyer"], "Buyer", show_vat=True), 9, first_bold=True)
        meta = [("Issue date", date_text(inv["issue_date"]))]
        if inv.get("supply_date") and inv["supply_date"] != inv["issue_date"]:
            meta.append(("Supply date", date_text(inv["supply_date"])))
        meta.append(("Due date", date_text(inv["due_date"])))
        if inv.get("preceding_invoice"):
            ref = inv["preceding_invoice"]
            if inv.get("preceding_invoice_date"):
                ref += f" of {date_text(inv['preceding_invoice_date'])}"
            meta.append(("Corrects invoice", ref))
        if inv.get("buyer_reference"):
            meta.append(("Your reference", inv["buyer_reference"]))
        if inv.get("purchase_order"):
            meta.append(("Purchase order", inv["purchase_order"]))
        meta.append(("Customer no.", inv["customer_id"]))
        meta.append(("Currency", self.cur))
        yy = y
        for k, v in meta:
            self.text(360, yy, k, 8.5)
            self.text(_W - _M, yy, v, 8.5, align="r")
            yy -= 11.5
        return _H - 250

    def table_head(self, y: float) -> float:
        self.c.setFillGray(0.92)
        self.c.rect(_M, y - 4, _W - 2 * _M, 14, stroke=0, fill=1)
        self.c.setFillGray(0)
        for title, x, align in _COLS:
            self.text(x, y, self.tax if title == "VAT" else title, 8, bold=True, align=align)
        return y - 15

    def draw_rows(self, y: float, rows: list[_Row]) -> float:
        for row in rows:
            for (title, x, align), cell in zip(_COLS, row.cells, strict=True):
                if title == "Description":
                    yy = y
                    for part in row.desc_lines:
                        self.text(x, yy, part)
                        yy -= _LINE_H
                else:
                    self.text(x, y, cell, align=align)
            y -= row.height
        return y

    def summary(self, y: float) -> None:
        inv, cur = self.inv, self.cur
        y -= 6
        self.c.line(_M, y + 8, _W - _M, y + 8)
        # VAT breakdown
        self.text(_M, y - 4, f"{self.tax} breakdown", 8.5, bold=True)
        y -= 17
        heads = (("Category", _M, "l"), ("Rate", 230, "r"), ("Taxable amount", 330, "r"), (f"{self.tax} amount", 420, "r"))
        for t, x, a in heads:
            self.text(x, y, t, 8, bold=True, align=a)
        y -= 12
        for g in inv["tax_breakdown"]:
            self.text(_M, y, f"{g['category']} {CATEGORY_NAMES.get(g['category'], '')}")
            self.text(230, y, f"{percent(g['rate'])}%", align="r")
            self.text(330, y, money_text(g["taxable_amount"], cur), align="r")
            self.text(420, y, money_text(g["tax_amount"], cur), align="r")
            y -= 12
        # totals on the right
        ty = y - 8
        totals = [("Total net amount", inv["line_total"])]
        if inv.get("charge_total"):
            totals.append(("Charges", inv["charge_total"]))
        totals += [("Taxable amount", inv["tax_exclusive_total"]), (f"Total {self.tax}", inv["tax_total"]),
                   ("Total amount", inv["total"])]
        if inv.get("prepaid"):
            totals.append(("Paid in advance", inv["prepaid"]))
        totals.append(("Credit amount" if is_credit_note(inv) else "Amount due", inv["amount_due"]))
        for i, (k, v) in enumerate(totals):
            last = i == len(totals) - 1
            self.text(380, ty, k, 9 if last else 8.5, bold=last)
            self.text(_W - _M, ty, money_text(v, cur), 9 if last else 8.5, bold=last, align="r")
            ty -= 13
        # fixed wording, notes, payment
        y = ty - 6
        wording = []
        eu = self.eu
        for g in inv["tax_breakdown"]:
            if _exempt(g):
                code = f" [{g['exemption_code']}]" if g.get("exemption_code") else ""
                wording.append(exemption_text(g["category"], g.get("exemption_reason"), eu_seller=eu) + code)
        shown = {w.lower() for w in wording}
        wording += [n for n in inv.get("notes") or () if not any(n.lower() in w for w in shown)]
        for w in wording:
            for part in simpleSplit(w, _font_for(w, False), 8.5, _W - 2 * _M):
                self.text(_M, y, part)
                y -= 11
        y -= 6
        self.text(_M, y, "Payment", 8.5, bold=True)
        y -= 12
        pay = [f"Terms: {inv.get('payment_terms') or ''}", f"Due date: {date_text(inv['due_date'])}"]
        if inv.get("payment_iban"):
            pay.append(f"Bank transfer to IBAN {_iban(inv['payment_iban'])}, reference {inv['number']}")
        self.block(_M, y, pay)

    def footer(self) -> None:
        s = self.inv["seller"]
        parts = [s["name"]] + [x for x in (s.get("vat_id") and f"VAT ID {s['vat_id']}", s.get("tax_registration"),
                                           s.get("email")) if x]
        self.c.setLineWidth(0.3)
        self.c.line(_M, _FOOTER_Y + 10, _W - _M, _FOOTER_Y + 10)
        self.text(_W / 2, _FOOTER_Y, " · ".join(parts), 7, align="c")

    def render(self) -> bytes:
        pages = self.plan(self.rows())
        for i, page_rows in enumerate(pages, start=1):
            self.header(i, len(pages))
            y = self.first_page_parties() if i == 1 else _H - 128
            if page_rows or i == 1:
                y = self.table_head(y)
                y = self.draw_rows(y, page_rows)
            if i == len(pages):
                self.summary(y)
            self.footer()
            self.c.showPage()
            self.font = ("", 0.0)  # a new page starts without a font
        self.c.save()
        return self.buf.getvalue()


def _exempt(g: Mapping[str, Any]) -> bool:
    return g["category"] not in ("S", "Z", "L", "M")


def _unit(code: str | None) -> str:
    return {"C62": "pc", "H87": "pc", "HUR": "h", "KGM": "kg", "MTR": "m", "LTR": "l"}.get(code or "C62", code or "")


def _iban(iban: str) -> str:
    s = iban.replace(" ", "")
    return " ".join(s[i:i + 4] for i in range(0, len(s), 4))


def render_pdf(invoice: Mapping[str, Any]) -> bytes:
    """The customer's PDF of *invoice* (or credit note): A4, one page per ~30 lines.

    Args:
        invoice: a decoded ``Invoice`` record (schemas/invoice.avsc).
    """
    _register_fonts()
    return _Doc(invoice).render()
