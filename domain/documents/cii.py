"""UN/CEFACT CII (Factur-X / ZUGFeRD, EN 16931 profile): an issued invoice as XML.

Example::

    xml = render_cii(invoice)   # embed with render_facturx, or send as XRechnung-style CII
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Mapping

from lxml import etree

from domain.documents._fields import amount, endpoint, is_credit_note, number, percent

__all__ = ["render_cii", "GUIDELINE_EN16931"]

GUIDELINE_EN16931 = "urn:cen.eu:en16931:2017"

_RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
_RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
_UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
_QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
_NSMAP = {"rsm": _RSM, "ram": _RAM, "udt": _UDT, "qdt": _QDT}


def _el(parent: etree._Element, tag: str, text: object = None, ns: str = _RAM, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, f"{{{ns}}}{tag}", attrs)
    if text is not None:
        el.text = str(text)
    return el


def _opt(parent: etree._Element, tag: str, text: object, **attrs: str) -> None:
    """A RAM element only when *text* has a value (no empty elements)."""
    if text is not None and text != "":
        _el(parent, tag, text, **attrs)


def _date(parent: etree._Element, tag: str, value: date, ns: str = _UDT) -> None:
    _el(_el(parent, tag), "DateTimeString", value.strftime("%Y%m%d"), ns=ns, format="102")


def _address(parent: etree._Element, addr: Mapping[str, Any]) -> None:
    a = _el(parent, "PostalTradeAddress")
    _opt(a, "PostcodeCode", addr.get("postal_code"))
    _opt(a, "LineOne", addr.get("line1"))
    _opt(a, "LineTwo", addr.get("line2"))
    _opt(a, "CityName", addr.get("city"))
    _opt(a, "CountryID", addr.get("country"))
    _opt(a, "CountrySubDivisionName", addr.get("region"))


def _party(parent: etree._Element, tag: str, party: Mapping[str, Any], *, seller: bool) -> None:
    p = _el(parent, tag)
    _el(p, "Name", party["name"])
    if seller and party.get("tax_registration"):  # BT-30 (BR-CO-26 without a VAT id)
        _el(_el(p, "SpecifiedLegalOrganization"), "ID", party["tax_registration"])
    if party.get("email"):
        _el(_el(_el(p, "DefinedTradeContact"), "EmailURIUniversalCommunication"), "URIID", party["email"])
    _address(p, party.get("address") or {})
    ep = endpoint(party)
    if ep:
        _el(_el(p, "URIUniversalCommunication"), "URIID", ep[1], schemeID=ep[0])
    if party.get("vat_id"):
        _el(_el(p, "SpecifiedTaxRegistration"), "ID", party["vat_id"], schemeID="VA")
    if seller and party.get("tax_registration") and not party.get("vat_id"):  # BT-32
        _el(_el(p, "SpecifiedTaxRegistration"), "ID", party["tax_registration"], schemeID="FC")


def render_cii(invoice: Mapping[str, Any]) -> bytes:
    """The invoice as Factur-X EN 16931 CII XML (TypeCode 381 for credit notes).

    Args:
        invoice: a decoded ``Invoice`` record (schemas/invoice.avsc).
    """
    cur = invoice["currency"]
    credit = is_credit_note(invoice)
    root = etree.Element(f"{{{_RSM}}}CrossIndustryInvoice", nsmap=_NSMAP)

    def amt(parent: etree._Element, tag: str, value: Decimal, **attrs: str) -> None:
        _el(parent, tag, amount(value, cur), **attrs)

    ctx = _el(root, "ExchangedDocumentContext", ns=_RSM)
    _el(_el(ctx, "GuidelineSpecifiedDocumentContextParameter"), "ID", GUIDELINE_EN16931)
    doc = _el(root, "ExchangedDocument", ns=_RSM)
    _el(doc, "ID", invoice["number"])
    _el(doc, "TypeCode", "381" if credit else "380")
    _date(doc, "IssueDateTime", invoice["issue_date"])
    for note in invoice.get("notes") or ():
        _el(_el(doc, "IncludedNote"), "Content", note)

    tx = _el(root, "SupplyChainTradeTransaction", ns=_RSM)
    for line in invoice["lines"]:
        li = _el(tx, "IncludedSupplyChainTradeLineItem")
        _el(_el(li, "AssociatedDocumentLineDocument"), "LineID", line["line_id"])
        prod = _el(li, "SpecifiedTradeProduct")
        _opt(prod, "SellerAssignedID", line.get("sku"))
        _el(prod, "Name", line["description"])
        agr = _el(li, "SpecifiedLineTradeAgreement")
        _el(_el(agr, "NetPriceProductTradePrice"), "ChargeAmount", number(line["unit_price"]))
        _el(_el(li, "SpecifiedLineTradeDelivery"), "BilledQuantity", number(line["quantity"]),
            unitCode=line.get("unit_code") or "C62")
        st = _el(li, "SpecifiedLineTradeSettlement")
        tax = _el(st, "ApplicableTradeTax")
        _el(tax, "TypeCode", "VAT")
        _el(tax, "CategoryCode", line["tax_category"])
        if line["tax_category"] != "O":
            _el(tax, "RateApplicablePercent", percent(line["tax_rate"]))
        if line.get("allowance"):
            ac = _el(st, "SpecifiedTradeAllowanceCharge")
            _el(_el(ac, "ChargeIndicator"), "Indicator", "false", ns=_UDT)
            amt(ac, "ActualAmount", line["allowance"])
            _el(ac, "ReasonCode", "95")
            _el(ac, "Reason", "Discount")
        amt(_el(st, "SpecifiedTradeSettlementLineMonetarySummation"), "LineTotalAmount", line["net_amount"])

    agr = _el(tx, "ApplicableHeaderTradeAgreement")
    _opt(agr, "BuyerReference", invoice.get("buyer_reference"))
    _party(agr, "SellerTradeParty", invoice["seller"], seller=True)
    _party(agr, "BuyerTradeParty", invoice["buyer"], seller=False)
    if invoice.get("purchase_order"):
        _el(_el(agr, "BuyerOrderReferencedDocument"), "IssuerAssignedID", invoice["purchase_order"])

    dlv = _el(tx, "ApplicableHeaderTradeDelivery")
    buyer_addr = invoice["buyer"].get("address") or {}
    if buyer_addr.get("country"):  # deliver-to country (BR-IC-12)
        _address(_el(dlv, "ShipToTradeParty"), buyer_addr)
    if invoice.get("supply_date"):
        _date(_el(dlv, "ActualDeliverySupplyChainEvent"), "OccurrenceDateTime", invoice["supply_date"])

    stl = _el(tx, "ApplicableHeaderTradeSettlement")
    _el(stl, "PaymentReference", invoice["number"])
    _el(stl, "InvoiceCurrencyCode", cur)
    if invoice.get("payment_iban"):
        pm = _el(stl, "SpecifiedTradeSettlementPaymentMeans")
        _el(pm, "TypeCode", "58")
        _el(_el(pm, "PayeePartyCreditorFinancialAccount"), "IBANID", invoice["payment_iban"])
    for g in invoice["tax_breakdown"]:
        tax = _el(stl, "ApplicableTradeTax")
        amt(tax, "CalculatedAmount", g["tax_amount"])
        _el(tax, "TypeCode", "VAT")
        exempt = g["category"] not in ("S", "Z", "L", "M")
        if exempt:
            _opt(tax, "ExemptionReason", g.get("exemption_reason"))
        amt(tax, "BasisAmount", g["taxable_amount"])
        _el(tax, "CategoryCode", g["category"])
        if exempt:
            _opt(tax, "ExemptionReasonCode", g.get("exemption_code"))
        if g["category"] != "O":
            _el(tax, "RateApplicablePercent", percent(g["rate"]))
    terms = _el(stl, "SpecifiedTradePaymentTerms")
    _opt(terms, "Description", invoice.get("payment_terms"))
    _date(terms, "DueDateDateTime", invoice["due_date"])
    sums = _el(stl, "SpecifiedTradeSettlementHeaderMonetarySummation")
    amt(sums, "LineTotalAmount", invoice["line_total"])
    if invoice.get("charge_total"):
        amt(sums, "ChargeTotalAmount", invoice["charge_total"])
    amt(sums, "TaxBasisTotalAmount", invoice["tax_exclusive_total"])
    amt(sums, "TaxTotalAmount", invoice["tax_total"], currencyID=cur)
    amt(sums, "GrandTotalAmount", invoice["total"])
    if invoice.get("prepaid"):
        amt(sums, "TotalPrepaidAmount", invoice["prepaid"])
    amt(sums, "DuePayableAmount", invoice["amount_due"])
    if invoice.get("preceding_invoice"):
        ref = _el(stl, "InvoiceReferencedDocument")
        _el(ref, "IssuerAssignedID", invoice["preceding_invoice"])
        if invoice.get("preceding_invoice_date"):
            _date(ref, "FormattedIssueDateTime", invoice["preceding_invoice_date"], ns=_QDT)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
