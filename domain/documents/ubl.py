"""UBL 2.1 invoices and credit notes: Peppol BIS Billing 3.0, or EN 16931 core UBL.

Which one an invoice gets is :func:`ubl_profile`:

* ``"peppol"``: seller **and** buyer have an electronic address under a scheme Peppol accepts
  (a configured ``endpoint_id``/``endpoint_scheme``, or a VAT id under its country's EAS
  code, e.g. 9930 for DE). The document is Peppol BIS Billing 3.0 (``CustomizationID``
  ``urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0``, ``ProfileID``
  billing 01) and passes the UBL XSD, the CEN EN 16931 rules and the Peppol rules.
* ``"en16931"``: anyone else, i.e. a buyer known only by e-mail (a webshop customer with no
  reference data). Peppol requires a buyer EndpointID from its EAS list (PEPPOL-EN16931-R010,
  -CL008), and such a buyer is not on the Peppol network, so a Peppol document for it would
  need a made-up identifier. It gets EN 16931 core UBL instead (``CustomizationID``
  ``urn:cen.eu:en16931:2017``, no ``ProfileID``, buyer EndpointID ``schemeID="EM"`` = its
  e-mail, which EN 16931's EAS list allows); it passes the UBL XSD and the EN 16931 rules.

Example::

    xml = render_ubl(invoice)          # bytes, UTF-8, <Invoice> or <CreditNote>
    ubl_profile(invoice)               # "peppol" | "en16931"
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal, Mapping

from lxml import etree

from domain.documents._fields import amount, endpoint, is_credit_note, number, peppol_endpoint, percent

__all__ = ["render_ubl", "ubl_profile", "UblProfile", "CUSTOMIZATION_ID", "PEPPOL_CUSTOMIZATION_ID",
           "EN16931_CUSTOMIZATION_ID", "CUSTOMIZATION_IDS", "PROFILE_ID"]

UblProfile = Literal["peppol", "en16931"]

PEPPOL_CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
EN16931_CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017"
CUSTOMIZATION_ID = PEPPOL_CUSTOMIZATION_ID  # the Peppol one, as before
CUSTOMIZATION_IDS: dict[str, str] = {"peppol": PEPPOL_CUSTOMIZATION_ID, "en16931": EN16931_CUSTOMIZATION_ID}
PROFILE_ID = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"  # Peppol documents only

_CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
_CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
_ROOT_NS = {
    "Invoice": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "CreditNote": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
}


def _cbc(parent: etree._Element, tag: str, text: object, **attrs: str) -> None:
    """A basic element; nothing at all when *text* is empty (Peppol: no empty elements)."""
    if text is None or text == "":
        return
    el = etree.SubElement(parent, f"{{{_CBC}}}{tag}", attrs)
    el.text = str(text)


def _cac(parent: etree._Element, tag: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{_CAC}}}{tag}")


def _party(parent: etree._Element, role: str, party: Mapping[str, Any], *, seller: bool) -> None:
    p = _cac(_cac(parent, role), "Party")
    ep = endpoint(party)
    if ep:
        _cbc(p, "EndpointID", ep[1], schemeID=ep[0])
    _cbc(_cac(p, "PartyName"), "Name", party["name"])
    addr = party.get("address") or {}
    a = _cac(p, "PostalAddress")
    _cbc(a, "StreetName", addr.get("line1"))
    _cbc(a, "AdditionalStreetName", addr.get("line2"))
    _cbc(a, "CityName", addr.get("city"))
    _cbc(a, "PostalZone", addr.get("postal_code"))
    _cbc(a, "CountrySubentity", addr.get("region"))
    _cbc(_cac(a, "Country"), "IdentificationCode", addr.get("country"))
    if party.get("vat_id"):
        ts = _cac(p, "PartyTaxScheme")
        _cbc(ts, "CompanyID", party["vat_id"])
        _cbc(_cac(ts, "TaxScheme"), "ID", "VAT")
    if seller and party.get("tax_registration") and not party.get("vat_id"):  # BT-32 (BR-S-02, BR-E-02)
        ts = _cac(p, "PartyTaxScheme")
        _cbc(ts, "CompanyID", party["tax_registration"])
        _cbc(_cac(ts, "TaxScheme"), "ID", "TAX")
    legal = _cac(p, "PartyLegalEntity")
    _cbc(legal, "RegistrationName", party["name"])
    if seller:  # BT-30: commercial register entry (DE) or tax id (US) identifies the seller
        _cbc(legal, "CompanyID", party.get("tax_registration"))
    if party.get("email"):
        _cbc(_cac(p, "Contact"), "ElectronicMail", party["email"])


def _tax_category(parent: etree._Element, tag: str, category: str, rate: Decimal,
                  reason: str | None = None, code: str | None = None) -> None:
    c = _cac(parent, tag)
    _cbc(c, "ID", category)
    if category != "O":  # BR-O-05: no rate for "not subject to VAT"
        _cbc(c, "Percent", percent(rate))
    if tag == "TaxCategory" and category not in ("S", "Z", "L", "M"):
        _cbc(c, "TaxExemptionReasonCode", code)
        _cbc(c, "TaxExemptionReason", reason)
    _cbc(_cac(c, "TaxScheme"), "ID", "VAT")


def _delivery(root: etree._Element, invoice: Mapping[str, Any]) -> None:
    """Supply date (BT-72) and deliver-to address: the buyer's (BR-IC-12 needs its country)."""
    d = _cac(root, "Delivery")
    if invoice.get("supply_date"):
        _cbc(d, "ActualDeliveryDate", invoice["supply_date"].isoformat())
    addr = invoice["buyer"].get("address") or {}
    if addr.get("country"):
        a = _cac(_cac(d, "DeliveryLocation"), "Address")
        _cbc(a, "StreetName", addr.get("line1"))
        _cbc(a, "AdditionalStreetName", addr.get("line2"))
        _cbc(a, "CityName", addr.get("city"))
        _cbc(a, "PostalZone", addr.get("postal_code"))
        _cbc(a, "CountrySubentity", addr.get("region"))
        _cbc(_cac(a, "Country"), "IdentificationCode", addr["country"])
    if len(d) == 0:
        root.remove(d)


def ubl_profile(invoice: Mapping[str, Any]) -> UblProfile:
    """``"peppol"`` when seller and buyer both have a Peppol electronic address, else ``"en16931"``."""
    if peppol_endpoint(invoice["seller"]) and peppol_endpoint(invoice["buyer"]):
        return "peppol"
    return "en16931"


def render_ubl(invoice: Mapping[str, Any]) -> bytes:
    """The invoice as UBL 2.1 (``CreditNote`` for credit notes), profile as :func:`ubl_profile` says.

    Peppol BIS Billing 3.0 for a buyer with a Peppol electronic address; EN 16931 core UBL
    for one without (see the module's docstring).

    Args:
        invoice: a decoded ``Invoice`` record (schemas/invoice.avsc).
    """
    profile = ubl_profile(invoice)
    credit = is_credit_note(invoice)
    root_tag = "CreditNote" if credit else "Invoice"
    root = etree.Element(f"{{{_ROOT_NS[root_tag]}}}{root_tag}",
                         nsmap={None: _ROOT_NS[root_tag], "cac": _CAC, "cbc": _CBC})
    cur = invoice["currency"]

    def amt(parent: etree._Element, tag: str, value: Decimal) -> None:
        _cbc(parent, tag, amount(value, cur), currencyID=cur)

    _cbc(root, "CustomizationID", CUSTOMIZATION_IDS[profile])
    if profile == "peppol":  # BT-23 is Peppol's business process; an EN 16931 core document has none
        _cbc(root, "ProfileID", PROFILE_ID)
    _cbc(root, "ID", invoice["number"])
    _cbc(root, "IssueDate", invoice["issue_date"].isoformat())
    if not credit:
        _cbc(root, "DueDate", invoice["due_date"].isoformat())
    _cbc(root, "CreditNoteTypeCode" if credit else "InvoiceTypeCode", "381" if credit else "380")
    _cbc(root, "Note", "\n".join(invoice.get("notes") or ()))  # Peppol R002: one note at most
    _cbc(root, "DocumentCurrencyCode", cur)
    _cbc(root, "BuyerReference", invoice.get("buyer_reference"))
    if invoice.get("purchase_order"):
        _cbc(_cac(root, "OrderReference"), "ID", invoice["purchase_order"])
    if invoice.get("preceding_invoice"):
        ref = _cac(_cac(root, "BillingReference"), "InvoiceDocumentReference")
        _cbc(ref, "ID", invoice["preceding_invoice"])
        if invoice.get("preceding_invoice_date"):
            _cbc(ref, "IssueDate", invoice["preceding_invoice_date"].isoformat())
    _party(root, "AccountingSupplierParty", invoice["seller"], seller=True)
    _party(root, "AccountingCustomerParty", invoice["buyer"], seller=False)
    _delivery(root, invoice)
    if invoice.get("payment_iban") or credit:
        pm = _cac(root, "PaymentMeans")
        _cbc(pm, "PaymentMeansCode", "58" if invoice.get("payment_iban") else "1",
             name="SEPA credit transfer" if invoice.get("payment_iban") else "Not defined")
        if credit:
            _cbc(pm, "PaymentDueDate", invoice["due_date"].isoformat())
        _cbc(pm, "PaymentID", invoice["number"])
        if invoice.get("payment_iban"):
            _cbc(_cac(pm, "PayeeFinancialAccount"), "ID", invoice["payment_iban"])
    if invoice.get("payment_terms"):
        _cbc(_cac(root, "PaymentTerms"), "Note", invoice["payment_terms"])
    tt = _cac(root, "TaxTotal")
    amt(tt, "TaxAmount", invoice["tax_total"])
    for g in invoice["tax_breakdown"]:
        st = _cac(tt, "TaxSubtotal")
        amt(st, "TaxableAmount", g["taxable_amount"])
        amt(st, "TaxAmount", g["tax_amount"])
        _tax_category(st, "TaxCategory", g["category"], g["rate"], g.get("exemption_reason"), g.get("exemption_code"))
    mt = _cac(root, "LegalMonetaryTotal")
    amt(mt, "LineExtensionAmount", invoice["line_total"])
    amt(mt, "TaxExclusiveAmount", invoice["tax_exclusive_total"])
    amt(mt, "TaxInclusiveAmount", invoice["total"])
    if invoice.get("charge_total"):
        amt(mt, "ChargeTotalAmount", invoice["charge_total"])
    if invoice.get("prepaid"):
        amt(mt, "PrepaidAmount", invoice["prepaid"])
    amt(mt, "PayableAmount", invoice["amount_due"])
    for line in invoice["lines"]:
        ln = _cac(root, "CreditNoteLine" if credit else "InvoiceLine")
        _cbc(ln, "ID", line["line_id"])
        _cbc(ln, "CreditedQuantity" if credit else "InvoicedQuantity", number(line["quantity"]),
             unitCode=line.get("unit_code") or "C62")
        amt(ln, "LineExtensionAmount", line["net_amount"])
        if line.get("allowance"):
            ac = _cac(ln, "AllowanceCharge")
            _cbc(ac, "ChargeIndicator", "false")
            _cbc(ac, "AllowanceChargeReasonCode", "95")
            _cbc(ac, "AllowanceChargeReason", "Discount")
            amt(ac, "Amount", line["allowance"])
        item = _cac(ln, "Item")
        _cbc(item, "Name", line["description"])
        if line.get("sku"):
            _cbc(_cac(item, "SellersItemIdentification"), "ID", line["sku"])
        _tax_category(item, "ClassifiedTaxCategory", line["tax_category"], line["tax_rate"])
        _cbc(_cac(ln, "Price"), "PriceAmount", number(line["unit_price"]), currencyID=cur)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
