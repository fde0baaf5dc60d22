"""Turn canonical order events into an invoice: lines, EN 16931 tax groups, totals.

`build_draft` prices the invoice (everything but the number and dates);
`issue` gives it its number, issue date and due date. Both are pure functions,
so a replay of the same orders gives the same invoice, byte for byte.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Iterable, Mapping, Sequence

from domain.gate import DraftRefused, GateRules, Problem, clean_text, party_problems, refuse_if_invalid, subject_of
from domain.money import ZERO, check_currency, q4, round_amount
from domain.reference import Customer, ReferenceData, Seller
from domain.tax import TaxError, determine_tax
from domain.terms import parse_terms

__all__ = ["build_draft", "price_draft", "issue", "invoice_id_for", "series_for", "unknown_customer", "format_number", "credit_note_draft"]


def invoice_id_for(order_keys: Iterable[str], document_type: str = "INVOICE") -> str:
    """Stable invoice id from the orders it bills."""
    h = hashlib.sha256(("|".join(sorted(order_keys)) + "#" + document_type).encode()).hexdigest()[:24]
    return ("inv_" if document_type == "INVOICE" else "cn_") + h


def series_for(seller: Seller, document_type: str) -> str:
    """One numbering series per (legal entity, document type)."""
    return f"{seller.seller_id}/{document_type}"


def format_number(seller: Seller, document_type: str, issue_date: date, sequence: int) -> str:
    """``INV-2026-000123``: prefix, issue year, zero-padded position in the series."""
    prefix = seller.invoice_prefix if document_type == "INVOICE" else seller.credit_note_prefix
    return f"{prefix}-{issue_date.year}-{sequence:06d}"


def unknown_customer(order: Mapping[str, Any]) -> Customer:
    """A customer we have no reference data for, invoiced with the configured defaults."""
    c = order["customer"]
    ref = order.get("customer_ref") or (f"email:{c['email'].lower()}" if c.get("email") else None)
    cid = ref or f"{order['platform']}:anonymous"
    return Customer(customer_id=cid, name=c["name"], address=dict(c["address"]), email=c.get("email"),
                    vat_id=c.get("vat_id"), known=False)


def _party(party_id: str, name: str, address: Mapping[str, Any], *, vat_id: str | None = None,
           email: str | None = None, tax_registration: str | None = None,
           endpoint_id: str | None = None, endpoint_scheme: str | None = None) -> dict[str, Any]:
    """A party as invoices carry it, its text cleaned of what XML and the PDF cannot carry."""
    return {
        "party_id": party_id, "name": clean_text(name), "vat_id": clean_text(vat_id),
        "tax_registration": clean_text(tax_registration), "email": clean_text(email), "endpoint_id": endpoint_id,
        "endpoint_scheme": endpoint_scheme,
        "address": {k: clean_text(address.get(k)) or None if k in ("line2", "region") else clean_text(address.get(k) or "")
                    for k in ("line1", "line2", "city", "postal_code", "region", "country")},
    }


def _net_of_tax(amount: Decimal, rate: Decimal, tax_included: bool) -> Decimal:
    """*amount* without the tax it includes (prices and discounts of a tax-included order)."""
    if not tax_included or not rate:
        return amount
    return amount / (1 + rate / 100)


def _net_unit_price(price: Decimal, rate: Decimal, tax_included: bool) -> Decimal:
    return q4(_net_of_tax(price, rate, tax_included))


def build_draft(
    orders: Sequence[Mapping[str, Any]],
    *,
    customer: Customer,
    seller: Seller,
    reference: ReferenceData,
    trigger: str,
    targets: Sequence[str],
    document_type: str = "INVOICE",
    rules: GateRules = GateRules(),
) -> dict[str, Any]:
    """`price_draft`, then the gate (`domain.gate`): a draft that may not be issued is never returned.

    Raises:
        DraftRefused: the invoice may not be issued (the message names every problem and what to do).
        PayloadError: an order is unreadable.
    """
    draft = price_draft(orders, customer=customer, seller=seller, reference=reference, trigger=trigger,
                        targets=targets, document_type=document_type)
    refuse_if_invalid(draft, reference_date=max(o.get("received_at") or o["occurred_at"] for o in orders).date(),
                      rules=rules)
    return draft


def price_draft(
    orders: Sequence[Mapping[str, Any]],
    *,
    customer: Customer,
    seller: Seller,
    reference: ReferenceData,
    trigger: str,
    targets: Sequence[str],
    document_type: str = "INVOICE",
) -> dict[str, Any]:
    """Price *orders* (one, or a billing cycle's worth) into an unnumbered invoice, not yet gated.

    Lines: net = quantity x net unit price - allowance, half-up to the currency's
    decimals (a tax-included order's prices and discounts are taken net of tax first;
    a discount of the whole line never makes it negative). Tax: one group per
    (category, rate); tax = group base x rate / 100, half-up. Totals are exact sums.

    Raises:
        DraftRefused: it cannot be priced: a party lacks its name or address (the buyer's country decides
            the tax), or no tax rate can be decided for a line.
        PayloadError: an order is unreadable.
    """
    currency = check_currency(orders[0]["currency"])
    buyer_addr = customer.address if customer.known else orders[0]["customer"]["address"]
    seller_party = _party(seller.seller_id, seller.name, seller.address, vat_id=seller.vat_id, email=seller.email,
                          tax_registration=seller.tax_registration, endpoint_id=seller.endpoint_id,
                          endpoint_scheme=seller.endpoint_scheme)
    buyer_party = _party(customer.customer_id, customer.name, buyer_addr, vat_id=customer.vat_id,
                         email=customer.email, endpoint_id=customer.endpoint_id, endpoint_scheme=customer.endpoint_scheme)
    buyer_country = buyer_party["address"]["country"].upper()
    headline = {"customer_id": customer.customer_id, "document_type": document_type, "seller": seller_party,
                "buyer": buyer_party,
                "orders": [o["order_key"] for o in orders],
                "lineage": [{"platform": o["platform"], "order_key": o["order_key"]} for o in orders]}
    early = party_problems(headline)
    if early:  # without both parties (the buyer's country above all) no tax can be decided
        raise DraftRefused(subject_of(headline), early)
    lines: list[dict[str, Any]] = []
    groups: "OrderedDict[tuple[str, Decimal], dict[str, Any]]" = OrderedDict()
    prepaid = ZERO
    lineage: list[dict[str, Any]] = []
    for order in orders:
        lineage.extend(order.get("_lineage") or [{
            "platform": order["platform"], "event_id": order["event_id"], "event_type": order["event_type"],
            "trigger": order["trigger"], "order_key": order["order_key"]}])
        items = list(order["lines"])
        if order.get("shipping"):
            # shipping follows the goods' VAT; a tax-included order's shipping includes it too
            goods_rate = next((ln.get("tax_rate") for ln in items if ln.get("tax_rate") is not None), None)
            items.append({"sku": None, "description": "Shipping", "quantity": Decimal(1),
                          "unit_price": order["shipping"], "discount": ZERO,
                          "tax_rate": goods_rate if order.get("tax_included") else None})
        for item in items:
            product = reference.products.get(item["sku"]) if item.get("sku") else None
            try:
                decision = determine_tax(
                    seller_country=seller.address["country"], buyer_country=buyer_country,
                    buyer_vat_id=customer.vat_id, buyer_region=buyer_addr.get("region"),
                    resale_certificate=customer.resale_certificate,
                    product_category=product.tax_category if product else None,
                    product_rate=product.tax_rate if product else None,
                    is_service=bool(product and product.service),
                    stated_rate=item.get("tax_rate"), table=reference.tax, seller_oss=seller.eu_oss,
                    product_rates=product.tax_rates if product else None, product=item.get("sku"),
                )
            except TaxError as exc:
                raise DraftRefused(subject_of(headline), [Problem("tax", str(item.get("sku") or ""),
                                   f"{exc}: add it to the reference data, then replay this dead letter")]) from None
            stated, included = item.get("tax_rate") or ZERO, bool(order.get("tax_included"))
            unit = _net_unit_price(item["unit_price"], stated, included)
            discount = item.get("discount") or ZERO
            # a tax-included order states its discounts tax-included too, like its prices
            allowance = round_amount(_net_of_tax(discount, stated, included), currency)
            qty = q4(item["quantity"])
            net = round_amount(qty * unit - allowance, currency)
            if net < 0 <= qty * item["unit_price"] - discount:
                # the discount takes the whole line and rounding it to the currency went half a
                # minor unit past the gross (10.005 - 10.01): the line is free, not negative
                net = ZERO
            if not net:
                net = round_amount(ZERO, currency)  # 0.00, never "-0.00"
            lines.append({
                "line_id": str(len(lines) + 1), "order_key": order["order_key"], "sku": item.get("sku"),
                "description": clean_text(item["description"]) or (product.description if product and product.description else "Item"),
                "quantity": qty, "unit_code": "C62", "unit_price": unit, "allowance": allowance,
                "net_amount": net, "tax_category": decision.category, "tax_rate": q4(decision.rate),
            })
            g = groups.setdefault((decision.category, q4(decision.rate)), {
                "category": decision.category, "rate": q4(decision.rate), "taxable_amount": ZERO,
                "tax_amount": ZERO, "exemption_reason": decision.exemption_reason,
                "exemption_code": decision.exemption_code})
            g["taxable_amount"] += net
        if order.get("amount_paid") is not None and order["trigger"] == "PAYMENT_RECEIVED":
            prepaid += order["amount_paid"]
    for g in groups.values():
        g["tax_amount"] = round_amount(g["taxable_amount"] * g["rate"] / 100, currency)
    line_total = sum((ln["net_amount"] for ln in lines), ZERO)
    tax_total = sum((g["tax_amount"] for g in groups.values()), ZERO)
    total = line_total + tax_total
    prepaid = min(round_amount(prepaid, currency), total) if total > 0 else ZERO
    order_keys = [o["order_key"] for o in orders]
    notes = sorted({g["exemption_reason"] for g in groups.values() if g["exemption_reason"]})
    pos = sorted({o["purchase_order"] for o in orders if o.get("purchase_order")})
    draft = {
        "invoice_id": invoice_id_for(order_keys, document_type),
        "document_type": document_type,
        "series": series_for(seller, document_type),
        "sequence": 0,
        "number": "",
        "issue_date": date(1970, 1, 1),
        "due_date": date(1970, 1, 1),
        "supply_date": max(o["occurred_at"] for o in orders).date(),
        "issued_at": datetime(1970, 1, 1, tzinfo=timezone.utc),
        "currency": currency,
        "customer_id": customer.customer_id,
        "seller": seller_party,
        "buyer": buyer_party,
        "buyer_reference": clean_text(customer.buyer_reference or orders[0].get("order_number") or orders[0]["external_order_id"]),
        "purchase_order": clean_text(pos[0]) if len(pos) == 1 else None,
        "lines": lines,
        "tax_breakdown": list(groups.values()),
        "line_total": line_total,
        "charge_total": ZERO,
        "tax_exclusive_total": line_total,
        "tax_total": tax_total,
        "total": total,
        "prepaid": prepaid,
        "amount_due": total - prepaid,
        "payment_terms": "",
        "payment_terms_code": parse_terms(customer.payment_terms or reference.defaults.payment_terms).code,
        "payment_iban": seller.iban,
        "notes": notes,
        "preceding_invoice": None,
        "preceding_invoice_date": None,
        "preceding_invoice_id": None,
        "orders": order_keys,
        "lineage": lineage,
        "targets": list(targets),
        "trigger": trigger,
    }
    return draft


def issue(draft: Mapping[str, Any], *, sequence: int, issued_at: datetime, seller: Seller | None = None) -> dict[str, Any]:
    """Give *draft* its number, issue date (the day of *issued_at*, UTC) and due date."""
    inv = dict(draft)
    issue_date = issued_at.astimezone(timezone.utc).date()
    terms = parse_terms(inv["payment_terms_code"])
    prefix_seller = seller or Seller(seller_id=inv["seller"]["party_id"], name=inv["seller"]["name"], address={})
    inv.update(
        sequence=sequence,
        number=format_number(prefix_seller, inv["document_type"], issue_date, sequence),
        issue_date=issue_date,
        due_date=terms.due_date(issue_date),
        issued_at=issued_at,
        payment_terms=terms.text(issue_date),
    )
    return inv


def credit_note_draft(invoice: Mapping[str, Any], *, reason: str) -> dict[str, Any]:
    """A credit note that reverses *invoice* in full, in its own series."""
    cn = dict(invoice)
    cn.update(
        invoice_id=invoice_id_for(invoice["orders"], "CREDIT_NOTE"),
        document_type="CREDIT_NOTE",
        series=invoice["series"].rsplit("/", 1)[0] + "/CREDIT_NOTE",
        sequence=0, number="",
        preceding_invoice=invoice["number"],
        preceding_invoice_date=invoice["issue_date"],
        preceding_invoice_id=invoice["invoice_id"],
        notes=list(invoice.get("notes") or []) + [f"Credit note for invoice {invoice['number']}: {reason}"],
        prepaid=ZERO, amount_due=invoice["total"],
    )
    return cn
