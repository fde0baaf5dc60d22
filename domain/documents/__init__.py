"""Invoice documents: the customer's PDF and the standard e-invoices.

* ``render_pdf``      A4 PDF with every EU VAT Directive Art. 226 field (ReportLab).
* ``render_ubl``      UBL 2.1 (Invoice or CreditNote): Peppol BIS Billing 3.0 when seller and buyer
                      have a Peppol electronic address, else EN 16931 core UBL (``ubl_profile``).
* ``render_cii``      UN/CEFACT CII, Factur-X EN 16931 profile.
* ``render_facturx``  PDF/A-3 with the CII embedded as ``factur-x.xml`` (dated at ``issued_at``).
* ``document_hashes`` sha256 of each byte-stable document.

Validators live in :mod:`domain.documents.validate`.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Mapping

from domain.documents.cii import render_cii
from domain.documents.facturx import embed_cii, render_facturx
from domain.documents.pdf import render_pdf
from domain.documents.ubl import render_ubl, ubl_profile

__all__ = ["render_pdf", "render_ubl", "ubl_profile", "render_cii", "render_facturx", "document_hashes",
           "Documents", "rendered"]


@dataclass(frozen=True)
class Documents:
    """The byte-stable documents of one invoice."""

    pdf: bytes
    ubl: bytes
    cii: bytes


_CACHE: "OrderedDict[tuple[str, str], Documents]" = OrderedDict()
_CACHE_SIZE = 256
_LOCK = threading.Lock()


def rendered(invoice: Mapping[str, Any]) -> Documents:
    """Render once per invoice and process: the folder, register and e-mail sinks share the result."""
    key = (str(invoice["invoice_id"]), str(invoice["number"]))
    with _LOCK:
        docs = _CACHE.get(key)
        if docs is not None:
            _CACHE.move_to_end(key)
            return docs
    docs = Documents(render_pdf(invoice), render_ubl(invoice), render_cii(invoice))
    with _LOCK:
        _CACHE[key] = docs
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return docs


def document_hashes(invoice: Mapping[str, Any], *, facturx: bool = False) -> dict[str, str]:
    """Hex sha256 of each rendered document: ``{"pdf": ..., "ubl": ..., "cii": ...}``.

    Every rendering is deterministic, so a replay of the same invoice gives the same hashes.
    With ``facturx=True`` the Factur-X PDF's hash is added under ``"facturx"`` (it is dated
    at the invoice's ``issued_at``, so it is byte-stable too). It is off by default: it costs
    ≈ 11 ms more per invoice (the PDF and CII are reused; the embedding is two pypdf passes),
    about 4x the PDF + UBL, and its content is the PDF and the CII, both hashed already.
    """
    docs = rendered(invoice)
    out = {
        "pdf": hashlib.sha256(docs.pdf).hexdigest(),
        "ubl": hashlib.sha256(docs.ubl).hexdigest(),
        "cii": hashlib.sha256(docs.cii).hexdigest(),
    }
    if facturx:
        out["facturx"] = hashlib.sha256(embed_cii(docs.pdf, docs.cii, invoice)).hexdigest()
    return out
