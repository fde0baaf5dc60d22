"""UBL (Peppol BIS 3, or EN 16931 core for buyers without a Peppol address) and Factur-X CII
pass the XSDs and the EN 16931 / Peppol rule files."""
from __future__ import annotations

import io
import re
from decimal import Decimal

import facturx
import pytest
from lxml import etree
from pypdf import PdfReader

from domain.documents import render_cii, render_facturx, render_ubl, ubl_profile
from domain.documents._fields import PEPPOL_EAS, peppol_endpoint
from domain.documents.ubl import CUSTOMIZATION_ID, EN16931_CUSTOMIZATION_ID, PROFILE_ID
from domain.documents.validate import (ValidationFailed, check_cii, rule_file, run_rules, validate_cii,
                                          validate_ubl)
from tests.domain.documents.conftest import SAMPLES, UNKNOWN_BUYERS, long_invoice
from tests.support import sample_invoice

DOC_TYPES = ("INVOICE", "CREDIT_NOTE")
NS = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
      "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"}


def _all_invoices() -> list[tuple[str, dict]]:
    out = [(f"n{n}-{dt}", sample_invoice(n, document_type=dt)) for n in SAMPLES for dt in DOC_TYPES]
    out += [
        ("12-lines-DE", long_invoice(12, "C-1001")),
        ("12-lines-FR-mixed", long_invoice(12, "C-1002")),
        ("60-lines-FR-mixed", long_invoice(60, "C-1002")),
        ("12-lines-NO-credit", long_invoice(12, "C-1004", document_type="CREDIT_NOTE")),
        ("12-lines-US-resale", long_invoice(12, "C-2002")),
    ]
    return out


INVOICES = _all_invoices()


def test_samples_cover_every_tax_case() -> None:
    cats = {g["category"] for _, inv in INVOICES for g in inv["tax_breakdown"]}
    assert {"S", "K", "AE", "G", "E"} <= cats
    assert {inv["currency"] for _, inv in INVOICES} >= {"EUR", "USD", "JPY"}
    assert any(len(inv["lines"]) > 60 for _, inv in INVOICES)


def _root(xml: bytes) -> etree._Element:
    return etree.fromstring(xml)


def _no_empty_elements(root: etree._Element) -> None:
    assert not [el for el in root.iter() if not (el.text or "").strip() and len(el) == 0], "empty element"


@pytest.mark.parametrize("name,invoice", INVOICES, ids=[n for n, _ in INVOICES])
def test_ubl_passes_xsd_en16931_and_peppol(name: str, invoice: dict) -> None:
    """Every Peppol document: XSD + EN 16931 + Peppol, zero errors. Every EN 16931 core document:
    XSD + EN 16931, zero errors, and only for a buyer without a Peppol electronic address."""
    xml = render_ubl(invoice)
    root = _root(xml)
    profile = ubl_profile(invoice)
    if profile == "peppol":
        assert validate_ubl(xml, profile="peppol") == []
        assert root.findtext("cbc:CustomizationID", namespaces=NS) == CUSTOMIZATION_ID
        assert root.findtext("cbc:ProfileID", namespaces=NS) == PROFILE_ID
        schemes = [el.get("schemeID") for el in root.iter(f"{{{NS['cbc']}}}EndpointID")]
        assert len(schemes) == 2 and set(schemes) <= PEPPOL_EAS
    else:
        assert profile == "en16931"
        assert peppol_endpoint(invoice["buyer"]) is None, "EN 16931 core only for a buyer without a Peppol address"
        assert peppol_endpoint(invoice["seller"]) is not None
        assert validate_ubl(xml, profile="en16931") == []
        assert root.findtext("cbc:CustomizationID", namespaces=NS) == EN16931_CUSTOMIZATION_ID
        assert root.find("cbc:ProfileID", NS) is None
        buyer_ep = root.find("cac:AccountingCustomerParty/cac:Party/cbc:EndpointID", NS)
        assert (buyer_ep.get("schemeID"), buyer_ep.text) == ("EM", invoice["buyer"]["email"])
        # Why it is not Peppol: held to the Peppol rules it fails on exactly the Peppol
        # identifiers (specification, business process, buyer address scheme), nothing else.
        ids = {re.search(r"PEPPOL-EN16931-\w+", e).group(0) for e in validate_ubl(xml, profile="peppol")}
        assert ids == {"PEPPOL-EN16931-R001", "PEPPOL-EN16931-R004", "PEPPOL-EN16931-R007",
                       "PEPPOL-EN16931-CL008"}
    assert len(root.findall("cac:TaxTotal", NS)) == 1
    _no_empty_elements(root)


def test_peppol_for_every_reference_data_customer_en16931_only_for_unknown_buyers() -> None:
    profiles = {name: ubl_profile(inv) for name, inv in INVOICES}
    unknown = {name for name, inv in INVOICES if inv["customer_id"] in UNKNOWN_BUYERS}
    assert unknown, "the suite must include buyers without reference data"
    assert {n for n, p in profiles.items() if p == "en16931"} == unknown
    assert sum(p == "peppol" for p in profiles.values()) > len(unknown)


def test_peppol_scheme_list_is_the_one_in_the_peppol_rules() -> None:
    text = rule_file("peppol-ubl").read_text(encoding="utf-8")
    found = re.search(r'<xsl:variable name="eaid"\s+select="tokenize\(\'([^\']*)\'', text)
    assert found, "the Peppol rule file no longer defines $eaid"
    assert set(found.group(1).split()) == PEPPOL_EAS
    assert "EM" not in PEPPOL_EAS


def test_unknown_buyer_with_a_peppol_address_gets_peppol() -> None:
    inv = sample_invoice(7)
    assert ubl_profile(inv) == "en16931"
    inv["buyer"]["endpoint_scheme"], inv["buyer"]["endpoint_id"] = "0088", "4001234000008"
    assert ubl_profile(inv) == "peppol"
    assert validate_ubl(render_ubl(inv), profile="peppol") == []


def test_email_or_unknown_scheme_is_not_a_peppol_address() -> None:
    inv = sample_invoice(4)
    inv["buyer"]["endpoint_scheme"], inv["buyer"]["endpoint_id"] = "EM", "ap@example.com"
    assert ubl_profile(inv) == "en16931"
    assert validate_ubl(render_ubl(inv), profile="en16931") == []
    seller_less = sample_invoice(4)
    seller_less["seller"].update(endpoint_scheme=None, endpoint_id=None, vat_id=None)
    assert ubl_profile(seller_less) == "en16931"


@pytest.mark.parametrize("n", SAMPLES)
def test_credit_note_is_a_ubl_credit_note_referencing_the_invoice(n: int) -> None:
    invoice = sample_invoice(n)
    credit = sample_invoice(n, document_type="CREDIT_NOTE")
    root = etree.fromstring(render_ubl(credit))
    assert etree.QName(root).localname == "CreditNote"
    assert root.findtext("cbc:CreditNoteTypeCode", namespaces=NS) == "381"
    ref = root.find("cac:BillingReference/cac:InvoiceDocumentReference", NS)
    assert ref.findtext("cbc:ID", namespaces=NS) == invoice["number"]
    assert ref.findtext("cbc:IssueDate", namespaces=NS) == invoice["issue_date"].isoformat()


@pytest.mark.parametrize("name,invoice", INVOICES, ids=[n for n, _ in INVOICES])
def test_cii_passes_facturx_xsd_and_en16931_rules(name: str, invoice: dict) -> None:
    assert validate_cii(render_cii(invoice)) == []


@pytest.mark.parametrize("name,invoice", INVOICES[::5] + INVOICES[-3:], ids=[n for n, _ in INVOICES[::5] + INVOICES[-3:]])
def test_facturx_pdf_embeds_the_cii_as_pdfa3(name: str, invoice: dict) -> None:
    pdf = render_facturx(invoice)
    xml_name, xml = facturx.get_xml_from_pdf(pdf, check_xsd=True)
    assert xml_name == "factur-x.xml"
    assert xml == render_cii(invoice)
    assert check_cii(xml)[0] == []
    reader = PdfReader(io.BytesIO(pdf))
    root = reader.trailer["/Root"]
    assert "/OutputIntents" in root and "/AF" in root
    xmp = root["/Metadata"].get_object().get_data()
    assert b"<pdfaid:part>3</pdfaid:part>" in xmp
    assert b"EN 16931" in xmp
    assert len(reader.pages) >= 1


def test_facturx_is_byte_stable_and_dated_at_issued_at(monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime as dt

    import facturx.facturx as fx_module

    invoice = sample_invoice(8)
    first = render_facturx(invoice)

    class Later(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> dt.datetime:  # type: ignore[override]
            return dt.datetime(2031, 3, 4, 5, 6, 7, tzinfo=tz)

    monkeypatch.setattr(fx_module, "datetime", Later)  # factur-x stamps "now" in four places
    assert render_facturx(invoice) == first
    reader = PdfReader(io.BytesIO(first))
    pdf_date = "D:20261124090000+00'00'"
    assert invoice["issued_at"].isoformat() == "2026-11-24T09:00:00+00:00"
    assert (reader.metadata["/CreationDate"], reader.metadata["/ModDate"]) == (pdf_date, pdf_date)
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data()
    assert b"<xmp:CreateDate>2026-11-24T09:00:00+00:00<" in xmp and b"<xmp:ModifyDate>2026-11-24T09:00:00+00:00<" in xmp
    assert b"2031" not in first
    spec = reader.trailer["/Root"]["/AF"][0].get_object()
    assert spec["/EF"]["/F"].get_object()["/Params"]["/ModDate"] == pdf_date
    assert render_facturx(sample_invoice(8, document_type="CREDIT_NOTE")) != first


# -- the checks cannot pass vacuously ----------------------------------------------------

def test_vat_total_off_by_one_cent_is_rejected() -> None:
    inv = sample_invoice(4)
    inv["tax_total"] += Decimal("0.01")
    ubl = " ".join(validate_ubl(render_ubl(inv), profile="peppol"))
    cii = " ".join(validate_cii(render_cii(inv)))
    for text in (ubl, cii):
        assert "BR-CO-14" in text and "BR-CO-15" in text


def test_group_vat_amount_off_by_one_cent_is_rejected() -> None:
    inv = sample_invoice(9)
    inv["tax_breakdown"][0]["tax_amount"] += Decimal("0.01")
    assert any("BR-S-09" in e or "BR-CO-14" in e for e in validate_ubl(render_ubl(inv), profile="peppol"))
    assert any("BR-S-09" in e or "BR-CO-14" in e for e in validate_cii(render_cii(inv)))


def test_wrong_customization_id_is_rejected_by_peppol() -> None:
    inv = sample_invoice(4)
    xml = render_ubl(inv).replace(CUSTOMIZATION_ID.encode(), EN16931_CUSTOMIZATION_ID.encode())
    assert ubl_profile(inv) == "peppol"
    assert any("PEPPOL-EN16931-R004" in e for e in validate_ubl(xml, profile=ubl_profile(inv)))
    assert any("PEPPOL-EN16931-R004" in e for e in validate_ubl(xml, profile="peppol"))


def test_a_document_claiming_peppol_cannot_skip_the_peppol_rules() -> None:
    xml = render_ubl(sample_invoice(7)).replace(EN16931_CUSTOMIZATION_ID.encode(), CUSTOMIZATION_ID.encode(), 1)
    for profile in (None, "en16931"):
        assert any("PEPPOL-EN16931-CL008" in e for e in validate_ubl(xml, profile=profile))


def test_en16931_profile_needs_the_en16931_customization_id() -> None:
    xml = render_ubl(sample_invoice(7)).replace(EN16931_CUSTOMIZATION_ID.encode(), b"urn:example:other", 1)
    assert any(e.startswith("profile en16931") for e in validate_ubl(xml, profile="en16931"))
    with pytest.raises(ValueError):
        validate_ubl(xml, profile="xrechnung")


def test_missing_buyer_vat_id_on_intra_community_supply_is_rejected() -> None:
    inv = sample_invoice(1)
    inv["buyer"]["vat_id"] = None
    inv["buyer"]["email"] = "x@example.com"
    assert ubl_profile(inv) == "en16931"  # no VAT id, no Peppol address left
    assert any("BR-IC-" in e for e in validate_ubl(render_ubl(inv), profile="en16931"))


def test_xsd_violation_is_reported_not_raised() -> None:
    xml = render_ubl(sample_invoice(4)).replace(b"<cbc:IssueDate>", b"<cbc:IssueDate>x", 1)
    errors = validate_ubl(xml, profile="peppol")
    assert any(e.startswith("xsd ") for e in errors)
    assert validate_ubl(b"<not-xml") and validate_cii(b"<not-xml")


def test_warnings_do_not_fail() -> None:
    findings = run_rules("en16931-ubl", render_ubl(sample_invoice(4)))
    assert all(not f.fatal for f in findings)


def test_validation_failed_carries_the_errors() -> None:
    exc = ValidationFailed(["a", "b"])
    assert exc.errors == ["a", "b"] and "2 validation error" in str(exc)
